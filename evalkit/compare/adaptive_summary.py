"""``evalkit summary`` of a run sampled with ``--adaptive``: pass@k by the estimator of its stopping rule.

Per problem the rule (:class:`evalkit.stats.adaptive.AdaptiveRule`, recorded as ``identity.adaptive``) is
replayed on the verified samples 0, 1, ... to find its stopping time T and successes S; pass@k is
:func:`evalkit.stats.adaptive.adaptive_pass_at_k` (unbiased for every k up to the rule's n), the task's mean
is the mean over problems, and its interval is :func:`evalkit.stats.problem_mean_ci` over the per-problem
estimates (independent across problems and bounded in [0, 1], as fixed-n estimates are). Every k of
:func:`evalkit.stats.powers_of_two` of n is reported, whatever the samples drawn.

What the JSON adds to the fixed-n summary: ``adaptive`` (the rule) and, per task, ``samples_drawn`` (verified
samples stored), ``samples_fixed`` (problems x n, what a fixed-n run draws) and ``stopped_early`` (problems
stopped at R successes); per problem ``samples_drawn``, ``used`` (T) and ``reached`` (S = R at T), beside
``n`` (= samples drawn) and ``c`` (successes among them).

Comparisons and gates read adaptive runs through :func:`evalkit.compare.results.pass_table` and
:meth:`evalkit.compare.results.RunResults.outcome`. Not implemented: forecasts of adaptive runs (refused, one
line) and per-problem intervals.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.errors import EvalkitError
from evalkit.stats import powers_of_two, problem_mean_ci
from evalkit.stats.adaptive import AdaptiveRule, Decision, adaptive_table, rule_of
from evalkit.types import Problem


def run_decisions(results: RunResults, rule: AdaptiveRule) -> dict[str, Decision]:
    """The rule's decision for each problem of the run, from its verified prefix of samples."""
    empty = np.zeros(0, dtype=bool)
    return {p.id: rule.decide(results.passed.get(p.id, empty)[: results.prefix.get(p.id, 0)]) for p in results.problems}


def summarize_adaptive(results: RunResults, confidence: float = 0.95) -> dict[str, Any]:
    """The JSON of ``evalkit summary`` for an adaptive run (the keys of the fixed-n summary, plus those above).

    Raises:
        EvalkitError: when a problem is still being sampled under the rule (naming the task and the fix).
    """
    rule = rule_of(results.manifest, str(results.root / "manifest.json"))
    if rule is None:
        raise EvalkitError(f"{results.root}: not an --adaptive run")
    decided = run_decisions(results, rule)
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for p in results.problems:
        by_task[p.task].append(p)
    ks = powers_of_two(rule.n)
    tasks = {}
    for task, probs in sorted(by_task.items()):
        open_ = sum(1 for p in probs if not decided[p.id].done)
        if open_:
            raise EvalkitError(
                f"{results.root}: {open_} problem(s) of task {task} are still being sampled under --adaptive; "
                "rerun the same `evalkit sample` command to finish (it resumes), or `evalkit score`"
            )
        done = [decided[p.id] for p in probs]
        table = adaptive_table(rule, done, ks)
        drawn = [results.n(p.id) for p in probs]
        if len(probs) >= 2:
            cis = problem_mean_ci(table, confidence, seed=0)
            ci: dict[str, list[float] | None] = {
                str(k): [float(lo), float(hi)] for k, (_e, lo, hi, _m) in zip(ks, cis, strict=True)
            }
            method: dict[str, str | None] = {str(k): m for k, (*_v, m) in zip(ks, cis, strict=True)}
        else:
            ci, method = dict.fromkeys(map(str, ks)), dict.fromkeys(map(str, ks))
        tasks[task] = {
            "n_problems": len(probs),
            "n_min": min(drawn),
            "n_max": max(drawn),
            "n_target": rule.n,
            "samples_drawn": int(sum(drawn)),
            "samples_fixed": rule.n * len(probs),
            "stopped_early": sum(1 for d in done if d.reached),
            "pass_at_k": {str(k): float(table[:, j].mean()) for j, k in enumerate(ks)},
            "pass_at_k_ci": ci,
            "pass_at_k_ci_method": method,
            "confidence": confidence,
        }
    return {
        "run": str(results.root),
        "model": results.label(),
        "fingerprint": results.manifest.get("fingerprint"),
        "adaptive": rule.to_json(),
        "unverified": results.unverified,
        "rates": results.rates,
        "tasks": tasks,
        "problems": [
            {
                "problem_id": p.id,
                "task": p.task,
                "n": results.n(p.id),
                "c": results.c(p.id),
                "samples_drawn": results.n(p.id),
                "used": decided[p.id].used,
                "reached": decided[p.id].reached,
            }
            for p in results.problems
        ],
    }
