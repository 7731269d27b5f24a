"""What an answer phrase's span says: a number written in words, the result of a worked sum.

Used by :func:`evalkit.grading.extraction.answer_span` on the text after "the answer is":

- **Number words** (:func:`number_from_words`): a span that *is* an English number, with at most a unit
  or noun after it ("fifty-two", "two hundred ninety-four dollars", "One hundred and eighty", "nine."),
  reads as its digits. Whole numbers from zero to the millions; "and" and hyphens allowed. A span with
  any other word before the number ("twice fifty") is left as it is.
- **A quantity in two units** (:func:`two_units`): "4 hours and 30 minutes" is one answer, not 4.
- **A worked sum** (:func:`sum_result`, :func:`sum_span`): a span that is arithmetic on numbers followed by ``= n``
  ("$2200 - $1980 = $220", "76,000 + 53,200 = 129,200", "35+28+14=77") reads as ``n``, the result the
  text states. A left side with a letter (``x = 5``, ``3 + 2x = 21``) is not a worked sum.

Pure string work; the caller decides where a span starts and stops.
"""

from __future__ import annotations

import re

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"  # noqa: SIM905
    " seventeen eighteen nineteen".split()
)
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000}
_WORD_RE = re.compile(r"[a-z]+")
# arithmetic on numbers (currency signs, thousands commas, spaces, + - * / x × ÷ \\times \\cdot \\div), then = n
_SUM_RE = re.compile(
    r"^(?:\\?\$?\s*[\d.,]+\s*(?:[-+*/×÷x]|\\times|\\cdot|\\div)\s*)+\\?\$?\s*[\d.,]+\s*=\s*\\?\$?\s*(-?[\d,]*\.?\d+)"
)


_TWO_UNITS_RE = re.compile(r"\s*[A-Za-z]+\s+and\s+\d+(?:\.\d+)?\s+[A-Za-z]+")


def number_from_words(span: str) -> str | None:
    """The digits of a span that is an English whole number, optionally followed by one or two words (a
    unit or noun: "dollars", "feet", "people"); None otherwise."""
    words = _WORD_RE.findall(span.lower().replace("-", " "))
    if not words or (words[0] not in _UNITS and words[0] not in _TENS):
        return None
    total, current, used = 0, 0, 0
    for word in words:
        if word in _UNITS:
            current += _UNITS.index(word)
        elif word in _TENS:
            current += 20 + 10 * _TENS.index(word)
        elif word == "hundred":
            current *= 100
        elif word in _SCALES:
            total, current = total + current * _SCALES[word], 0
        elif word != "and":
            break
        used += 1
    rest = words[used:]
    if len(rest) > 2 or re.search(r"\d", span):
        return None
    return str(total + current)


def sum_result(span: str) -> str | None:
    """``n`` for a span that is arithmetic on numbers ending in ``= n``; None otherwise."""
    match = _SUM_RE.match(span.strip())
    return match.group(1).replace(",", "") if match else None


def sum_span(text: str) -> str | None:
    """The worked sum at the start of ``text`` (``$180 + $300 = $480`` of "$180 + $300 = $480. So ..."), whose
    currency signs must not be read as math delimiters; None when ``text`` does not start with one."""
    match = _SUM_RE.match(text.strip())
    return match.group(0) if match else None


def two_units(text: str) -> bool:
    """Whether ``text``, the rest of a span after its number, goes on as a quantity in two units: "hours and
    30 minutes" after the 4 of "4 hours and 30 minutes" (one answer, not the number 4)."""
    return _TWO_UNITS_RE.match(text) is not None
