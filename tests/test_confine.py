"""Confined verifier workers (evalkit.verify.confine through evalkit.verify.pool) against hostile verifier input: one
behaviour per test. Canary files and listeners live under the test's tmp_path and on loopback only.

The layers need Linux and namespaces (or root); tests that need them skip with the reason elsewhere.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from evalkit.verify.pool import WorkerPool, run_pool

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import confine_helpers as h  # noqa: E402  (needs TESTS_DIR on sys.path)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="confinement layers are Linux's")


@pytest.fixture(autouse=True)
def _helpers_importable_in_children(monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [str(TESTS_DIR), str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in parts if p))


def confined(*items: tuple[str, Any]) -> list[Any]:
    return run_pool(
        h.behave,
        list(items),
        workers=1,
        timeout_s=30,
        on_timeout=lambda item: "timeout",
        on_crash=lambda item, message: f"crash:{message}",
        confine=True,
    )


@pytest.fixture(scope="module")
def layers() -> tuple[str, ...]:
    with WorkerPool(h.behave, 1, 30, lambda i: None, lambda i, m: None, confine=True) as pool:
        pool.map([("ids", None)])
        return pool.isolation


def need(layers: tuple[str, ...], *names: str) -> None:
    missing = [n for n in names if n not in layers]
    if missing:
        pytest.skip(f"this machine does not allow {', '.join(missing)} (active: {','.join(layers)})")


def test_worker_runs_without_uid_0_or_capabilities(layers: tuple[str, ...]) -> None:
    (ids,) = confined(("ids", None))
    assert int(ids["caps"], 16) == 0
    if os.geteuid() == 0:
        need(layers, "uid-drop")
        assert "0" not in ids["uid"] and "0" not in ids["gid"], ids  # real, effective, saved and fs uid


def test_root_only_file_is_not_readable(layers: tuple[str, ...], tmp_path: Path) -> None:
    canary = tmp_path / "secret"
    canary.write_text("root only")
    canary.chmod(0o600)
    (got,) = confined(("read", str(canary)))
    assert got.startswith("refused:"), got


def test_home_directory_is_not_visible(layers: tuple[str, ...]) -> None:
    need(layers, "minimal-root")
    (got,) = confined(("listdir", os.path.expanduser("~")))
    home = os.path.expanduser("~")
    assert got == "refused:FileNotFoundError" or sys.prefix.startswith(home) or sys.base_prefix.startswith(home)
    (run,) = confined(("listdir", "/run"))
    assert run == "refused:FileNotFoundError"


def test_writing_outside_is_blocked_and_the_canary_unchanged(layers: tuple[str, ...], tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.write_text("intact")
    got = confined(("write", str(canary)), ("write", str(tmp_path / "new")), ("write", "/usr/evalkit-canary"))
    assert all(g.startswith("refused:") for g in got), got
    assert canary.read_text() == "intact" and not (tmp_path / "new").exists()
    assert not Path("/usr/evalkit-canary").exists()


def test_only_four_device_nodes(layers: tuple[str, ...]) -> None:
    need(layers, "minimal-dev")
    (dev,) = confined(("listdir", "/dev"))
    nodes = {n for n in dev if n not in ("fd", "stdin", "stdout", "stderr", "shm")}
    assert nodes == {"null", "zero", "random", "urandom"}, dev
    (got,) = confined(("read", "/dev/loop-control"))
    assert got.startswith("refused:")


def test_loopback_listener_is_unreachable(layers: tuple[str, ...]) -> None:
    need(layers, "netns")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received: list[bytes] = []

    def accept() -> None:
        server.settimeout(5)
        try:
            conn, _ = server.accept()
            received.append(conn.recv(16))
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    (got,) = confined(("tcp", server.getsockname()))
    server.close()
    thread.join()
    assert got.startswith("refused:") and not received, got


def test_path_named_unix_socket_is_unreachable(layers: tuple[str, ...], tmp_path: Path) -> None:
    need(layers, "minimal-root")
    path = str(tmp_path / "sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(1)
    server.settimeout(0.5)
    (got,) = confined(("unix", path))
    with pytest.raises(OSError):
        server.accept()
    server.close()
    assert got.startswith("refused:"), got


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_TEST_SECRET_TOKEN", "hunter2")
    (env,) = confined(("env", None))
    assert "EVALKIT_TEST_SECRET_TOKEN" not in env and "hunter2" not in env.values()


def test_memory_bomb_fails_only_that_item(layers: tuple[str, ...]) -> None:
    need(layers, "rlimits")
    got = confined(("memory", 64 << 10), ("memory", 8))
    assert got == ["refused:MemoryError", "allocated 8 MiB"], got


def test_eval_of_code_is_refused_and_the_worker_replaced(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    attack = f"__import__('pathlib').Path({str(canary)!r}).write_text('x') and None or 6"
    got = confined(("eval", "1+2+3"), ("eval", attack), ("eval", "1+2+3"))
    assert got[0] == "6" and got[2] == "6", got
    assert got[1].startswith("crash:refused:"), got
    assert not canary.exists()


def test_eval_without_dunder_names_is_refused() -> None:
    got = confined(("eval", "setattr(print, 'x', 1)"), ("eval", "globals().clear()"), ("eval", "open('/tmp/x', 'w')"))
    assert all(g.startswith("crash:refused:") for g in got), got


def test_sympy_parse_expr_of_code_is_refused(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    got = confined(("sympy", "x + 2*3"), ("sympy", f"__import__('os').system('touch {canary}') or 1"))
    assert got[0] == "x + 6", got
    assert got[1].startswith("crash:refused:"), got
    assert not canary.exists()


def test_string_code_without_denied_names_or_side_effects_runs() -> None:
    (got,) = confined(("eval", "list(map(chr, [65])) and sorted(reversed(range(3)))"))
    assert got == "[0, 1, 2]"


def test_fork_bomb_is_bounded(layers: tuple[str, ...]) -> None:
    need(layers, "nproc")
    (got,) = confined(("fork_bomb", 500))
    assert got < 64, got


def test_worker_confines_itself_while_it_has_one_thread() -> None:
    # the verification stage's worker function imports pyarrow (which starts threads) when it is loaded;
    # a worker that loaded it before confining itself could not enter a user namespace
    import functools

    from evalkit.grading.sandbox import run_python
    from evalkit.verify import stage

    fn = functools.partial(h.behave_beside, stage.judge)
    with WorkerPool(fn, 1, 30, lambda i: None, lambda i, m: f"crash:{m}", confine=True) as pool:
        assert pool.map([("threads_at_confinement", None)]) == [1]
        if "userns" in run_python("pass\n").isolation:  # this machine offers user namespaces
            assert "userns" in pool.isolation, pool.isolation


def test_session_keyring_of_evalkit_is_out_of_reach(layers: tuple[str, ...]) -> None:
    import ctypes
    import uuid

    from evalkit.grading import sandbox

    add_key_nr = {"x86_64": 248, "aarch64": 217}.get(os.uname().machine)
    keyctl_nr = sandbox._SYS_KEYCTL.get(os.uname().machine)
    if add_key_nr is None or keyctl_nr is None:
        pytest.skip("keyrings are tested on x86_64 and aarch64")
    libc = ctypes.CDLL(None, use_errno=True)
    n = ctypes.c_long
    secret = b"host-secret-" + uuid.uuid4().hex.encode()
    name = b"evalkit-test-" + uuid.uuid4().hex.encode()
    serial = int(libc.syscall(n(add_key_nr), b"user", name, secret, ctypes.c_size_t(len(secret)), n(-3)))
    if serial < 0:
        pytest.skip(f"the kernel refuses keyrings here ({os.strerror(ctypes.get_errno())})")
    try:
        (got,) = confined(("keyring", (serial, keyctl_nr, add_key_nr)))
        buf = ctypes.create_string_buffer(4096)
        assert libc.syscall(n(keyctl_nr), n(11), n(serial), buf, n(4096)) == len(secret)
        assert buf.raw[: len(secret)] == secret  # neither updated nor unlinked
        assert all(r < 0 for r in got), got  # nothing read, changed, unlinked or added
    finally:
        libc.syscall(n(keyctl_nr), n(9), n(serial), n(-3))


def test_memfd_create_is_refused(layers: tuple[str, ...]) -> None:
    need(layers, "seccomp")
    assert confined(("memfd", None)) == ["refused:1"]


def test_worker_that_cannot_load_its_function_says_why() -> None:
    # a confined worker's stderr is /dev/null: the reason must reach the parent's error
    import types

    from evalkit.errors import EvalkitError

    ghost = types.ModuleType("evalkit_test_ghost_module")
    exec("def fn(x):\n    return x\n", ghost.__dict__)
    sys.modules[ghost.__name__] = ghost
    try:
        with pytest.raises(EvalkitError, match="loading the worker function failed: ModuleNotFoundError"):
            run_pool(ghost.fn, [1], timeout_s=30, on_timeout=lambda i: None, on_crash=lambda i, m: m, confine=True)
    finally:
        del sys.modules[ghost.__name__]


def test_partial_isolation_is_logged_by_the_parent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from evalkit.verify import pool as pool_module

    monkeypatch.setattr(pool_module, "_EXPECTED_LAYERS", ("a-layer-no-machine-has",))
    assert confined(("env", None))
    assert "verifier workers run with partial isolation" in caplog.text
