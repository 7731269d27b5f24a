"""Whether an extracted answer equals a reference answer: normal forms, exact numbers, shapes, math-verify.

The comparison, in order:

1. **Normal form** of both sides: surrounding ``$``/``\\(``/``\\[`` removed, Unicode minus signs read as
   ``-``, ``\\dfrac``/``\\tfrac`` as ``\\frac``, ``\\left``/``\\right``, LaTeX spaces (``\\,`` ``\\!``...),
   ``\\displaystyle``, degree marks, ``\\$`` removed, ``\\text{...}`` (and ``\\textbf``, ``\\mathrm``, ``\\mbox``)
   unwrapped, a final period dropped, whitespace collapsed. Equal normal forms match.
2. **Shape of the reference** decides how the answer is read: a set ``\\{a, b\\}`` or a plain list
   ``a, b`` matches an answer with the same elements in any order (an answer written as a set or a list);
   a tuple or interval ``(a, b)``, ``[a, b)`` matches element by element in order, with the same brackets
   (a plain list ``a, b`` also matches a round-bracket tuple: coordinates written without parentheses).
   A number with thousands separators (``1,234``) is a number, not a list. Elements are compared by
   these same rules.
3. **Choice letters**: a reference ``B`` or ``(B)`` matches ``B``, ``(B)``, ``\\text{(B)}`` or ``(B) 12``.
4. **Exact numbers** (integers, decimals, thousands separators, scientific notation ``2e-7`` and
   ``2 \\times 10^{-7}``, integer powers ``2^{-98}``, ``\\frac{a}{b}``, ``a/b``, percentages, and units
   or words after the number, ``12 \\text{ cm}``): compared as exact rationals, so 2^-98 and 2^-99,
   or 2e-7 and 1e-7, differ. A decimal against a value with no finite decimal expansion (1/3 against
   0.333333) is a rounded value and matches within a relative tolerance of :data:`REL_TOL`. A percentage
   matches its number with or without the ``%`` (50% = 50 = 0.5).
5. **Words** (a reference of letters only, two or more, with a vowel: ``Monday``, ``even``): equal ignoring
   case and spacing.
6. **Anything else** goes to math-verify (``parse``/``verify``): symbolic equality, sets, intervals,
   equations, matrices. When both sides are plain numbers to sympy (``\\sqrt{12}``, ``2^{-98}\\pi``),
   they are compared here instead, because math-verify's numeric check rounds to 6 decimal places and
   chops tiny differences: exact expressions at 60 digits (equal within 1e-40, relative), expressions
   with a decimal within :data:`REL_TOL`, relative.

math-verify's own timeouts use ``signal.alarm``, which fails off the main thread and cannot interrupt C
code, so they are switched off (``parsing_timeout=None``, ``timeout_seconds=None``): evalkit runs verifiers
in worker processes that the pool kills at ``--verify-timeout``, which is what ends ``5^{5^{5^{5^5}}}``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

REL_TOL = Fraction(1, 10**6)  # relative tolerance for a decimal against a value it can only approximate
MAX_ELEMENTS = 64  # longer lists and sets are left to math-verify
MAX_EXPONENT = 4_000  # integer powers up to this exponent are evaluated exactly

_MINUSES = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})
_TEXT_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACES_RE = re.compile(r"\\[,;:! ]|\\q?quad\b|~")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree\b")
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])")
_ASSIGN_RE = re.compile(r"^\\?[A-Za-z]+(?:_\{?\w+\}?)?\s*=\s*(?!.*=)")
_CHOICE_GOLD_RE = re.compile(r"^\(?([A-J])\)?$")
_CHOICE_ANSWER_RE = re.compile(r"^\(?([A-J])\)?(?:[\s.:)].*)?$")
_WORD_RE = re.compile(r"^[A-Za-z][A-Za-z' -]*[A-Za-z]$")

_DEC = r"(?:\d+(?:\.\d*)?|\.\d+)"
_EXP = r"(?:\{([+-]?\d+)\}|([+-]?\d))"
_PLAIN_RE = re.compile(rf"^{_DEC}$")
_THOUSANDS_RE = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_SCI_RE = re.compile(rf"^{_DEC}[eE][+-]?\d+$")
_TIMES_TEN_RE = re.compile(rf"^({_DEC})(?:\\times|\\cdot|\*|×)10\^{_EXP}$")
_POWER_RE = re.compile(rf"^(\d+|\({_DEC}\)|\{{{_DEC}\}})\^{_EXP}$")
_FRAC_RE = re.compile(r"^\\frac(?:\{([+-]?\d+)\}\{([+-]?\d+)\}|(\d)(\d))$")
_SLASH_RE = re.compile(r"^(\d+)/(\d+)$")
_UNIT_RE = re.compile(r"^(.*?[\d}%])\s*(?:[A-Za-z]+\.?(?:\^\{?\d\}?)?\s*)+$")


@dataclass(frozen=True)
class Number:
    """An exact number as written: its value, whether written as a decimal, whether as a percentage."""

    value: Fraction
    decimal: bool
    percent: bool


def normalise(answer: str) -> str:
    """The normal form of an answer (rule 1 of the module docstring)."""
    s = answer.translate(_MINUSES).strip()
    changed = True
    while changed and s:
        changed = False
        for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if len(s) >= len(opening) + len(closing) and s.startswith(opening) and s.endswith(closing):
                s, changed = s[len(opening) : len(s) - len(closing)].strip(), True
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\displaystyle", "")
    s = _LEFT_RIGHT_RE.sub("", s)
    s = _SPACES_RE.sub("", s).replace("{,}", ",").replace("\\$", "").replace("\\%", "%")
    s = _DEGREE_RE.sub("", s)
    for _ in range(3):  # nested \text{\textbf{...}}
        s = _TEXT_RE.sub(r"\1", s)
    s = " ".join(s.split()).rstrip(".").strip()
    return s


def exact_number(s: str) -> Number | None:
    """The exact value of a normalised number (rule 4 of the module docstring), or None."""
    if re.search(r",\s", s):
        return None  # "1, 234" is a list; thousands separators have no space after them
    s = s.replace(" ", "")
    percent = s.endswith("%")
    s = s.rstrip("%") if percent else s
    sign = 1
    if s[:1] in ("-", "+"):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    value = _unsigned(s)
    if value is None:
        return None
    return Number(sign * value[0], value[1], percent)


def _unsigned(s: str) -> tuple[Fraction, bool] | None:
    if _THOUSANDS_RE.match(s):
        s = s.replace(",", "")
    if _PLAIN_RE.match(s):
        return Fraction(s), "." in s
    if _SCI_RE.match(s):
        return Fraction(s), True
    m = _TIMES_TEN_RE.match(s)
    if m:
        exponent = int(m.group(2) or m.group(3))
        return (Fraction(m.group(1)) * Fraction(10) ** exponent, True) if abs(exponent) <= MAX_EXPONENT else None
    m = _POWER_RE.match(s)
    if m:
        base, exponent = Fraction(m.group(1).strip("(){}")), int(m.group(2) or m.group(3))
        if abs(exponent) > MAX_EXPONENT or base.numerator > 10**6 or (base == 0 and exponent < 0):
            return None
        return base**exponent, "." in m.group(1)
    m = _FRAC_RE.match(s) or _SLASH_RE.match(s)
    if m:
        num, den = [int(g) for g in m.groups() if g is not None]
        return (Fraction(num, den), False) if den != 0 else None
    return None


def _terminates(value: Fraction) -> bool:
    """Whether ``value`` has a finite decimal expansion (its denominator has no prime but 2 and 5)."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def numbers_equal(gold: Number, answer: Number) -> bool:
    """Rule 4: exact equality, or :data:`REL_TOL` for a decimal against a value it cannot write exactly."""
    pairs = [(gold.value, answer.value)]
    if gold.percent != answer.percent:  # 50% against 0.5 as well as against 50
        pairs.append((gold.value / 100, answer.value) if gold.percent else (gold.value, answer.value / 100))
    for g, a in pairs:
        if g == a:
            return True
        rounded = (answer.decimal and not _terminates(g)) or (gold.decimal and not _terminates(a))
        if rounded and abs(g - a) <= REL_TOL * max(abs(g), abs(a)):
            return True
    return False


