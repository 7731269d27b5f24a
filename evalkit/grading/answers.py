"""Final-answer verdicts: read the answer of a completion, compare it with the reference, say which rule decided.

Reading (:mod:`evalkit.grading.extraction`): the reasoning block (``think=strip|keep``), the last ``\\boxed{}``
(an unclosed last box is a cut-off answer, never replaced by an earlier one), "the answer is" spans that
stop at the answer, and, unless ``strict``, the last number. Comparing (:mod:`evalkit.grading.equivalence`):
normal forms, the reference's shape (sets, lists, tuples, intervals), exact numbers with a relative
tolerance only for rounded decimals, choice letters, words, then math-verify.

Several boxes: when the last box alone does not give the reference and the reference is a collection (a set,
a list, a tuple), the final group of boxes (the last box and those joined to it by a short connector with
no retraction, :func:`evalkit.grading.extraction.boxes`) is compared with the reference's elements, e.g. the roots
``x = \\boxed{2}`` and ``x = \\boxed{3}`` for ``\\{2, 3\\}``. A single-valued reference always reads the last
box alone, so a self-correction (``\\boxed{4}`` ... ``\\boxed{5}``) is judged on 5.

The verdict's detail names the extraction rule, the answer, and the comparison rule that decided
(:data:`evalkit.grading.equivalence.COMPARISON_RULES`), e.g. ``boxed[last] after </think>: 72 (equal as
numbers)``, ``boxed[final 2]: 2; 3 (equal as sets)``, ``answer is: 12 (not equal as numbers)``,
``last number: 7 (equal as numbers)``, ``boxed[last]: (1, 2) (not equal as vectors)``, or why there is
none (``no answer: the last \\boxed{} is cut off``), so a surprising verdict can be audited from the report.
Details stored before the comparison was named (no final parenthesis) read the same, with no comparison
(:func:`evalkit.compare.answers.read_detail`).
The finish reason is applied afterwards by :func:`evalkit.verify.with_finish_reason`: a non-passing
completion cut at max tokens is ``truncated``, and a pass read by a rule that a cut-off text cannot use
stands only when the completion ended as that rule needs (``Verdict.requires``): the last number and an
answer phrase that ends the text need a completion not cut at max tokens, an unclosed last box one known
to have stopped. Other cut-off answers show in the text (an unclosed reasoning block, a text ending at
"the answer is"). With the question (``prompt``), an answer that is the question's own expression left
unevaluated (:func:`evalkit.grading.restated.restates`: ``17 + 25`` for "What is 17 + 25?") is not an
answer: detail ``... (restated question: ...)``.
"""

from __future__ import annotations

import json
import logging

from evalkit.grading.equivalence import (
    COMPARISON_RULES,
    Comparison,
    compare,
    elements_compare,
    is_collection,
    math_equivalent,
    normalise,
)
from evalkit.grading.extraction import (
    ANSWER_FORMATS,
    THINK_MODES,
    AnswerFormat,
    Extraction,
    ThinkMode,
    extract,
    extract_answer,
    extract_answer_is,
    extract_boxed,
    extract_last_number,
)
from evalkit.grading.restated import restates
from evalkit.grading.spans import number_from_words, sum_result
from evalkit.types import Problem, Verdict

__all__ = [
    "ANSWER_FORMATS",
    "COMPARISON_RULES",
    "THINK_MODES",
    "AnswerFormat",
    "AnswerVerified",
    "Comparison",
    "Extraction",
    "ThinkMode",
    "answer_key",
    "answer_verdict",
    "check_reading",
    "compare",
    "extract",
    "extract_answer",
    "extract_answer_is",
    "extract_boxed",
    "extract_last_number",
    "math_equivalent",
    "normalise",
    "quiet_math_verify",
]

DETAIL_CHARS = 80  # the most of an answer quoted in a verdict's detail


def check_reading(answer_format: str, think: str, strict: bool) -> None:
    """Validate the reading options of a final-answer task config.

    Raises:
        ValueError: an unknown answer format or think mode, or strict with ``last_number`` (which guesses).
    """
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {answer_format!r}")
    if think not in THINK_MODES:
        raise ValueError(f"think must be one of {', '.join(THINK_MODES)}, got {think!r}")
    if strict and answer_format == "last_number":
        raise ValueError("strict refuses to guess, so it cannot read answer_format=last_number")


