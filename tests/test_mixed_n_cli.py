"""A run whose tasks were sampled at different n, through the real command line (import, then compare --json):
every scope of the verdict, the claims and the evidence holds tasks of one n; nothing is pooled across n."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.tasks import TaskSpec, make_problems

SIZES = {"add": 16, "reverse": 4}  # samples per problem of each task
PROBLEMS = 12


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)


def imported(tmp_path: Path, name: str, solved: dict[str, list[int]]) -> Path:
    """A run imported from a JSONL file: problem i of each task has its first ``solved[task][i]`` samples correct."""
    path = tmp_path / f"{name}.jsonl"
    with path.open("w") as fh:
        for task, n in SIZES.items():
            for i, p in enumerate(make_problems(TaskSpec.parse(task), 0, PROBLEMS)):
                for j in range(n):
                    text = p.reference if j < solved[task][i] else p.reference + "0"
                    fh.write(json.dumps({"problem_id": p.id, "completion": text, "sample_idx": j}) + "\n")
    out = tmp_path / name
    args = ["import", str(path), "--out", str(out), "--limit", str(PROBLEMS)]
    for task in SIZES:
        args += ["--task", task]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_compare_json_of_a_mixed_n_run_has_one_scope_per_n(tmp_path: Path) -> None:
    # add (n = 16): RL sharpens (2 -> 14 of 16 everywhere); reverse (n = 4): RL loses 6 problems the base solved
    base = imported(tmp_path, "base", {"add": [2] * PROBLEMS, "reverse": [2] * PROBLEMS})
    rl = imported(tmp_path, "rl", {"add": [14] * PROBLEMS, "reverse": [2] * 6 + [0] * 6})
    result = cli("compare", str(base), str(rl), "--json", "--out", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    scopes = [{"tasks": ["add"], "n": 16}, {"tasks": ["reverse"], "n": 4}]
    assert summary["overall"] is None
    assert [g["scope"] for g in summary["groups"]] == scopes
    # the evidence: one block per n, never an overall pooled across n
    evidence = summary["evidence"]
    assert evidence["overall"] is None
    assert [g["scope"] for g in evidence["groups"]] == scopes
    assert [g["cover_at_tau"]["k_max"] for g in evidence["groups"]] == [16, 4]
    assert [g["pass_at_k_auc"]["k_max"] for g in evidence["groups"]] == [16, 4]
    assert set(evidence["groups"][0]["matrix_at_k"]) == {"1", "2", "4", "8", "16"}
    # claims: each about one task at its own n, with k never above that n
    assert {(c["scope"]["n"], tuple(c["scope"]["tasks"])) for c in summary["claims"]} == {
        (16, ("add",)),
        (4, ("reverse",)),
    }
    assert all(c.get("k", 0) <= c["scope"]["n"] for c in summary["claims"])
    kinds = {(c["scope"]["n"], c["kind"]) for c in summary["claims"]}
    assert (16, "sharpened") in kinds and (4, "sharpened") not in kinds
    # the verdict: every sentence names its scope; no sentence pools the two
    assert all(s.startswith(("Task add (n = 16): ", "Task reverse (n = 4): ")) for s in summary["verdict"])
    assert any(s.startswith("Task add (n = 16): In sum: RL sharpened") for s in summary["verdict"])
    assert not any("overall" in s for s in summary["verdict"])
