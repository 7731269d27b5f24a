"""Text overlap for the contamination audit: the word-boundary cut of a statement and ROUGE-L.

ROUGE-L (Lin 2004, "ROUGE: A Package for Automatic Evaluation of Summaries", ACL workshop) scores a candidate
against a reference by their longest common subsequence (LCS) of tokens: precision ``LCS / len(candidate)``,
recall ``LCS / len(reference)`` and their harmonic mean F1 (the ``rouge-score`` package's ``fmeasure``).
Tokens here are whitespace-separated words, compared exactly (case and punctuation kept): a memorised
statement is reproduced verbatim, so no normalisation is needed to see it, and none can inflate a score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class RougeL:
    """ROUGE-L of a candidate against a reference.

    Attributes:
        lcs: Length of the longest common subsequence, in tokens.
        precision: ``lcs / len(candidate)`` (0 for an empty candidate).
        recall: ``lcs / len(reference)`` (0 for an empty reference).
        f1: ``2 P R / (P + R)`` (0 when both are 0).
    """

    lcs: int
    precision: float
    recall: float
    f1: float


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (dynamic programming, O(len a * len b)
    time, O(len b) memory)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: Sequence[str], reference: Sequence[str]) -> RougeL:
    """ROUGE-L precision, recall and F1 of token sequences (see the module docstring)."""
    lcs = lcs_length(candidate, reference)
    precision = lcs / len(candidate) if candidate else 0.0
    recall = lcs / len(reference) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return RougeL(lcs, precision, recall, f1)


def words(text: str) -> list[str]:
    """The whitespace-separated tokens of ``text``."""
    return text.split()


def word_count(text: str) -> int:
    """How many whitespace-separated words ``text`` has."""
    return len(_WORD.findall(text))


def cut_at_words(text: str, fraction: float) -> tuple[str, str]:
    """Split ``text`` after its first ``fraction * words`` words, rounded half up.

    The prefix ends with the last kept word (no trailing whitespace, so a subword tokenizer sees the prompt as
    it would see the full text); the rest starts with the whitespace that followed it. ``prefix + rest ==
    text`` up to leading whitespace.

    Returns:
        (prefix, rest); either is empty when the cut keeps no word or every word.

    Raises:
        ValueError: when ``fraction`` is not strictly between 0 and 1.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be strictly between 0 and 1 (got {fraction})")
    spans = [m.span() for m in _WORD.finditer(text)]
    keep = int(fraction * len(spans) + 0.5)
    if keep == 0:
        return "", text.strip()
    end = spans[keep - 1][1]
    return text[spans[0][0] : end], text[end:].rstrip()
