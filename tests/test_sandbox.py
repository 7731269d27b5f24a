"""evalkit.grading.sandbox against hostile programs (BAD_INPUTS rows 9, 14-20, 44): one behaviour per test.

Every run happens in a temp directory under the test's ``tmp_path`` (``tempfile.tempdir`` is pointed
there), so every sandbox process carries that path in its command line; after each run the test checks
that no such process is left. Hostile programs are kept small: fork bombs sleep between attempts and the
time limits are short, so the file is safe on a 2-core machine.
"""

from __future__ import annotations

import functools
import hashlib
import os
import resource
import socket
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import evalkit.grading.sandbox as sandbox
from evalkit.grading.sandbox import SandboxResult, run_python, run_tests
from evalkit.types import Problem

LINUX = sys.platform.startswith("linux")
SHORT_S = 1.5  # time limit for programs that never end
SLACK_S = 3.0  # interpreter start and cleanup on a loaded CI machine

ADD_CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
ADD_OK = "def add(a, b):\n    return a + b\n"
ADD_WRONG = "def add(a, b):\n    return a - b\n"


@pytest.fixture(params=["namespaces", "no-namespaces"])
def both_modes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with namespaces and again as on a system that refuses them (the fallback)."""
    if request.param == "no-namespaces":
        monkeypatch.setattr(sandbox, "_NAMESPACES", False)
    return str(request.param)


@pytest.fixture()
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A path that every sandbox process of this test has in its command line."""
    where = tmp_path / "sbx"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return str(where)


