"""Answer extraction (boxed, "the answer is", last number, auto order) and math equivalence."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.grading.answers import (
    answer_verdict,
    compare,
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


# -- reading rules: reasoning blocks, cut-off answers, strict mode, details ---------------------------------


def test_reasoning_block_is_stripped_by_default_and_kept_on_request() -> None:
    text = "<think>Maybe 8+9 gives \\boxed{17}? No, multiply: 8*9 = 72.</think>\nThe answer is 72."
    assert answer_verdict("72", text).detail == "answer is after </think>: 72 (equal as text)"
    assert answer_verdict("72", text).passed and not answer_verdict("17", text).passed
    kept = answer_verdict("17", text, think="keep")
    assert kept.passed and kept.detail == "boxed[last]: 17 (equal as text)"
    assert extract_answer("Maybe \\boxed{17}.</think> So 72") == "72"  # the opening tag may be missing


def test_an_unclosed_reasoning_block_has_no_answer() -> None:
    verdict = answer_verdict("72", "<think>8*9 = 72 so \\boxed{72}")
    assert not verdict.passed and verdict.detail == "no answer: the reasoning block never closed"
    assert extract_answer("<think>8*9 = 72 so \\boxed{72}", think="keep") == "72"


def test_a_cut_off_last_box_is_never_replaced_by_an_earlier_one() -> None:
    text = "First guess: \\boxed{5}. Hmm, wrong rule; redoing it, the result is \\boxed{\\frac{7}{"
    verdict = answer_verdict("5", text)
    assert not verdict.passed and verdict.detail == "no answer: the last \\boxed{} is cut off"
    text = "First guess: \\boxed{5}. Hmm, wrong rule; redoing it, the result is \\boxed{7"
    verdict = answer_verdict("5", text)  # only the last box's closing brace is missing: it is read, as 7
    assert not verdict.passed and verdict.detail == "boxed[unclosed]: 7 (not equal as numbers)"
    assert extract_answer("The answer is 3. Recomputing, the answer is") is None


def test_strict_mode_never_guesses() -> None:
    assert answer_verdict("12", "so we get 12").passed
    strict = answer_verdict("12", "so we get 12", strict=True)
    assert not strict.passed and strict.detail == "no answer: no box or answer phrase found"
    assert answer_verdict("12", "\\boxed{12}", strict=True).passed
    assert answer_verdict("12", "Answer: 12", strict=True).passed


def test_the_detail_names_the_rule() -> None:
    thought = answer_verdict("72", "<think>x</think>\\boxed{72}")
    assert thought.detail == "boxed[last] after </think>: 72 (equal as text)"
    assert answer_verdict("2, 3", "$x=\\boxed{2}$ and $x=\\boxed{3}$").detail == "boxed[final 2]: 2; 3 (equal as sets)"
    assert answer_verdict("7", "we get 7").detail == "last number: 7 (equal as text)"
    assert answer_verdict("7", "The answer is 7, clearly.").detail == "answer is: 7 (equal as text)"


def test_reading_options_are_checked() -> None:
    from evalkit.grading.answers import check_reading

    check_reading("auto", "keep", True)
    for bad, match in [
        (("auto", "drop", False), "think must be one of strip, keep"),
        (("first", "strip", False), "answer_format must be one of"),
        (("last_number", "strip", True), "strict refuses to guess"),
    ]:
        with pytest.raises(ValueError, match=match):
            check_reading(*bad)
    with pytest.raises(ValueError, match="think must be one of"):
        extract_answer("1", think="drop")


def test_task_configs_carry_the_reading_into_the_problems() -> None:
    from evalkit.errors import EvalkitError
    from evalkit.tasks import TaskSpec, get_family, make_problems

    problems = make_problems(TaskSpec.parse("math@think=keep,strict=true"), 0, 2)
    assert all(p.meta["think"] == "keep" and p.meta["strict"] is True for p in problems)
    default = make_problems(TaskSpec.parse("math"), 0, 1)[0]
    assert (default.meta["think"], default.meta["strict"]) == ("strip", False)
    math = get_family("math")
    verdict = math.verify(problems[0], f"so {problems[0].reference}")
    assert not verdict.passed and verdict.detail == "no answer: no box or answer phrase found"
    with pytest.raises(EvalkitError, match="think must be one of"):
        TaskSpec.parse("math@think=maybe")
    with pytest.raises(EvalkitError, match="strict refuses to guess"):
        TaskSpec.parse("math@strict=true,answer_format=last_number")


def test_user_answer_files_read_the_same_way(tmp_path: Path) -> None:
    from evalkit.tasks.taskdir import AnswerFileTask

    path = tmp_path / "quiz.jsonl"
    path.write_text('{"problem_id": "a", "prompt": "8*9?", "answer": "72"}\n')
    task = AnswerFileTask(path, "quiz")
    (strip,) = task.load(task.Config())
    (keep,) = task.load(task.Config(think="keep", strict=True))
    text = "<think>\\boxed{17}</think> so 72"
    assert task.verify(strip, text).passed
    assert not task.verify(keep, text).passed  # keep reads the box; strict would not take the number anyway
    assert task.dedup_key(strip, text) != task.dedup_key(keep, text)


def test_reasoning_gym_answer_tags_follow_the_reasoning_rule() -> None:
    rg = pytest.importorskip("evalkit_tasks.rg", reason="reasoning-gym is not installed")
    assert rg.read_answer("<think><answer>17</answer>? no</think>\n<answer>72</answer>") == (
        "72",
        "<answer>[last] after </think>: 72",
    )
    assert rg.read_answer("<answer>17</answer>? no</think> <answer>72</answer>")[0] == "72"  # no opening tag
    assert rg.read_answer("<think>maybe <answer>17</answer>") == (
        None,
        "no <answer> block: the reasoning block never closed",
    )
    assert rg.read_answer("<answer>5</answer> redo: <answer>7") == ("7", "<answer>[last]: 7")


@pytest.mark.parametrize(
    ("reference", "text", "compared"),
    [
        ("72", "\\boxed{72}", "(equal as text)"),
        ("0.5", "\\boxed{\\frac{1}{2}}", "(equal as numbers)"),
        ("1234.5", "\\boxed{-\\$1,234.50}", "(not equal as numbers)"),
        (
            "\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}",
            "\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}",
            "(not equal as matrices)",
        ),
        ("\\begin{pmatrix} 1/3 \\\\ 2 \\end{pmatrix}", "\\boxed{\\left(\\frac{1}{3}, 2\\right)}", "(equal as vectors)"),
        ("\\{1, 2\\}", "\\boxed{2, 1}", "(equal as sets)"),
        ("(1, 2)", "\\boxed{(2, 1)}", "(not equal as tuples)"),
        ("[1, 3)", "\\boxed{[1, 3]}", "(not equal as intervals)"),
        ("B", "\\boxed{(B)}", "(equal as choice letters)"),
        ("12:00", "\\boxed{1:00}", "(not equal as times)"),
        ("Monday", "\\boxed{monday}", "(equal as words)"),
        ("2\\sqrt{3}", "\\boxed{\\sqrt{12}}", "(equal as numeric values)"),
        ("x^2 - 1", "\\boxed{(x-1)(x+1)}", "(equal as symbolic)"),
        ("\\frac{3}{0}", "\\boxed{\\frac{7}{0}}", "(not equal: division by zero)"),
        ("2, 3", "$x=\\boxed{2}$ and $x=\\boxed{3}$", "(equal as sets)"),
    ],
)
def test_every_detail_names_the_comparison_that_decided(reference: str, text: str, compared: str) -> None:
    """The detail ends with the comparison rule (``evalkit.grading.equivalence.COMPARISON_RULES``) and the
    verdict it gave, so a verdict can be audited from the stored detail alone."""
    verdict = answer_verdict(reference, text)
    assert verdict.detail.endswith(f" {compared}"), verdict.detail
    assert verdict.passed == compared.startswith("(equal"), verdict.detail
    answer = extract_answer(text) or ""
    assert compare(reference, answer).equal == math_equivalent(reference, answer)


def test_an_escaped_dollar_inside_a_math_span_is_a_currency_sign() -> None:
    """Minerva's "The final answer is $\\$3.25$." was read as a lone backslash: the span ended at ``\\$``."""
    text = "Final Answer: The final answer is $\\$3.25$. I hope it is correct."
    assert extract_answer(text) == "\\$3.25"
    assert answer_verdict("3.25\\text{ dollars}", text).passed
    assert not answer_verdict("3.5", text).passed
    assert extract_answer("The answer is $x$ or $y$.") == "x"  # an unescaped $ still ends the span
