"""evalkit.verify: exact-answer verdicts, dedup keys and pooled verification, hostile verifiers, verify_run."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.grading.answers import answer_key, extract_boxed
from evalkit.store import RunStore
from evalkit.tasks import TaskFamily, TaskSpec, exact_answer_verdict, get_family, make_problems, task_names
from evalkit.tasks.benchmark import offline_spec
from evalkit.tasks.taskdir import extract_program
from evalkit.types import Completion, Problem, Verdict
from evalkit.verify.stage import VERIFY_CHARS, dedup_digest, verify_items, verify_run

TIMEOUT_S = 1.5
# A fresh worker is a new interpreter: on a loaded 2-core machine spawning one takes a few seconds.
SLACK_S = 8.0


# -- exact_answer_verdict ----------------------------------------------------------------------------


def test_exact_answer_correct() -> None:
    assert exact_answer_verdict("861", "861") == Verdict(True, 1.0, "ok", "first line: 861 (equal as text)")


def test_exact_answer_strips_surrounding_whitespace() -> None:
    assert exact_answer_verdict("861", "  861 \t").passed


def test_exact_answer_wrong() -> None:
    verdict = exact_answer_verdict("861", "862")
    assert verdict == Verdict(False, 0.0, "ok", "first line: 862 (not equal as text)")


@pytest.mark.parametrize("text", ["", " ", "\n", " \t\r\n  \n"], ids=["empty", "space", "newline", "mixed"])
def test_exact_answer_empty_or_whitespace_is_status_empty(text: str) -> None:
    verdict = exact_answer_verdict("861", text)
    assert verdict.status == "empty"
    assert verdict.passed is False
    assert verdict.score == 0.0


def test_exact_answer_reads_the_first_line_only() -> None:
    assert exact_answer_verdict("861", "861\nsome reasoning 999").passed
    assert not exact_answer_verdict("861", "let me think\n861").passed
    assert exact_answer_verdict("861", "let me think\n861").detail == "first line: let me think (not equal as text)"


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
    # one verification per distinct (problem, answer): the finish reason is applied after the verifier
    assert sum(finished) == len(unique) - 1
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
    import task_helpers  # noqa: F401  (registers test_raises, test_hangs, test_bad_score, test_bad_key)


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
    assert len(list((tmp_path / "run" / "verdicts").glob("[0-9]*.parquet"))) == 2  # the no-op wrote no shard


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


# -- dedup keys ----------------------------------------------------------------------------------------


def _math_problem(pid: str, reference: str, answer_format: str = "auto") -> Problem:
    return Problem(f"math:t:{pid}", "math", f"q {pid}", reference, {"answer_format": answer_format})


def test_math_dedup_key_is_the_extraction() -> None:
    math = get_family("math")
    p = _math_problem("a", "\\frac{3}{4}")
    boxed = [
        "Adding up, we get $\\boxed{\\frac{3}{4}}$.",
        "so \\boxed{ \\frac{3}{4} }",
        "first \\boxed{7}, then on reflection \\boxed{\\frac{3}{4}}",  # one value: the group is not read
    ]
    phrased = ["Thus the answer is $\\frac{3}{4}$.", "**Answer:** \\frac{3}{4}\n\nThat is all."]
    assert len({math.dedup_key(p, t) for t in boxed}) == 1
    assert len({math.dedup_key(p, t) for t in phrased}) == 1
    # an answer that ends the text counts only if the completion was not cut there: another key
    assert math.dedup_key(p, "**Answer:** \\frac{3}{4}") != math.dedup_key(p, phrased[1])
    # the verdict's detail names the rule, so another rule is another key
    assert math.dedup_key(p, boxed[0]) != math.dedup_key(p, phrased[0])
    assert math.dedup_key(p, "") == math.dedup_key(p, " \n\t") == "empty"
    assert math.dedup_key(p, "no idea") == math.dedup_key(p, "I give up.") != math.dedup_key(p, "")
    listed = _math_problem("b", "\\{2, 3\\}")  # a set: the final group of boxes is part of the reading
    assert math.dedup_key(listed, "\\boxed{1} and \\boxed{3}") != math.dedup_key(listed, "\\boxed{2} and \\boxed{3}")
    # spellings of one value are different keys: the verdict's detail quotes the answer as written
    assert math.dedup_key(p, "\\boxed{0.75}") != math.dedup_key(p, "\\boxed{\\frac{3}{4}}")
    assert math.dedup_key(p, "\\boxed{3/4}") != math.dedup_key(p, "\\boxed{3 / 4}")
    # the problem's answer format decides what is extracted, as in verify
    q = _math_problem("b", "4", "last_number")
    assert math.dedup_key(q, "\\boxed{3} but 4") == math.dedup_key(q, "\\boxed{5} but 4")
    assert math.dedup_key(p, "\\boxed{3} but 4") != math.dedup_key(p, "\\boxed{5} but 4")  # auto reads the box


def test_default_dedup_key_follows_the_default_verifier(add_problems: list[Problem]) -> None:
    add, p = get_family("add"), add_problems[0]
    assert add.dedup_key(p, "861\nbecause") == add.dedup_key(p, "  861 \nother reasons") == "answer:861"
    assert add.dedup_key(p, "") == add.dedup_key(p, "\n  ") == "empty"
    assert add.dedup_key(p, "\n861") == "answer:"  # an empty first line is a wrong answer, not "empty"

    class OwnVerifier(TaskFamily):
        def verify(self, problem: Problem, text: str) -> Verdict:
            return exact_answer_verdict(problem.reference, text[::-1])

    assert OwnVerifier().dedup_key(p, "861\nbecause") == "861\nbecause"  # unknown verifier: the whole text


def test_dedup_digest_separates_problems_and_raw_texts(add_problems: list[Problem]) -> None:
    class Constant(TaskFamily):
        def verify(self, problem: Problem, text: str) -> Verdict:
            return Verdict(False, 0.0, "ok")

        def dedup_key(self, problem: Problem, text: str) -> str | None:
            return "x"

    class NoKey(Constant):
        def dedup_key(self, problem: Problem, text: str) -> str | None:
            return None

    class Broken(Constant):
        def dedup_key(self, problem: Problem, text: str) -> str | None:
            raise RuntimeError("bug")

    p, q = add_problems[0], add_problems[1]
    assert dedup_digest(Constant(), p, "a") == dedup_digest(Constant(), p, "b")
    assert dedup_digest(Constant(), p, "a") != dedup_digest(Constant(), q, "a")  # never across problems
    assert dedup_digest(NoKey(), p, "x") != dedup_digest(Constant(), p, "x")  # a raw text is not a key
    assert dedup_digest(NoKey(), p, "a") != dedup_digest(NoKey(), p, "b")
    assert dedup_digest(Broken(), p, "a") == dedup_digest(NoKey(), p, "a")  # a failing key falls back
    lone = "\udcff surrogate"  # texts are stored losslessly, lone surrogates included
    assert dedup_digest(NoKey(), p, lone) != dedup_digest(NoKey(), p, "\udcfe surrogate")


def test_same_answer_in_different_text_is_verified_once_with_the_same_verdict() -> None:
    p = _math_problem("a", "\\frac{1}{2}")
    right = ["So $\\boxed{\\frac{1}{2}}$.", "Hence \\boxed{ \\frac{1}{2} }", "<think>1/3?</think>\\boxed{\\frac{1}{2}}"]
    also_right = ["\\boxed{0.5}", "we get \\boxed{0.5} at last"]
    wrong = ["\\boxed{2}", "First 1/2? No: \\boxed{2}."]
    items = [(p, t, "stop") for t in right + also_right + wrong] + [(p, "", "stop"), (p, "no idea", "stop")]
    finished: list[int] = []
    verdicts = verify_items(items, workers=1, timeout_s=20, progress=finished.append)
    assert sum(finished) == 6  # \frac{1}{2} (whole text, after </think>), 0.5, 2, empty, no answer
    assert verdicts == verify_items(items, workers=1, timeout_s=20, dedup=False)
    assert verdicts[2].passed and verdicts[2].detail == "boxed[last] after </think>: \\frac{1}{2} (equal as text)"
    assert verdicts[0] == verdicts[1] and verdicts[0].passed
    assert verdicts[0].detail == "boxed[last]: \\frac{1}{2} (equal as text)"
    assert len(set(verdicts[3:5])) == 1 and verdicts[3].passed
    assert len(set(verdicts[5:7])) == 1 and not verdicts[5].passed
    assert verdicts[7].status == "empty" and (verdicts[8].status, verdicts[8].passed) == ("ok", False)


def test_different_problems_never_share_a_verdict() -> None:
    p, q = _math_problem("p", "3"), _math_problem("q", "4")
    text = "\\boxed{3}"
    finished: list[int] = []
    verdicts = verify_items([(p, text, "stop"), (q, text, "stop"), (q, "\\boxed{4}", "stop")], 1, 20, finished.append)
    assert sum(finished) == 3
    assert [v.passed for v in verdicts] == [True, False, True]


def test_finish_reason_is_applied_to_each_completion_after_a_shared_verdict() -> None:
    p = _math_problem("a", "3")
    items = [
        (p, "\\boxed{4}", "stop"),
        (p, "so \\boxed{4}", "length"),
        (p, "\\boxed{3}", "length"),
        (p, "and \\boxed{3}", "stop"),
        (p, "", "length"),
    ]
    finished: list[int] = []
    verdicts = verify_items(items, workers=1, timeout_s=20, progress=finished.append)
    assert sum(finished) == 3
    assert [(v.passed, v.status) for v in verdicts] == [
        (False, "ok"),
        (False, "truncated"),
        (True, "ok"),
        (True, "ok"),
        (False, "empty"),
    ]


def test_dedup_changes_no_verdict_on_a_random_mix(add_problems: list[Problem]) -> None:
    rng = random.Random(7)
    maths = [_math_problem(str(i), ref) for i, ref in enumerate(["3", "\\frac{1}{2}", "-12", "\\sqrt{2}"])]
    answers = ["3", "4", "\\frac{1}{2}", "0.5", "1/2", "-12", "\\sqrt{2}", "2^{1/2}", "x", "{", "\\frac{1}{"]
    shapes = ["\\boxed{%s}", "$\\boxed{ %s }$.", "The answer is %s.", "answer: $%s$", "%s", "we try \\boxed{%s"]
    items: list[tuple[Problem, str, str]] = []
    for _ in range(160):
        finish = rng.choice(["stop", "stop", "length"])
        if rng.random() < 0.5:
            p = rng.choice(maths)
            filler = rng.choice(["", "Let me think. ", "Step 1: 2 + 2 = 4.\n"])
            text = filler + rng.choice(shapes) % rng.choice(answers) if rng.random() < 0.9 else rng.choice(["", " "])
        else:
            p = rng.choice(add_problems)
            first = rng.choice([p.reference, p.reference + "1", "", " " + p.reference + " "])
            text = first + rng.choice(["", "\n", "\nbecause 12", "\n" + p.reference])
        items.append((p, text, finish))
    finished: list[int] = []
    with_dedup = verify_items(items, workers=2, timeout_s=20, progress=finished.append)
    assert sum(finished) < len(items)
    assert with_dedup == verify_items(items, workers=2, timeout_s=20, dedup=False)


def test_a_dedup_key_that_raises_falls_back_to_the_text(helpers: None) -> None:
    a, b = _problems("test_bad_key", 2)
    items = [(a, a.reference, "stop"), (a, a.reference + "\nmore", "stop"), (b, "nope", "length")]
    finished: list[int] = []
    verdicts = verify_items(items, workers=1, timeout_s=TIMEOUT_S * 4, progress=finished.append)
    assert sum(finished) == 3
    assert [(v.passed, v.status) for v in verdicts] == [(True, "ok"), (True, "ok"), (False, "truncated")]


def test_texts_are_cut_before_the_key(add_problems: list[Problem]) -> None:
    p = add_problems[0]
    long_a = "x" * VERIFY_CHARS + "a"
    long_b = "x" * VERIFY_CHARS + "b"
    finished: list[int] = []
    verdicts = verify_items([(p, long_a, "stop"), (p, long_b, "stop")], 1, 10, finished.append)
    assert sum(finished) == 1 and verdicts[0] == verdicts[1]


@pytest.mark.parametrize("name", task_names())
def test_equal_dedup_keys_mean_equal_verdicts_for_every_task(name: str) -> None:
    # The dedup_key contract, checked in-process for every built-in task on texts that share keys.
    family = get_family(name)
    problems = make_problems(TaskSpec.parse(offline_spec(name)), 0, 3)
    for p, other in zip(problems, problems[1:] + problems[:1], strict=True):
        ref, other_ref = family.reference_completion(p), family.reference_completion(other)
        texts = [ref, "Some thoughts first.\n" + ref, ref + "\n", " " + ref.strip(), "", "  \n", "nope"]
        texts += [ref + "\nnope", "nope\n" + ref, ref.replace(p.reference, p.reference + "0"), other_ref]
        verdicts: dict[str, Verdict] = {}
        for text in texts:
            key = family.dedup_key(p, text)
            assert key is None or isinstance(key, str)
            if key is not None:
                verdict = family.verify(p, text)
                assert verdicts.setdefault(key, verdict) == verdict, (key, text)
        assert len(verdicts) > 2  # the keys do tell texts apart


# -- extractors that dedup keys run in the evalkit process: as defined, in linear time --------------------


def _boxed_reference(text: str) -> str | None:
    """extract_boxed by its definition: the last box's content if it closes, else None (a cut-off box)."""
    matches = list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))
    if not matches:
        return None
    depth, i = 1, matches[-1].end()
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[matches[-1].end() : i].strip()
        i += 1
    return None