def _processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # exited while we looked
        if marker.encode() in cmdline:
            found.append(entry.name + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def assert_nothing_left(marker: str, grace_s: float = 2.0) -> None:
    if not LINUX:
        return
    end = time.monotonic() + grace_s
    left = _processes_with(marker)
    while left and time.monotonic() < end:
        time.sleep(0.05)
        left = _processes_with(marker)
    assert not left, f"processes left behind: {left}"
    assert not list(Path(marker).iterdir()), "the sandbox's temp directory was not removed"


def needs(layer: str, result: SandboxResult) -> None:
    if layer not in result.isolation:
        pytest.skip(f"this OS does not allow the {layer!r} isolation layer here ({result.isolation})")


@functools.cache
def _active_layers() -> tuple[str, ...]:
    return run_python("pass\n").isolation


def require(layer: str) -> None:
    """Skip before a hostile run whose damage only that layer prevents (the repo's own files!)."""
    if layer not in _active_layers():
        pytest.skip(f"this OS does not allow the {layer!r} isolation layer here ({_active_layers()})")


def py(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


# -- the baseline: right and wrong answers ---------------------------------------------------------------


def test_correct_program_passes_with_confirmation(both_modes: str, marker: str) -> None:
    r = run_tests(ADD_OK, ADD_CHECK, "add")
    assert (r.status, r.confirmed, r.score, r.exit_code) == ("ok", True, 1.0, 0), r
    assert_nothing_left(marker)


def test_wrong_answer_fails_with_status_ok(both_modes: str, marker: str) -> None:
    r = run_tests(ADD_WRONG, ADD_CHECK, "add")
    assert (r.status, r.confirmed, r.score) == ("ok", False, 0.0), r
    assert "AssertionError" in r.detail
    assert_nothing_left(marker)


def test_mbpp_asserts_give_partial_credit(marker: str) -> None:
    tests = "import math\nassert add(2, 2) == 4\nassert add(0, 0) == 0\nassert add(1, 5) == 6\n"
    r = run_tests("def add(a, b):\n    return a * b\n", tests, None)
    assert (r.status, r.confirmed, r.tests_passed, r.tests_total) == ("ok", False, 2, 3), r
    assert r.score == pytest.approx(2 / 3)
    assert r.detail.startswith("test 2 failed")


def test_syntax_error_is_an_error(both_modes: str, marker: str) -> None:
    r = run_tests("def add(a, b) return a + b\n", ADD_CHECK, "add")
    assert (r.status, r.confirmed) == ("error", False), r
    assert "does not compile" in r.detail
    assert_nothing_left(marker)


def test_nul_bytes_and_lone_surrogates_are_an_error_not_a_crash(marker: str) -> None:
    for program in ("x = 1\0\n", "x = '\udc80'\n"):
        r = run_python(program)
        assert (r.status, r.confirmed) == ("error", False), r


def test_program_output_is_captured(marker: str) -> None:
    r = run_python("import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    assert (r.status, r.confirmed, r.stdout, r.stderr) == ("ok", True, "out\n", "err\n"), r


def test_bad_test_code_is_refused_before_running() -> None:
    with pytest.raises(ValueError, match="no top-level assert"):
        run_tests(ADD_OK, "x = 1\n", None)
    with pytest.raises(ValueError, match="does not parse"):
        run_tests(ADD_OK, "assert (\n", None)


# -- row 14: endless loops --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "program",
    [
        pytest.param("while True:\n    pass\n", id="python-loop"),
        pytest.param("x = 10**10**8\n", id="c-level-bignum"),
        pytest.param("import re\nre.match('(a+)+$', 'a' * 40 + 'b')\n", id="catastrophic-regex"),
    ],
)
def test_endless_computation_is_killed_at_the_time_limit(marker: str, program: str) -> None:
    start = time.monotonic()
    r = run_python(program, timeout_s=SHORT_S)
    elapsed = time.monotonic() - start
    assert (r.status, r.confirmed, r.exit_code) == ("timeout", False, None), r
    assert SHORT_S <= elapsed < SHORT_S + SLACK_S
    assert_nothing_left(marker)


# -- row 15: processes ------------------------------------------------------------------------------------


def test_fork_bomb_is_bounded(both_modes: str, marker: str) -> None:
    # Every process forks in a loop; refused forks sleep, so the bomb costs little CPU while it lasts.
    program = py(
        """
        import os, time
        first, made = True, 0
        while True:
            try:
                pid = os.fork()
            except OSError:
                if first:
                    print("refused after", made, flush=True)
                    first = False
                time.sleep(0.02)
                continue
            if pid == 0:
                first = False
            elif first:
                made += 1
        """
    )
    r = run_python(program, timeout_s=SHORT_S, max_processes=16)
    assert (r.status, r.confirmed) == ("timeout", False), r
    if LINUX:
        needs("nproc", r)
        assert "refused after" in r.stdout, r
        assert int(r.stdout.split()[2]) < 16
    assert_nothing_left(marker)


def test_multiprocessing_pool_is_killed(both_modes: str, marker: str) -> None:
    program = py(
        """
        import multiprocessing

        def spin(_):
            while True:
                pass

        with multiprocessing.Pool(3) as pool:
            pool.map(spin, range(3))
        """
    )
    r = run_python(program, timeout_s=SHORT_S)
    if both_modes == "no-namespaces" and "ModuleNotFoundError" in r.detail:
        assert not r.confirmed
        pytest.skip("without namespaces the throw-away uid cannot read this interpreter's stdlib (under /root)")
    assert (r.status, r.confirmed) == ("timeout", False), r
    assert_nothing_left(marker)


def test_double_fork_daemon_is_gone_after_the_run(both_modes: str, marker: str) -> None:
    program = py(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        time.sleep(0.2)
        print("parent done")
        """
    )
    r = run_python(program, timeout_s=5.0)
    assert (r.status, r.confirmed, r.stdout) == ("ok", True, "parent done\n"), r
    assert_nothing_left(marker)


# -- row 16: memory ---------------------------------------------------------------------------------------


def test_memory_bomb_fails_only_that_sample(both_modes: str, marker: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    program = "blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))\n"
    r = run_python(program, memory_mb=256, timeout_s=10.0)
    assert r.status in ("oom", "error") and not r.confirmed, r
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    assert after - before < 64 * 1024
    assert run_tests(ADD_OK, ADD_CHECK, "add").confirmed  # the harness goes on
    assert_nothing_left(marker)


# -- row 17: the filesystem -------------------------------------------------------------------------------


def test_writing_a_file_outside_the_temp_dir_is_blocked(marker: str, tmp_path: Path) -> None:
    require("ro-root")
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    program = f"with open({str(victim)!r}, 'w') as f:\n    f.write('overwritten')\n"
    r = run_python(program)
    assert not r.confirmed and r.status == "error", r
    assert victim.read_text() == "original"
    assert not (tmp_path / "new.txt").exists()
    assert_nothing_left(marker)


def test_deleting_a_file_outside_the_temp_dir_is_blocked(marker: str, tmp_path: Path) -> None:
    require("ro-root")
    keep = tmp_path / "keep.txt"
    keep.write_text("keep me")
    r = run_python(f"import os\nos.remove({str(keep)!r})\n")
    assert not r.confirmed and r.status == "error", r
    assert keep.read_text() == "keep me"
    assert_nothing_left(marker)


def test_harness_files_cannot_be_changed(marker: str) -> None:
    require("ro-root")
    target = Path(sandbox.__file__)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    r = run_python(f"open({str(target)!r}, 'a').write('# tampered\\n')\n")
    assert not r.confirmed, r
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert_nothing_left(marker)


def test_files_written_to_tmp_stay_in_the_sandbox(marker: str) -> None:
    probe = Path(f"/tmp/evalkit_sandbox_probe_{uuid.uuid4().hex}")
    r = run_python(f"open({str(probe)!r}, 'w').write('x')\nprint(open({str(probe)!r}).read())\n")
    needs("private-tmp", r)
    assert (r.status, r.stdout) == ("ok", "x\n"), r  # writable inside ...
    assert not probe.exists()  # ... invisible outside
    assert_nothing_left(marker)


# -- row 18: the network ----------------------------------------------------------------------------------


def test_socket_to_localhost_fails(marker: str) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        program = py(
            f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak")
                print("connected")
            except OSError as e:
                print("refused", e)
            """
        )
        r = run_python(program)
        needs("netns", r)
        assert r.stdout.startswith("refused"), r
        with pytest.raises(OSError):  # socket.timeout: nobody came
            server.accept()
    finally:
        server.close()
    assert_nothing_left(marker)


def test_host_name_resolution_fails(marker: str) -> None:
    program = py(
        """
        import socket
        try:
            print("resolved", socket.getaddrinfo("pypi.org", 443))
        except OSError as e:
            print("failed", e)
        """
    )
    r = run_python(program)
    needs("netns", r)
    assert r.stdout.startswith("failed"), r
    assert_nothing_left(marker)


# -- row 19 (and 9): output floods ------------------------------------------------------------------------


def test_gigabyte_output_flood_is_capped(both_modes: str, marker: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    program = "import os\nchunk = b'x' * (1 << 16)\nfor _ in range(1 << 14):\n    os.write(1, chunk)\n"  # 1 GiB
    start = time.monotonic()
    r = run_python(program, timeout_s=SHORT_S * 2, max_output_bytes=1 << 20)
    assert (r.status, r.confirmed) == ("output_limit", False), r
    assert len(r.stdout) == 1 << 20
    assert time.monotonic() - start < SHORT_S * 2 + SLACK_S
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 64 * 1024
    assert_nothing_left(marker)


# -- row 20: faking a pass --------------------------------------------------------------------------------


def test_sys_exit_0_before_the_tests_is_not_confirmed(both_modes: str, marker: str) -> None:
    r = run_tests("import sys\nsys.exit(0)\n" + ADD_OK, ADD_CHECK, "add")
    assert (r.status, r.confirmed, r.score) == ("error", False, 0.0), r
    assert "exit(0)" in r.detail
    assert_nothing_left(marker)


def test_os_exit_0_before_the_tests_is_not_confirmed(both_modes: str, marker: str) -> None:
    r = run_tests("import os\nos._exit(0)\n" + ADD_OK, ADD_CHECK, "add")
    assert (r.status, r.confirmed, r.exit_code) == ("error", False, 0), r
    assert_nothing_left(marker)


def test_exit_inside_a_test_is_a_failed_test(marker: str) -> None:
    r = run_tests("import os\ndef add(a, b):\n    os._exit(0)\n", ADD_CHECK, "add")
    assert not r.confirmed and r.score == 0.0, r
    assert_nothing_left(marker)


def test_killing_the_parent_is_not_confirmed_and_the_harness_survives(both_modes: str, marker: str) -> None:
    program = py(
        """
        import os, signal
        for target in (os.getppid(), 1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as e:
                print("kill", target, "refused:", e)
        """
    )
    r = run_tests(program + ADD_WRONG, ADD_CHECK, "add")
    assert not r.confirmed, r
    assert run_tests(ADD_OK, ADD_CHECK, "add").confirmed  # this process and the sandbox still work
    assert_nothing_left(marker)


def test_printed_or_guessed_success_markers_are_not_confirmed(both_modes: str, marker: str) -> None:
    program = py(
        """
        import os, sys
        fake = b"PASSED\\nok\\nOK\\ndone 1 1\\n1 1\\nall tests passed\\n"
        print(fake.decode())
        for fd in range(3, 256):  # the confirmation channel, whichever fd it is
            try:
                os.write(fd, b"\\n" + fake)
            except OSError:
                pass
        def add(a, b):
            return 0
        """
    )
    r = run_tests(program, ADD_CHECK, "add")
    assert (r.confirmed, r.score) == (False, 0.0), r
    assert_nothing_left(marker)


def test_a_forked_copy_of_the_harness_cannot_report_a_pass(both_modes: str, marker: str) -> None:
    # The candidate forks: the child answers right, the parent answers wrong. Only the original process
    # may report, so the child's passing branch does not count.
    program = py(
        """
        import os
        def add(a, b):
            if os.fork() == 0:
                return a + b
            os.wait()
            return a - b
        """
    )
    r = run_tests(program, ADD_CHECK, "add")
    assert not r.confirmed and r.score == 0.0, r
    assert_nothing_left(marker)


def test_killed_at_the_deadline_even_when_started_from_a_thread(marker: str) -> None:
    results: list[SandboxResult] = []
    t = threading.Thread(target=lambda: results.append(run_python("while True: pass\n", timeout_s=1.0)))
    t.start()
    t.join(timeout=1.0 + SLACK_S + 2)
    assert not t.is_alive() and results[0].status == "timeout"
    assert_nothing_left(marker)


@pytest.mark.skipif(not LINUX, reason="namespaces are Linux-only")
def test_isolation_layers_are_reported(marker: str) -> None:
    r = run_python("pass\n")
    assert {"session", "rlimits", "clean-env"} <= set(r.isolation)
    if "userns" in r.isolation:
        assert {"pidns", "netns", "mountns", "ro-root", "private-tmp", "no-caps", "nproc"} <= set(r.isolation)


# -- the humaneval task runs its completions through the sandbox -----------------------------------------


def _humaneval(task_id: str, timeout_s: float = 5.0) -> Problem:
    from evalkit.tasks import TaskSpec, make_problems

    spec = TaskSpec.parse(f"humaneval@timeout_s={timeout_s}")
    return next(p for p in make_problems(spec, 0, 200) if p.meta["task_id"] == task_id)


def test_humaneval_accepts_a_continuation_a_fenced_block_or_a_bare_function(marker: str) -> None:
    from evalkit_tasks.humaneval import HumanEval

    p = _humaneval("HumanEval/38")  # decode_cyclic: the solution calls encode_cyclic, defined in the prompt
    body = "    return encode_cyclic(encode_cyclic(s))\n"
    function = "def decode_cyclic(s: str):\n" + body
    for text in (body, f"Here it is:\n```python\n{function}```\nDone.", function, f"```python\n{function}"):
        v = HumanEval().verify(p, text)
        assert (v.passed, v.status) == (True, "ok"), (text, v)
    wrong = HumanEval().verify(p, "```python\ndef decode_cyclic(s: str):\n    return s\n```")
    assert (wrong.passed, wrong.status) == (False, "ok"), wrong
    assert_nothing_left(marker)


def test_humaneval_verdicts_for_empty_hanging_and_broken_completions(marker: str) -> None:
    from evalkit_tasks.humaneval import HumanEval

    p = _humaneval("HumanEval/0", timeout_s=SHORT_S)
    assert HumanEval().verify(p, "  \n").status == "empty"
    assert HumanEval().verify(p, "    while True:\n        pass\n").status == "timeout"
    broken = HumanEval().verify(p, "    return (\n")
    assert (broken.passed, broken.status) == (False, "error"), broken
    assert_nothing_left(marker)


# -- escapes through the host's files, devices and sockets; faked passes from inside the program ------------

FAKED_PASSES = {
    "replaced __builtins__": "import builtins\n__builtins__ = dict(vars(builtins), abs=lambda x: 0)\n",
    "module-level def abs": "def abs(x):\n    return 0\n",
    "builtins.abs patched": "import builtins\nbuiltins.abs = lambda x: 0\n",
    "settrace swaps the candidate": "import sys\ndef t(f, e, a):\n    if f.f_code.co_name == 'check':\n"
    "        f.f_locals['candidate'] = lambda a, b: a + b\n    return t\nsys.settrace(t)\n",
    "records written through gc": "import gc\nfor o in gc.get_objects():\n    if type(o).__name__ == '_Recorder':\n"
    "        o.write('test', '0 pass')\n        o.write('done', '1 1')\n",
}
ABS_CHECK = "def check(candidate):\n    assert abs(candidate(2, 3) - 5) == 0\n"


@pytest.mark.parametrize("trick", sorted(FAKED_PASSES))
def test_faked_pass_does_not_pass(trick: str, marker: str) -> None:
    r = run_tests(FAKED_PASSES[trick] + ADD_WRONG, ABS_CHECK, "add")
    assert not r.confirmed and r.score == 0.0, r


HELPER_PROMPT = (
    "import math\n\ndef scramble(s):\n    return s[::-1] + str(math.isqrt(len(s)))\n\n"
    'def unscramble(s):\n    """Inverse of scramble."""\n'
)
HELPER_CHECK = "def check(candidate):\n    assert candidate(scramble('abc')) == 'abc'\n"


def test_redefined_prompt_helper_does_not_change_what_the_tests_compute(marker: str) -> None:
    program = "def scramble(s):\n    return s\n\ndef unscramble(s):\n    return s\n"  # identity for both
    assert run_tests(program, HELPER_CHECK, "unscramble").confirmed  # without the prompt: faked
    r = run_tests(program, HELPER_CHECK, "unscramble", prompt=HELPER_PROMPT)
    assert not r.confirmed and r.score == 0.0, r


def test_prompt_helpers_and_a_real_solution_pass(marker: str) -> None:
    program = HELPER_PROMPT.split("def unscramble")[0] + "def unscramble(s):\n    return s[:-1][::-1]\n"
    r = run_tests(program, HELPER_CHECK, "unscramble", prompt=HELPER_PROMPT)
    assert r.confirmed, r


def test_entry_point_stub_of_the_prompt_is_never_the_candidate(marker: str) -> None:
    prompt = HELPER_PROMPT + "\nunscramble = lambda s: s[:-1][::-1]\n"  # a correct stand-in, in the prompt
    r = run_tests("def unscramble(s):\n    return ''\n", HELPER_CHECK, "unscramble", prompt=prompt)
    assert not r.confirmed, r
    assert "unscramble" not in sandbox.prompt_definitions(prompt, "unscramble")


def test_prompt_definitions_of_a_text_prompt_come_from_its_fenced_blocks() -> None:
    prompt = "Write unscramble.\n\n```python\ndef scramble(s):\n    return s[::-1]\n```\nThen print('x').\n"
    assert sandbox.prompt_definitions(prompt, "unscramble") == "def scramble(s):\n    return s[::-1]\n"
    assert sandbox.prompt_definitions("Write a function f that adds.", "f") == ""


def test_returned_always_equal_object_is_a_failure(marker: str) -> None:
    program = "class E:\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return E()\n"
    r = run_tests(program, ADD_CHECK, "add")
    assert not r.confirmed and "plain data" in r.detail, r


def test_device_nodes_other_than_four_do_not_exist(marker: str) -> None:
    r = run_python("import os\nprint(sorted(os.listdir('/dev')))\nos.open('/dev/loop-control', os.O_RDWR)\n")
    if "minimal-dev" not in r.isolation:
        pytest.skip(f"no minimal /dev on this machine ({','.join(r.isolation)})")
    assert r.status == "error" and "FileNotFoundError" in r.detail, r
    assert "'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero'" in r.stdout


def test_path_named_unix_socket_is_unreachable(marker: str, tmp_path: Path) -> None:
    path = str(tmp_path / "service.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(1)
    r = run_python(f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({path!r})\n")
    server.settimeout(0.2)
    with pytest.raises(OSError):
        server.accept()
    server.close()
    assert r.status == "error", r


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a root-only file the harness could read")
def test_root_only_file_is_unreadable(marker: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root only 1c2d")
    secret.chmod(0o600)
    r = run_python(f"print(open({str(secret)!r}).read())")
    assert "root only 1c2d" not in r.stdout and r.status == "error", r


def test_no_file_system_uid_0(marker: str) -> None:
    r = run_python("print(open('/proc/self/status').read())")
    uids = next(line for line in r.stdout.splitlines() if line.startswith("Uid:")).split()[1:]
    if os.geteuid() == 0:
        assert "0" not in uids, uids


@pytest.mark.skipif(not LINUX, reason="namespaces are Linux-only")
def test_bound_paths_under_tmp_are_not_hidden_by_the_private_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    # an interpreter or virtual environment installed under /tmp (a CI checkout there) must stay visible in
    # the minimal root: the private /tmp is mounted first, the binds on top of it
    import tempfile

    from evalkit.grading import sandbox

    shared = tempfile.mkdtemp(prefix="evalkit-bind-", dir="/tmp")
    try:
        os.chmod(shared, 0o755)
        probe = os.path.join(shared, "probe.txt")
        with open(probe, "w") as f:
            f.write("visible")
        os.chmod(probe, 0o644)
        binds = sandbox.interpreter_binds()
        monkeypatch.setattr(sandbox, "interpreter_binds", lambda extra=(): [*binds, shared])
        r = run_python(f"print(open({probe!r}).read())\n")
        if "minimal-root" not in r.isolation:
            pytest.skip("no minimal root on this machine")
        assert r.status == "ok" and r.stdout.strip() == "visible", (r.stdout, r.stderr)
    finally:
        import shutil

        shutil.rmtree(shared, ignore_errors=True)


# -- row 44: the session keyring, memory outside the caps, locks on bound files, control-flow exceptions ----

_SYS_ADD_KEY = {"x86_64": 248, "aarch64": 217}
_KEY_SPEC_SESSION_KEYRING = -3
_KEYCTL_UNLINK, _KEYCTL_READ = 9, 11


def _keyctl(*args: int) -> tuple[int, bytes]:
    """keyctl(args...) in this process; with a read, the bytes read (at most 4 KiB)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(4096)
    rest = [ctypes.c_long(a) for a in args] + ([buf, ctypes.c_long(4096)] if args[0] == _KEYCTL_READ else [])
    n = int(libc.syscall(ctypes.c_long(sandbox._SYS_KEYCTL[os.uname().machine]), *rest))
    return n, buf.raw[: max(n, 0)] if args[0] == _KEYCTL_READ else b""


@pytest.fixture()
def host_key() -> Iterator[tuple[int, bytes]]:
    """A user key with a secret in this process's session keyring; (serial, secret). Removed afterwards."""
    import ctypes

    machine = os.uname().machine
    if not LINUX or machine not in _SYS_ADD_KEY:
        pytest.skip("keyrings are tested on Linux x86_64 and aarch64")
    secret = b"host-secret-" + uuid.uuid4().hex.encode()
    libc = ctypes.CDLL(None, use_errno=True)
    args = (b"user", b"evalkit-test-" + uuid.uuid4().hex.encode(), secret, ctypes.c_size_t(len(secret)))
    serial = int(libc.syscall(ctypes.c_long(_SYS_ADD_KEY[machine]), *args, ctypes.c_long(_KEY_SPEC_SESSION_KEYRING)))
    if serial < 0:
        pytest.skip(f"the kernel refuses keyrings here ({os.strerror(ctypes.get_errno())})")
    yield serial, secret
    _keyctl(_KEYCTL_UNLINK, serial, _KEY_SPEC_SESSION_KEYRING)


def test_session_keyring_of_evalkit_is_out_of_reach(both_modes: str, marker: str, host_key: tuple[int, bytes]) -> None:
    serial, secret = host_key
    _, keyring_before = _keyctl(_KEYCTL_READ, _KEY_SPEC_SESSION_KEYRING)
    machine = os.uname().machine
    program = py(
        f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        keyctl, add_key = ctypes.c_long({sandbox._SYS_KEYCTL[machine]}), ctypes.c_long({_SYS_ADD_KEY[machine]})
        buf = ctypes.create_string_buffer(4096)
        L = ctypes.c_long
        print("read", libc.syscall(keyctl, L(11), L({serial}), buf, L(4096)), buf.raw[:64])
        print("update", libc.syscall(keyctl, L(2), L({serial}), b"pwned", L(5)))
        print("unlink", libc.syscall(keyctl, L(9), L({serial}), L(-3)))
        print("add", libc.syscall(add_key, b"user", b"planted", b"x", L(1), L(-3)))
        print("search", libc.syscall(keyctl, L(10), L(-3), b"user", b"evalkit-test", L(0)))
        """
    )
    r = run_python(program)
    assert secret.decode() not in r.stdout + r.stderr + r.detail, r
    assert _keyctl(_KEYCTL_READ, serial) == (len(secret), secret)  # neither read, updated nor unlinked ...
    assert _keyctl(_KEYCTL_READ, _KEY_SPEC_SESSION_KEYRING)[1] == keyring_before  # ... and nothing planted
    assert_nothing_left(marker)


@pytest.mark.skipif(not LINUX, reason="memfd_create is Linux's")
def test_memfd_create_is_refused(both_modes: str, marker: str) -> None:
    # a memfd is memory that no rlimit counts: 1 GiB of them under memory_mb=128 must not be possible
    program = py(
        """
        import os
        try:
            fd = os.memfd_create("hoard")
        except OSError as e:
            print("refused", e.errno)
        else:
            for _ in range(1024):
                os.write(fd, bytes(1 << 20))
            print("held", os.fstat(fd).st_size >> 20, "MiB")
        """
    )
    r = run_python(program, memory_mb=128, timeout_s=10.0)
    needs("seccomp", r)
    assert r.stdout.strip() == "refused 1", r


@pytest.mark.skipif(not LINUX, reason="SysV shared memory is tested on Linux")
def test_sysv_shared_memory_is_refused(both_modes: str, marker: str) -> None:
    program = py(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        shmid = libc.shmget(0, ctypes.c_size_t(256 << 20), 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
        print("shmget", shmid, ctypes.get_errno())
        """
    )
    r = run_python(program, memory_mb=128)
    needs("seccomp", r)
    assert r.stdout.strip() == "shmget -1 1", r


def test_dev_shm_holds_no_more_than_its_cap(marker: str) -> None:
    # POSIX shared memory (shm_open) lives in /dev/shm: a private tmpfs whose size is capped
    program = py(
        """
        import os
        written = 0
        try:
            with open("/dev/shm/hoard", "wb") as f:
                while written < (1 << 30):
                    f.write(bytes(1 << 20))
                    f.flush()
                    written += 1 << 20
        except OSError as e:
            print("stopped", e.errno, written >> 20)
        else:
            print("held", written >> 20)
        """
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = run_python(program, memory_mb=128, timeout_s=20.0)
    needs("private-tmp", r)
    words = r.stdout.split()
    assert words[:2] == ["stopped", "28"] and int(words[2]) <= sandbox._SHM_MB, r  # ENOSPC at the cap
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss - before < 256 * 1024  # KiB
    assert_nothing_left(marker)


@pytest.mark.skipif(not LINUX, reason="locks on bound files are tested on Linux")
def test_bound_interpreter_files_cannot_be_locked(both_modes: str, marker: str) -> None:
    import fcntl

    paths = [os.path.realpath(sys.executable), os.path.realpath(os.__file__)]
    program = py(
        f"""
        import fcntl, struct, time
        for path in {paths!r}:
            f = open(path, "rb")
            for name, lock in [
                ("flock", lambda: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)),
                ("lockf", lambda: fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB)),
                ("ofd", lambda: fcntl.fcntl(f, 37, struct.pack("hhqqi4x", fcntl.F_RDLCK, 0, 0, 0, 0))),
            ]:
                try:
                    lock()
                    print(name, "locked")
                except OSError as e:
                    print(name, "refused", e.errno)
        print("holding", flush=True)
        time.sleep(1.5)
        """
    )
    results: list[SandboxResult] = []
    t = threading.Thread(target=lambda: results.append(run_python(program, timeout_s=10.0)))
    t.start()
    blocked = []
    files = [open(p, "rb") for p in paths]  # noqa: SIM115
    try:
        while t.is_alive():  # meanwhile the host takes (and drops) the exclusive locks it always could
            for f in files:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(f, fcntl.LOCK_UN)
                except OSError:
                    blocked.append(f.name)
            time.sleep(0.02)
    finally:
        for f in files:
            f.close()
        t.join()
    (r,) = results
    needs("seccomp", r)
    if both_modes == "no-namespaces" and "Error" in r.detail:
        assert not blocked, blocked
        pytest.skip(f"without namespaces the throw-away uid cannot open this interpreter's files ({r.detail})")
    assert r.stdout.count("refused 1") == 6 and "locked" not in r.stdout, r
    assert not blocked, blocked


@pytest.mark.skipif(not LINUX, reason="namespaces are Linux-only")
def test_new_namespaces_are_refused(both_modes: str, marker: str) -> None:
    # a user namespace of its own would give the program every capability inside it (and a way to mount)
    program = py(
        f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print("unshare", libc.unshare(0x10000000), ctypes.get_errno())
        clone = ctypes.c_long({sandbox._SYS_CLONE.get(os.uname().machine, -1)})
        print("clone", libc.syscall(clone, ctypes.c_long(0x10000000 | 17), 0, 0, 0, 0), ctypes.get_errno())
        """
    )
    r = run_python(program)
    needs("seccomp", r)
    assert r.stdout.split() == ["unshare", "-1", "1", "clone", "-1", "1"], r


STOP_PROGRAM = "def is_ok(x):\n    raise StopIteration\n"


@pytest.mark.parametrize("form", ["all(map(candidate, [1, 2, 3]))", "all(candidate(x) for x in [1, 2, 3])"])
def test_stop_iteration_from_the_candidate_fails_the_test(form: str, marker: str) -> None:
    r = run_tests(STOP_PROGRAM, f"def check(candidate):\n    assert {form}\n", "is_ok")
    assert (r.confirmed, r.score) == (False, 0.0), r
    assert "StopIteration" in r.detail, r


def test_stop_iteration_fails_an_mbpp_assert(marker: str) -> None:
    r = run_tests(STOP_PROGRAM, "assert all(map(is_ok, [1, 2, 3]))\n", None)
    assert (r.confirmed, r.tests_passed) == (False, 0), r


@pytest.mark.skipif(not LINUX or os.geteuid() != 0, reason="root's fall-back without a user namespace")
def test_fallback_without_user_namespace_leaves_host_sysctls_alone(
    monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    # /proc/sys/user/max_user_namespaces belongs to the writer's user namespace: written from the host's
    # own one (root without a user namespace), it would forbid user namespaces on the whole machine
    sysctl = Path("/proc/sys/user/max_user_namespaces")
    before = sysctl.read_text()
    monkeypatch.setattr(sandbox, "_USER_NAMESPACES", False)
    try:
        r = run_python("pass\n")
        assert "userns" not in r.isolation and "pidns" in r.isolation, r  # the fall-back ran
        assert "no-nested-userns" not in r.isolation, r
        assert sysctl.read_text() == before
    finally:
        if sysctl.read_text() != before:
            sysctl.write_text(before)  # repair the host before failing


@pytest.mark.skipif(
    not LINUX or os.uname().machine not in ("x86_64", "aarch64"), reason="the filter is built for x86_64 and aarch64"
)
def test_seccomp_filter_is_active_where_the_kernel_has_it(marker: str) -> None:
    with open("/proc/self/status") as f:
        if "Seccomp:" not in f.read():
            pytest.skip("this kernel has no seccomp")
    r = run_python("print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])\n")
    assert "seccomp" in r.isolation and r.stdout.strip() == "2", r  # 2: a filter


def _run_bpf(program: list[tuple[int, int, int, int]], nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """What a classic-BPF seccomp program returns for one call (only the instructions the filter uses)."""
    import struct

    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    pc = acc = 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        elif code in (0x15, 0x35, 0x45):  # BPF_JMP | JEQ, JGE, JSET (| BPF_K)
            taken = acc == k if code == 0x15 else acc >= k if code == 0x35 else bool(acc & k)
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
        pc += 1


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_filter_decides_each_kind_of_call(machine: str) -> None:
    # the filter of either architecture, run by a small BPF interpreter: refused, allowed and the argument rules
    program = sandbox.seccomp_filter(machine)
    assert program is not None and len(program) < 256
    arch = sandbox._SECCOMP_ARCH[machine]
    eperm, enosys, allow = sandbox._SECCOMP_RET_EPERM, sandbox._SECCOMP_RET_ENOSYS, sandbox._SECCOMP_RET_ALLOW
    fcntl, clone = sandbox._SYS_FCNTL[machine], sandbox._SYS_CLONE[machine]
    read = {"x86_64": 0, "aarch64": 63}[machine]
    for nr in sandbox._SECCOMP_DENIED[machine]:
        assert _run_bpf(program, nr, arch) == eperm, nr
    assert _run_bpf(program, read, arch) == allow
    assert _run_bpf(program, fcntl, arch, (3, 1)) == allow  # F_GETFD
    assert [_run_bpf(program, fcntl, arch, (3, cmd)) for cmd in (6, 7, 37, 38)] == [eperm] * 4  # lock commands
    assert _run_bpf(program, clone, arch, (17,)) == allow  # fork: SIGCHLD only
    assert _run_bpf(program, clone, arch, (0x10000000 | 17,)) == eperm  # CLONE_NEWUSER
    assert _run_bpf(program, sandbox._SYS_CLONE3, arch) == enosys
    assert _run_bpf(program, read, 0x40000003) == eperm  # another architecture's table (i386)
    assert _run_bpf(program, read | sandbox._X32_SYSCALL_BIT, arch) == eperm  # x32
    assert sandbox.seccomp_filter("riscv64") is None  # unknown here: no filter, the layer is missing
