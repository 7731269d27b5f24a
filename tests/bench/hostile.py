"""Hostile suite: programs and answers that try to escape, fake a pass or leave something behind.

Each case runs once, through the code sandbox (``run_tests`` with a HumanEval-style ``check`` for
``add(a, b)``, every candidate wrong) or through evalkit's confined verifier workers (``verify_items`` on a
reasoning-gym countdown problem, and the pool with :mod:`tests.confine_helpers` for raw ``eval`` and sympy
``parse_expr``). Targets are canaries: files under a fresh temp dir (one of them root-only), a loopback TCP
listener and a path-named unix socket (mode 0666) owned by this script, and device nodes that are only
opened, never written. Counted per case:

- escaped: a canary file created, changed or deleted, its secret printed, a listener received a
  connection, a device node opened;
- wrong verdict: a hostile candidate confirmed, or a hostile answer passed;
- leftover: a process of the run still alive afterwards.

Prints one line per case and the totals; exits 1 unless all three are zero. Run with
``python tests/bench/hostile.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from evalkit.grading.sandbox import run_tests  # noqa: E402
from evalkit.tasks import TaskSpec, make_problems  # noqa: E402
from evalkit.verify.pool import run_pool  # noqa: E402
from evalkit.verify.stage import verify_items  # noqa: E402

CHECK = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert abs(candidate(-1, 1)) == 0\n"
WRONG = "def add(a, b):\n    return a - b - 1\n"
SECRET = "evalkit-canary-secret-7c1f"


class Canaries:
    """Files, a loopback listener and a unix socket; ``touched()`` says what a case reached."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="evalkit-hostile-"))
        os.chmod(self.dir, 0o755)
        self.file = self.dir / "canary.txt"
        self.secret = self.dir / "root-only.txt"
        self.new = self.dir / "created.txt"
        self.unix_path = str(self.dir / "service.sock")
        self.received: list[str] = []
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o666)
        self.unix.listen(16)
        for server, name in ((self.tcp, "tcp"), (self.unix, "unix")):
            threading.Thread(target=self._accept, args=(server, name), daemon=True).start()
        self.reset()

    def _accept(self, server: socket.socket, name: str) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self.received.append(name)
            conn.close()

    def reset(self) -> None:
        self.file.write_text("intact")
        self.secret.write_text(SECRET)
        self.secret.chmod(0o600)
        self.new.unlink(missing_ok=True)
        self.received.clear()

    def touched(self, output: str) -> list[str]:
        time.sleep(0.05)  # let the accept threads record a late connection
        found = []
        if not self.file.exists() or self.file.read_text() != "intact":
            found.append("canary file changed")
        if self.new.exists():
            found.append("file created")
        if SECRET in output:
            found.append("root-only file read")
        if "DEVICE-OPENED" in output:
            found.append("device opened")
        found += [f"{name} connection received" for name in self.received]
        return found

    @property
    def tcp_port(self) -> int:
        return int(self.tcp.getsockname()[1])


