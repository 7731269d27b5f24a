"""Evidence beyond pass@k on runs whose answer is known by construction, through the real command line.

The "base" is a tiny model trained only to reverse strings of digits: it never learned to add. The "RL" model is
the same architecture trained on 1-2 digit addition. On addition problems the RL model solves problems the
base never solves, and the base's sampler (temperature 1, top-k 2) cannot draw most of RL's answers at all:
those problems must come out as ``out_of_support`` (or ``expansion`` where the base could draw the text),
never as preservation or shrinkage, and the verdict must say how unlikely the base finds RL's solutions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SAMPLE = ["--task", "add@digits=2", "--n", "32", "--limit", "16", "--max-tokens", "8", "--top-k", "2"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def compared(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    from evalkit.tasks import TaskSpec
    from evalkit.train.sft import SFTConfig, train_sft
    from evalkit.train.tinymodel import TinyConfig

    root = tmp_path_factory.mktemp("known")
    base_ckpt = root / "reverser"
    train_sft(
        [TaskSpec.parse("reverse@alphabet=0123456789,max_len=4")],
        base_ckpt,
        SFTConfig(steps=120, batch_size=64, lr=5e-3, warmup=10, seed=0),
        TinyConfig(hidden_size=64, layers=2, heads=2, intermediate_size=128, max_positions=48),
        log=lambda _msg: None,
    )
    runs = {"base": root / "base", "rl": root / "rl"}
    for name, ckpt in (("base", base_ckpt), ("rl", tiny_ckpt)):
        done = _cli("sample", str(ckpt), *SAMPLE, "--out", str(runs[name]), "--workers", "1")
        assert done.returncode == 0, done.stderr[-2000:]
    for model, run, model_run in ((base_ckpt, runs["rl"], runs["base"]), (tiny_ckpt, runs["base"], runs["rl"])):
        done = _cli("likelihood", str(model), str(run), "--model-run", str(model_run), "--device", "cpu")
        assert done.returncode == 0, done.stderr[-2000:]
    done = _cli("compare", str(runs["base"]), str(runs["rl"]), "--out", str(root / "report"))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((root / "report" / "report.json").read_text()), root / "report" / "report.html"


def test_rl_only_problems_are_out_of_the_bases_reach(compared: tuple[dict, Path]) -> None:
    data, _report = compared
    classes = data["overall"]["classes"]
    assert classes["rl_only"] >= 1  # the adder solves problems the reverser never does (3 of 16 here)
    cats = data["evidence"]["overall"]["categories"]
    assert cats["out_of_support"]["count"] >= 1
    assert cats["out_of_support"]["count"] + cats["expansion"]["count"] == classes["rl_only"]
    assert cats["preservation"]["count"] == classes["both"] and cats["shrinkage"]["count"] == classes["base_only"]
    per_problem = data["evidence"]["problems"]
    for pid, row in per_problem.items():
        if row["category"] == "out_of_support":
            best = row["rl_best_under_base"]
            # unreachable under top-k 2, or below the threshold
            assert best is None or best["unreachable"] or best["log10_prob"] < -6, (pid, best)
    lk = data["evidence"]["overall"]["likelihood"]["rl_only_under_base"]
    assert lk["scored"] == classes["rl_only"] and lk["unreachable"] + lk["below_epsilon"] >= 1


def test_verdict_and_report_state_the_likelihood_evidence(compared: tuple[dict, Path]) -> None:
    data, report = compared
    said = " ".join(data["verdict"])
    assert "scored RL-only problems" in said and "cannot draw" in said
    assert "other correct solutions may exist" in said
    html = report.read_text(encoding="utf-8")
    assert "out_of_support" in html or "out of support" in html.lower()