def answer_key(
    text: str,
    answer_format: str = "auto",
    think: str = "strip",
    strict: bool = False,
    reference: str | None = None,
    prompt: str = "",
) -> str:
    """Everything :func:`answer_verdict` reads from a completion, as a dedup key (see ``TaskFamily.dedup_key``).

    The extraction exactly as the verdict sees it (answer, rule, region, reason, open end; the final group of boxes
    too unless ``reference`` is given and single-valued, when the verdict never reads it), not normalised,
    because the verdict's detail quotes it. "empty" cannot collide with an extraction. ``prompt`` is the
    question, read as :func:`answer_verdict` reads it.
    """
    if not text.strip():
        return "empty"
    found = extract(text, answer_format, think, strict, prompt)
    group = found.group if reference is None or is_collection(reference) else ()
    return "x:" + json.dumps([found.answer, found.rule, found.region, group, found.reason, found.open_end])


def answer_verdict(
    reference: str,
    text: str,
    answer_format: str = "auto",
    think: str = "strip",
    strict: bool = False,
    prompt: str = "",
) -> Verdict:
    """Verdict of a completion against a reference answer (see the module docstring).

    Args:
        reference: The reference answer (LaTeX or plain text).
        text: The completion.
        answer_format: ``auto``, ``boxed``, ``answer_is`` or ``last_number``.
        think: ``strip`` or ``keep`` the reasoning block.
        strict: Never guess (no last-number fallback).
        prompt: The question; when given, an answer that is the question's own expression left unevaluated
            (:func:`evalkit.grading.restated.restates`) is not an answer, and a last number that restates
            one of its givens gives way to the final sentence's new number
            (:func:`evalkit.grading.extraction.last_new_number`).

    Returns:
        ``passed`` and ``score`` 1 when the answer matches; ``empty`` for a blank completion; a plain
        ``ok`` miss when no answer is found.
    """
    if not text.strip():
        return Verdict(passed=False, score=0.0, status="empty", detail="empty completion")
    found = extract(text, answer_format, think, strict, prompt)
    if found.answer is None:
        return Verdict(passed=False, score=0.0, status="ok", detail=found.describe()[:200])
    detail = found.describe(found.answer[:DETAIL_CHARS])
    if prompt and restates(found.answer, prompt, reference):
        return Verdict(False, 0.0, "ok", f"{detail} (restated question: the question's expression, unevaluated)")
    compared = compare(reference, found.answer)
    stated = number_from_words(found.answer) or sum_result(found.answer) if found.rule == "answer is" else None
    if not compared.equal and stated is not None:
        by_stated = compare(reference, stated)
        if by_stated.equal:
            compared, detail = by_stated, f"{detail} (= {stated})"
    several = len(found.group) >= 2 and is_collection(reference)
    by_elements = elements_compare(reference, list(found.group)) if not compared.equal and several else None
    if by_elements is not None and by_elements.equal:
        compared = by_elements
        joined = "; ".join(found.group)[:DETAIL_CHARS]
        detail = found.describe(joined, f"boxed[final {len(found.group)}]")
    passed = compared.equal
    detail = f"{detail} {compared.describe()}"
    return Verdict(passed=passed, score=float(passed), status="ok", detail=detail, requires=found.requires)


def quiet_math_verify() -> None:
    """Silence math-verify's one-time "timeout is disabled" warning (evalkit enforces the timeout)."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)


class AnswerVerified:
    """Mixin for task families of final-answer problems: reference completion, verdict and dedup key, shared
    by the ``math`` task and ``--tasks-dir`` answer files. Put it before ``TaskFamily`` in the bases.

    ``problem.reference`` is the answer; ``problem.meta`` holds how to read it from a completion:
    ``answer_format`` (default ``auto``), ``think`` (default ``strip``) and ``strict`` (default false).
    Problems stored before ``think`` and ``strict`` existed read with the defaults.
    """

    def reference_completion(self, problem: Problem) -> str:
        return f"The answer is $\\boxed{{{problem.reference}}}$."

    def verify(self, problem: Problem, text: str) -> Verdict:
        return answer_verdict(problem.reference, text, *_reading(problem), prompt=problem.prompt)

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        return answer_key(text, *_reading(problem), reference=problem.reference, prompt=problem.prompt)


def _reading(problem: Problem) -> tuple[str, str, bool]:
    meta = problem.meta
    return str(meta.get("answer_format", "auto")), str(meta.get("think", "strip")), bool(meta.get("strict", False))
