"""The worker side of :mod:`evalkit.verify.pool`: the loop a worker process runs, and its messages.

A worker leads its own process group, dies with its parent (``PR_SET_PDEATHSIG``), confines itself when
asked (:mod:`evalkit.verify.confine`), then receives chunks of pickled items and sends one message per item.
This module imports only the standard library and :mod:`evalkit.verify.confine`, and the worker's function
arrives as pickled bytes that are loaded only after the worker has confined itself: loading it imports the
function's modules (the verification stage imports pyarrow, which starts threads), and a process with more
than one thread cannot enter a new user namespace.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

# Longest exception message kept in an on_crash detail.
_MAX_MESSAGE_CHARS = 500
# How often the worker's watchdog thread checks that the parent is still alive.
_PARENT_POLL_S = 0.5
# Messages from worker to parent: (_READY, isolation layers) once, then (_RESULT, idx, value) or (_RAISED, idx,
# message) per item; (_RETIRE,) after an item whose verification was refused by the confinement's audit hook;
# (_FAILED, message) instead of _READY when the worker's function could not be loaded.
_READY = 0
_RESULT = 1
_RAISED = 2
_RETIRE = 3
_FAILED = 4


def _describe(e: BaseException) -> str:
    """``"Type: message"``, cut to a short length, even for exceptions whose ``str()`` fails."""
    try:
        text = str(e)
    except Exception:
        text = "<unprintable message>"
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 3] + "..."
    return f"{type(e).__name__}: {text}"


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the parent does, even if the parent is SIGKILLed.

    Linux sends the death signal when the parent *thread* that started the worker exits; run_pool starts
    and kills all its workers within one call on one thread, so that is the same moment.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
        except Exception:
            pass  # The watchdog thread below still covers the common cases.
        else:
            if os.getppid() != parent_pid:  # The parent died before the death signal was armed.
                os._exit(1)
            return  # armed: no watchdog thread (a confined worker must stay single-threaded to unshare)
    if os.getppid() != parent_pid:  # The parent died before the death signal was armed.
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="evalkit-pool-watchdog", daemon=True).start()


def _no_limit() -> None:
    """The unconfined worker's memory limit: none."""


def _worker_main(conn: Connection, fn_pickle: bytes, parent_pid: int, confine: bool = False) -> None:
    """Worker loop: receive chunks of pickled items, send one message per item, exit on None or EOF.

    ``fn_pickle`` is the pickled worker function; with ``confine`` it is loaded (and its modules imported)
    only after :func:`evalkit.verify.confine.enter`, whose minimal root binds the modules it names.
    """
    # Lead a new process group: the parent's killpg then also reaches subprocesses fn starts, and a
    # terminal Ctrl-C (sent to the foreground group) reaches only the parent, which cleans up.
    if hasattr(os, "setpgid"):
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
    _die_with_parent(parent_pid)
    layers: tuple[str, ...] = ()
    watch: Callable[[], Any] = contextlib.nullcontext
    limit_memory: Callable[[], object] = _no_limit
    if confine:
        from evalkit.verify import confine as confinement

        # The address-space limit waits until fn is loaded: what its modules map does not count against it.
        layers = confinement.enter(None, extra_roots=confinement.pickled_module_roots(fn_pickle))
        watch, limit_memory = confinement.watch, confinement.limit_memory
    try:
        fn: Callable[[Any], Any] = pickle.loads(fn_pickle)
    except BaseException as e:
        with contextlib.suppress(OSError):
            conn.send((_FAILED, f"loading the worker function failed: {_describe(e)}"))
        raise
    limit_memory()
    conn.send((_READY, layers))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        indices, payload = msg
        for idx, blob in zip(indices, payload, strict=True):
            refused: list[str] = []
            try:
                item = pickle.loads(blob)
                with watch() as outcome:
                    refused = outcome
                    out: tuple[Any, ...] = (_RESULT, idx, fn(item))
            except BaseException as e:
                out = (_RAISED, idx, _describe(e))
            if refused:
                with contextlib.suppress(OSError):
                    conn.send((_RAISED, idx, f"refused: {refused[0]}"))
                    conn.send((_RETIRE,))
                return
            try:
                conn.send(out)
            except OSError:  # The parent is gone.
                return
            except Exception as e:  # Pickling failed; nothing was written, so the stream is intact.
                conn.send((_RAISED, idx, f"result not picklable: {_describe(e)}"))