def _number_with_units(s: str) -> Number | None:
    number = exact_number(s)
    if number is None:
        m = _UNIT_RE.match(s)
        number = exact_number(m.group(1)) if m else None
    return number


# -- shapes ---------------------------------------------------------------------------------------------


def split_top(s: str) -> list[str]:
    """``s`` split at the commas outside any bracket (``( [ { \\{``), each part stripped."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(s[start:i].strip())
            start = i + 1
        i += 1
    parts.append(s[start:].strip())
    return parts


def _wraps(s: str, opening: str) -> bool:
    """Whether the bracket at the start of ``s`` closes at its very end (``(1,2)`` yes, ``(1)+(2)`` no)."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False


def shape(answer: str) -> tuple[str, list[str], str]:
    """(kind, elements, brackets) of a normalised answer; kind is scalar, set, list or tuple."""
    if "\\cup" in answer or "\\cap" in answer or "\\setminus" in answer or exact_number(answer) is not None:
        return "scalar", [answer], ""
    if answer.startswith("\\{") and answer.endswith("\\}"):
        inner = answer[2:-2].strip()
        return "set", ([] if not inner else split_top(inner)), "{}"
    if len(answer) >= 2 and answer[0] in "([" and answer[-1] in ")]" and _wraps(answer, answer[0]):
        parts = split_top(answer[1:-1])
        if len(parts) >= 2:
            return "tuple", parts, answer[0] + answer[-1]
    parts = split_top(answer)
    if len(parts) >= 2:
        return "list", parts, ""
    return "scalar", [answer], ""


