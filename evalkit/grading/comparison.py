"""The outcome of comparing an answer with a reference, and the rule that decided it.

A verdict's detail ends with :meth:`Comparison.describe` (``(equal as numbers)``), so every verdict names the
rule that read the answer and the rule that compared it (:mod:`evalkit.grading.answers`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMPARISON_RULES", "Comparison"]


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` decided and by which rule.

    Attributes:
        equal: Whether the answer equals the reference.
        rule: The rule that decided, one of :data:`COMPARISON_RULES`.
    """

    equal: bool
    rule: str

    def describe(self) -> str:
        """The comparison as a verdict's detail ends with it: ``(equal as numbers)``, ``(not equal as
        vectors)``, ``(not equal: division by zero)``."""
        verdict = "equal" if self.equal else "not equal"
        return f"({verdict}: {self.rule})" if self.rule == "division by zero" else f"({verdict} as {self.rule})"


#: The comparison rules, in the order of the module docstring: ``text`` (equal normal forms, or an empty
#: answer), ``division by zero``, ``matrices``, ``vectors`` (a vector against a tuple), ``sets`` (sets and
#: plain lists, any order), ``tuples``, ``intervals``, ``choice letters``, ``times`` (times and ratios),
#: ``numbers`` (exact rationals, units, percent), ``words``, ``numeric values`` (two plain sympy numbers) and
#: ``symbolic`` (math-verify).
COMPARISON_RULES = (
    "text",
    "division by zero",
    "matrices",
    "vectors",
    "sets",
    "tuples",
    "intervals",
    "choice letters",
    "times",
    "numbers",
    "words",
    "numeric values",
    "symbolic",
)