def _children() -> set[int]:
    """Descendants of this process (its pool workers and sandbox processes included)."""
    me, found = os.getpid(), set()
    parents = {me}
    changed = True
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                table[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    while changed:
        changed = False
        for pid, ppid in table.items():
            if ppid in parents and pid not in parents:
                parents.add(pid)
                found.add(pid)
                changed = True
    # multiprocessing's resource tracker (started with the first pool, shared by all) is not part of a run
    return {p for p in found if b"resource_tracker" not in _cmdline(p)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def program_cases(c: Canaries) -> dict[str, str]:
    """name -> a candidate program (wrong at add) that tries one thing."""
    d = {
        "write a file outside": f"open({str(c.file)!r}, 'w').write('pwned')",
        "create a file outside": f"open({str(c.new)!r}, 'w').write('pwned')",
        "delete a file outside": f"import os\nos.remove({str(c.file)!r})",
        "read a root-only file": f"print(open({str(c.secret)!r}).read())",
        "open device nodes": "import os\nfor d in ('/dev/loop-control', '/dev/loop0', '/dev/kvm', '/dev/vda', "
        "'/dev/mem', '/dev/tty'):\n    try:\n        os.close(os.open(d, os.O_RDWR)); print('DEVICE-OPENED', d)\n"
        "    except OSError:\n        pass",
        "connect to a loopback listener": f"import socket\nsocket.create_connection(('127.0.0.1', {c.tcp_port}), 1)",
        "connect to a unix socket": f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({c.unix_path!r})",
        "fork bomb": "import os, time\nfor _ in range(200):\n    try:\n        os.fork()\n    except OSError:\n"
        "        time.sleep(0.01)",
        "double-fork daemon": "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        time.sleep(120)\n    os._exit(0)",
        "memory bomb": "x = bytearray(8 << 30)",
        "output flood": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
        "sys.exit(0) before the tests": "import sys\nsys.exit(0)",
        "os._exit(0) before the tests": "import os\nos._exit(0)",
        "print success markers": "print('PASSED\\nok\\ndone 1 1\\nall tests passed')\nimport os\n"
        "for fd in range(3, 64):\n    try:\n        os.write(fd, b'\\ndone 1 1\\n')\n    except OSError:\n        pass",
        "kill the parent and pid 1": "import os\nfor p in (os.getppid(), 1):\n    try:\n        os.kill(p, 9)\n"
        "    except OSError:\n        pass",
        "replace __builtins__": "import builtins\n__builtins__ = dict(vars(builtins), abs=lambda x: 0)\n"
        "builtins.abs = lambda x: 0",
        "shadow a builtin": "def abs(x):\n    return 0\nimport builtins\nbuiltins.abs = abs",
        "always-equal object": "class E:\n    def __eq__(self, o): return True\n    def __abs__(self): return 0\n"
        "def add(a, b):\n    return E()",
        "settrace swaps the candidate": "import sys\ndef t(f, e, a):\n    if f.f_code.co_name == 'check':\n"
        "        f.f_locals['candidate'] = lambda a, b: a + b\n    return t\nsys.settrace(t)",
        "patch the harness through __main__ and gc": "import gc, sys\nm = sys.modules.get('__main__')\n"
        "for o in gc.get_objects():\n    if type(o).__name__ == '_Recorder':\n"
        "        o.write('test', '0 pass'); o.write('done', '1 1')",
    }
    return {name: textwrap.dedent(code) + ("\n" + WRONG if "def add" not in code else "") for name, code in d.items()}


def answer_cases(c: Canaries) -> list[tuple[str, Any]]:
    """(name, (kind, text)) for the confined verifier pool: what reasoning-gym scorers and sympy do."""
    return [
        ("eval writes a file", ("eval", f"__import__('pathlib').Path({str(c.file)!r}).write_text('x') or 6")),
        ("eval reads a root-only file", ("eval", f"open({str(c.secret)!r}).read()")),
        ("eval connects", ("eval", f"__import__('socket').create_connection(('127.0.0.1', {c.tcp_port}), 1)")),
        ("eval patches a module", ("eval", "setattr(__import__('math'), 'isclose', lambda *a, **k: True)")),
        ("sympy runs a shell", ("sympy", f"__import__('os').system('touch {c.new}') or 1")),
        ("verifier reads a root-only file", ("read", str(c.secret))),
        ("verifier opens a device", ("read", "/dev/loop-control")),
        ("verifier connects to a unix socket", ("unix", c.unix_path)),
        ("verifier connects to loopback", ("tcp", ("127.0.0.1", c.tcp_port))),
    ]


def main() -> int:
    import confine_helpers

    c = Canaries()
    escaped = wrong = leftover = 0
    rows = []

    def record(name: str, found: list[str], passed: bool, left: set[int]) -> None:
        nonlocal escaped, wrong, leftover
        escaped += bool(found)
        wrong += passed
        leftover += len(left)
        status = "ok" if not (found or passed or left) else f"{found} passed={passed} leftover={len(left)}"
        rows.append(f"  {name:48s} {status}")

    before = _children()
    for name, program in program_cases(c).items():
        c.reset()
        r = run_tests(program, CHECK, "add", timeout_s=3.0, memory_mb=256, max_output_bytes=1 << 16)
        record("sandbox: " + name, c.touched(r.stdout + r.stderr), r.confirmed, _children() - before)
    for name, item in answer_cases(c):
        c.reset()
        (out,) = run_pool(
            confine_helpers.behave,
            [item],
            workers=1,
            timeout_s=20,
            on_timeout=lambda i: "timeout",
            on_crash=lambda i, m: f"refused {m}",
            confine=True,
        )
        hostile_won = item[0] == "eval" and "patches" in name and not str(out).startswith("refused")
        record("verifier: " + name, c.touched(str(out)), hostile_won, _children() - before)
    problem = make_problems(TaskSpec.parse("rg:countdown"), 0, 1)[0]
    for name, answer in (
        ("countdown answer writes a file", f"__import__('pathlib').Path({str(c.file)!r}).write_text('x') and None or "),
        ("countdown answer patches numpy", "setattr(__import__('numpy'), 'isclose', lambda *a, **k: True) or 0*"),
    ):
        c.reset()
        (verdict,) = verify_items([(problem, f"<answer>{answer}{problem.reference}</answer>", "stop")], workers=1)
        record("verify_items: " + name, c.touched(verdict.detail), verdict.passed, _children() - before)
    print("\n".join(rows))
    print(f"escaped: {escaped}  wrong verdict: {wrong}  leftover: {leftover}  ({len(rows)} cases)")
    return 0 if escaped == wrong == leftover == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
