"""Answer extraction (boxed, "the answer is", last number, auto order) and math equivalence."""

from __future__ import annotations

import pytest

from evalkit.answers import (
    answer_verdict,
    extract_answer,
    extract_answer_is,
    extract_boxed,
    extract_last_number,
    math_equivalent,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("nested \\boxed{\\frac{\\sqrt{2}}{2}} done", "\\frac{\\sqrt{2}}{2}"),
        ("sets \\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),  # escaped braces do not count
        ("first \\boxed{1}, then \\boxed{2}", "2"),  # the last one wins
        ("\\boxed{3} and an unclosed \\boxed{4", None),  # a cut-off last box: no answer, never the earlier box
        ("\\fbox{7}", "7"),
        ("\\boxed { 5 }", "5"),
        ("no box here: 5", None),
        ("", None),
    ],
)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 42.", "42"),
        ("so the final answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("Answer: 7", "7"),
        ("**Answer:** 9", "9"),
        ("The answer is \\boxed{12}.", "12"),
        ("the answer is 1.\nWait, the answer is 2.\nmore text", "2"),
        ("I am not sure what the answer is", None),
        ("nothing", None),
    ],
)
def test_extract_answer_is(text: str, expected: str | None) -> None:
    assert extract_answer_is(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 apples and 4 pears", "4"),
        ("total: 1,234,567 people", "1234567"),
        ("x = -12.5", "-12.5"),
        ("ratio 3/4", "3/4"),
        ("v2 of the model says 7.", "7"),  # digits glued to letters are not numbers
        ("list 1,2,3", "3"),
        ("no digits", None),
        ("", None),
    ],
)
def test_extract_last_number(text: str, expected: str | None) -> None:
    assert extract_last_number(text) == expected


def test_auto_order_and_explicit_formats() -> None:
    text = "I think 3. The answer is 5. Hence \\boxed{7}. Later 9"
    assert extract_answer(text) == "7"
    assert extract_answer(text, "boxed") == "7"
    assert extract_answer(text, "answer_is") == "5"
    assert extract_answer(text, "last_number") == "9"
    assert extract_answer("The answer is 5. Later 9") == "5"
    assert extract_answer("The answer is 3.5") == "3.5"
    assert extract_answer("only 3 and 9") == "9"


def test_no_answer_is_none() -> None:
    for fmt in ("auto", "boxed", "answer_is", "last_number"):
        assert extract_answer("", fmt) is None
        assert extract_answer("no idea", fmt) is None
    assert extract_answer("\\boxed{}") is None  # an empty box is no answer


def test_unknown_format_raises() -> None:
    with pytest.raises(ValueError, match="answer_format must be one of"):
        extract_answer("1", "first_line")


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("\\frac{1}{2}", "0.5"),
        ("0.5", "\\frac{1}{2}"),
        ("1/2", "\\frac12"),
        ("\\frac{3}{4}", "3/4"),
        ("2\\sqrt{3}", "\\sqrt{12}"),
        ("\\{2, 3\\}", "\\{3, 2\\}"),
        ("(2, \\infty)", "(2,\\infty)"),
        ("-\\frac{1}{2}", "-0.5"),
        ("12", "12.0"),
        ("9\\pi", "9 \\pi"),
        ("42", "$42$"),
    ],
)
def test_math_equivalent(gold: str, answer: str) -> None:
    assert math_equivalent(gold, answer)


@pytest.mark.parametrize(
    ("gold", "answer"),
    [("\\frac{1}{2}", "0.51"), ("(1, 3]", "[1, 3]"), ("\\{2, 3\\}", "\\{2\\}"), ("9\\pi", "28.27"), ("5", "")],
)
def test_math_not_equivalent(gold: str, answer: str) -> None:
    assert not math_equivalent(gold, answer)


def test_answer_verdict() -> None:
    assert answer_verdict("\\frac{1}{2}", "so \\boxed{0.5}").passed
    miss = answer_verdict("3", "I do not know")
    assert not miss.passed and miss.status == "ok" and "no answer" in miss.detail
    empty = answer_verdict("3", "  \n")
    assert empty.status == "empty" and not empty.passed
