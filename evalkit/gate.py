"""The CI regression gate: candidate vs baseline pass@k at chosen k, per task, with statistics.

For each task and each chosen k, evalkit computes delta = candidate - baseline of mean pass@k over the
problems both runs share (each problem cut to the samples both runs have), and a one-sided paired
bootstrap upper bound on delta at the chosen confidence (problems resampled once for both runs; see
:func:`evalkit.stats.bootstrap_ci`). A regression is declared only when that upper bound is below
``-max_drop``: the data say, at that confidence, that pass@k fell by more than the tolerance. A drop
within noise passes, and says so. Exit codes (CLI): 0 no regression, 1 regression, 2 usage or input
error (unknown run, k larger than the samples per problem, fewer than two shared problems).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.compare import common_problems, per_problem_table
from evalkit.errors import EvalkitError
from evalkit.results import RunResults
from evalkit.stats import bootstrap_ci


@dataclass
class GateResult:
    passed: bool
    lines: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def regressions(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["regression"]]


def run_gate(
    baseline: RunResults, candidate: RunResults, ks: list[int], max_drop: float, confidence: float = 0.95
) -> GateResult:
    """Check pass@k at each k in ``ks`` for every task; see the module docstring."""
    if not ks:
        raise EvalkitError("gate: give at least one --k")
    if any(k < 1 for k in ks):
        raise EvalkitError("gate: every --k must be >= 1")
    if not 0 <= max_drop <= 1:
        raise EvalkitError(f"gate: --max-drop must be between 0 and 1 (got {max_drop})")
    if not 0.5 <= confidence < 1:
        raise EvalkitError(f"gate: --confidence must be in [0.5, 1) (got {confidence})")
    problems, notes = common_problems(baseline, candidate)
    upto = {p.id: min(baseline.n(p.id), candidate.n(p.id)) for p in problems}
    smallest = min(upto.values())
    if max(ks) > smallest:
        raise EvalkitError(
            f"gate: --k {max(ks)} exceeds the samples per problem the runs share (n = {smallest}); "
            "use a smaller --k or sample more"
        )
    result = GateResult(passed=True, lines=list(notes))
    for task in sorted({p.task for p in problems}):
        probs = [p for p in problems if p.task == task]
        if len(probs) < 2:
            raise EvalkitError(f"gate: task {task} has {len(probs)} shared problem; the interval needs at least 2")
        diff = per_problem_table(candidate, probs, ks, upto) - per_problem_table(baseline, probs, ks, upto)
        base_mean = per_problem_table(baseline, probs, ks, upto).mean(axis=0)
        delta, _low, high = bootstrap_ci(diff, confidence=confidence, seed=0, alternative="less")
        for j, k in enumerate(ks):
            d, upper = float(np.atleast_1d(delta)[j]), float(np.atleast_1d(high)[j])
            regression = upper < -max_drop
            check = {
                "task": task, "k": k, "problems": len(probs), "baseline": float(base_mean[j]),
                "candidate": float(base_mean[j] + d), "delta": d, "upper_bound": upper,
                "confidence": confidence, "max_drop": max_drop, "regression": regression,
            }  # fmt: skip
            result.checks.append(check)
            verdict = "REGRESSION" if regression else "ok"
            result.lines.append(
                f"{verdict:10s} task {task}: pass@{k} {check['baseline']:.4f} -> {check['candidate']:.4f} "
                f"(change {d:+.4f}; {confidence:.0%} upper bound {upper:+.4f} vs -{max_drop:.4f}; "
                f"{len(probs)} problems)"
            )
            result.passed = result.passed and not regression
    return result
