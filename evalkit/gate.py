"""The CI regression gate: candidate vs baseline pass@k at chosen k, per task.

A regression is declared when, for some task and some chosen k, the candidate's mean pass@k is lower
than the baseline's by more than ``max_drop`` (absolute). Both runs are cut to the problems they
share and, per problem, to their common number of samples. Exit codes (CLI): 0 no regression,
1 regression, 2 usage or input error. This gate compares point estimates; the statistics issue turns
it into a one-sided test on the paired interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evalkit.compare import _table as pass_table
from evalkit.compare import common_problems
from evalkit.errors import EvalkitError
from evalkit.results import RunResults


@dataclass
class GateResult:
    passed: bool
    lines: list[str] = field(default_factory=list)
    regressions: list[dict[str, float | int | str]] = field(default_factory=list)


def run_gate(baseline: RunResults, candidate: RunResults, ks: list[int], max_drop: float) -> GateResult:
    """Compare pass@k at each k in ``ks`` for every task; see the module docstring."""
    if not ks:
        raise EvalkitError("gate: give at least one --k")
    if any(k < 1 for k in ks):
        raise EvalkitError("gate: every --k must be >= 1")
    if not 0 <= max_drop <= 1:
        raise EvalkitError(f"gate: --max-drop must be between 0 and 1 (got {max_drop})")
    problems, notes = common_problems(baseline, candidate)
    upto = {p.id: min(baseline.n(p.id), candidate.n(p.id)) for p in problems}
    smallest = min(upto.values())
    if max(ks) > smallest:
        raise EvalkitError(
            f"gate: --k {max(ks)} exceeds the samples per problem the runs share (n = {smallest}); "
            "use a smaller --k or sample more"
        )
    result = GateResult(passed=True, lines=list(notes))
    tasks = sorted({p.task for p in problems})
    for task in tasks:
        probs = [p for p in problems if p.task == task]
        base_t = pass_table(baseline, probs, ks, upto)
        cand_t = pass_table(candidate, probs, ks, upto)
        for k in ks:
            b, c = base_t[str(k)], cand_t[str(k)]
            assert b is not None and c is not None
            drop = b - c
            verdict = "REGRESSION" if drop > max_drop else "ok"
            result.lines.append(
                f"{verdict:10s} task {task}: pass@{k} {b:.4f} -> {c:.4f} "
                f"(change {-drop:+.4f}, max drop {max_drop:.4f}, {len(probs)} problems)"
            )
            if drop > max_drop:
                result.passed = False
                result.regressions.append({"task": task, "k": k, "baseline": b, "candidate": c, "drop": drop})
    return result
