"""The verdict in plain words, on hand-labelled pairs of runs whose completions are chosen exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_compare_gate import make_run

from evalkit.compare import compare_runs
from evalkit.compare.results import load_run
from evalkit.compare.verdict import verdict_sentences
from evalkit.report import write_report

N, P = 16, 40


def rows(solved: list[int]) -> list[list[bool]]:
    """One row per problem: the first ``solved[i]`` of N samples correct."""
    return [[j < c for j in range(N)] for c in solved]


def verdict(tmp_path: Path, base: list[int], rl: list[int]) -> list[str]:
    summary = compare_runs(
        load_run(make_run(tmp_path, "base", rows(base))), load_run(make_run(tmp_path, "rl", rows(rl)))
    )
    assert summary["verdict"] == verdict_sentences(summary)
    assert verdict_sentences({"claims": summary["claims"]}) == summary["verdict"]  # from the claims alone
    return summary["verdict"]


# (base solved per problem, RL solved per problem, the words the summary sentence must use, words it must not)
CASES = {
    # RL turns 2/16 into 14/16 everywhere: better at k = 1, the same problems at k = n
    "sharpening": ([2] * P, [14] * P, "RL sharpened (better at k = 1); no change at k = 16 was shown", "expansion"),
    # half the problems: base 0/16, RL 8/16; the rest identical. Without likelihood evidence the RL-only
    # problems are bounded to the budget, never called expansion
    "rl_only_without_likelihood": (
        [0] * 20 + [8] * 20,
        [8] * 20 + [8] * 20,
        "solves more problems at k = 16; the 20 problem(s) solved only by RL are bounded to this budget",
        "expansion",
    ),
    # RL loses 20 problems the base solved once, and is better on the other 20 at k = 1
    "sharpen_and_shrink": (
        [1] * 20 + [2] * 20,
        [0] * 20 + [16] * 20,
        "RL sharpened (better at k = 1) and reaches fewer problems at k = 16",
        "expansion",
    ),
    "identical": ([3] * 20 + [0] * 20, [3] * 20 + [0] * 20, "no change at k = 1 or k = 16 was shown", "sharpened"),
    # a few RL-only problems and a small gain: counted, bounded, but not called expansion
    "few_rl_only": (
        [4] * 36 + [0] * 4,
        [4] * 36 + [1] * 4,
        "no change at k = 1 or k = 16 was shown",
        "expansion",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_on_hand_labelled_pairs(tmp_path: Path, name: str) -> None:
    base, rl, must, must_not = CASES[name]
    sentences = verdict(tmp_path, base, rl)
    assert len(sentences) == 4
    assert sentences[0].startswith("pass@1: base") and sentences[1].startswith("pass@16: base")
    assert must in sentences[-1], sentences
    assert must_not not in sentences[-1], sentences


def test_rl_only_problems_are_counted_with_the_family_wise_bound(tmp_path: Path) -> None:
    sentences = verdict(tmp_path, [0] * 20 + [8] * 20, [8] * 40)
    assert "20 problem(s) were solved by RL and never by the base in 16 samples each" in sentences[2]
    assert "family-wise" in sentences[2] and "does not say it cannot solve them" in sentences[2]
    assert "gain shown" in sentences[1]


def test_no_rl_only_problem_is_said_plainly(tmp_path: Path) -> None:
    sentences = verdict(tmp_path, [3] * P, [3] * P)
    assert sentences[2].startswith("No problem was solved by RL and never by the base in 16 samples")
    assert "no change shown" in sentences[0]


def test_report_shows_the_verdict_first(tmp_path: Path) -> None:
    summary = compare_runs(
        load_run(make_run(tmp_path, "base", rows([2] * P))), load_run(make_run(tmp_path, "rl", rows([14] * P)))
    )
    html = write_report(summary, tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert html.index('id="verdict"') < html.index('id="notes"')
    assert "RL sharpened" in html


def test_claims_are_machine_readable(tmp_path: Path) -> None:
    base = load_run(make_run(tmp_path, "base", rows([0] * 20 + [8] * 20)))
    summary = compare_runs(base, load_run(make_run(tmp_path, "rl", rows([8] * 40))))
    claims = summary["claims"]
    assert all({"kind", "scope", "test", "error_rate"} <= set(c) for c in claims)
    assert all(c["scope"] == {"tasks": ["add"], "n": N} for c in claims)
    by_kind = {c["kind"]: c for c in claims}
    assert by_kind["gain_at_k"]["error_rate"] == 0.05 and "sign-flip" in by_kind["gain_at_k"]["test"]
    assert by_kind["sharpened"]["k"] == 1
    bounded = by_kind["rl_only_bounded"]
    assert bounded["problems"] == 20 and bounded["family"] == 40 and "Bonferroni" in bounded["test"]
    assert "expansion" not in by_kind and "base_only_excess" not in by_kind


def test_a_shown_base_only_excess_is_always_in_the_closing_sentence(tmp_path: Path) -> None:
    # RL sharpens 20 problems (2 -> 14 of 16) and loses 20 others the base solved twice: a base-only excess
    sentences = verdict(tmp_path, [2] * 20 + [2] * 20, [14] * 20 + [0] * 20)
    assert "the base solved 20 problem(s) that RL never did" in sentences[-1]
    assert "RL lost reach on some problems" in sentences[-1]


def test_tasks_of_different_n_are_never_pooled(tmp_path: Path) -> None:
    import json

    from evalkit.sampling.runner import import_samples
    from evalkit.tasks import TaskSpec, make_problems

    specs = [TaskSpec.parse("add"), TaskSpec.parse("reverse")]

    def run(name: str, solved: int) -> Path:
        path = tmp_path / f"{name}.jsonl"
        with path.open("w") as fh:
            for spec, n in zip(specs, (16, 4), strict=True):
                for i, p in enumerate(make_problems(spec, 0, 6)):
                    for j in range(n):
                        ok = j < (solved if i % 2 else 1)
                        text = p.reference if ok else p.reference + "0"
                        fh.write(json.dumps({"problem_id": p.id, "completion": text, "sample_idx": j}) + "\n")
        import_samples(path, specs, tmp_path / name, limit=6, quiet=True)
        return tmp_path / name

    summary = compare_runs(load_run(run("b", 1)), load_run(run("r", 3)))
    assert summary["overall"] is None
    assert [g["scope"] for g in summary["groups"]] == [{"tasks": ["add"], "n": 16}, {"tasks": ["reverse"], "n": 4}]
    assert {(c["scope"]["n"], tuple(c["scope"]["tasks"])) for c in summary["claims"]} == {
        (16, ("add",)),
        (4, ("reverse",)),
    }
    assert any(s.startswith("Task add (n = 16): pass@16") for s in summary["verdict"])
    assert any(s.startswith("Task reverse (n = 4): pass@4") for s in summary["verdict"])
    html = write_report(summary, tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="verdict"' in html


def test_claims_under_known_truths_quick() -> None:
    # a fast version of `python -m evalkit.compare.calibration --claims` (the full table is in reports/BENCHMARKS.md):
    # pure sharpening never yields an expansion claim; base rate exactly 0 on RL-solved problems does (with
    # likelihood files), and the rare-but-reachable bound is false in no more than its 5%
    from evalkit.compare.claims_calibration import Truth, _expansion, _sharpening, claim_error_rates

    sharp = {r.kind: r for r in claim_error_rates(Truth("sharp", _sharpening(4.0, 60), 32), reps=15, seed=1)}
    assert sharp["expansion"].made == 0 and sharp["out_of_support"].made == 0 and sharp["gain_at_k"].false == 0
    assert sharp["base_only_excess"].false == 0
    # at n = 256 RL's rates (0.02-0.3) are shown above the base's bound on most of these problems
    grown = {r.kind: r for r in claim_error_rates(Truth("exp", _expansion(60, 10), 256), reps=15, seed=1)}
    assert grown["expansion"].made >= 0.8 and grown["expansion"].false == 0 and grown["rl_only_bounded"].false == 0


def _section(p_holm: float, ci: list[float], significant: bool, base_only: int = 0) -> dict[str, object]:
    """A comparison section at n = 8 whose k = 1 cell has the given Holm p-value, interval and decision."""
    cell = {"delta": 0.05, "ci": ci, "ci_method": "studentized bootstrap over problems", "p_value": p_holm / 3,
            "p_holm": p_holm, "significant": significant, "direction": "up" if significant else None}  # fmt: skip
    flat = {"delta": 0.0, "ci": [-0.1, 0.1], "p_value": 1.0, "p_holm": 1.0, "significant": False, "direction": None}
    return {
        "scope": {"tasks": ["t"], "n": 8}, "n": 8, "n_problems": 100, "confidence": 0.95,
        "pass_at_k": {"base": {"1": 0.30, "8": 0.6}, "rl": {"1": 0.35, "8": 0.6}},
        "delta": {"1": cell, "8": flat},
        "classes": {"both": 50, "rl_only": 0, "base_only": base_only, "neither": 50 - base_only},
        "frontier": {"simultaneous": None, "mcnemar": {}},
        "frontier_test": {"p_base_only_exact": 0.001, "expected_under_null": 1.0},
    }  # fmt: skip


def test_a_rejecting_test_beside_an_interval_holding_0_is_not_called_shown() -> None:
    from evalkit.compare.claims import scope_claims
    from evalkit.compare.verdict import scope_sentences

    claims = scope_claims(_section(0.01, [-0.002, 0.1], significant=False, base_only=6), [])
    delta = next(c for c in claims if c["k"] == 1 and c["kind"] == "no_change_shown")
    assert delta["test_rejects_interval_holds_0"]
    sentences = scope_sentences(claims)
    assert "no change shown at 95% (the sign-flip test rejects, but the interval holds 0)" in sentences[0]
    closing = sentences[-1]
    assert "sharpened" not in closing and "gain shown" not in closing
    assert "at k = 1 the sign-flip test rejects but the 95% interval holds 0, so no change there is claimed" in closing
    # a shown base-only excess is said in the same closing sentence
    assert "the base solved 6 problem(s) that RL never did" in closing
    # test and interval agree: shown, with no such qualification
    agreed = scope_sentences(scope_claims(_section(0.01, [0.01, 0.1], significant=True), []))
    assert "a gain shown at 95%" in agreed[0] and "RL sharpened" in agreed[-1] and "rejects" not in agreed[-1]
