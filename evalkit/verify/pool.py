"""A process pool with a hard, externally enforced per-item timeout, used to run answer verifiers.

``run_pool(fn, items, ...)`` applies a module-level function to every item in worker processes and returns
the results in input order. It is built for functions that may hang, spin in C code, or kill their own
process, so that none of this can stall or crash an evaluation run:

Implemented:

- Workers are started with the multiprocessing "spawn" context (the parent may hold torch threads, which
  makes fork unsafe). Items travel in chunks to amortise IPC; each result comes back as soon as its item
  is done, so the parent knows when every item started.
- Per-item wall-clock timeout enforced from outside: the parent SIGKILLs the worker (and the process group
  it leads, which takes down any subprocesses ``fn`` started) and records ``on_timeout(item)``. Signal-based
  timeouts inside the worker are not used: they cannot interrupt C code and fail off the main thread.
- ``fn`` raising (any ``BaseException``, ``SystemExit`` included) is caught in the worker, which survives;
  the parent records ``on_crash(item, "Type: message")``. A result that cannot be pickled is recorded the
  same way.
- A worker that dies mid-item (``os._exit``, segfault, OOM kill) gives ``on_crash(item, "worker died (exit
  code X)")``. Killed or dead workers are replaced and the rest of their chunk is dispatched again.
- No process left behind: on return, on any exception and on KeyboardInterrupt every worker is killed and
  joined. Workers also die with the parent: on Linux through ``PR_SET_PDEATHSIG`` (works even while the
  worker is stuck in C code holding the GIL), elsewhere through a watchdog thread that polls the parent pid,
  and idle workers exit when their pipe reaches end of file.
- A worker that cannot start (for example ``fn``'s module is not importable in a fresh interpreter) is
  retried a few times, then ``EvalkitError`` is raised instead of looping forever.

- ``confine=True`` (what evalkit's verification uses for every family but the code families, whose
  programs the code sandbox confines): each worker confines itself for good while it has one thread
  (:mod:`evalkit.verify.confine`: namespaces, a minimal read-only root, a throw-away uid, rlimits, a
  fresh keyring, a seccomp filter, a scrubbed environment, no network, an audit hook for answers that
  are code), then loads ``fn`` (sent as pickled bytes, so that its modules, which may start threads, are
  imported only now) and reports the active layers (``WorkerPool.isolation``); the parent logs a
  warning when one of ``_EXPECTED_LAYERS`` is missing. A refused item is recorded with
  ``on_crash(item, "refused: ...")`` and its worker is replaced. :class:`WorkerPool` keeps workers across
  ``map`` calls.

Not implemented here:

- Without ``confine``, no rlimits, no scrubbed environment, no network isolation: a worker is then an
  ordinary child process of the parent user, and a verifier that allocates without bound is stopped only
  by its timeout or the OOM killer.
- No deduplication or caching of items; the caller does that.

Notes for callers:

- ``fn`` must be a module-level function of an importable module, and items and results must pickle.
  ``on_timeout``, ``on_crash`` and ``progress`` run in the parent and need not pickle.
- Spawned workers re-import the parent's ``__main__`` module (a multiprocessing rule), and then ``fn``'s
  module. Keep both cheap to import. Heavy imports ``fn`` needs belong at the top of its module: they then
  happen before the worker reports ready, not inside the first item's time budget.
- Workers are daemonic processes, so ``fn`` may use ``subprocess`` but not ``multiprocessing`` children.
- Workers lead their own process group, so a Ctrl-C in the terminal reaches only the parent, which then
  kills them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import pickle
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from evalkit.errors import EvalkitError
from evalkit.verify.worker import _FAILED, _READY, _RESULT, _RETIRE, _describe, _worker_main

T = TypeVar("T")
R = TypeVar("R")

# A worker that has not reported ready after this long (importing fn's module hangs) counts as failed.
_STARTUP_TIMEOUT_S = 120.0
# This many workers in a row failing to start means they never will: raise instead of looping.
_MAX_STARTUP_FAILURES = 3
# On normal return, how long idle workers get to exit by themselves before they are killed.
_GRACEFUL_EXIT_S = 1.0
# Layers a confined worker should report; without one of them the parent logs a warning (once per pool).
_EXPECTED_LAYERS = ("minimal-root", "no-caps", "rlimits", "seccomp")

log = logging.getLogger(__name__)


def run_pool(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int | None = None,
    timeout_s: float = 10.0,
    on_timeout: Callable[[T], R],
    on_crash: Callable[[T, str], R],
    chunk_size: int = 64,
    progress: Callable[[int], None] | None = None,
    confine: bool = False,
) -> list[R]:
    """Apply ``fn`` to every item in worker processes, with a hard wall-clock timeout per item.

    Args:
        fn: Module-level, picklable function run in the workers.
        items: Picklable items. Each is pickled on its own when its chunk is sent, so one bad item cannot
            spoil its neighbours.
        workers: Maximum number of worker processes; default :func:`usable_cores`. No more are started
            than there are chunks of ``chunk_size`` items.
        timeout_s: Wall-clock limit per item, in seconds. An item still running after this long has its
            worker SIGKILLed.
        on_timeout: Called in the parent with an item that timed out; its return value is that item's result.
        on_crash: Called in the parent with an item and a short message when ``fn`` raised
            (``"ValueError: ..."``), its result could not be pickled, or its worker died
            (``"worker died (exit code X)"``); its return value is that item's result.
        chunk_size: Largest number of items sent to a worker at once. Chunks shrink towards the end of the
            run so that workers finish together.
        progress: Called in the parent with the number of items newly finished (a positive int).
        confine: Confine each worker before it loads ``fn`` (:func:`evalkit.verify.confine.enter`): for
            functions that read untrusted text. An item that the confinement refuses gets
            ``on_crash(item, "refused: ...")`` and its worker is replaced.

    Returns:
        One result per item, in the order of ``items``.

    Raises:
        ValueError: ``workers``, ``timeout_s`` or ``chunk_size`` is not positive.
        EvalkitError: Workers repeatedly failed to start (for example ``fn`` is not importable in a fresh
            interpreter).
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    n = len(items)
    if n == 0:
        return []
    max_workers = min(workers or usable_cores(), math.ceil(n / chunk_size))
    pool = WorkerPool(fn, max_workers, timeout_s, on_timeout, on_crash, chunk_size, confine)
    try:
        return pool.map(items, progress)
    finally:
        pool.close()


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one (a container or ``taskset``
    often allows fewer than ``os.cpu_count()`` reports), else ``os.cpu_count()``; at least 1."""
    if hasattr(os, "sched_getaffinity"):
        with contextlib.suppress(OSError):
            return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class _Worker:
    """Parent-side handle of one worker process and the chunk it is working through."""

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.ready = False
        self.dead = False
        self.exitcode: int | None = None
        self.failure = ""  # why it could not start, when it said so
        # Indices of the items sent and not yet answered; the first one is in flight.
        self.chunk: deque[int] = deque()
        # When the item in flight started (or, before ready, when the process was started).
        self.since = time.monotonic()


class WorkerPool:
    """Workers that live across :meth:`map` calls (what :func:`run_pool` does in one call), for callers
    that verify a few items at a time, such as GRPO's reward. Use from one thread; :meth:`close` (or the
    ``with`` block) kills the workers. Arguments as for :func:`run_pool`; ``workers`` is the maximum."""

    def __init__(
        self,
        fn: Callable[[Any], Any],
        workers: int,
        timeout_s: float,
        on_timeout: Callable[[Any], Any],
        on_crash: Callable[[Any, str], Any],
        chunk_size: int = 64,
        confine: bool = False,
    ) -> None:
        if workers < 1 or not timeout_s > 0 or chunk_size < 1:
            raise ValueError("need workers >= 1, timeout_s > 0 and chunk_size >= 1")
        self.fn = fn
        self.fn_pickle: bytes | None = None
        self.items: Sequence[Any] = ()
        self.max_workers = workers
        self.timeout_s = timeout_s
        self.on_timeout = on_timeout
        self.on_crash = on_crash
        self.chunk_size = chunk_size
        self.confine = confine
        self.progress: Callable[[int], None] | None = None
        self.ctx = multiprocessing.get_context("spawn")
        self.results: list[Any] = []
        self.pending: deque[int] = deque()
        self.workers: list[_Worker] = []
        self.done = 0
        self.newly_done = 0
        self.startup_failures = 0
        # The isolation layers the last confined worker reported (empty without ``confine``).
        self.isolation: tuple[str, ...] = ()
        self.warned = False  # a partial isolation was logged

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, items: Sequence[Any], progress: Callable[[int], None] | None = None) -> list[Any]:
        """One result per item, in order (see :func:`run_pool`). Any exception kills every worker."""
        self.items, self.progress = items, progress
        self.results = [None] * len(items)
        self.pending = deque(range(len(items)))
        self.done = self.newly_done = 0
        try:
            self._run()
        except BaseException:
            self._kill_all()
            raise
        results, self.results, self.items = self.results, [], ()
        return results

    def close(self) -> None:
        """Let idle workers exit, then kill whatever is left, grandchildren in their groups included."""
        try:
            self._shutdown_gracefully()
        finally:
            self._kill_all()

    def _kill_all(self) -> None:
        for w in self.workers:
            self._kill(w)
        self.workers = []

    def _run(self) -> None:
        while self.done < len(self.items):
            self._top_up_workers()
            self._dispatch()
            self._wait_and_handle()
            self._enforce_deadlines()
            self.workers = [w for w in self.workers if not w.dead]
            if self.newly_done and self.progress is not None:
                newly, self.newly_done = self.newly_done, 0
                self.progress(newly)

    # -- worker lifecycle -------------------------------------------------------------------------------

    def _top_up_workers(self) -> None:
        # Start a worker only while the pending items exceed a full chunk for every worker already waiting
        # for work (idle or still starting); at most max_workers are alive at once.
        idle_capacity = sum(1 for w in self.workers if not w.chunk)
        while len(self.workers) < self.max_workers and len(self.pending) > idle_capacity * self.chunk_size:
            self._start_worker()
            idle_capacity += 1

    def _start_worker(self) -> None:
        if self.fn_pickle is None:
            # As bytes, so that a confined worker loads fn (and imports its modules) only once confined.
            self.fn_pickle = pickle.dumps(self.fn, protocol=pickle.HIGHEST_PROTOCOL)
        parent_conn, child_conn = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(
            target=_worker_main,
            args=(child_conn, self.fn_pickle, os.getpid(), self.confine),
            name="evalkit-pool",
            daemon=True,
        )
        # Registered before start() so that an interrupt during start() still leaves it to the cleanup.
        self.workers.append(_Worker(process, parent_conn))
        try:
            process.start()
        finally:
            # The parent must not keep the child's end open, or it would never see end of file.
            child_conn.close()

    def _kill(self, w: _Worker) -> None:
        """SIGKILL the worker and its process group, reap it and record its exit code. Idempotent."""
        if w.dead:
            return
        w.dead = True
        w.conn.close()
        pid = w.process.pid
        if pid is None:  # start() never got as far as creating the process.
            return
        # Kill before reaping: until join() reaps it, the pid cannot be reused, so killpg cannot hit a
        # stranger. The group exists only once the worker has called setpgid; ESRCH before that is fine.
        # Nothing else here may reap it first (Process.is_alive() and .exitcode do), hence sentinels.
        if hasattr(os, "killpg"):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        w.process.join(timeout=5.0)
        w.exitcode = w.process.exitcode
        if w.exitcode is not None:
            w.process.close()

    def _shutdown_gracefully(self) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        deadline = time.monotonic() + _GRACEFUL_EXIT_S
        alive: list[Any] = [w.process.sentinel for w in self.workers if not w.dead]
        while alive and (left := deadline - time.monotonic()) > 0:
            for s in wait(alive, timeout=left):
                alive.remove(s)

    def _startup_failed(self, w: _Worker, why: str) -> None:
        self.startup_failures += 1
        if self.startup_failures >= _MAX_STARTUP_FAILURES:
            name = f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', repr(self.fn))}"
            raise EvalkitError(
                f"verifier worker processes failed to start {self.startup_failures} times in a row ({why}); "
                f"check that {name} is a module-level function of a module importable in a fresh Python "
                "interpreter (see the worker's traceback above)"
            )

    # -- dispatch and results ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        for w in self.workers:
            if not self.pending:
                return
            if w.dead or not w.ready or w.chunk:
                continue
            # Guided scheduling: chunks shrink as the queue empties so the last ones finish together.
            size = min(self.chunk_size, max(1, math.ceil(len(self.pending) / self.max_workers)))
            indices: list[int] = []
            payload: list[bytes] = []
            while self.pending and len(indices) < size:
                idx = self.pending.popleft()
                try:
                    payload.append(pickle.dumps(self.items[idx], protocol=pickle.HIGHEST_PROTOCOL))
                except Exception as e:
                    self._finish(idx, self.on_crash(self.items[idx], f"item not picklable: {_describe(e)}"))
                    continue
                indices.append(idx)
            if not indices:
                continue
            try:
                w.conn.send((indices, payload))
            except OSError:
                # The worker died while idle; nothing of this chunk has run. Put it back.
                self.pending.extendleft(reversed(indices))
                self._kill(w)
                self._startup_failed(w, "worker died before its first item")
                continue
            w.chunk.extend(indices)
            w.since = time.monotonic()

    def _finish(self, idx: int, result: Any) -> None:
        self.results[idx] = result
        self.done += 1
        self.newly_done += 1

    def _wait_and_handle(self) -> None:
        now = time.monotonic()
        deadlines = [d for w in self.workers if not w.dead and (d := self._deadline(w)) is not None]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        by_obj: dict[Any, _Worker] = {}
        for w in self.workers:
            if w.dead:
                continue
            by_obj[w.conn] = w
            by_obj[w.process.sentinel] = w
        if not by_obj:
            return
        for obj in wait(list(by_obj), timeout=timeout):
            w = by_obj[obj]
            if not w.dead:
                self._drain(w)

    def _deadline(self, w: _Worker) -> float | None:
        if not w.ready:
            return w.since + _STARTUP_TIMEOUT_S
        if w.chunk:
            return w.since + self.timeout_s
        return None

    def _drain(self, w: _Worker) -> None:
        """Read every message the worker has sent; handle its death if the pipe is closed."""
        try:
            while w.conn.poll(0):
                self._handle(w, w.conn.recv())
        except (EOFError, OSError):
            self._handle_death(w)
            return
        # A dead worker's pipe reads as end of file, which poll() reports as readable; but the sentinel can
        # become ready first, so also check it (without reaping: see _kill).
        if wait([w.process.sentinel], timeout=0):
            self._handle_death(w)

    def _handle(self, w: _Worker, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == _READY:
            w.ready = True
            self.startup_failures = 0
            self.isolation = tuple(msg[1])
            if self.confine and not self.warned and not set(_EXPECTED_LAYERS) <= set(self.isolation):
                # Said here: the worker's own stderr is /dev/null once it is confined.
                self.warned = True
                log.warning("verifier workers run with partial isolation: %s", ",".join(self.isolation))
            return
        if kind == _FAILED:
            w.failure = str(msg[1])  # the worker exits right after; _handle_death reports it
            return
        if kind == _RETIRE:
            # The worker refused an item and exits: what it has not started goes to another worker.
            self.pending.extendleft(reversed(w.chunk))
            w.chunk.clear()
            self._kill(w)
            return
        idx = msg[1]
        if not w.chunk or w.chunk[0] != idx:
            raise RuntimeError(f"evalkit.verify.pool: worker answered item {idx}, expected {list(w.chunk)[:1]}")
        w.chunk.popleft()
        w.since = time.monotonic()
        if kind == _RESULT:
            self._finish(idx, msg[2])
        else:
            self._finish(idx, self.on_crash(self.items[idx], msg[2]))

    def _handle_death(self, w: _Worker) -> None:
        self._kill(w)
        if not w.ready:
            self._startup_failed(w, w.failure or f"exit code {w.exitcode}")
            return
        message = _death_message(w.exitcode)
        self._give_up_current(w, lambda item: self.on_crash(item, message))

    def _give_up_current(self, w: _Worker, record: Callable[[Any], Any]) -> None:
        """Record the in-flight item of a killed worker and put the rest of its chunk back in front."""
        if w.chunk:
            idx = w.chunk.popleft()
            self.pending.extendleft(reversed(w.chunk))
            w.chunk.clear()
            self._finish(idx, record(self.items[idx]))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for w in self.workers:
            if w.dead:
                continue
            deadline = self._deadline(w)
            if deadline is None or now < deadline:
                continue
            # A result may have arrived just in time; read it before deciding.
            self._drain(w)
            if w.dead:
                continue
            deadline = self._deadline(w)
            if deadline is None or time.monotonic() < deadline:
                continue
            self._kill(w)
            if not w.ready:
                self._startup_failed(w, f"not ready after {_STARTUP_TIMEOUT_S:.0f} s")
            else:
                self._give_up_current(w, self.on_timeout)


def _death_message(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"worker died (exit code {code}, {signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"worker died (exit code {code})"
