"""The example CI workflow's gate step fails the job on a regression and passes it otherwise.

The step's script is taken from ``.github/workflows/evalkit-gate.yml`` as written and run the way GitHub
Actions runs a step: ``bash -e`` (the default shell, no pipefail) and ``bash -eo pipefail`` (``shell: bash``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_compare_gate import make_run

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "evalkit-gate.yml"
N_PROBLEMS, N = 24, 64


def gate_step() -> dict[str, str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]["steps"]
    (step,) = [s for s in steps if s.get("name") == "Gate"]
    return step


def run_step(workdir: Path, shell: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        [*shell, "-c", gate_step()["run"]], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two work dirs laid out like the workflow's checkout: one regressed pair, one identical pair."""
    root = tmp_path_factory.mktemp("workflow")
    good = [[True] * (N // 2) + [False] * (N // 2) for _ in range(N_PROBLEMS)]
    bad = [[False] * N for _ in range(N_PROBLEMS)]
    out = {}
    for name, candidate in (("regressed", bad), ("same", good)):
        eval_dir = root / name / "eval"
        eval_dir.mkdir(parents=True)
        make_run(eval_dir, "baseline-run", good)
        make_run(eval_dir, "candidate-run", candidate)
        out[name] = root / name
    return out


def test_gate_step_is_run_with_pipefail() -> None:
    step = gate_step()
    assert step.get("shell") == "bash"
    assert "set -o pipefail" in step["run"]


@pytest.mark.parametrize("shell", [["bash", "-e"], ["bash", "--noprofile", "--norc", "-eo", "pipefail"]])
def test_regression_fails_the_step(pairs: dict[str, Path], shell: list[str]) -> None:
    proc = run_step(pairs["regressed"], shell)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((pairs["regressed"] / "gate.json").read_text())
    assert report["passed"] is False


@pytest.mark.parametrize("shell", [["bash", "-e"], ["bash", "--noprofile", "--norc", "-eo", "pipefail"]])
def test_identical_runs_pass_the_step(pairs: dict[str, Path], shell: list[str]) -> None:
    proc = run_step(pairs["same"], shell)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((pairs["same"] / "gate.json").read_text())["passed"] is True
