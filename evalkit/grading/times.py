"""Times and ratios as answers: ``11:00``, ``3:45:10``, ``7:30 pm``, ``2:3``, ``1:2:3:\\ldots``.

Rule 3 of :mod:`evalkit.grading.equivalence`: such answers match only each other, part by part.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["colon_form", "colons_equal"]

# times and ratios: 11:00, 3:45:10, 2:3, 5:0, 7:30 pm
_COLON_RE = re.compile(r"^([+-]?\d+(?:\.\d+)?(?::\d+(?:\.\d+)?)+)\s*([ap])?(?:\.?m\.?)?$", re.IGNORECASE)
# a ratio that goes on: 1:2:3:\ldots (the ellipsis is part of the answer, not a number to drop)
_COLON_DOTS_RE = re.compile(r":(?:\\[lc]?dots|\.\.\.|\u2026)$")


def colon_form(s: str) -> tuple[list[Fraction], str] | None:
    """(the numbers, the meridiem ``a``/``p`` or "") of a time or ratio ``h:mm``, ``h:mm:ss``, ``a:b``; a ratio
    that goes on (``1:2:3:\\ldots``) has the meridiem ``...``, so it equals only a ratio that goes on."""
    compact = s.replace(" ", "")
    dots = _COLON_DOTS_RE.search(compact)
    m = _COLON_RE.match(compact[: dots.start()] if dots else compact)
    if m is None or (dots and m.group(2)):
        return None
    return [Fraction(part) for part in m.group(1).split(":")], "..." if dots else (m.group(2) or "").lower()


def _hours(parts: list[Fraction], meridiem: str) -> list[Fraction]:
    hour = parts[0]
    if meridiem == "p" and hour < 12:
        hour += 12
    elif meridiem == "a" and hour == 12:
        hour = Fraction(0)
    return [hour, *parts[1:]]


def colons_equal(gold: tuple[list[Fraction], str], answer: tuple[list[Fraction], str]) -> bool:
    """Times and ratios compare part by part (5:0 is not 2:0, 1:00 is not 12:00); ``pm`` adds 12 hours, and
    when only one side says am or pm the hours compare on a 12-hour clock."""
    (g_parts, g_mer), (a_parts, a_mer) = gold, answer
    if len(g_parts) != len(a_parts) or (g_mer == "...") != (a_mer == "..."):
        return False
    if g_mer == "...":
        return g_parts == a_parts
    g_parts, a_parts = _hours(g_parts, g_mer), _hours(a_parts, a_mer)
    if bool(g_mer) != bool(a_mer):
        g_parts = [g_parts[0] % 12, *g_parts[1:]]
        a_parts = [a_parts[0] % 12, *a_parts[1:]]
    return g_parts == a_parts
