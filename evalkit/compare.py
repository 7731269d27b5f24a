"""Base run vs RL run: frontier classes per problem and pass@k curves, as the report's summary dict.

Both runs are reduced to the problems they share. For each problem, both are cut to the largest common
number of samples m = min(n_base, n_rl) (samples in sample_idx order), and the problem is classed:

* ``rl_only``: base solved 0 of m, RL solved at least one (expansion);
* ``base_only``: the reverse (shrinkage);
* ``both`` / ``neither``.

"0 of m" is evidence, not proof: the base's per-sample success rate is then below the one-sided
Clopper-Pearson bound (about 3/m at 95%), which the summary records. Significance tests on the class
counts and bootstrap intervals come with the statistics issue.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from evalkit import __version__
from evalkit.errors import EvalkitError
from evalkit.results import RunResults, _bucket
from evalkit.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    frontier_class_test,
    gain_correlation,
    paired_regime,
    pass_at_k,
    powers_of_two,
    split_half_gain_inputs,
    zero_success_upper_bound,
)
from evalkit.types import Problem

CLASSES = ("both", "rl_only", "base_only", "neither")
EXAMPLE_CHARS = 2000


def classify(c_base: int, c_rl: int) -> str:
    if c_base and c_rl:
        return "both"
    if c_rl:
        return "rl_only"
    if c_base:
        return "base_only"
    return "neither"


def run_info(results: RunResults) -> dict[str, Any]:
    identity = results.manifest.get("identity", {})
    info = results.manifest.get("info", {})
    return {
        "dir": str(results.root),
        "model": identity.get("model"),
        "model_hash": identity.get("model_hash"),
        "fingerprint": results.manifest.get("fingerprint"),
        "n": info.get("n"),
        "sampling": identity.get("sampling"),
        "seed": identity.get("seed"),
        "backend": identity.get("backend"),
        "tasks": identity.get("tasks"),
        "git": info.get("git"),
        "versions": info.get("versions"),
        "unverified": results.unverified,
    }


def common_problems(base: RunResults, rl: RunResults) -> tuple[list[Problem], list[str]]:
    """Problems both runs hold with at least one verified sample each, and notes on what was dropped."""
    rl_ids = {p.id for p in rl.problems}
    shared = [p for p in base.problems if p.id in rl_ids]
    notes = []
    dropped = len(base.problems) + len(rl.problems) - 2 * len(shared)
    if not shared:
        raise EvalkitError(
            f"{base.root} and {rl.root} share no problems; sample both with the same --task, --problem-seed and --limit"
        )
    if dropped:
        notes.append(
            f"The runs hold different problem sets: compared the {len(shared)} shared problems; "
            f"{dropped} problem(s) present in only one run were dropped."
        )
    usable = [p for p in shared if base.n(p.id) and rl.n(p.id)]
    if len(usable) < len(shared):
        notes.append(
            f"{len(shared) - len(usable)} shared problem(s) have no verified samples in one run and "
            "were left out; rerun `evalkit sample` or `evalkit score` to finish them."
        )
    if not usable:
        raise EvalkitError(f"{base.root} vs {rl.root}: no problem has verified samples in both runs")
    return usable, notes


def per_problem_table(results: RunResults, problems: list[Problem], ks: list[int], upto: dict[str, int]) -> np.ndarray:
    """Per-problem pass@k, shape (problems, ks), each problem cut to its common sample count ``upto``."""
    n = np.array([upto[p.id] for p in problems])
    c = np.array([results.c(p.id, upto[p.id]) for p in problems])
    return pass_at_k(n[:, None], c[:, None], np.array(ks)[None, :])


def _intervals(
    table: np.ndarray, ks: list[int], confidence: float, bounds: tuple[float, float] = (0.0, 1.0)
) -> dict[str, list[float] | None]:
    """Bootstrap interval of the mean over problems for each k, clipped to ``bounds`` (the values' range;
    (-1, 1) for paired deltas). None with fewer than two problems."""
    if table.shape[0] < 2:
        return {str(k): None for k in ks}
    _est, low, high = bootstrap_ci(table, confidence=confidence, seed=0)
    low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    return {str(k): [float(lo), float(hi)] for k, lo, hi in zip(ks, low, high, strict=True)}


def _section(
    base: RunResults, rl: RunResults, problems: list[Problem], upto: dict[str, int], confidence: float = 0.95
) -> dict[str, Any]:
    m = min(upto[p.id] for p in problems)
    ks = powers_of_two(m)
    counts = dict.fromkeys(CLASSES, 0)
    for p in problems:
        counts[classify(base.c(p.id, upto[p.id]), rl.c(p.id, upto[p.id]))] += 1
    # pass@k with each problem cut to its common n, so both models are judged on equal budgets
    tb, tr = per_problem_table(base, problems, ks, upto), per_problem_table(rl, problems, ks, upto)
    delta_ci = _intervals(tr - tb, ks, confidence, (-1.0, 1.0))  # paired: the same problems resampled for both
    return {
        "n_problems": len(problems),
        "n": m,
        "pass_at_k": {"base": _means(tb, ks), "rl": _means(tr, ks)},
        "pass_at_k_ci": {"base": _intervals(tb, ks, confidence), "rl": _intervals(tr, ks, confidence)},
        "delta": {
            str(k): {"delta": float(tr[:, j].mean() - tb[:, j].mean()), "ci": delta_ci[str(k)]}
            for j, k in enumerate(ks)
        },
        "confidence": confidence,
        "classes": counts,
    }


def _means(table: np.ndarray, ks: list[int]) -> dict[str, float | None]:
    return {str(k): float(table[:, j].mean()) for j, k in enumerate(ks)}


def frontier_evidence(
    base: RunResults, rl: RunResults, problems: list[Problem], upto: dict[str, int]
) -> dict[str, Any]:
    """Are there more RL-only (base-only) problems than chance gives when both models are equally good?"""
    c_b = np.array([base.c(p.id, upto[p.id]) for p in problems])
    c_r = np.array([rl.c(p.id, upto[p.id]) for p in problems])
    m = np.array([upto[p.id] for p in problems])
    test = frontier_class_test(c_b, c_r, m, n_perm=2000, seed=0)
    return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in test.items()}


def compare_runs(
    base: RunResults, rl: RunResults, title: str = "evalkit: base vs RL", confidence: float = 0.95
) -> dict[str, Any]:
    """The summary dict that the report renders and ``evalkit compare --json`` prints."""
    problems, notes = common_problems(base, rl)
    upto = {p.id: min(base.n(p.id), rl.n(p.id)) for p in problems}
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_task[p.task].append(p)
    tasks = {}
    for task, probs in sorted(by_task.items()):
        section = _section(base, rl, probs, upto, confidence)
        section["frontier_test"] = frontier_evidence(base, rl, probs, upto)
        buckets: dict[str, list[Problem]] = defaultdict(list)
        for p in probs:
            b = _bucket(p)
            if b is not None:
                buckets[b].append(p)
        section["buckets"] = {
            name: {k: v for k, v in _section(base, rl, bp, upto).items() if k in ("n_problems", "pass_at_k", "n")}
            for name, bp in sorted(buckets.items())
        }
        tasks[task] = section
    overall = _section(base, rl, problems, upto, confidence)
    overall["frontier_test"] = frontier_evidence(base, rl, problems, upto)
    overall["buckets"] = {}
    # Benjamini-Hochberg across tasks: a few tasks showing RL-only problems by chance is expected
    names = sorted(tasks)
    for key in ("rl_only", "base_only"):
        q = benjamini_hochberg([tasks[t]["frontier_test"][f"p_{key}_exact"] for t in names])
        for t, qv in zip(names, q, strict=True):
            tasks[t]["frontier_test"][f"q_{key}"] = float(qv)
    rows = []
    for p in problems:
        m = upto[p.id]
        cb, cr = base.c(p.id, m), rl.c(p.id, m)
        cls = classify(cb, cr)
        rows.append(
            {
                "problem_id": p.id,
                "task": p.task,
                "prompt": p.prompt,
                "reference": p.reference,
                "bucket": _bucket(p),
                "n": m,
                "c_base": cb,
                "c_rl": cr,
                "class": cls,
                "base_rate_upper_95": zero_success_upper_bound(m) if cb == 0 else None,
                "rl_rate_upper_95": zero_success_upper_bound(m) if cr == 0 else None,
                "example_base": base.example.get(p.id, "")[:EXAMPLE_CHARS] if cb else None,
                "example_rl": rl.example.get(p.id, "")[:EXAMPLE_CHARS] if cr else None,
            }
        )
    m_all = overall["n"]
    ub = zero_success_upper_bound(m_all)
    cls = overall["classes"]
    ft = overall["frontier_test"]
    notes.append(
        f"Chance level: if both models had the same per-problem success rates, about {ft['expected_under_null']:.1f} "
        f"problems would come out one-sided by chance; p-value for {cls['rl_only']} RL-only = "
        f"{ft['p_rl_only_exact']:.3g}, "
        f"for {cls['base_only']} base-only = {ft['p_base_only_exact']:.3g} (exact conditional test, per task "
        "adjusted by Benjamini-Hochberg in the JSON)."
    )
    notes.append(
        f"RL-only problems: {cls['rl_only']}; base-only: {cls['base_only']} (of {len(problems)}). "
        f"'0 of {m_all}' means that model's per-sample success rate on that problem is below {ub:.4f} "
        f"with 95% confidence (one-sided Clopper-Pearson), not that it is impossible."
    )
    return {
        "title": title,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evalkit_version": __version__,
        "runs": {"base": run_info(base), "rl": run_info(rl)},
        "ks": powers_of_two(m_all),
        "overall": overall,
        "tasks": tasks,
        "problems": rows,
        "rates": {"base": base.rates, "rl": rl.rates},
        "training": training_log(rl),
        "training_eval": training_log(rl, "eval_log.jsonl"),
        "gate": None,
        "notes": notes,
    }


def training_log(results: RunResults, name: str = "train_log.jsonl") -> list[dict[str, Any]] | None:
    """A GRPO log (per-step ``train_log.jsonl`` or held-out ``eval_log.jsonl``) of the RL run's checkpoint,
    when evalkit's trainer made it."""
    model = results.manifest.get("identity", {}).get("model")
    if not isinstance(model, str):
        return None
    path = Path(model) / name
    if not path.is_file():
        return None
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows or None


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
    split: dict[str, tuple[float, float, int]] = {}
    for task, probs in sorted(by_task.items()):
        m = min(upto[p.id] for p in probs)
        rows: list[dict[str, Any]] = []
        tables = []
        for r in runs:
            table = per_problem_table(r, probs, [1, m], upto)
            tables.append(table)
            ci = _intervals(table, [1, m], confidence)
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
            split[task] = split_half_gain_inputs(
                [runs[0].passed[p.id][:m] for p in probs], [runs[-1].passed[p.id][:m] for p in probs]
            )
    names = sorted(split)
    method = (
        "Spearman over tasks; x = base pass@h from the even-indexed half of its samples, gain = final - base "
        "pass@h from the odd-indexed halves (independent of x's sampling error)"
    )
    if len(names) >= 3:
        rho, p_value = gain_correlation([split[t][0] for t in names], [split[t][1] for t in names])
        correlation: dict[str, Any] = {"spearman_rho": rho, "p_value": p_value, "tasks": len(names),
                                       "h": {t: split[t][2] for t in names}, "method": method}  # fmt: skip
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
        for task, row in traj["tasks"].items():
            summary["notes"].append(
                f"Trajectory of task {task} over {len(row['checkpoints'])} checkpoints: {row['regime']}. "
                f"{row['regime_sentence']}"
            )
    return summary
