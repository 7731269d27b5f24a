"""Comparisons over three or more checkpoints: pass@1 and pass@n per checkpoint, ProRL's regime per task from
paired comparisons, and the gain correlation across tasks (:func:`trajectory`); :func:`compare_with_trajectory`
adds them to the base-vs-final summary of :func:`evalkit.compare.summary.compare_runs`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from evalkit.compare.results import RunResults
from evalkit.compare.summary import _intervals, compare_runs, per_problem_table
from evalkit.errors import EvalkitError
from evalkit.stats import gain_correlation_test, paired_regime
from evalkit.types import Problem


def _halfwidth(interval: list[float] | None) -> float:
    return (interval[1] - interval[0]) / 2 if interval else 0.0


def trajectory(runs: list[RunResults], confidence: float = 0.95) -> dict[str, Any]:
    """pass@1 and pass@n across three or more checkpoints (base first, in training order), with ProRL's
    regime per task from paired comparisons on the shared problems (diminish / plateau / sustained, or
    inconclusive when the paired bounds show none; see :func:`evalkit.stats.paired_regime`), and the rank
    correlation across tasks of the base's pass@h with the final gain in pass@h, both from independent
    halves of the base's samples (:func:`evalkit.stats.split_half_gain_inputs`), so that the base's
    sampling error does not make a correlation by itself."""
    if len(runs) < 3:
        raise EvalkitError("a trajectory needs at least three runs (base, intermediate..., final)")
    shared = set.intersection(*({p.id for p in r.problems if r.n(p.id)} for r in runs))
    problems = [p for p in runs[0].problems if p.id in shared]
    if not problems:
        raise EvalkitError("the runs of the trajectory share no problem with verified samples")
    upto = {p.id: min(r.n(p.id) for r in runs) for p in problems}
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_task[p.task].append(p)
    tasks: dict[str, Any] = {}
    split: dict[str, tuple[list[Any], list[Any]]] = {}
    for task, probs in sorted(by_task.items()):
        m = min(upto[p.id] for p in probs)
        rows: list[dict[str, Any]] = []
        tables = []
        for r in runs:
            table = per_problem_table(r, probs, [1, m], upto)
            tables.append(table)
            ci, _method = _intervals(table, [1, m], confidence)
            half = [_halfwidth(ci[str(k)]) for k in (1, m)]
            rows.append(
                {
                    "run": str(r.root),
                    "pass@1": float(table[:, 0].mean()),
                    f"pass@{m}": float(table[:, 1].mean()),
                    "halfwidth@1": half[0],
                    f"halfwidth@{m}": half[1],
                }
            )
        regime = paired_regime([t[:, 0] for t in tables], [t[:, 1] for t in tables], confidence)
        tasks[task] = {
            "n": m,
            "n_problems": len(probs),
            "checkpoints": rows,
            "regime": regime["regime"],
            "regime_sentence": regime["sentence"],
            "regime_evidence": regime["evidence"],
        }
        if m >= 2:
            split[task] = ([runs[0].passed[p.id][:m] for p in probs], [runs[-1].passed[p.id][:m] for p in probs])
    names = sorted(split)
    method = (
        "Spearman over tasks; x = base pass@h from the even-indexed half of its samples, gain = final - base "
        "pass@h from the odd-indexed halves (independent of x's sampling error); p-value from flipping the sign of "
        "each problem's split-half gain (valid with tasks of unequal variance)"
    )
    if len(names) >= 3:
        test = gain_correlation_test([split[t][0] for t in names], [split[t][1] for t in names])
        correlation: dict[str, Any] = {"spearman_rho": test["rho"], "p_value": test["p_value"], "tasks": len(names),
                                       "h": dict(zip(names, test["h"], strict=True)), "method": method}  # fmt: skip
    else:
        correlation = {"spearman_rho": None, "p_value": None, "tasks": len(names),
                       "reason": "needs at least three tasks", "method": method}  # fmt: skip
    return {"tasks": tasks, "gain_correlation": correlation, "confidence": confidence}


def compare_with_trajectory(runs: list[RunResults], title: str | None = None) -> dict[str, Any]:
    """compare_runs on the first (base) and last (final) run; with 3+ runs also their trajectory."""
    summary = compare_runs(runs[0], runs[-1]) if title is None else compare_runs(runs[0], runs[-1], title=title)
    if len(runs) >= 3:
        traj = trajectory(runs)
        summary["trajectory"] = traj
        from evalkit.compare.turnover import checkpoint_turnover

        summary["turnover"] = checkpoint_turnover(runs)
        for task, row in traj["tasks"].items():
            summary["notes"].append(
                f"Trajectory of task {task} over {len(row['checkpoints'])} checkpoints: {row['regime']}. "
                f"{row['regime_sentence']}"
            )
    return summary
