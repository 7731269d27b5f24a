"""The CI regression gate: candidate vs baseline pass@k at chosen k, per task, with a family-wise error rate.

The decision itself (tests, family, detectable drop) is computed in :mod:`evalkit.compare.decision`, which
``evalkit compare`` and ``evalkit report`` call too, so all three give the same answer on the same runs, k and
tolerance. This module holds the gate's result type and its text.

What it tests. For each task and each chosen k (a *check*), evalkit takes the problems both runs share,
cuts each problem to the samples both runs have, and computes the per-problem differences
d_i = candidate pass@k - baseline pass@k. A check is a regression when the data show, at the chosen
confidence, that mean pass@k fell by more than the tolerance: H0 "delta >= -max_drop" is rejected in
favour of "delta < -max_drop".

Which test. Every check uses the paired sign-flip test of :func:`evalkit.stats.sign_flip_test`:

- at k = n, or wherever every problem's pass@k is 0 or 1 in both runs, the exact randomisation
  distribution (with ``max_drop = 0`` this is the exact sign / McNemar test on the problems solved by one
  run only: "2 problems lost, 0 gained" has p = 0.25, not a regression);
- elsewhere (e.g. k = 1) the same test with 10,000 random sign vectors (seeded, so a gate is
  reproducible), whose p-value is valid for any number of vectors.

It is exact, whatever the number of problems and however many differences are zero, when both runs
sample the same model, and asymptotically valid for the mean difference otherwise. The paired bootstrap
is not used here: at 20 problems with most differences zero its one-sided bound covered only 86%.

The family. Holm's step-down adjustment runs over every check of the gate (all tasks x all k), so the
chance that a gate comparing two runs of one model declares any regression is at most
``1 - confidence``. Measured by ``python -m evalkit.compare.calibration --gate`` (identical models; 20 to 1,000
problems, n = 16 to 1,024, dense and sparse rates, one and three tasks, k = 1 and k = n, 500-1,000 runs
each): 0.1-4.2% at nominal 5% over all 26 settings recorded in ``reports/BENCHMARKS.md``; power to catch
a true pass@1 drop of 0.05 at 500 problems, n = 64, ``max_drop = 0.02``: 1,000 of 1,000 runs (0.944 for
a drop of 0.03).

Each check also reports an upper bound on delta that holds for all checks at once (Bonferroni over the
m checks, so slightly wider than what Holm's decision needs).

Comparable runs. The runs must agree in sampling configuration, prompt format and samples per problem;
otherwise the gate refuses (``mismatch="refuse"``, exit 2) or warns on the console (``"warn"``). Exit codes
(CLI): 0 no regression, 1 regression, 2 usage or input error (unknown run or task, k larger than the
samples per problem, fewer than two shared problems, runs that are not comparable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalkit.compare.decision import (
    METHOD_EXACT,
    METHOD_RANDOM,
    N_FLIP,
    Decision,
    Mismatch,
    comparability,
    decide,
    decision_lines,
    decision_summary,
    gate_decisions,
    gate_tests,
)
from evalkit.compare.results import RunResults


@dataclass
class GateResult:
    passed: bool
    lines: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decision: Decision | None = None

    @property
    def regressions(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["regression"]]


def run_gate(
    baseline: RunResults,
    candidate: RunResults,
    ks: list[int],
    max_drop: float,
    confidence: float = 0.95,
    tasks: list[str] | None = None,
    mismatch: Mismatch = "refuse",
) -> GateResult:
    """Check pass@k at each k in ``ks`` for every task (or the named ``tasks``); see the module docstring and
    :func:`evalkit.compare.decision.decide` (same arguments, same errors).

    Returns:
        A :class:`GateResult`; each check holds delta, its p-value, the Holm-adjusted p-value, the
        simultaneous upper bound, the method, the verdict and the drop detectable at power 0.8.
    """
    decision = decide(baseline, candidate, ks, max_drop, confidence, tasks, mismatch)
    return GateResult(decision.passed, decision_lines(decision), decision.checks, decision.warnings, decision)


def gate_summary(result: GateResult) -> dict[str, Any]:
    """The JSON form of a gate result (``evalkit gate --json``)."""
    if result.decision is None:
        return {"passed": result.passed, "checks": result.checks, "lines": result.lines}
    return decision_summary(result.decision)


__all__ = [
    "METHOD_EXACT",
    "METHOD_RANDOM",
    "N_FLIP",
    "GateResult",
    "comparability",
    "gate_decisions",
    "gate_summary",
    "gate_tests",
    "run_gate",
]