@functools.lru_cache(maxsize=4096)  # asked once per completion by the dedup key, for a handful of references
def is_collection(reference: str) -> bool:
    """Whether a reference is a set or a list of several answers, or a tuple (rule 2)."""
    return shape(normalise(reference))[0] != "scalar"


def _same_multiset(golds: list[str], answers: list[str]) -> bool:
    if len(golds) != len(answers):
        return False
    unused = list(answers)
    for gold in golds:
        match = next((i for i, a in enumerate(unused) if math_equivalent(gold, a)), None)
        if match is None:
            return False
        unused.pop(match)
    return True


def _in_order(golds: list[str], answers: list[str]) -> bool:
    return len(golds) == len(answers) and all(math_equivalent(g, a) for g, a in zip(golds, answers, strict=True))


def elements_equivalent(reference: str, answers: list[str]) -> bool | None:
    """Whether ``answers`` (several boxes, or the elements of one answer) give a collection reference;
    None when the reference is a single value or too long to compare element by element."""
    kind, golds, brackets = shape(normalise(reference))
    if kind == "scalar" or len(golds) > MAX_ELEMENTS or len(answers) > MAX_ELEMENTS:
        return None
    if kind in ("set", "list"):
        return _same_multiset(golds, answers)
    if brackets == "()":
        return _in_order(golds, answers)
    return False  # an interval is not written as several boxes


# -- comparison -----------------------------------------------------------------------------------------


def math_equivalent(gold: str, answer: str) -> bool:
    """Whether ``answer`` equals ``gold`` by the rules of the module docstring.

    No timeout inside: call it where a hang can be killed from outside (evalkit's verifier pool).
    """
    g, a = normalise(gold), normalise(answer)
    if not a:
        return False
    if g == a:
        return True
    g_kind, g_parts, g_brackets = shape(g)
    if g_kind != "scalar":
        a_kind, a_parts, a_brackets = shape(a)
        decided: bool | None = None
        if a_kind in ("set", "list") and g_kind in ("set", "list"):
            decided = _same_multiset(g_parts, a_parts)
        elif g_kind == "tuple" and (a_brackets == g_brackets or (a_kind == "list" and g_brackets == "()")):
            decided = _in_order(g_parts, a_parts)
        elif g_kind == "tuple" and a_kind == "tuple":
            decided = False  # (1, 3] against [1, 3]
        if decided is not None and max(len(g_parts), len(a_parts)) <= MAX_ELEMENTS:
            return decided
        return _math_verify_equal(g, a)
    return _scalar_equivalent(g, a)


def _scalar_equivalent(g: str, a: str) -> bool:
    choice = _CHOICE_GOLD_RE.match(g)
    if choice:
        given = _CHOICE_ANSWER_RE.match(a)
        return given is not None and given.group(1) == choice.group(1)
    if "=" not in g:
        a = _ASSIGN_RE.sub("", a)
        if g == a:
            return True
    g_number, a_number = _number_with_units(g), _number_with_units(a)
    if g_number is not None and a_number is not None:
        return numbers_equal(g_number, a_number)
    if _WORD_RE.match(g) and re.search(r"[aeiouyAEIOUY]", g):
        return g.casefold().split() == a.casefold().split()
    return _math_verify_equal(g, a)


def _math_verify_equal(g: str, a: str) -> bool:
    from math_verify import parse, verify  # imported at the top of the family modules that use it

    # Wrapped in $...$ so that math-verify reads the whole string as one LaTeX expression.
    gold_parsed = parse(f"${g}$", parsing_timeout=None)
    answer_parsed = parse(f"${a}$", parsing_timeout=None)
    if not gold_parsed or not answer_parsed:
        return False
    numeric = _sympy_numbers_equal(gold_parsed[0], answer_parsed[0])
    if numeric is not None:
        return numeric
    return bool(verify(gold_parsed, answer_parsed, timeout_seconds=None))


def _sympy_numbers_equal(x: Any, y: Any) -> bool | None:
    """Rule 6 for two plain sympy numbers; None when either is not one (a set, a symbol, an equation)."""
    from sympy import Expr, Float

    if not (isinstance(x, Expr) and isinstance(y, Expr) and x.is_number and y.is_number):
        return None
    if x == y:
        return True
    try:
        xv, yv = x.evalf(60), y.evalf(60)
        if not (xv.is_real and yv.is_real and xv.is_finite and yv.is_finite):
            return None
        diff, size = abs(xv - yv), max(abs(xv), abs(yv))
    except (TypeError, ValueError, ArithmeticError):
        return None
    if size == 0:
        return True
    floats = x.has(Float) or y.has(Float)
    return bool(diff <= (float(REL_TOL) if floats else 1e-40) * size)
