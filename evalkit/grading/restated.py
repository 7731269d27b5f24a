"""Restated questions: an answer that is the question's own expression left unevaluated is not an answer.

``\\boxed{17 + 25}`` for "What is 17 + 25?", ``\\boxed{\\frac{6}{8}}`` for "Simplify 6/8": equivalent to the
reference, so the comparison of :mod:`evalkit.grading.equivalence` would pass them, but they only copy the
question. Used by the final-answer verdicts (:mod:`evalkit.grading.answers`) and by reasoning-gym datasets
whose scorers read sympy.
"""

from __future__ import annotations

import math
import re

from evalkit.grading.equivalence import normalise

RESTATED_CHARS = 300  # longer answers are not looked for in the prompt (a copied expression is short)

_FRAC_TOKEN_RE = re.compile(r"\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}|\\frac\s*(\d)\s*(\d)")
_OPERATION_RE = re.compile(r"\\(?:times|cdot|div)(?![A-Za-z])|[*^]|(?<=[\w})\]!.])\s*[-+/]")
_LOWEST_TERMS_RE = re.compile(r"^[-+]?\(?(\d+)\)?/\(?(\d+)\)?$")


def _canonical(s: str) -> str:
    """Operators written one way: ``\\frac{a}{b}`` as ``(a)/(b)``, ``\\times`` ``\\cdot`` as ``*``, ``\\div``
    as ``/``, ``x^{2}`` as ``x^2``; spaces kept (so that a prompt keeps its word boundaries)."""
    for _ in range(3):  # nested fractions
        s = _FRAC_TOKEN_RE.sub(lambda m: f"({m.group(1) or m.group(3)})/({m.group(2) or m.group(4)})", s)
    s = re.sub(r"\\(?:times|cdot)(?![A-Za-z])|×|·", "*", s)
    s = re.sub(r"\\div(?![A-Za-z])|÷", "/", s)
    s = re.sub(r"\^\{([^{}]*)\}", r"^\1", s)
    return re.sub(r"\((\w+)\)", r"\1", s)  # (6)/(8) -> 6/8


def unevaluated(answer: str) -> bool:
    """Whether a normalised answer still holds an operation to carry out: ``+ - * / ^``, ``\\times``,
    ``\\cdot``, ``\\div`` between operands, or a fraction of integers not in lowest terms (``6/8``). A leading
    minus is a sign, and a fraction of integers in lowest terms (``3/4``) is a number."""
    c = _canonical(answer).replace(" ", "")
    m = _LOWEST_TERMS_RE.match(c)
    if m:
        num, den = int(m.group(1)), int(m.group(2))
        return den != 0 and math.gcd(num, den) != 1
    return _OPERATION_RE.search(c) is not None


def restates(answer: str, prompt: str, reference: str) -> bool:
    """Whether ``answer`` is the question's own expression left unevaluated, so not an answer.

    True when the answer (normalised) holds an operation (:func:`unevaluated`), differs in text from the
    reference (a reference written that way is the answer), and appears verbatim in the prompt, both read
    with operators written one way (``\\frac{6}{8}`` is ``6/8``) and spaces ignored, not inside a longer
    number or word: ``17 + 25`` for "What is 17 + 25?", ``\\frac{6}{8}`` for "Simplify 6/8".
    """
    a, g = normalise(answer), normalise(reference)
    if not a or not prompt or a == g or not unevaluated(a):
        return False
    compact = _canonical(a).replace(" ", "")
    if not 3 <= len(compact) <= RESTATED_CHARS or compact == _canonical(g).replace(" ", ""):
        return False
    pattern = r"\s*".join(re.escape(ch) for ch in compact)
    text = _canonical(" ".join(normalise(prompt).split()))
    return re.search(rf"(?<![\w.]){pattern}(?![\w.])", text) is not None