def _random_text(rng: random.Random, pieces: list[str], n: int) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, n)))


def test_extract_boxed_matches_its_definition() -> None:
    rng = random.Random(0)
    pieces = ["\\boxed{", "\\fbox {", "\\boxed", "{", "}", "}", "\\", "\\\\", "a", " ", "\\{", "\\}", "\n"]
    for _ in range(20_000):
        text = _random_text(rng, pieces, 14)
        assert extract_boxed(text) == _boxed_reference(text), text


def test_extract_tagged_answer_matches_the_regex_original() -> None:
    rg = pytest.importorskip("evalkit_tasks.rg", reason="reasoning-gym is not installed")

    def reference(text: str) -> str | None:
        matches = list(re.finditer(r"<answer>(.*?)</answer>", text, re.S))
        tail_start = matches[-1].end() if matches else 0
        unclosed = text.find("<answer>", tail_start)
        if unclosed != -1:
            return text[unclosed + len("<answer>") :].strip()
        return matches[-1].group(1).strip() if matches else None

    rng = random.Random(1)
    pieces = ["<answer>", "</answer>", "<answer></answer>", "<", ">", "/", "answer", " x ", "\n"]
    for _ in range(20_000):
        text = _random_text(rng, pieces, 10)
        assert rg.extract_tagged_answer(text) == reference(text), text


