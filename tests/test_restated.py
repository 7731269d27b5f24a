"""An answer that is the question's own expression left unevaluated is not an answer (math and final-answer
tasks), in evaluation and, through the same verifiers, in the GRPO reward."""

from __future__ import annotations

import time

import pytest

from evalkit.grading.answers import answer_verdict
from evalkit.grading.restated import restates, unevaluated
from evalkit.types import Problem
from evalkit.verify.stage import verify_items

RULE = "restated question"


@pytest.mark.parametrize(
    ("prompt", "reference", "completion"),
    [
        ("What is 17 + 25?", "42", "We need the sum.\n\n**Final Answer**\n\\[\n\\boxed{17 + 25}\n\\]"),
        ("Simplify 6/8.", "\\frac{3}{4}", "Simplifying, the fraction is $\\boxed{\\frac{6}{8}}$."),
        ("Simplify $\\frac{6}{8}$.", "\\frac{3}{4}", "The answer is $\\frac{6}{8}$."),
        ("Compute $2^{10}$.", "1024", "<think>2^10 is big.</think>\n\\boxed{2^{10}}"),
        ("Expand $(x+1)^2$.", "x^2+2x+1", "Expanding gives $\\boxed{(x + 1)^2}$."),
        ("What is $12 \\times 7$?", "84", "So we get \\boxed{12 \\cdot 7}."),
        ("Evaluate $36 \\div 4$.", "9", "The result is \\boxed{36/4}."),
        ("Find $3 - 5$.", "-2", "Subtracting: $\\boxed{3-5}$"),
    ],
)
def test_a_restated_question_fails_naming_the_rule(prompt: str, reference: str, completion: str) -> None:
    verdict = answer_verdict(reference, completion, prompt=prompt)
    assert not verdict.passed and RULE in verdict.detail, verdict.detail
    assert answer_verdict(reference, completion).passed  # the same text, equivalent, without the prompt


@pytest.mark.parametrize(
    ("prompt", "reference", "completion"),
    [
        ("What is 17 + 25?", "42", "17 + 25 = 42, so the answer is $\\boxed{42}$."),
        ("Simplify 6/8.", "\\frac{3}{4}", "Dividing by 2: $\\boxed{\\frac{3}{4}}$."),
        ("A coin shows heads with probability $\\frac{1}{2}$. Find P(heads).", "0.5", "\\boxed{\\frac{1}{2}}"),
        ("Factor $x^2 + 1$ over the reals, or say it is irreducible.", "x^2+1", "\\boxed{x^2 + 1}"),
        ("What is 117 + 25?", "142", "\\boxed{142}"),
        ("The temperature was -5 degrees. What was it?", "-5", "\\boxed{-5}"),
        ("Write 1024 as a power of two.", "2^{10}", "$1024 = \\boxed{2^{10}}$"),
    ],
)
def test_an_answer_is_not_a_restatement(prompt: str, reference: str, completion: str) -> None:
    verdict = answer_verdict(reference, completion, prompt=prompt)
    assert verdict.passed and RULE not in verdict.detail, verdict.detail


def test_unevaluated() -> None:
    assert unevaluated("17 + 25") and unevaluated("6/8") and unevaluated("\\frac{6}{8}") and unevaluated("2^{10}")
    assert not unevaluated("3/4") and not unevaluated("\\frac{3}{4}") and not unevaluated("-5")
    assert not unevaluated("x") and not unevaluated("\\sqrt{2}")
    assert not restates("17+25", "What is 117 + 25?", "142")  # inside a longer number
    assert not restates("17 + 25", "", "42")


def test_the_reward_path_refuses_a_restated_question_too() -> None:
    problem = Problem("math:t:sum", "math", "What is 17 + 25? Put the answer in \\boxed{}.", "42", {})
    items = [
        (problem, "Let me restate: \\boxed{17 + 25}", "stop"),
        (problem, "17 + 25 = 42, so \\boxed{42}", "stop"),
    ]
    restated, right = verify_items(items, workers=1, timeout_s=30.0)
    assert (restated.passed, restated.score) == (False, 0.0) and RULE in restated.detail
    assert (right.passed, right.score) == (True, 1.0)


def test_a_long_answer_is_not_searched_in_the_prompt() -> None:
    answer = "1+" * 50_000 + "1"
    started = time.monotonic()
    assert not restates(answer, "What is " + "1 + " * 20_000 + "1?", "50001")
    assert time.monotonic() - started < 2.0
