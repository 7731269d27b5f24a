"""Module-level functions for tests/test_confine.py and tests/bench/hostile.py: confined pool workers
import them by name. ``behave((kind, arg))`` does one benign or hostile thing and reports what happened."""

from __future__ import annotations

import os
import socket
from typing import Any


def behave(item: tuple[str, Any]) -> Any:
    kind, arg = item
    if kind == "ids":
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return {"uid": fields["Uid"].split(), "gid": fields["Gid"].split(), "caps": fields["CapEff"].strip()}
    if kind == "read":
        try:
            with open(arg, "rb") as f:
                return "read:" + f.read(64).decode("latin-1")
        except OSError as e:
            return f"refused:{type(e).__name__}"
    if kind == "write":
        try:
            with open(arg, "w") as f:
                f.write("pwned")
            return "wrote"
        except OSError as e:
            return f"refused:{type(e).__name__}"
    if kind == "listdir":
        try:
            return sorted(os.listdir(arg))
        except OSError as e:
            return f"refused:{type(e).__name__}"
    if kind in ("tcp", "unix"):
        family = socket.AF_INET if kind == "tcp" else socket.AF_UNIX
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.settimeout(2)
            s.connect(tuple(arg) if kind == "tcp" else arg)
            s.sendall(b"pwned")
            return "connected"
        except OSError as e:
            return f"refused:{type(e).__name__}"
        finally:
            s.close()
    if kind == "env":
        return dict(os.environ)
    if kind == "memory":
        try:
            hog = bytearray(arg << 20)
            return f"allocated {len(hog) >> 20} MiB"
        except MemoryError:
            return "refused:MemoryError"
    if kind == "fork":
        try:
            pid = os.fork()
        except OSError as e:
            return f"refused:{type(e).__name__}"
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        return "forked"
    if kind == "fork_bomb":
        children = []
        try:
            for _ in range(arg):
                pid = os.fork()
                if pid == 0:
                    import time

                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        except OSError:
            pass
        finally:
            for pid in children:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
        return len(children)
    if kind == "eval":  # what a reasoning-gym scorer does with an answer
        try:
            return repr(eval(arg))
        except Exception as e:
            return f"raised:{type(e).__name__}: {e}"
    if kind == "sympy":  # sympy's parse_expr, as countdown, puzzle24 and the integration scorers call it
        from sympy.parsing.sympy_parser import parse_expr

        try:
            return str(parse_expr(arg))
        except Exception as e:
            return f"raised:{type(e).__name__}"
    if kind == "threads_at_confinement":
        from evalkit.verify import confine

        return confine.THREADS_AT_ENTER
    if kind == "keyring":  # arg: (serial of a key in the parent's session keyring, keyctl's and add_key's numbers)
        return _keyring_attack(*arg)
    if kind == "memfd":
        try:
            os.memfd_create("hoard")
            return "created"
        except OSError as e:
            return f"refused:{e.errno}"
    raise ValueError(kind)


def behave_beside(preloaded: Any, item: tuple[str, Any]) -> Any:
    """:func:`behave`, as a ``functools.partial`` that also carries ``preloaded`` (a module's function or
    class): loading the partial in a worker imports that module, as the verification stage's does."""
    return behave(item)


def _keyring_attack(serial: int, keyctl_nr: int, add_key_nr: int) -> list[int]:
    """Read, update and unlink the key ``serial``, and add a key to the session keyring; the return values."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    n, buf = ctypes.c_long, ctypes.create_string_buffer(4096)
    return [
        int(libc.syscall(n(keyctl_nr), n(11), n(serial), buf, n(4096))),  # KEYCTL_READ
        int(libc.syscall(n(keyctl_nr), n(2), n(serial), b"pwned", n(5))),  # KEYCTL_UPDATE
        int(libc.syscall(n(keyctl_nr), n(9), n(serial), n(-3))),  # KEYCTL_UNLINK from the session keyring
        int(libc.syscall(n(add_key_nr), b"user", b"planted", b"x", n(1), n(-3))),
    ]