@pytest.mark.parametrize(
    "hostile",
    [
        "\\boxed{" * 14_000,  # unclosed boxes: each used to be scanned to the end of the text
        "answer: . " * 10_000,
        "<answer>" * 12_000,
        "```python\n" + "\n" * 100_000 + "def g(",
    ],
    ids=["boxes", "answer-is", "answer-tags", "blank-lines"],
)
def test_dedup_keys_are_fast_on_hostile_text(hostile: str) -> None:
    rg = pytest.importorskip("evalkit_tasks.rg", reason="reasoning-gym is not installed")
    started = time.monotonic()
    answer_key(hostile)
    rg.extract_tagged_answer(hostile)
    extract_program(hostile, "f")
    assert time.monotonic() - started < 2.0


# -- every verdict records the isolation layers that held ---------------------------------------------------


def test_confined_verdicts_record_the_worker_layers(add_problems: list[Problem]) -> None:
    p = add_problems[0]
    verdicts = verify_items([(p, p.reference, "stop"), (p, "   ", "stop")], workers=1, timeout_s=30)
    for v in verdicts:
        kind, _, layers = v.isolation.partition(":")
        assert kind == "confined" and {"clean-env", "audit-hook"} <= set(layers.split(",")), v


def test_code_verdicts_record_the_sandbox_layers(tmp_path: Path) -> None:
    from evalkit.tasks import unregister_factory
    from evalkit.tasks.taskdir import register_tasks_dir

    row = {"problem_id": "d", "prompt": "Write double(x).", "entry_point": "double", "tests": "assert double(2) == 4\n"}
    (tmp_path / "isolated_code.jsonl").write_text(json.dumps(row) + "\n")
    register_tasks_dir(tmp_path)
    try:
        (p,) = make_problems(TaskSpec.parse("isolated_code"), 0, 1)
    finally:
        unregister_factory("isolated_code")
    (v,) = verify_items([(p, "def double(x):\n    return 2 * x\n", "stop")], workers=1, timeout_s=30)
    kind, _, layers = v.isolation.partition(":")
    assert v.passed and kind == "sandbox" and {"session", "split-tests"} <= set(layers.split(",")), v


