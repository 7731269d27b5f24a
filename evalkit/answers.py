"""Final-answer extraction from model output, and math equivalence of two answers.

Extraction (pure string work, no dependencies):

- ``boxed``: the content of the *last* ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced, so
  ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``. An unclosed last box (a completion cut at max tokens)
  counts as no box.
- ``answer_is``: what follows the last "answer is" / "answer:" phrase (case-insensitive, e.g. "The final
  answer is $\\frac{1}{2}$."), up to the end of its sentence (a period followed by a space) or line,
  without surrounding ``$``, ``**`` or a final period; a ``\\boxed{}`` right after the phrase gives its content.
- ``last_number``: the last number in the text (integers, decimals, simple fractions ``3/4``, a leading
  minus; thousands separators ``1,234`` are dropped).
- ``auto``: the first of boxed, answer_is, last_number that finds something.

:func:`math_equivalent` compares a gold answer with an extracted one: equal strings (after trimming) match;
otherwise both are parsed with ``math_verify`` and compared with its ``verify`` (0.5 == \\frac{1}{2}, sets,
intervals, sqrt...). math-verify's own timeouts use ``signal.alarm``, which fails off the main thread and
cannot interrupt C code, so they are switched off (``parsing_timeout=None``, ``timeout_seconds=None``):
evalkit runs verifiers in worker processes that the pool SIGKILLs at ``--verify-timeout``, which is what
ends ``5^{5^{5^{5^5}}}``.
"""

from __future__ import annotations

import logging
import re
from typing import Literal, get_args

from evalkit.types import Problem, Verdict

AnswerFormat = Literal["auto", "boxed", "answer_is", "last_number"]
ANSWER_FORMATS: tuple[str, ...] = get_args(AnswerFormat)

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS_RE = re.compile(r"answer\s*(?:is|:)\s*:?\s*", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"\.(?:\s|$)")
# -1,234.5 | 3/4 | .5 ; the thousands group needs exactly three digits so "1,2,3" stays three numbers
_NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|(?<![\w.])-?\.\d+")


