"""Comparison, summary and gate on runs whose completions are chosen exactly (imported samples)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from run_settings import KNOWN_SETTINGS

from evalkit.compare import classify, compare_runs
from evalkit.compare.gate import run_gate
from evalkit.compare.results import load_run, summarize
from evalkit.errors import EvalkitError
from evalkit.sampling.runner import import_samples
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
    import_samples(
        samples,
        [SPEC],
        tmp / name,
        limit=limit,
        quiet=True,
        settings=KNOWN_SETTINGS,
    )
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
    # the method beside each interval: at k = n = 8 every problem's pass@8 is 0 or 1 (exact Clopper-Pearson), and
    # every paired difference -1, 0 or 1; at k = 1 with six problems, the betting interval
    assert sec["pass_at_k_ci_method"]["base"]["8"].startswith("exact: Clopper-Pearson")
    assert "gained and lost" in sec["delta"]["8"]["ci_method"]
    assert sec["delta"]["1"]["ci_method"].startswith("betting")
    d1 = sec["delta"]["1"]
    assert d1["delta"] == pytest.approx(sec["pass_at_k"]["rl"]["1"] - sec["pass_at_k"]["base"]["1"])
    assert d1["ci"][0] <= d1["delta"] <= d1["ci"][1]
    test = sec["frontier_test"]
    assert test["rl_only"] == 2 and test["base_only"] == 1 and 0 < test["p_rl_only_exact"] <= 1
    assert 0 < test["q_rl_only"] <= 1
    chance = [note for note in summary["notes"] if note.startswith("Chance test")]
    assert len(chance) == 1 and "not evidence of expansion" in chance[0]
    fr = sec["frontier"]
    assert fr["rl_only"] == 2 and fr["simultaneous"]["problems"] == 2
    # family-wise over all 6 compared problems (not the 2 RL-only ones): Clopper-Pearson at 1 - 0.05/6 for 0 of 8
    assert fr["simultaneous"]["base_rate_below"] == pytest.approx(1 - (0.05 / 6) ** (1 / 8))
    assert fr["simultaneous"]["family"] == 6
    assert fr["mcnemar"]["p_rl_solves_more"] == pytest.approx(0.5)  # 2 RL-only vs 1 base-only: P(Bin(3,.5) >= 2)
    # delta cells: two-sided sign-flip p-values, Holm over every cell; six problems show nothing
    cells = [c for s in [summary["overall"], *summary["tasks"].values()] for c in s["delta"].values()]
    assert all(c["p_holm"] >= c["p_value"] and c["significant"] is False for c in cells)
    assert all("Holm" in c["adjustment"] for c in cells)
    rows = [r for r in summary["problems"] if r["class"] == "rl_only"]
    assert all(r["rl_rate_ci_95"][0] <= r["c_rl"] / r["n"] <= r["rl_rate_ci_95"][1] for r in rows)


def test_sharpening_is_not_called_expansion_and_round_off_never_colours(tmp_path: Path) -> None:
    # RL solves 18 problems the base missed and loses 2; the chance test rejects, but nowhere is that
    # called expansion: only the simultaneous bound statement may speak of it
    base_rows = [[False] * 8 for _ in range(18)] + [[True] + [False] * 7 for _ in range(22)]
    rl_rows = [[True] * 2 + [False] * 6 for _ in range(18)] + [[True] * 3 + [False] * 5 for _ in range(20)]
    rl_rows += [[False] * 8, [False] * 8]
    summary = compare_runs(load_run(make_run(tmp_path, "b", base_rows)), load_run(make_run(tmp_path, "r", rl_rows)))
    for note in summary["notes"]:
        if "expansion" in note:
            assert note.startswith("Chance test (not evidence") or "every one of these" in note
    assert summary["overall"]["frontier"]["chance_test"]["shown"]
    # a delta of one problem solved once: whatever the bootstrap bound's sign at 1e-17, it is not significant
    one = [[False] * 8 for _ in range(39)] + [[True] + [False] * 7]
    none = [[False] * 8 for _ in range(40)]
    tiny = compare_runs(load_run(make_run(tmp_path, "one", one)), load_run(make_run(tmp_path, "none", none)))
    assert not any(c["significant"] for c in tiny["overall"]["delta"].values())


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
    assert same.passed and all(c["p_value"] == 1.0 for c in same.checks)
    # six problems of which three lose their only successes, none gained: the exact sign test gives
    # p = 1/8 at k = 8, which six problems cannot push below 5% (the bootstrap used to call it a regression)
    worse = [[False] * 8 for _ in BASE]
    small = run_gate(base, load_run(make_run(tmp_path, "worse", worse)), [1, 8], max_drop=0.05)
    assert small.passed
    k8 = next(c for c in small.checks if c["k"] == 8)
    assert k8["p_value"] == pytest.approx(1 / 8) and k8["method"].startswith("exact")
    # twenty problems, twelve of them lost: a clear regression at both k, named by task and k
    many = [[True] * 4 + [False] * 4 for _ in range(20)]
    lost = [[False] * 8 if i < 12 else row for i, row in enumerate(many)]
    base20 = load_run(make_run(tmp_path, "base20", many))
    bad = run_gate(base20, load_run(make_run(tmp_path, "lost20", lost)), [1, 8], max_drop=0.05)
    assert not bad.passed
    assert {(r["task"], r["k"]) for r in bad.regressions} == {("add", 1), ("add", 8)}
    assert any("REGRESSION" in line and "pass@8" in line for line in bad.lines)
    k8 = next(c for c in bad.checks if c["k"] == 8)
    assert k8["p_value"] == pytest.approx(0.5**12) and k8["p_holm"] <= 0.05 and k8["upper_bound"] < -0.05
    with pytest.raises(EvalkitError, match="exceeds the samples per problem"):
        run_gate(base, rl, [16], max_drop=0.1)  # BAD_INPUTS row 5


def test_gate_two_lost_none_gained_is_not_a_regression(tmp_path: Path) -> None:
    # 20 problems at n = 64 where the baseline solved two problems once each and the candidate none:
    # pass@64 fell by 0.1 but the exact sign test gives p = 0.25
    base_rows = [[True] + [False] * 63, [False] * 63 + [True]] + [[False] * 64 for _ in range(18)]
    base = load_run(make_run(tmp_path, "b", base_rows))
    cand = load_run(make_run(tmp_path, "c", [[False] * 64 for _ in range(20)]))
    res = run_gate(base, cand, [1, 64], max_drop=0.02)
    assert res.passed
    k64 = next(c for c in res.checks if c["k"] == 64)
    assert k64["delta"] == pytest.approx(-0.1) and k64["p_value"] == pytest.approx(0.25)
    assert any("at most 5%" in line for line in res.lines)


def test_gate_refuses_or_warns_on_unlike_runs_and_gates_chosen_tasks(tmp_path: Path) -> None:
    import dataclasses

    # BAD_INPUTS row 34: a candidate sampled at another temperature (or prompt format, or n)
    base = load_run(make_run(tmp_path, "base", BASE))
    ident = {**base.manifest["identity"], "sampling": {**base.manifest["identity"]["sampling"], "temperature": 0.6}}
    hot = dataclasses.replace(base, manifest={**base.manifest, "identity": ident})
    with pytest.raises(EvalkitError, match="temperature"):
        run_gate(base, hot, [1], max_drop=0.02)
    warned = run_gate(base, hot, [1], max_drop=0.02, mismatch="warn")
    assert warned.passed and any("temperature" in w for w in warned.warnings)
    assert warned.lines[0].startswith("WARNING")
    chat = dataclasses.replace(base, manifest={**base.manifest, "identity": {**ident, "prompt_format": "chat"}})
    with pytest.raises(EvalkitError, match="prompt formats differ"):
        run_gate(hot, chat, [1], max_drop=0.02)
    # a --prompt-template or a system message makes other prompts too
    templated = {**base.manifest["identity"], "prompt_template": {"sha256": "ab" * 32, "text": "Q: {prompt}"}}
    with pytest.raises(EvalkitError, match=r"prompt templates differ: baseline the tasks' own, candidate .*abababab"):
        run_gate(base, dataclasses.replace(base, manifest={**base.manifest, "identity": templated}), [1], 0.02)
    system = {**base.manifest["identity"], "prompt_format": "chat", "system": "Be brief."}
    with pytest.raises(EvalkitError, match="system messages differ"):
        run_gate(chat, dataclasses.replace(base, manifest={**base.manifest, "identity": system}), [1], 0.02)
    short = load_run(make_run(tmp_path, "short", [row[:4] for row in BASE]))
    with pytest.raises(EvalkitError, match="samples per problem differ"):
        run_gate(base, short, [1], max_drop=0.02)
    # --task: a chosen task; an unknown one is a usage error naming the shared tasks
    assert {c["task"] for c in run_gate(base, base, [1], 0.02, tasks=["add"]).checks} == {"add"}
    with pytest.raises(EvalkitError, match=r"not shared.*shared: add"):
        run_gate(base, base, [1], 0.02, tasks=["nope"])


def test_gate_false_alarm_rate_and_power_quick() -> None:
    # a fast version of `python -m evalkit.compare.calibration --gate` (the full table is in reports/BENCHMARKS.md)
    from evalkit.compare.calibration import DENSE, SPARSE, GateSetting, gate_rate

    reps = 300  # binomial SE at 5%: 0.0126; the bound below is nominal + 2 SE
    for setting in (
        GateSetting("sparse P=20 n=64", SPARSE, 20, 64),
        GateSetting("dense P=50 n=16", DENSE, 50, 16, tasks=2),
    ):
        row = gate_rate(setting, reps=reps, max_drop=0.0, seed=3)
        assert row.rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / reps), row
    power = gate_rate(GateSetting("power", (0.3, 2.0), 500, 64, drop=0.05), reps=40, max_drop=0.02, seed=3)
    assert power.rate >= 0.9, power


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
    many = [[True] * 4 + [False] * 4 for _ in range(20)]
    base = make_run(tmp_path, "base", many)
    worse = make_run(tmp_path, "worse", [[False] * 8 for _ in many])
    ok = _cli("gate", str(base), str(base), "--k", "1", "--max-drop", "0.01")
    assert ok.returncode == 0, ok.stderr
    assert "gate: PASS" in ok.stdout
    fail = _cli("gate", str(base), str(worse), "--k", "1", "--k", "8", "--max-drop", "0.01", "--json")
    assert fail.returncode == 1
    report = json.loads(fail.stdout)
    assert report["passed"] is False and {r["k"] for r in report["regressions"]} == {1, 8}
    assert {c["k"] for c in report["checks"]} == {1, 8} and "Holm" in report["method"]
    usage = _cli("gate", str(base), str(tmp_path / "nope"), "--k", "1")
    assert usage.returncode == 2
    assert "not an evalkit run directory" in usage.stderr and "Traceback" not in usage.stderr
    too_big = _cli("gate", str(base), str(base), "--k", "64")
    assert too_big.returncode == 2 and "exceeds" in too_big.stderr
    unknown = _cli("gate", str(base), str(base), "--task", "nope")
    assert unknown.returncode == 2 and "no task 'nope'" in unknown.stderr
    # BAD_INPUTS row 34 on the console: refused by default, a loud warning with --allow-mismatch
    manifest = json.loads((worse / "manifest.json").read_text())
    manifest["identity"]["sampling"]["temperature"] = 0.6
    (worse / "manifest.json").write_text(json.dumps(manifest))
    refused = _cli("gate", str(base), str(worse), "--k", "1")
    assert refused.returncode == 2 and "temperature" in refused.stderr
    warned = _cli("gate", str(base), str(worse), "--k", "1", "--allow-mismatch")
    assert warned.returncode == 1 and "WARNING" in warned.stderr and "temperature" in warned.stderr


def test_compare_cli_warns_or_refuses_on_unlike_runs(tmp_path: Path) -> None:
    # BAD_INPUTS row 34 for compare: a warning on the console by default, exit 2 with --refuse-mismatch
    rows = [[True] * 4 + [False] * 4 for _ in range(6)]
    base = make_run(tmp_path, "base", rows)
    rl = make_run(tmp_path, "rl", [r[:4] for r in rows])  # n = 4 against n = 8
    manifest = json.loads((rl / "manifest.json").read_text())
    manifest["identity"]["sampling"]["temperature"] = 0.5
    (rl / "manifest.json").write_text(json.dumps(manifest))
    warned = _cli("compare", str(base), str(rl), "--out", str(tmp_path / "cmp"))
    assert warned.returncode == 0, warned.stderr
    assert "warning: sampling configurations differ (base vs RL): temperature 1.0 vs 0.5" in warned.stderr
    assert "warning: samples per problem differ: base n = 8, RL n = 4" in warned.stderr
    refused = _cli("compare", str(base), str(rl), "--out", str(tmp_path / "cmp2"), "--refuse-mismatch")
    assert refused.returncode == 2 and "temperature" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "cmp2" / "report.html").exists()
    same = _cli("compare", str(base), str(base), "--out", str(tmp_path / "cmp3"), "--refuse-mismatch")
    assert same.returncode == 0 and "warning" not in same.stderr


def test_intermediate_runs_are_checked_like_the_rl_run(tmp_path: Path) -> None:
    # compare --mid and report's middle runs: an intermediate run sampled otherwise than the base is warned of
    # (compare, report) or refused (compare --refuse-mismatch), naming it, as an unlike RL run is
    rows = [[True] * 4 + [False] * 4 for _ in range(6)]
    base, rl, mid = make_run(tmp_path, "base", rows), make_run(tmp_path, "rl", rows), make_run(tmp_path, "mid", rows)
    manifest = json.loads((mid / "manifest.json").read_text())
    manifest["identity"]["sampling"]["temperature"] = 0.5
    (mid / "manifest.json").write_text(json.dumps(manifest))
    said = f"warning: sampling configurations differ (base vs intermediate ({mid})): temperature 1.0 vs 0.5"
    warned = _cli("compare", str(base), str(rl), "--mid", str(mid), "--out", str(tmp_path / "cmp"))
    assert warned.returncode == 0, warned.stderr
    assert said in warned.stderr and "(base vs RL)" not in warned.stderr
    refused = _cli("compare", str(base), str(rl), "--mid", str(mid), "--out", str(tmp_path / "c2"), "--refuse-mismatch")
    assert refused.returncode == 2 and str(mid) in refused.stderr and "temperature 1.0 vs 0.5" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "c2" / "report.html").exists()
    reported = _cli("report", str(base), str(mid), str(rl), "--out", str(tmp_path / "rep"))
    assert reported.returncode == 0 and said in reported.stderr
    alike = _cli("compare", str(base), str(rl), "--mid", str(base), "--out", str(tmp_path / "c3"), "--refuse-mismatch")
    assert alike.returncode == 0 and "warning" not in alike.stderr


def test_holm_family_counts_each_distinct_check_once(tmp_path: Path) -> None:
    """One task: the overall section is the same problems again, so it joins neither Holm's family nor the count."""
    base, rl = load_run(make_run(tmp_path, "base", BASE)), load_run(make_run(tmp_path, "rl", RL))
    summary = compare_runs(base, rl)
    task = summary["tasks"]["add"]
    cells = len(task["delta"])
    for cell in task["delta"].values():
        assert cell["adjustment"].startswith(f"Holm over {cells} distinct delta cells")
    for k, cell in summary["overall"]["delta"].items():
        assert (cell["significant"], cell["p_holm"]) == (task["delta"][k]["significant"], task["delta"][k]["p_holm"])


def test_a_change_is_shown_only_with_an_interval_that_excludes_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base_rows = [list(rng.random(8) < 0.2) for _ in range(40)]
    rl_rows = [list(rng.random(8) < 0.45) for _ in range(40)]
    base, rl = load_run(make_run(tmp_path, "b", base_rows)), load_run(make_run(tmp_path, "r", rl_rows))
    for sec in [compare_runs(base, rl)["overall"], *compare_runs(base, rl)["tasks"].values()]:
        for cell in sec["delta"].values():
            if cell["significant"]:
                low, high = cell["ci"]
                assert (low > 0) if cell["direction"] == "up" else (high < 0)
