"""Reading the final answer: numbered steps after an answer phrase, times, signed money, unclosed last boxes,
looping text, and how the finish reason decides whether a fallback reading counts."""

from __future__ import annotations

import time

import pytest

from evalkit.grading.answers import answer_verdict
from evalkit.grading.extraction import extract, extract_last_number, loop, unclosed_box
from evalkit.types import Verdict
from evalkit.verify.stage import with_finish_reason


def judged(reference: str, text: str, finish: str = "stop") -> Verdict:
    return with_finish_reason(answer_verdict(reference, text), finish)


@pytest.mark.parametrize(
    "text",
    [
        "Let's verify the steps and the final answer:\n\n1. **Identify the numbers** 17 and 25.",
        "Now we check the answer:\n1) Compute the sum of 4 and 5.",
        "Let us find the answer:\n\n- Step one: add 3 and 4.",
        "To get the final answer:\nStep 1: multiply 6 by 2.",
    ],
)
def test_a_list_of_steps_after_an_answer_phrase_is_not_the_answer(text: str) -> None:
    found = extract(text)
    assert found.rule != "answer is", found
    assert found.answer != "1"


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("The meeting is at 11:00.", "11:00"),
        ("She leaves at 7:45 and arrives at 9:05.", "9:05"),
        ("The ratio is 3:4", "3:4"),
        ("The loss is -$1,234.50.", "-1234.50"),
        ("She owes $-5 now", "-5"),
        ("It costs \\$12.", "12"),
        ("The count is 11,\\!111,\\!111,\\!100 in all", "11111111100"),
        ("The sum is 1\\,234", "1234"),
        ("The numbers are 1, 2, 3", "3"),
        ("Step 2: 45", "45"),
        ("1. **Add** the parts\n2. **Check** them", None),
    ],
)
def test_last_number(text: str, number: str | None) -> None:
    assert extract_last_number(text) == number


def test_a_time_is_one_answer_not_its_minutes() -> None:
    assert judged("11:00", "The meeting is at 11:00.").passed
    assert not judged("00", "The meeting is at 11:00.").passed
    assert not judged("0", "The meeting is at 11:00.").passed


@pytest.mark.parametrize(
    ("reference", "text", "passed"),
    [
        ("-1234.5", "The loss is -$1,234.50.", True),
        ("1234.50", "The loss is -$1,234.50.", False),
        ("-1234.5", "The answer is -$1,234.50.", True),
        ("1234.5", "The answer is -$1,234.50.", False),
        ("-5", "So she has $-5.", True),
        ("5", "So she has $-5.", False),
    ],
)
def test_money_keeps_its_sign_when_read_from_text(reference: str, text: str, passed: bool) -> None:
    assert judged(reference, text).passed is passed


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("so the total is \\boxed{12", "12"),
        ("so \\boxed{\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("\\boxed{x + 1 \n", "x + 1"),
        ("\\boxed{\\frac{24}{", None),  # cut inside its content
        ("\\boxed{", None),
        ("\\boxed{12\n\nNow check the other case", None),  # not at the end of the text
        ("no box at all", None),
    ],
)
def test_unclosed_box(text: str, content: str | None) -> None:
    assert unclosed_box(text) == content


@pytest.mark.parametrize("text", ["so the answer is \\boxed{12", "Thus $\\boxed{12$", "\\boxed{12"])
def test_an_unclosed_last_box_counts_only_when_the_completion_stopped(text: str) -> None:
    stopped = judged("12", text, "stop")
    assert stopped.passed and "boxed[unclosed]" in stopped.detail
    cut = judged("12", text, "length")
    assert (cut.passed, cut.status) == (False, "truncated")
    assert "cut at max tokens" in cut.detail
    unknown = judged("12", text, "unknown")
    assert (unknown.passed, unknown.status) == (False, "ok")
    assert "not known to have stopped" in unknown.detail


QUESTION = "What is 17 + 25? Put your final answer within \\boxed{}. "