def extract_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` (braces balanced), stripped; None if there is none."""
    # Boxes are tried from the last one back. A box that has not closed by the start of the next box cannot
    # close at all: the next box's "{" raises its depth to 2 or more, and from there both scans see the same
    # characters, which never brought the (failed) next box from 1 to 0. So each scan stops at the next box,
    # and the whole search is linear in the text (it runs in the evalkit process, as a dedup key, too).
    limit = len(text)
    for match in reversed(list(_BOX_RE.finditer(text))):
        depth, i = 1, match.end()
        while i < limit:
            ch = text[i]
            if ch == "\\":  # skip escaped characters such as \{ and \}
                i += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[match.end() : i].strip()
            i += 1
        limit = match.start()
    return None


def extract_answer_is(text: str) -> str | None:
    """What follows the last "answer is" / "answer:" on its line, cleaned; None if absent or empty."""
    matches = list(_ANSWER_IS_RE.finditer(text))
    for match in reversed(matches):
        line_end = text.find("\n", match.end())  # not text[match.end():]: no copy of the rest per match
        rest = text[match.end() : line_end if line_end >= 0 else len(text)].strip().lstrip("*").strip()
        if _BOX_RE.match(rest.lstrip("$").lstrip()):
            boxed = extract_boxed(rest)
            if boxed is not None:
                return boxed
        rest = _SENTENCE_END_RE.split(rest, maxsplit=1)[0]  # "5. Hence ..." -> "5"; "3.5" stays
        rest = rest.strip("*").strip().rstrip(".").strip()
        if len(rest) >= 2 and rest[0] == "$" and rest[-1] == "$":
            rest = rest.strip("$").strip()
        elif rest.startswith("\\(") and rest.endswith("\\)"):
            rest = rest[2:-2].strip()
        if rest:
            return rest
    return None


def extract_last_number(text: str) -> str | None:
    """The last number in the text (thousands separators removed); None if there is none."""
    matches = _NUMBER_RE.findall(text)
    return matches[-1].replace(",", "") if matches else None


_EXTRACTORS = {"boxed": extract_boxed, "answer_is": extract_answer_is, "last_number": extract_last_number}


def extract_answer(text: str, answer_format: str = "auto") -> str | None:
    """The final answer of a completion by ``answer_format`` (see the module docstring); None if none.

    Raises:
        ValueError: unknown ``answer_format``.
    """
    if answer_format == "auto":
        order = ["boxed", "answer_is", "last_number"]
    elif answer_format in _EXTRACTORS:
        order = [answer_format]
    else:
        raise ValueError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {answer_format!r}")
    for name in order:
        found = _EXTRACTORS[name](text)
        if found is not None and found.strip():
            return found.strip()
    return None


def answer_key(text: str, answer_format: str = "auto") -> str:
    """Everything :func:`answer_verdict` reads from a completion, as a dedup key (see ``TaskFamily.dedup_key``).

    The extracted answer exactly as the verdict sees it: not whitespace-collapsed or otherwise normalised,
    because the comparison with the reference starts with string equality and the verdict's detail
    quotes the answer, so two spellings may differ in the verdict. "empty" and "none" (no answer found)
    cannot collide with an answer, which is prefixed.
    """
    if not text.strip():
        return "empty"
    answer = extract_answer(text, answer_format)
    return "none" if answer is None else "answer:" + answer


def _normalise(answer: str) -> str:
    answer = answer.strip()
    if len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$":
        answer = answer.strip("$").strip()
    return answer


def math_equivalent(gold: str, answer: str) -> bool:
    """Whether ``answer`` equals ``gold`` as a string or, parsed by math-verify, as a mathematical object.

    No timeout inside: call it where a hang can be killed from outside (evalkit's verifier pool).
    """
    gold, answer = _normalise(gold), _normalise(answer)
    if not answer:
        return False
    if gold == answer:
        return True
    from math_verify import parse, verify  # imported at the top of the family modules that use it

    # Wrapped in $...$ so that math-verify reads the whole string as one LaTeX expression.
    gold_parsed = parse(f"${gold}$", parsing_timeout=None)
    answer_parsed = parse(f"${answer}$", parsing_timeout=None)
    if not gold_parsed or not answer_parsed:
        return False
    return bool(verify(gold_parsed, answer_parsed, timeout_seconds=None))


def answer_verdict(reference: str, text: str, answer_format: str = "auto") -> Verdict:
    """Verdict of a completion against a reference answer: extract (``answer_format``), then compare.

    ``passed`` and ``score`` are 1 when :func:`math_equivalent` holds; no answer found is a plain miss.
    """
    if not text.strip():
        return Verdict(passed=False, score=0.0, status="empty", detail="empty completion")
    answer = extract_answer(text, answer_format)
    if answer is None:
        return Verdict(passed=False, score=0.0, status="ok", detail=f"no answer found ({answer_format})")
    passed = math_equivalent(reference, answer)
    return Verdict(passed=passed, score=float(passed), status="ok", detail=answer[:80])


def quiet_math_verify() -> None:
    """Silence math-verify's one-time "timeout is disabled" warning (evalkit enforces the timeout)."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)


class AnswerVerified:
    """Mixin for task families of final-answer problems (``problem.reference`` is the answer and
    ``problem.meta["answer_format"]`` how to read it from a completion): reference completion, verdict and
    dedup key, shared by the ``math`` task and ``--tasks-dir`` answer files. Put it before ``TaskFamily``
    in the bases."""

    def reference_completion(self, problem: Problem) -> str:
        return f"The answer is $\\boxed{{{problem.reference}}}$."

    def verify(self, problem: Problem, text: str) -> Verdict:
        return answer_verdict(problem.reference, text, str(problem.meta.get("answer_format", "auto")))

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        return answer_key(text, str(problem.meta.get("answer_format", "auto")))