def _run_with_isolation(root: Path, isolations: list[str]) -> Path:
    problems = [Problem(f"p{i}", "add", f"{i}+1=", str(i + 1), {}) for i in range(len(isolations))]
    store, _ = RunStore.create_or_resume(root, {"model": "m"}, {"n": 1}, problems)
    store.append_completions(Completion(p.id, 0, p.reference, 1, "stop", 0) for p in problems)
    store.append_verdicts(
        (p.id, 0, Verdict(True, 1.0, "ok", "d", iso)) for p, iso in zip(problems, isolations, strict=True)
    )
    return root


FULL = "confined:clean-env,audit-hook,userns,minimal-root,no-caps,rlimits,seccomp"


def test_summary_warns_when_a_verdict_held_fewer_layers_than_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evalkit.cli import main

    run = _run_with_isolation(tmp_path / "run", [FULL, FULL.replace("userns,", ""), FULL])
    assert main(["summary", str(run)]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 of 3 verdicts ran with fewer isolation layers" in err and "confined userns" in err, err
    assert main(["summary", "--json", str(run)]) == 0
    assert "warning: 1 of 3 verdicts" in capsys.readouterr().err


def test_summary_does_not_warn_when_every_verdict_held_every_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evalkit.cli import main

    run = _run_with_isolation(tmp_path / "run", [FULL, FULL, ""])  # "": not recorded (a timeout, an old run)
    assert main(["summary", str(run)]) == 0
    assert "isolation" not in capsys.readouterr().err


def test_verdict_shards_written_before_isolation_was_recorded_stay_readable(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    run = _run_with_isolation(tmp_path / "run", [FULL, FULL])
    (shard,) = (run / "verdicts").glob("*.parquet")
    pq.write_table(pq.read_table(shard).drop_columns(["isolation"]), shard)  # the format before the column
    verdicts = RunStore.open(run).verdicts()
    assert [(v.passed, v.isolation) for v in verdicts.values()] == [(True, ""), (True, "")]
    assert RunStore.open(run).verdict_table(["problem_id", "isolation"]).column("isolation").null_count == 2
