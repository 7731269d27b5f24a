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
    return summary["verdict"]


# (base solved per problem, RL solved per problem, the words the summary sentence must use, words it must not)
CASES = {
    # RL turns 2/16 into 14/16 everywhere: better at k = 1, the same problems at k = n
    "sharpening": ([2] * P, [14] * P, "RL sharpened (better at k = 1); no change at k = 16 was shown", "expansion"),
    # half the problems: base 0/16, RL 8/16; the rest identical
    "expansion": ([0] * 20 + [8] * 20, [8] * 20 + [8] * 20, "evidence of expansion", "sharpened"),
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
        "evidence of expansion",
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
