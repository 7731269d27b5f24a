"""Per-completion health signals: is a completion degenerate, and which rule read the answer of a pass?

Pure functions of a completion's text, finish reason, token count and verdict detail (nothing about runs).
:mod:`evalkit.validity.health` aggregates them per problem and per run.

Signals:

* **truncated**: finish reason ``length`` (cut at the token limit);
* **finish unknown**: finish reason ``unknown`` (imported without one): whether it was cut is not known;
* **loops**: the text ends in a repeated block (:func:`evalkit.grading.extraction.loop`: a block of words
  repeated at least 3 times at the end, making up at least half the text's words);
* **empty**: verdict status ``empty`` (blank or whitespace-only text);
* **rule**: the extraction rule named at the start of a final-answer verdict's detail (``boxed[last]``,
  ``boxed[final 2]``, ``boxed[unclosed]``, ``answer is``, ``last number``; :mod:`evalkit.grading.answers`),
  or ``first line`` (exact-answer tasks, :func:`evalkit.tasks.exact_answer_verdict`); None for verdicts of
  other tasks (code tests, ``<answer>`` tags);
* **fallback**: the rule is one of :data:`FALLBACK_RULES`, the readings of a completion that did not mark
  its answer with a box ("the answer is ...", the last number of the text), which the run contract calls
  fallback rules. A pass read by a fallback is a real pass, but one where the grader, not the model, chose
  what the answer was.
"""

from __future__ import annotations

import re

from evalkit.grading.extraction import LOOP_MAX_BLOCK, LOOP_MIN_REPEATS, LOOP_SHARE, loop

#: Rules that read an answer the completion did not box (DESIGN: "Fallback rules (answer is, last number)").
FALLBACK_RULES = ("answer is", "last number")
_RULE = re.compile(r"^(boxed\[[a-z]+(?: \d+)?\]|answer is|last number|first line)(?: after </think(?:ing)?>)?: ")


def rule_of(detail: str) -> str | None:
    """The extraction rule a final-answer verdict's detail names (``boxed[final 2]`` -> ``boxed[final]``), or
    None when the detail names none (a verdict of another kind of task, or no answer found)."""
    found = _RULE.match(detail or "")
    if found is None:
        return None
    rule = found.group(1)
    return re.sub(r" \d+\]$", "]", rule)


def is_fallback(detail: str) -> bool:
    """Whether a verdict's detail names one of :data:`FALLBACK_RULES`."""
    return rule_of(detail) in FALLBACK_RULES


def loops(text: str) -> bool:
    """Whether ``text`` ends in a loop (:func:`evalkit.grading.extraction.loop`).

    Cheap necessary conditions first, from the same definition: the last word recurs at the block's
    distance, and the last ``LOOP_SHARE`` of the words lie inside the repeated run, so they hold at most as
    many distinct words as the block has (at most ``LOOP_MAX_BLOCK`` and a ``LOOP_MIN_REPEATS``-th of the
    text). Ordinary prose fails these at once, so most texts are not read further.
    """
    words = text.split()[:-1]
    n = len(words)
    if n < LOOP_MIN_REPEATS or words[-1] not in words[-LOOP_MAX_BLOCK - 1 : -1]:
        return False
    tail = words[n - int(LOOP_SHARE * n) :]
    if len(set(tail)) > min(LOOP_MAX_BLOCK, n // LOOP_MIN_REPEATS):
        return False
    return loop(text) is not None
