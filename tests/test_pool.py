"""evalkit.verify.pool against hostile verifier functions: each test checks one behaviour.

Spawned workers import the functions they run by module name, so the helpers live in tests/pool_helpers.py
and this directory is put on both ``sys.path`` (which spawn passes to children) and ``PYTHONPATH``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
import types
from multiprocessing import resource_tracker
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.verify.pool import run_pool

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import pool_helpers as h  # noqa: E402  (needs TESTS_DIR on sys.path)

TIMEOUT_S = 1.0
# Spawning a worker costs a fresh interpreter; a loaded 2-core CI machine can take a few seconds.
SLACK_S = 5.0


@pytest.fixture(autouse=True)
def _helpers_importable_in_children(monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [str(TESTS_DIR), str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in parts if p))


def _children_of(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is ``pid``, zombies included, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # Exited while we looked.
        # Fields after the parenthesised command name: state, ppid, ...
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid:
            found.append((int(entry.name), state))
    return found


def _state(pid: int) -> str | None:
    """The process's state letter, or None once it no longer exists."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _gone(pid: int, within_s: float) -> bool:
    """Whether ``pid`` is gone (or a zombie nobody reaps) within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if _state(pid) in (None, "Z"):
            return True
        time.sleep(0.05)
    return False


def assert_no_children_left() -> None:
    assert multiprocessing.active_children() == []
    if not Path("/proc/self/stat").exists():
        return
    # spawn starts multiprocessing's resource tracker once per interpreter and keeps it for good; it is
    # not a pool worker.
    tracker = getattr(resource_tracker._resource_tracker, "_pid", None)
    assert [c for c in _children_of(os.getpid()) if c[0] != tracker] == []


def run(items: list, **kwargs: object) -> list:
    kwargs.setdefault("timeout_s", TIMEOUT_S)
    return run_pool(h.behave, items, on_timeout=h.on_timeout, on_crash=h.on_crash, **kwargs)  # type: ignore[arg-type]


def test_results_keep_input_order_over_many_chunks() -> None:
    seen: list[int] = []
    out = run_pool(
        h.square,
        list(range(500)),
        workers=2,
        chunk_size=16,
        on_timeout=h.on_timeout,
        on_crash=h.on_crash,
        progress=seen.append,
    )
    assert out == [i * i for i in range(500)]
    assert sum(seen) == 500
    assert all(n > 0 for n in seen)
    assert_no_children_left()


def test_hanging_item_times_out_and_the_rest_finish() -> None:
    items = [("ok", i) for i in range(12)]
    items[5] = ("sleep", 0)
    start = time.monotonic()
    out = run(items, workers=2, chunk_size=4)
    elapsed = time.monotonic() - start
    assert out == [i if i != 5 else "TIMEOUT" for i in range(12)]
    assert elapsed < TIMEOUT_S + SLACK_S
    assert_no_children_left()


def test_item_spinning_in_c_code_is_killed_and_rest_of_chunk_redispatched() -> None:
    # One worker, one chunk: the item after the spinning one must go to the replacement worker.
    start = time.monotonic()
    out = run([("ok", 0), ("cpu", 8), ("ok", 2), ("pid", 0)], workers=1)
    elapsed = time.monotonic() - start
    assert out[:3] == [0, "TIMEOUT", 2]
    assert isinstance(out[3], int) and out[3] != os.getpid()
    assert elapsed < TIMEOUT_S + SLACK_S
    assert_no_children_left()


def test_worker_death_is_a_crash_verdict_and_others_are_fine() -> None:
    out = run([("ok", 0), ("exit", 3), ("ok", 2), ("segv", 0), ("ok", 4)], workers=1)
    assert out[0] == 0 and out[2] == 2 and out[4] == 4
    assert out[1] == "CRASH worker died (exit code 3)"
    assert out[3].startswith("CRASH worker died (exit code -11")
    assert_no_children_left()


def test_exception_in_fn_is_a_crash_verdict_and_the_worker_survives() -> None:
    out = run([("pid", 0), ("raise", 7), ("pid", 0), ("pid", 0)], workers=1)
    assert out[1] == "CRASH ValueError: bad item 7"
    # Same process before and after the exception: it was caught in the worker, not fatal to it.
    assert out[0] == out[2] == out[3]
    assert_no_children_left()


def test_unpicklable_item_or_result_is_a_crash_verdict() -> None:
    out = run([("ok", 0), h.Unpicklable(), ("unpicklable_result", 0), ("ok", 3)], workers=1)
    assert out[0] == 0 and out[3] == 3
    assert out[1].startswith("CRASH item not picklable: PicklingError")
    assert out[2].startswith("CRASH result not picklable:")
    assert_no_children_left()


def test_mixed_hostile_items_each_get_their_own_verdict() -> None:
    # Failures scattered over many chunks and two workers: every redispatch must land each item once.
    rng = random.Random(0)
    items: list[tuple[str, int]] = [("ok", i) for i in range(300)]
    expected: list[object] = list(range(300))
    for i in rng.sample(range(300), 12):
        kind = rng.choice(["exit", "raise", "raise"])
        items[i] = (kind, 5)
        expected[i] = "CRASH worker died (exit code 5)" if kind == "exit" else "CRASH ValueError: bad item 5"
    for i in rng.sample([i for i in range(300) if items[i][0] == "ok"], 2):
        items[i] = ("sleep", 0)
        expected[i] = "TIMEOUT"
    seen: list[int] = []
    start = time.monotonic()
    out = run(items, workers=2, chunk_size=8, progress=seen.append)
    assert out == expected
    assert sum(seen) == 300
    # The two sleepers may share a worker, so allow two timeouts back to back.
    assert time.monotonic() - start < 2 * TIMEOUT_S + SLACK_S
    assert_no_children_left()


def test_empty_input_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_processes(*args: object) -> None:
        raise AssertionError("run_pool asked for a multiprocessing context with no items")

    monkeypatch.setattr("evalkit.verify.pool.multiprocessing.get_context", no_processes)
    assert run([]) == []
    assert_no_children_left()


def test_small_input_starts_only_the_workers_it_needs() -> None:
    out = run([("pid", 0)] * 3, workers=8, chunk_size=64)
    assert len(set(out)) == 1
    assert_no_children_left()


def test_timeout_also_kills_subprocesses_of_the_worker(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    assert run([("grandchild", str(pid_file))], workers=1) == ["TIMEOUT"]
    grandchild = int(pid_file.read_text())
    assert _gone(grandchild, within_s=2.0)
    assert_no_children_left()


def test_exception_in_parent_callback_kills_all_workers() -> None:
    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    items = [("ok", 0), ("sleep", 0), ("sleep", 0)]
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(items, workers=3, chunk_size=1, timeout_s=60, progress=interrupt)
    # Well under the sleepers' 60 s timeout: run_pool did not wait for them.
    assert time.monotonic() - start < SLACK_S
    assert_no_children_left()


def test_workers_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, str(TESTS_DIR / "pool_helpers.py"), str(tmp_path)])
    try:
        deadline = time.monotonic() + 15
        while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        worker_pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
        assert len(worker_pids) == 2
        assert all(_state(pid) not in (None, "Z") for pid in worker_pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert all(_gone(pid, within_s=3.0) for pid in worker_pids)


def test_worker_that_cannot_import_fn_raises_instead_of_looping() -> None:
    # A function whose module exists in this process only: it pickles by name here, but a spawned
    # worker cannot import it, so every worker dies before reporting ready.
    ghost = types.ModuleType("evalkit_test_ghost_module")
    exec("def fn(x):\n    return x\n", ghost.__dict__)
    sys.modules[ghost.__name__] = ghost
    try:
        with pytest.raises(EvalkitError, match="failed to start"):
            run_pool(ghost.fn, [1, 2], on_timeout=h.on_timeout, on_crash=h.on_crash)
    finally:
        del sys.modules[ghost.__name__]
    assert_no_children_left()


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        run([("ok", 0)], timeout_s=0)
    with pytest.raises(ValueError, match="workers"):
        run([("ok", 0)], workers=0)
    with pytest.raises(ValueError, match="chunk_size"):
        run([("ok", 0)], chunk_size=0)
