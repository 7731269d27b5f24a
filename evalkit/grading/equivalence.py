"""Whether an extracted answer equals a reference answer: normal forms, exact numbers, shapes, math-verify.

The comparison, in order:

1. **Normal form** of both sides: surrounding ``$``/``\\(``/``\\[`` removed, Unicode minus signs read as
   ``-``, ``\\dfrac``/``\\tfrac`` as ``\\frac``, ``\\left``/``\\right``, LaTeX spaces (``\\,`` ``\\!``...; a
   row break ``\\\\`` is kept whole), LaTeX thousands separators (``11,\\!111``, ``1\\,234``, ``1{,}234``, a
   comma or space before exactly three digits) read as ``,``, ``\\displaystyle``, degree marks, currency
   signs (``\\$`` and ``$``: ``-\\$1,234.50`` is -1234.5), ``\\sqrt(x)`` read as ``\\sqrt{x}``,
   ``\\text{...}`` (and ``\\textbf``, ``\\mathrm``, ``\\mbox``) unwrapped, a final period dropped, whitespace
   collapsed. Equal normal forms match; otherwise a side that divides by zero (``\\frac{7}{0}``, ``7/0``)
   matches nothing, since sympy reads every such value as the same ``zoo``.
2. **Shape of the reference** decides how the answer is read: a set ``\\{a, b\\}`` or a plain list
   ``a, b`` matches an answer with the same elements in any order (an answer written as a set or a list);
   a tuple or interval ``(a, b)``, ``[a, b)`` matches element by element in order, with the same brackets
   (a plain list ``a, b`` also matches a round-bracket tuple: coordinates written without parentheses).
   A matrix (``pmatrix``, ``bmatrix``, ``vmatrix``, ``matrix``, ``array``) matches a matrix of the same
   shape, element by element; a vector (one row or one column) also matches the tuple ``(a, b, c)`` of its
   elements. A number with thousands separators (``1,234``) is a number, not a list. Elements are
   compared by these same rules.
3. **Choice letters**: a reference ``B`` or ``(B)`` matches ``B``, ``(B)``, ``\\text{(B)}`` or ``(B) 12``.
   **Times and ratios** (``11:00``, ``3:45:10``, ``7:30 pm``, ``2:3``) match only each other, part by part
   (``1:00`` is not ``12:00``, ``5:0`` is not ``2:0``, ``4:6`` is not ``2:3``); ``pm`` adds 12 hours, and
   when only one side says am or pm the hours compare on a 12-hour clock.
4. **Exact numbers** (integers, decimals, thousands separators, scientific notation ``2e-7`` and
   ``2 \\times 10^{-7}``, integer powers ``2^{-98}``, ``\\frac{a}{b}``, ``a/b``, percentages, and units
   after the number, ``12 \\text{ cm}``, ``5\\text{ m/s}``): compared as exact rationals, so 2^-98 and 2^-99,
   or 2e-7 and 1e-7, differ. A decimal against a value with no finite decimal expansion (1/3 against
   0.333333) is a rounded value and matches within a relative tolerance of :data:`REL_TOL`.
   A unit is dropped from either side (``5`` matches ``5\\text{ m/s}``); a unit is a word after a space
   (two letters or more, or one of :data:`SINGLE_LETTER_UNITS`: ``5 m``), or a unit of
   :data:`ATTACHED_UNITS` written against the number (``12cm``); any other letter is a variable (``3x`` is
   not 3). **Percent rule**: ``p%`` is the value p/100, so it matches a reference p/100 (``50%`` for 0.5);
   it also matches a reference ``p`` that dropped its percent sign, when |p| >= 1 (``50%`` for 50), but a
   reference below 1 without ``%`` is a proportion (``\\frac{1}{2}\\%`` is not 0.5). A reference ``p%``
   matches ``p`` and ``p/100``.
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

from evalkit.grading.comparison import COMPARISON_RULES as COMPARISON_RULES  # re-exported
from evalkit.grading.comparison import Comparison
from evalkit.grading.times import colon_form, colons_equal

REL_TOL = Fraction(1, 10**6)  # relative tolerance for a decimal against a value it can only approximate
MAX_ELEMENTS = 64  # longer lists and sets are left to math-verify
MAX_EXPONENT = 4_000  # integer powers up to this exponent are evaluated exactly

_MINUSES = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})
_TEXT_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
# a LaTeX row break ``\\\\`` is kept whole (its second backslash is not the space ``\\ ``)
_SPACES_RE = re.compile(r"(\\\\)|\\[,;:! ]|\\q?quad\b|~")
# thousands written the LaTeX way: ``11,\\!111``, ``1\\,234``, ``1{,}234`` (exactly three digits follow)
_LATEX_THOUSANDS_RE = re.compile(r"(?<=\d)(?:,\s*\\[!,;: ]|\\[!,;: ]|\{,\})\s*(?=\d{3}(?!\d))")
_SQRT_PAREN_RE = re.compile(r"(?:\\|(?<![A-Za-z\\]))sqrt\s*\(([^()]*)\)")
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
_UNIT_TOKEN = r"[A-Za-z]+\.?(?:\^\{?-?\d\}?)?"
_UNIT_RE = re.compile(rf"^(.*?[\d}}%])(\s*)({_UNIT_TOKEN}(?:\s*(?:/|\\cdot|\*|\s)\s*{_UNIT_TOKEN})*)$")
SINGLE_LETTER_UNITS = frozenset("mgsLlKNJWVAh")  # after a space: 5 m, 3 s; any other letter is a variable
ATTACHED_UNITS = frozenset(  # written against the number (12cm); any other word there is a product (3x, 2ab)
    (
        "mm",
        "cm",
        "dm",
        "km",
        "kg",
        "mg",
        "lb",
        "lbs",
        "oz",
        "ft",
        "yd",
        "mi",
        "mph",
        "kmh",
        "kph",
        "sec",
        "min",
        "hr",
        "hrs",
        "ml",
        "mL",
        "Hz",
        "kHz",
    )
)
# a division by zero: \frac{7}{0}, \frac70, 7/0
_DIV_ZERO_RE = re.compile(
    r"\\frac\s*(?:\{[^{}]*\}|\d)\s*(?:\{\s*[+-]?0+(?:\.0*)?\s*\}|0)|/\s*\(?\s*[+-]?0+(?:\.0*)?(?![\d.])"
)
_MATRIX_RE = re.compile(
    r"^[(\[]?\s*\\begin\{(?P<env>[pbBvV]?matrix|array)\}(?:\{[^{}]*\})?(?P<body>.*)\\end\{(?P=env)\}\s*[)\]]?$",
    re.DOTALL,
)


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
    s = _LATEX_THOUSANDS_RE.sub(",", s)
    s = _SPACES_RE.sub(lambda m: m.group(1) or "", s).replace("{,}", ",").replace("\\%", "%")
    s = s.replace("\\$", "").replace("$", "")  # a currency sign, escaped or not (the math delimiters are gone)
    s = _SQRT_PAREN_RE.sub(r"\\sqrt{\1}", s)
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
    pairs = []
    if not answer.percent or gold.percent or abs(gold.value) >= 1:  # the % is a unit the reference dropped
        pairs.append((gold.value, answer.value))
    if gold.percent != answer.percent:  # the value: 50% is 0.5
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
        number = exact_number(m.group(1)) if m and is_unit(m.group(3), bool(m.group(2))) else None
    return number


_NOT_UNITS = frozenset(["pi", "sqrt", "log", "ln", "sin", "cos", "tan", "cot", "exp", "infty"])


def is_unit(unit: str, spaced: bool) -> bool:
    """Whether the words after a number are a unit (rule 4): ``5 m/s``, ``12 cm``, ``12cm`` yes; ``3x``,
    ``3 x``, ``2 pi`` no. After a space, a word of two letters or more, or one of
    :data:`SINGLE_LETTER_UNITS`; written against the number, only :data:`ATTACHED_UNITS`."""
    word = re.match(r"[A-Za-z]+", unit)
    if word is None or word.group(0) in _NOT_UNITS:
        return False
    if spaced:
        return len(word.group(0)) >= 2 or word.group(0) in SINGLE_LETTER_UNITS
    return word.group(0) in ATTACHED_UNITS


# -- matrices --------------------------------------------------------------------------------------------------


def matrix(s: str) -> list[list[str]] | None:
    """The rows of a normalised ``\\begin{pmatrix}...\\end{pmatrix}`` (also bmatrix, vmatrix, matrix, array),
    each a list of its cells; None when ``s`` is not one matrix or its rows differ in length."""
    m = _MATRIX_RE.match(s)
    if m is None:
        return None
    rows = [row.strip() for row in m.group("body").split("\\\\")]
    if rows and not rows[-1]:
        rows.pop()  # a row break after the last row
    cells = [[cell.strip() for cell in row.split("&")] for row in rows]
    if not cells or any(not cell for row in cells for cell in row) or len({len(row) for row in cells}) != 1:
        return None
    return cells


def _vector(cells: list[list[str]]) -> list[str] | None:
    if all(len(row) == 1 for row in cells):
        return [row[0] for row in cells]
    return cells[0] if len(cells) == 1 else None


def matrices_equal(g: str, a: str) -> bool | None:
    """Rule 2 for matrices: the same shape and every element equal (:func:`math_equivalent`); a vector also
    matches a tuple ``(a, b, c)`` of its elements in order. None when neither side is a matrix."""
    g_cells, a_cells = matrix(g), matrix(a)
    if g_cells is None and a_cells is None:
        return None
    if g_cells is not None and a_cells is not None:
        if len(g_cells) != len(a_cells) or len(g_cells[0]) != len(a_cells[0]):
            return False
        flat_g = [cell for row in g_cells for cell in row]
        pairs = list(zip(flat_g, [cell for row in a_cells for cell in row], strict=True))
    else:
        vector = _vector(g_cells if g_cells is not None else a_cells or [])
        kind, parts, brackets = shape(a if g_cells is not None else g)
        if vector is None or kind != "tuple" or brackets != "()" or len(parts) != len(vector):
            return False
        pairs = list(zip(vector, parts, strict=True)) if g_cells is not None else list(zip(parts, vector, strict=True))
    if len(pairs) > MAX_ELEMENTS:
        return None
    return all(math_equivalent(ge, ae) for ge, ae in pairs)


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
    found = elements_compare(reference, answers)
    return None if found is None else found.equal


def elements_compare(reference: str, answers: list[str]) -> Comparison | None:
    """:func:`elements_equivalent` with the rule that decided (``sets``, ``tuples``, ``intervals``)."""
    kind, golds, brackets = shape(normalise(reference))
    if kind == "scalar" or len(golds) > MAX_ELEMENTS or len(answers) > MAX_ELEMENTS:
        return None
    if kind in ("set", "list"):
        return Comparison(_same_multiset(golds, answers), "sets")
    if brackets == "()":
        return Comparison(_in_order(golds, answers), "tuples")
    return Comparison(False, "intervals")  # an interval is not written as several boxes


# -- comparison -----------------------------------------------------------------------------------------


def math_equivalent(gold: str, answer: str) -> bool:
    """Whether ``answer`` equals ``gold`` by the rules of the module docstring (:func:`compare`'s ``equal``).

    No timeout inside: call it where a hang can be killed from outside (evalkit's verifier pool).
    """
    return compare(gold, answer).equal


def compare(gold: str, answer: str) -> Comparison:
    """Whether ``answer`` equals ``gold`` by the rules of the module docstring, and the rule that decided
    (elements of a collection are compared by :func:`math_equivalent`; the rule named is the outer one).

    No timeout inside: call it where a hang can be killed from outside (evalkit's verifier pool).
    """
    g, a = normalise(gold), normalise(answer)
    if not a:
        return Comparison(False, "text")
    if g == a:
        return Comparison(True, "text")
    if _DIV_ZERO_RE.search(g) or _DIV_ZERO_RE.search(a):
        return Comparison(False, "division by zero")  # equals nothing but its own text (sympy reads all as zoo)
    decided_matrix = matrices_equal(g, a)
    if decided_matrix is not None:
        both = matrix(g) is not None and matrix(a) is not None
        return Comparison(decided_matrix, "matrices" if both else "vectors")
    g_kind, g_parts, g_brackets = shape(g)
    if g_kind != "scalar":
        a_kind, a_parts, a_brackets = shape(a)
        decided: bool | None = None
        rule = "sets" if g_kind in ("set", "list") else "tuples" if g_brackets == "()" else "intervals"
        if a_kind in ("set", "list") and g_kind in ("set", "list"):
            decided = _same_multiset(g_parts, a_parts)
        elif g_kind == "tuple" and (a_brackets == g_brackets or (a_kind == "list" and g_brackets == "()")):
            decided = _in_order(g_parts, a_parts)
        elif g_kind == "tuple" and a_kind == "tuple":
            decided, rule = False, "intervals"  # (1, 3] against [1, 3]
        if decided is not None and max(len(g_parts), len(a_parts)) <= MAX_ELEMENTS:
            return Comparison(decided, rule)
        return _math_verify_compare(g, a)
    return _scalar_compare(g, a)


def _scalar_compare(g: str, a: str) -> Comparison:
    choice = _CHOICE_GOLD_RE.match(g)
    if choice:
        given = _CHOICE_ANSWER_RE.match(a)
        return Comparison(given is not None and given.group(1) == choice.group(1), "choice letters")
    if "=" not in g:
        a = _ASSIGN_RE.sub("", a)
        if g == a:
            return Comparison(True, "text")
    g_colon, a_colon = colon_form(g), colon_form(a)
    if g_colon is not None or a_colon is not None:
        return Comparison(g_colon is not None and a_colon is not None and colons_equal(g_colon, a_colon), "times")
    g_number, a_number = _number_with_units(g), _number_with_units(a)
    if g_number is not None and a_number is not None:
        return Comparison(numbers_equal(g_number, a_number), "numbers")
    if _WORD_RE.match(g) and re.search(r"[aeiouyAEIOUY]", g):
        return Comparison(g.casefold().split() == a.casefold().split(), "words")
    return _math_verify_compare(g, a)


def _math_verify_compare(g: str, a: str) -> Comparison:
    from math_verify import parse, verify  # imported at the top of the family modules that use it

    # Wrapped in $...$ so that math-verify reads the whole string as one LaTeX expression.
    gold_parsed = parse(f"${g}$", parsing_timeout=None)
    answer_parsed = parse(f"${a}$", parsing_timeout=None)
    if not gold_parsed or not answer_parsed or _undefined(gold_parsed[0]) or _undefined(answer_parsed[0]):
        return Comparison(False, "symbolic")
    numeric = _sympy_numbers_equal(gold_parsed[0], answer_parsed[0])
    if numeric is not None:
        return Comparison(numeric, "numeric values")
    return Comparison(bool(verify(gold_parsed, answer_parsed, timeout_seconds=None)), "symbolic")


def _undefined(value: Any) -> bool:
    """Whether a parsed value is or holds an undefined number (sympy's ``zoo`` or ``nan``: 7/0, 0/0)."""
    from sympy import Basic, nan, zoo

    return isinstance(value, Basic) and (value.has(zoo) or value.has(nan))


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
