"""Development sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s demo``, ``nox -s bench``.

Every session installs evalkit as a built (non-editable) package, so the tests also prove that the
installed wheel works, built-in tasks included. ``.ci/constraints.txt`` pins torch for CI and
development installs only.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = ("-c", ".ci/constraints.txt")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (unit tests, BAD_INPUTS rows, end-to-end CLI including a quick demo)."""
    session.install(*CONSTRAINTS, ".[dev]")
    # pytest exits 5 when it collects no test; nox treats any non-zero exit as a failure
    session.run("pytest", "-q", "--durations=15", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy."""
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """Train a tiny base and an RL model, sample both to n=1024, compare, report, gate (about 10 minutes)."""
    session.install(*CONSTRAINTS, ".")
    session.run("evalkit", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (not part of CI): prints ratios against baselines measured in the same run.

    TRL is installed here only, as the baseline of ``bench_grpo.py``; it is no dependency of evalkit."""
    session.install(*CONSTRAINTS, ".[dev]", "trl")
    session.run("python", "tests/bench/bench_stats.py")
    session.run("python", "tests/bench/bench_sampler.py")
    session.run("python", "tests/bench/bench_grpo.py")
