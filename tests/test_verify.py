"""evalkit.verify: exact-answer verdicts, deduplicated pooled verification, hostile verifiers, verify_run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, exact_answer_verdict, make_problems
from evalkit.types import Completion, Problem, Verdict
from evalkit.verify import verify_items, verify_run

TIMEOUT_S = 1.5
# A fresh worker is a new interpreter: on a loaded 2-core machine spawning one takes a few seconds.
SLACK_S = 8.0


# -- exact_answer_verdict ----------------------------------------------------------------------------


def test_exact_answer_correct() -> None:
    assert exact_answer_verdict("861", "861") == Verdict(True, 1.0, "ok", "861")


def test_exact_answer_strips_surrounding_whitespace() -> None:
    assert exact_answer_verdict("861", "  861 \t").passed


def test_exact_answer_wrong() -> None:
    verdict = exact_answer_verdict("861", "862")
    assert verdict == Verdict(False, 0.0, "ok", "862")


@pytest.mark.parametrize("text", ["", " ", "\n", " \t\r\n  \n"], ids=["empty", "space", "newline", "mixed"])
def test_exact_answer_empty_or_whitespace_is_status_empty(text: str) -> None:
    verdict = exact_answer_verdict("861", text)
    assert verdict.status == "empty"
    assert verdict.passed is False
    assert verdict.score == 0.0


def test_exact_answer_reads_the_first_line_only() -> None:
    assert exact_answer_verdict("861", "861\nsome reasoning 999").passed
    assert not exact_answer_verdict("861", "let me think\n861").passed
    assert exact_answer_verdict("861", "let me think\n861").detail == "let me think"


def test_exact_answer_is_not_fooled_by_a_prefix_or_suffix() -> None:
    assert not exact_answer_verdict("86", "861").passed
    assert not exact_answer_verdict("861", "86").passed


def test_exact_answer_empty_first_line_is_wrong_not_empty() -> None:
    verdict = exact_answer_verdict("861", "\n861")
    assert verdict.status == "ok"
    assert not verdict.passed


# -- verify_items on built-in problems ---------------------------------------------------------------


@pytest.fixture(scope="module")
def add_problems() -> list[Problem]:
    return make_problems(TaskSpec.parse("add"), 0, 5)


def test_verify_items_keeps_order_and_judges_correctly(add_problems: list[Problem]) -> None:
    items: list[tuple[Problem, str, str]] = []
    expected: list[tuple[bool, str]] = []
    for p in add_problems:
        items += [
            (p, p.reference, "stop"),
            (p, p.reference + "0", "stop"),
            (p, f"{p.reference}\nbecause", "stop"),
            (p, "   \n", "stop"),
        ]
        expected += [(True, "ok"), (False, "ok"), (True, "ok"), (False, "empty")]
    items.reverse()
    expected.reverse()
    verdicts = verify_items(items, workers=2, timeout_s=10)
    assert [(v.passed, v.status) for v in verdicts] == expected
    assert all(v.score == float(v.passed) for v in verdicts)


def test_verify_items_verifies_duplicates_once(add_problems: list[Problem]) -> None:
    p, q = add_problems[0], add_problems[1]
    unique = [(p, p.reference, "stop"), (p, "0", "stop"), (q, q.reference, "stop"), (p, p.reference, "length")]
    items = [unique[i] for i in (0, 1, 0, 2, 0, 1, 3, 2, 0)]
    finished: list[int] = []
    verdicts = verify_items(items, workers=1, timeout_s=10, progress=finished.append)
    assert sum(finished) == len(unique)  # the pool ran one item per distinct (problem, text, finish)
    assert len(verdicts) == len(items)
    by_item: dict[tuple[str, str, str], Verdict] = {}
    for (problem, text, finish), verdict in zip(items, verdicts, strict=True):
        assert by_item.setdefault((problem.id, text, finish), verdict) == verdict
    assert [v.passed for v in verdicts] == [True, False, True, True, True, False, True, True, True]


def test_same_text_for_different_problems_is_not_deduplicated(add_problems: list[Problem]) -> None:
    p, q = add_problems[0], add_problems[1]
    assert p.reference != q.reference
    verdicts = verify_items([(p, p.reference, "stop"), (q, p.reference, "stop")], workers=1, timeout_s=10)
    assert [v.passed for v in verdicts] == [True, False]


def test_wrong_answer_cut_by_length_is_truncated(add_problems: list[Problem]) -> None:
    p = add_problems[2]
    wrong, right, empty = verify_items(
        [(p, p.reference + "99", "length"), (p, p.reference, "length"), (p, "", "length")],
        workers=1,
        timeout_s=10,
    )
    assert (wrong.passed, wrong.status) == (False, "truncated")
    assert (right.passed, right.status) == (True, "ok")  # a correct answer is correct even if cut after it
    assert (empty.passed, empty.status) == (False, "empty")


def test_verify_items_empty_input() -> None:
    assert verify_items([], workers=1, timeout_s=1) == []


# -- hostile custom verifiers (tests/task_helpers.py) ------------------------------------------------


@pytest.fixture()
def helpers(children_see_tests: None) -> None:
    import task_helpers  # noqa: F401  (registers test_raises, test_hangs, test_bad_score)


def _problems(task: str, count: int = 3) -> list[Problem]:
    return make_problems(TaskSpec.parse(task), 0, count)


def test_verifier_that_raises_gives_error_verdict(helpers: None) -> None:
    a, b, c = _problems("test_raises")
    verdicts = verify_items(
        [(a, a.reference, "stop"), (b, "boom", "stop"), (c, "nope", "stop")], workers=1, timeout_s=TIMEOUT_S * 4
    )
    assert (verdicts[0].passed, verdicts[0].status) == (True, "ok")
    assert verdicts[1].status == "error"
    assert verdicts[1].passed is False
    assert "RuntimeError" in verdicts[1].detail
    assert "verifier exploded" in verdicts[1].detail
    assert (verdicts[2].passed, verdicts[2].status) == (False, "ok")


def test_verifier_that_hangs_gives_timeout_verdict(helpers: None) -> None:
    a, b, c = _problems("test_hangs")
    items = [(a, "hang", "stop"), (b, b.reference, "stop"), (c, "hang and hang", "length"), (a, a.reference, "stop")]
    started = time.monotonic()
    verdicts = verify_items(items, workers=2, timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert [(v.passed, v.status) for v in verdicts] == [
        (False, "timeout"),
        (True, "ok"),
        (False, "timeout"),
        (True, "ok"),
    ]
    assert verdicts[0].score == 0.0
    # two hangs in parallel workers: about one timeout, plus worker start-up
    assert elapsed < 2 * TIMEOUT_S + SLACK_S


def test_verifier_nan_score_is_an_error_naming_the_task(helpers: None) -> None:
    a, b, _ = _problems("test_bad_score")
    verdicts = verify_items([(a, a.reference, "stop"), (b, "x", "stop")], workers=1, timeout_s=TIMEOUT_S * 4)
    for verdict in verdicts:
        assert verdict.status == "error"
        assert verdict.passed is False
        assert "test_bad_score" in verdict.detail
        assert "nan" in verdict.detail


# -- verify_run --------------------------------------------------------------------------------------


def _run_with_completions(root: Path, problems: list[Problem]) -> tuple[RunStore, dict[tuple[str, int], bool]]:
    """A run holding 4 completions per problem (right, wrong, right, empty) in two shards."""
    identity = {"model": "hand-made", "tasks": [{"name": "add"}], "seed": 0}
    store, _ = RunStore.create_or_resume(root, identity, {"n": 4}, problems)
    store.unlock()
    passed: dict[tuple[str, int], bool] = {}
    shards: list[list[Completion]] = [[], []]
    for p in problems:
        for idx, (text, ok) in enumerate([(p.reference, True), ("12345678", False), (p.reference, True), ("", False)]):
            shards[idx % 2].append(Completion(p.id, idx, text, len(text), "stop", idx))
            passed[(p.id, idx)] = ok
    for shard in shards:
        store.append_completions(shard)
    return store, passed


def test_verify_run_fills_missing_verdicts_only(tmp_path: Path, add_problems: list[Problem]) -> None:
    problems = add_problems[:3]
    store, passed = _run_with_completions(tmp_path / "run", problems)
    # two verdicts already recorded, deliberately "wrong" so that re-verifying them would show
    hand = {(problems[0].id, 0): Verdict(False, 0.0, "ok", "hand-made"), (problems[1].id, 1): Verdict(True, 1.0, "ok")}
    store.append_verdicts((pid, idx, v) for (pid, idx), v in hand.items())

    assert verify_run(store, workers=2, timeout_s=10) == len(passed) - len(hand)
    verdicts = RunStore.open(tmp_path / "run").verdicts()
    assert set(verdicts) == set(passed)
    for key, ok in passed.items():
        assert verdicts[key] == hand.get(key, verdicts[key])
        if key not in hand:
            assert verdicts[key].passed is ok
    assert verdicts[(problems[0].id, 3)].status == "empty"

    assert verify_run(store, workers=2, timeout_s=10) == 0
    assert RunStore.open(tmp_path / "run").verdicts() == verdicts
    assert len(list((tmp_path / "run" / "verdicts").glob("*.jsonl"))) == 2  # the no-op wrote no shard


def test_verify_run_rescore_verifies_everything(tmp_path: Path, add_problems: list[Problem]) -> None:
    problems = add_problems[:2]
    store, passed = _run_with_completions(tmp_path / "run", problems)
    store.append_verdicts([(problems[0].id, 0, Verdict(False, 0.0, "error", "stale"))])
    assert verify_run(store, workers=2, timeout_s=10) == len(passed) - 1
    assert verify_run(store, rescore=True, workers=2, timeout_s=10) == len(passed)
    verdicts = store.verdicts()
    assert {key: v.passed for key, v in verdicts.items()} == passed
    assert verdicts[(problems[0].id, 0)].status == "ok"  # the stale verdict was replaced


def test_verify_run_completion_for_unknown_problem(tmp_path: Path, add_problems: list[Problem]) -> None:
    store, _ = _run_with_completions(tmp_path / "run", add_problems[:1])
    store.append_completions([Completion("no-such-problem", 0, "1")])
    with pytest.raises(EvalkitError, match="unknown problem 'no-such-problem'"):
        verify_run(store, workers=1, timeout_s=10)
    assert store.verdicts() == {}
