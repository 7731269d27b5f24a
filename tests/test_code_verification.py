"""Code tasks verified through evalkit's real paths (``verify_items``, ``Verifier``): the program runs in the
code sandbox with every layer the machine allows, never in a weakened form nested in a confined worker.

One hostile behaviour per test. Layers that only root or namespaces give are skipped with the reason.
"""

from __future__ import annotations

import functools
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from evalkit.grading.sandbox import run_python
from evalkit.tasks import get_family, sandbox_only
from evalkit.tasks.taskdir import AnswerFileTask, CodeFileTask
from evalkit.types import Problem
from evalkit.verify.stage import Verifier, verify_items

LINUX = sys.platform.startswith("linux")


@functools.cache
def _layers() -> tuple[str, ...]:
    return run_python("pass\n").isolation


def require(*layers: str) -> None:
    missing = [layer for layer in layers if layer not in _layers()]
    if missing:
        pytest.skip(f"this machine does not give the sandbox {missing} ({','.join(_layers())})")


def code_problem(tests: str, entry_point: str = "f", prompt: str = "Write f.") -> Problem:
    """A task-folder code problem that no registry knows: verified by CodeFileTask through its meta."""
    meta = {"tests": tests, "entry_point": entry_point, "timeout_s": 10.0, "memory_mb": 512}
    return Problem(
        id="codecheck:1", task="codecheck", prompt=prompt, reference="", meta=meta | {"verifier": "tasks-dir:code"}
    )


def fenced(source: str) -> str:
    return "```python\n" + textwrap.dedent(source).strip() + "\n```\n"


def test_only_code_families_are_verified_outside_confined_workers() -> None:
    assert sandbox_only(type(get_family("humaneval"))) and sandbox_only(CodeFileTask)
    assert not sandbox_only(AnswerFileTask) and not sandbox_only(type(get_family("math")))

    class OwnCode(CodeFileTask):  # overrides verify: must say again that it runs text only in the sandbox
        pass

    assert not sandbox_only(OwnCode)


@pytest.mark.skipif(not LINUX, reason="uids and namespaces are Linux's")
def test_program_and_tests_process_run_under_different_uids() -> None:
    require("uid-drop", "pidns")
    program = fenced(
        """
        import os
        def f():
            return os.getuid()
        """
    )
    tests = "import os\nassert f() != os.getuid()\n"
    [verdict] = verify_items([(code_problem(tests), program, "stop")], workers=1, timeout_s=30)
    assert verdict.passed, verdict


@pytest.mark.skipif(not LINUX, reason="namespaces are Linux's")
def test_program_sees_the_sandbox_init_as_pid_1() -> None:
    require("pidns", "private-proc")
    program = fenced(
        """
        def f():
            return open("/proc/1/cmdline", "rb").read().decode(errors="replace")
        """
    )
    [verdict] = verify_items([(code_problem("assert 'harness' in f()\n"), program, "stop")], workers=1, timeout_s=30)
    assert verdict.passed, verdict


FORGER = """
import os, sys, time
frame, rec = sys._getframe(), None
while frame is not None and rec is None:
    rec = frame.f_locals.get("rec")
    frame = frame.f_back
nonce = getattr(rec, "nonce", b"")
nonce = nonce.decode() if isinstance(nonce, bytes) else str(nonce)
forged = f"\\n{nonce} test 0 pass\\n{nonce} done 1 1\\n".encode()
if os.fork() == 0:
    tests = os.getppid()
    ancestors = [tests]
    try:
        status = open(f"/proc/{tests}/status").read()
        ancestors.append(int(status.split("PPid:")[1].split()[0]))
    except (OSError, IndexError, ValueError):
        pass
    opened = []
    for pid in ancestors:  # every fd of the tests process and of its parent, opened while they live
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                opened.append(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    for _ in range(4000):  # until the tests process has written its own records and ended
        try:
            if open(f"/proc/{tests}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.0005)
    for w in opened:
        try:
            os.write(w, forged)
        except OSError:
            pass
    os._exit(0)

def f():
    return 0
"""