@pytest.mark.parametrize(
    "text",
    [
        "We need 17 + 25. " + "What is 17 + 25? Give the final result. " * 40,
        "Let me think.\n" + "Question: what is the sum of 17 and 25?\n" * 25,
        "17 + 25 = " + "17 + 25 = " * 60,
        "First 25 then " + "and then again 25 " * 50,
    ],
)
def test_a_looping_completion_never_passes_by_its_last_number(text: str) -> None:
    for finish in ("stop", "length", "unknown"):
        verdict = judged("25", text, finish)
        assert not verdict.passed
    assert "loops" in answer_verdict("25", text).detail


@pytest.mark.parametrize(
    "text",
    [
        "The answer is 42. " * 30,
        "17 + 25 = 42, so the final answer is \\boxed{42}.\n" * 20,
        "Therefore, **Answer:** 42\n" * 15,
    ],
)
def test_an_answer_stated_then_repeated_is_that_answer(text: str) -> None:
    assert judged("42", text).passed
    assert not judged("17", text).passed


def test_loop_detector() -> None:
    assert loop("a b c " * 10) == (3, 9)
    assert loop("The sum of 17 and 25 is 42 because 17 plus 25 makes 42.") is None
    assert loop("x " * 2) is None
    text = " ".join(f"step {i}: add {i} to the total" for i in range(50)) + " hmm hmm hmm"
    assert loop(text) is None  # a short repetition at the end of a long text is not most of it


@pytest.mark.parametrize(
    ("text", "finish", "passed", "status"),
    [
        ("We add them: 17 + 25 = 42", "stop", True, "ok"),
        ("We add them: 17 + 25 = 42", "unknown", True, "ok"),  # nothing says it was cut
        ("We add them: 17 + 25 = 42", "length", False, "truncated"),  # the last number of a cut text
        ("The answer is 42.\nLet me double check: 17 + 25 = 42", "length", True, "ok"),  # stated answer
        ("\\boxed{42}\nVerification: 17 + 25 = 4", "length", True, "ok"),
        ("We add them: 17 + 25 = 41", "stop", False, "ok"),
    ],
)
def test_the_last_number_never_passes_a_cut_text(text: str, finish: str, passed: bool, status: str) -> None:
    verdict = judged("42", text, finish)
    assert (verdict.passed, verdict.status) == (passed, status), verdict.detail


def test_requires_is_not_part_of_equality_and_not_stored() -> None:
    assert Verdict(True, 1.0, "ok", "x", "stop") == Verdict(True, 1.0, "ok", "x")


@pytest.mark.parametrize(
    "text",
    [
        "x " * 50_000,
        "step " + " ".join(str(i % 7) for i in range(20_000)) + " a" * 3_000,  # periodic tail, not most of it
        " ".join(str(i) for i in range(20_000)),
        "\\boxed{" + "{" * 50_000,
    ],
    ids=["one-word", "partial-loop", "no-loop", "open-braces"],
)
def test_reading_stays_fast_on_long_text(text: str) -> None:
    started = time.monotonic()
    extract(text)
    loop(text)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("text", "open_end"),
    [
        ("Answer: 9", True),
        ("So the answer is 91", True),
        ("**Answer:** 12", True),
        ("Final answer:\n\n42", True),
        ("Answer: 9.", False),
        ("The answer is $42$", False),
        ("The answer is 12 apples in total.", False),
        ("The answer is 3.\nLet me double check: 1+2 = 3", False),
        ("Final answer:\n\n42\n\nDone.", False),
    ],
)
def test_an_answer_phrase_that_ends_the_text_counts_only_if_not_cut(text: str, open_end: bool) -> None:
    found = extract(text)
    assert found.open_end is open_end
    assert judged(found.answer or "", text, "stop").passed
    assert judged(found.answer or "", text, "unknown").passed
    cut = judged(found.answer or "", text, "length")
    assert (cut.passed, cut.status) == ((False, "truncated") if open_end else (True, "ok")), cut.detail


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("So the total is\n42. That is the answer.", "42"),  # one numbered line is not a list
        ("Steps:\n1. Add the parts\n2. Check them", None),
        ("Now:\n1. **Identify** the numbers", None),
        ("We get 17 and 25.\n1. Add them\n2. Double check", "25"),
    ],
)
def test_item_markers(text: str, number: str | None) -> None:
    assert extract_last_number(text) == number
