"""Comparison, summary and gate on runs whose completions are chosen exactly (imported samples)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalkit.compare import classify, compare_runs
from evalkit.errors import EvalkitError
from evalkit.gate import run_gate
from evalkit.results import load_run, summarize
from evalkit.runner import import_samples
from evalkit.stats import pass_at_k
from evalkit.tasks import TaskSpec, make_problems

SPEC = TaskSpec.parse("add")


def write_samples(path: Path, correct: list[list[bool]], limit: int) -> Path:
    """One line per sample: the reference answer where ``correct[i][j]``, a wrong answer elsewhere."""
    problems = make_problems(SPEC, 0, limit)
    with path.open("w") as fh:
        for problem, row in zip(problems, correct, strict=False):
            for j, ok in enumerate(row):
                text = problem.reference if ok else problem.reference + "0"
                fh.write(json.dumps({"problem_id": problem.id, "completion": text, "sample_idx": j}) + "\n")
    return path


def make_run(tmp: Path, name: str, correct: list[list[bool]], limit: int | None = None) -> Path:
    limit = limit or len(correct)
    samples = write_samples(tmp / f"{name}.jsonl", correct, limit)
    import_samples(samples, [SPEC], tmp / name, limit=limit, quiet=True)
    return tmp / name


BASE = [[True] * 8, [True] + [False] * 7, [False] * 8, [False] * 8, [True, True] + [False] * 6, [False] * 8]
RL = [[True] * 8, [False] * 8, [False] * 3 + [True] + [False] * 4, [False] * 8, [True] * 8, [False] * 7 + [True]]


def test_classify() -> None:
    assert [classify(1, 1), classify(0, 2), classify(3, 0), classify(0, 0)] == [
        "both",
        "rl_only",
        "base_only",
        "neither",
    ]


def test_compare_classes_and_pass_at_k(tmp_path: Path) -> None:
    base, rl = load_run(make_run(tmp_path, "base", BASE)), load_run(make_run(tmp_path, "rl", RL))
    summary = compare_runs(base, rl)
    by_id = {row["problem_id"]: row for row in summary["problems"]}
    ids = [p.id for p in make_problems(SPEC, 0, 6)]
    assert [by_id[i]["class"] for i in ids] == ["both", "base_only", "rl_only", "neither", "both", "rl_only"]
    assert summary["overall"]["classes"] == {"both": 2, "rl_only": 2, "base_only": 1, "neither": 1}
    assert summary["ks"] == [1, 2, 4, 8]
    for label, table in (("base", BASE), ("rl", RL)):
        c = np.array([sum(r) for r in table])
        for k in (1, 2, 4, 8):
            want = float(np.mean(pass_at_k(8, c, k)))
            assert summary["overall"]["pass_at_k"][label][str(k)] == pytest.approx(want)
    # evidence for "0 of 8" and one correct example for the solving model
    row = by_id[ids[2]]
    assert row["base_rate_upper_95"] == pytest.approx(1 - 0.05 ** (1 / 8))
    assert row["example_rl"] == make_problems(SPEC, 0, 6)[2].reference and row["example_base"] is None


def test_compare_carries_intervals_and_frontier_test(tmp_path: Path) -> None:
    base, rl = load_run(make_run(tmp_path, "base", BASE)), load_run(make_run(tmp_path, "rl", RL))
    summary = compare_runs(base, rl)
    sec = summary["tasks"]["add"]
    for label in ("base", "rl"):
        for k, (lo, hi) in sec["pass_at_k_ci"][label].items():
            assert lo <= sec["pass_at_k"][label][k] <= hi
    d1 = sec["delta"]["1"]
    assert d1["delta"] == pytest.approx(sec["pass_at_k"]["rl"]["1"] - sec["pass_at_k"]["base"]["1"])
    assert d1["ci"][0] <= d1["delta"] <= d1["ci"][1]
    test = sec["frontier_test"]
    assert test["rl_only"] == 2 and test["base_only"] == 1 and 0 < test["p_rl_only_exact"] <= 1
    assert 0 < test["q_rl_only"] <= 1 and any("Chance level" in note for note in summary["notes"])


def test_trajectory_regimes(tmp_path: Path) -> None:
    from evalkit.compare import trajectory

    # pass@1 rises while pass@8 falls below the base: ProRL's "diminish"
    base = [[True] + [False] * 7 for _ in range(12)]
    mid = [[True] * 2 + [False] * 6 for _ in range(8)] + [[False] * 8 for _ in range(4)]
    final = [[True] * 6 + [False] * 2 for _ in range(6)] + [[False] * 8 for _ in range(6)]
    runs = [load_run(make_run(tmp_path, name, rows)) for name, rows in (("b", base), ("m", mid), ("f", final))]
    traj = trajectory(runs)
    assert traj["tasks"]["add"]["regime"] == "diminish"
    assert traj["gain_correlation"]["spearman_rho"] is None  # one task: no correlation
    with pytest.raises(EvalkitError, match="at least three runs"):
        trajectory(runs[:2])


def test_summary_json_shape(tmp_path: Path) -> None:
    summary = summarize(load_run(make_run(tmp_path, "base", BASE)))
    assert {"problem_id", "task", "n", "c"} <= set(summary["problems"][0])
    assert [p["c"] for p in summary["problems"]] == [sum(r) for r in BASE]
    assert set(summary["tasks"]["add"]["pass_at_k"]) == {"1", "2", "4", "8"}
    ci = summary["tasks"]["add"]["pass_at_k_ci"]
    assert set(ci) == {"1", "2", "4", "8"} and all(lo <= hi for lo, hi in ci.values())


def test_unequal_n_uses_largest_common_n(tmp_path: Path) -> None:
    # BAD_INPUTS row 6: per-problem n differs; the comparison cuts both to the common n per problem
    short_rl = [row[:4] for row in RL]
    base, rl = load_run(make_run(tmp_path, "base", BASE)), load_run(make_run(tmp_path, "rl", short_rl))
    summary = compare_runs(base, rl)
    assert summary["overall"]["n"] == 4 and summary["ks"] == [1, 2, 4]
    by_class = {row["problem_id"]: row["class"] for row in summary["problems"]}
    ids = [p.id for p in make_problems(SPEC, 0, 6)]
    # RL's only successes on problems 2 and 5 were at sample_idx 3 and 7: within 4 samples only the first counts
    assert by_class[ids[2]] == "rl_only" and by_class[ids[5]] == "neither"


def test_different_problem_sets_compare_the_intersection(tmp_path: Path) -> None:
    # BAD_INPUTS row 27
    base = load_run(make_run(tmp_path, "base", BASE))
    rl = load_run(make_run(tmp_path, "rl", RL[:4], limit=4))
    summary = compare_runs(base, rl)
    assert summary["overall"]["n_problems"] == 4
    assert any("dropped" in note for note in summary["notes"])


def test_gate_passes_fails_and_names_task_and_k(tmp_path: Path) -> None:
    base, rl = load_run(make_run(tmp_path, "base", BASE)), load_run(make_run(tmp_path, "rl", RL))
    same = run_gate(base, base, [1, 8], max_drop=0.0)
    assert same.passed
    # six problems where three lose their only successes: a real drop, but not one six problems can
    # establish at 95% for k=1 (the paired interval is wide); at k=8 the drop (0.5) is clear
    worse = [[False] * 8 for _ in BASE]
    bad = run_gate(base, load_run(make_run(tmp_path, "worse", worse)), [1, 8], max_drop=0.05)
    assert not bad.passed
    assert {(r["task"], r["k"]) for r in bad.regressions} == {("add", 8)}
    assert any("REGRESSION" in line and "pass@8" in line for line in bad.lines)
    k1 = next(c for c in bad.checks if c["k"] == 1)
    assert k1["delta"] < -0.05 < k1["upper_bound"]
    with pytest.raises(EvalkitError, match="exceeds the samples per problem"):
        run_gate(base, rl, [16], max_drop=0.1)  # BAD_INPUTS row 5


def test_gate_needs_evidence_not_just_a_lower_mean(tmp_path: Path) -> None:
    # 30 problems: a clear drop on every problem is a regression; one problem losing one sample is noise
    good = [[True] * 6 + [False] * 2 for _ in range(30)]
    clear_drop = [[True] + [False] * 7 for _ in range(30)]
    noise = [row[:] for row in good]
    noise[0] = [True] * 5 + [False] * 3
    base = load_run(make_run(tmp_path, "good", good))
    assert not run_gate(base, load_run(make_run(tmp_path, "drop", clear_drop)), [1], max_drop=0.1).passed
    small = run_gate(base, load_run(make_run(tmp_path, "noise", noise)), [1], max_drop=0.0)
    assert small.passed and small.checks[0]["delta"] < 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=120)


def test_gate_cli_exit_codes(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base", BASE)
    worse = make_run(tmp_path, "worse", [[False] * 8 for _ in BASE])
    ok = _cli("gate", str(base), str(base), "--k", "1", "--max-drop", "0.01")
    assert ok.returncode == 0, ok.stderr
    assert "gate: PASS" in ok.stdout
    fail = _cli("gate", str(base), str(worse), "--k", "1", "--k", "8", "--max-drop", "0.01", "--json")
    assert fail.returncode == 1
    report = json.loads(fail.stdout)
    assert report["passed"] is False and {r["k"] for r in report["regressions"]} == {1, 8}
    assert {c["k"] for c in report["checks"]} == {1, 8}
    usage = _cli("gate", str(base), str(tmp_path / "nope"), "--k", "1")
    assert usage.returncode == 2
    assert "not an evalkit run directory" in usage.stderr and "Traceback" not in usage.stderr
    too_big = _cli("gate", str(base), str(base), "--k", "64")
    assert too_big.returncode == 2 and "exceeds" in too_big.stderr