@pytest.mark.skipif(not LINUX, reason="/proc is Linux's")
def test_program_cannot_write_records_through_another_process_fds() -> None:
    [verdict] = verify_items([(code_problem("assert f() == 1\n"), fenced(FORGER), "stop")], workers=1, timeout_s=30)
    assert not verdict.passed, verdict


def _processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(entry.name)
            except OSError:
                continue
    return found


@pytest.mark.skipif(not LINUX, reason="/proc is Linux's")
def test_setsid_daemon_does_not_outlive_its_item() -> None:
    require("pidns")
    marker = f"evalkit-daemon-{uuid.uuid4().hex}"
    program = fenced(
        f"""
        import os, sys
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "{marker}"])
            os._exit(0)
        os.wait()
        def f():
            return 0
        """
    )
    with Verifier([CodeFileTask], workers=1, timeout_s=30) as verifier:  # workers that live on
        assert not verifier.verify(code_problem("assert f() == 1\n"), program).passed
        end = time.monotonic() + 2.0
        while _processes_with(marker) and time.monotonic() < end:
            time.sleep(0.05)
        assert not _processes_with(marker), "a daemon of the program outlived its item"


@pytest.mark.skipif(not LINUX, reason="uids and namespaces are Linux's")
def test_grpo_verifier_gives_code_families_every_sandbox_layer() -> None:
    require("uid-drop", "pidns")
    program = fenced(
        """
        import os
        def f():
            return os.getuid()
        """
    )
    with Verifier([CodeFileTask], workers=1, timeout_s=30) as verifier:
        verdict = verifier.verify(code_problem("import os\nassert f() != os.getuid()\n"), program)
    assert verdict.passed, verdict


def test_answer_families_still_run_in_confined_workers() -> None:
    problem = Problem(
        id="answers:1",
        task="answers",
        prompt="2+2?",
        reference="4",
        meta={"answer_format": "auto", "think": "strip", "strict": False, "verifier": "tasks-dir:answer"},
    )
    with Verifier([AnswerFileTask], workers=1, timeout_s=30) as verifier:
        assert verifier.verify(problem, "The answer is 4.").passed
        assert verifier.pool.confine and verifier.pool.isolation  # the confined workers' layers
        assert not verifier.pools[False].workers  # no unconfined worker was started for an answer task


def test_completion_that_redefines_the_prompts_helper_fails() -> None:
    prompt = "Write checksum(s); the tests use:\n\n```python\ndef weight(s):\n    return sum(map(ord, s))\n```\n"
    problem = code_problem("assert checksum('ab') == weight('ab') % 7\n", "checksum", prompt)
    fake = fenced(
        """
        def weight(s):
            return 0
        def checksum(s):
            return 0
        """
    )
    real = fenced(
        """
        def checksum(s):
            return sum(map(ord, s)) % 7
        """
    )
    fake_verdict, real_verdict = verify_items(
        [(problem, fake, "stop"), (problem, real, "stop")], workers=1, timeout_s=30
    )
    assert not fake_verdict.passed, fake_verdict
    assert real_verdict.passed, real_verdict


def test_a_broken_body_is_never_cut_away_to_compile() -> None:
    """Bare code keeps its indented lines: dropping them would run the rest and hide the completion's error."""
    from evalkit.grading.programs import bare_program

    body_then_prose = "def f(x):\n    return x + 1\nThis returns x plus one.\n"
    assert bare_program(body_then_prose) == "def f(x):\n    return x + 1\n"
    broken = "def f(x):\n    '''Add one.'''\n    return (\n"
    assert bare_program(broken) == broken
    half = "def f(x):\n    y = x + 1\n    return (y\n```\n"
    assert "return (y" in bare_program(half)
