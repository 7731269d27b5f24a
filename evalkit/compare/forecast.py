"""``evalkit forecast``: pass@k beyond n for the tasks of a run, and where a base run would catch up with an
RL run.

Per scope (each task, and each group of tasks that share n when there are several), the run's per-problem
counts are fitted with :func:`evalkit.stats.forecast.forecast_pass_at_k` (the rate distribution fitted to the
problems with few correct samples, at most ``low_cap(n)``; the others forecast from their own counts) and checked
with :func:`evalkit.stats.forecast.backtest_counts`. Rows with k <= n are the observed unbiased estimate (Chen et
al.) with the interval ``evalkit summary`` gives (:func:`evalkit.stats.exact.problem_mean_ci`); rows with k > n
are forecasts, refused (estimate None, with the reason) when the backtest says the fit is poor, unless the caller
allows a poor fit (the rows then say ``fit_ok: false``). A run sampled with ``--adaptive`` is read as its rule
read it (:meth:`evalkit.compare.results.RunResults.outcome`): the rule's unbiased estimator up to n, and a fit
to the problems the rule drew to n with fewer than R correct samples (:func:`evalkit.stats.forecast.adaptive_low_max`).

Crossover of two runs (:func:`crossover`): on the k grid of both forecasts, the first k where the base's
forecast reaches the RL run's is the point; the interval runs from the first k where the two bands touch
(a crossover is possible there) to the first k where the base's band lies wholly above the RL band's (it is
certain there). "No crossover below K" means the base's band stays below the RL band at every k up to K.
The bands are each run's own 95% intervals, not a joint band: the crossover interval is read off them, it is
not a test with a stated error rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.compare.results import RunResults, pass_table
from evalkit.errors import EvalkitError
from evalkit.stats import powers_of_two
from evalkit.stats.exact import problem_mean_ci
from evalkit.stats.forecast import (
    BACKTEST_RATIO,
    MIN_N,
    Backtest,
    adaptive_low_max,
    backtest_counts,
    forecast_pass_at_k,
)
from evalkit.stats.forecast_model import low_cap

DEFAULT_REACH = 16  # without --k, forecasts go to 16 n in powers of two
#: What each row's interval is about (``interval_of``). Rows up to n: mean pass@k over problems like these (the
#: problems are a sample; the interval of ``evalkit summary``). Forecast rows: mean pass@k over these very problems
#: (only their samples are uncertain), which is what "would the base catch up on this benchmark" asks; so a forecast
#: interval beyond n can be narrower than the observed one at n, and it never lies below the observed pass@n.
POPULATION = "mean pass@k over problems like these (problems resampled)"
THESE_PROBLEMS = "mean pass@k over these problems (their unseen samples forecast)"


@dataclass(frozen=True)
class _Scope:
    """What a forecast reads of one scope (a task, or tasks sharing n): per problem, shape (problems,).

    ``trials`` and ``hits`` are the samples read and their successes at n (fixed n: n and the count; an
    ``--adaptive`` run: the rule's (T, S), T < n where it stopped at its R-th success); ``reached`` marks those.
    """

    n: int
    trials: np.ndarray
    hits: np.ndarray
    reached: np.ndarray
    pids: list[str]


def _read(results: RunResults, pids: list[str], m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, S, reached) of each problem's first ``m`` samples, as the estimators read them."""
    rows = [results.outcome(pid, m) for pid in pids]
    return (
        np.array([t for t, _s, _r in rows], dtype=np.int64),
        np.array([s for _t, s, _r in rows], dtype=np.int64),
        np.array([r for _t, _s, r in rows], dtype=bool),
    )


def _scopes(results: RunResults, tasks: Sequence[str] | None) -> dict[str, _Scope]:
    """Scope name -> what the forecast reads (each task cut to its smallest n; an adaptive run at its cap n)."""
    by_task: dict[str, list[str]] = defaultdict(list)
    for p in results.problems:
        if tasks and p.task not in tasks:
            continue
        by_task[p.task].append(p.id)
    if tasks:
        unknown = sorted(set(tasks) - set(by_task))
        if unknown:
            raise EvalkitError(
                f"{results.root}: no task {', '.join(unknown)} in this run (it has: {', '.join(sorted(by_task))})"
            )
    if not by_task:
        raise EvalkitError(f"{results.root}: the run holds no problems")
    scopes: dict[str, _Scope] = {}
    by_n: dict[int, list[str]] = defaultdict(list)
    rule = results.rule
    for task, pids in sorted(by_task.items()):
        n = rule.n if rule is not None else min(results.n(pid) for pid in pids)
        if n < MIN_N:
            raise EvalkitError(
                f"{results.root}: task {task} has {n} verified sample(s) on some problem; a forecast needs at least "
                f"{MIN_N} per problem (sample more with a larger --n)"
            )
        scopes[task] = _Scope(n, *_read(results, pids, n), pids)
        by_n[n].append(task)
    if len(scopes) > 1:  # groups of tasks at one n: never pooled across different n
        for n, names in sorted(by_n.items()):
            if len(names) > 1:
                parts = [scopes[t] for t in names]
                scopes[f"n={n}: " + "+".join(names)] = _Scope(
                    n,
                    np.concatenate([x.trials for x in parts]),
                    np.concatenate([x.hits for x in parts]),
                    np.concatenate([x.reached for x in parts]),
                    [pid for x in parts for pid in x.pids],
                )
    return scopes


def _observed(results: RunResults, scope: _Scope, ks: list[int], confidence: float, seed: int) -> list[tuple]:
    """(estimate, low, high, method) of mean pass@k for each k <= n: the per-problem unbiased estimator of
    :func:`evalkit.compare.results.pass_table` (fixed n or the ``--adaptive`` rule's), the interval
    :func:`evalkit.stats.exact.problem_mean_ci` (as summary)."""
    by_id = {p.id: p for p in results.problems}
    table = pass_table(results, [by_id[pid] for pid in scope.pids], ks, dict.fromkeys(scope.pids, scope.n))
    return problem_mean_ci(table, confidence, seed=seed)


def _backtest(results: RunResults, scope: _Scope, confidence: float, seed: int) -> Backtest:
    """The backtest of one scope: fitted on each problem's first n // 4 samples (as the rule read them)."""
    rule = results.rule
    m = max(2, scope.n // BACKTEST_RATIO)
    t_m, s_m, _ = _read(results, scope.pids, m)
    low_max = None if rule is None else adaptive_low_max(m, rule.successes)
    return backtest_counts(t_m, s_m, scope.hits > 0, scope.n, confidence, seed=seed, low_max=low_max)


def forecast_run(
    results: RunResults,
    ks: Sequence[int] | None = None,
    tasks: Sequence[str] | None = None,
    confidence: float = 0.95,
    allow_poor_fit: bool = False,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Rows ``{task, n, k, estimate, ci_low, ci_high, method, fit_ok, ...}`` for every scope and k.

    A run sampled with ``--adaptive`` is forecast from what its rule read: the low region is the problems with
    at most :func:`evalkit.stats.forecast.adaptive_low_max` correct samples (drawn to n by the rule, so their
    counts are complete), every other problem from its own (successes, samples read); rows with k <= n use
    the rule's unbiased estimator.

    Args:
        results: A loaded run.
        ks: The k values (default: powers of two up to ``DEFAULT_REACH`` x n).
        tasks: Only these tasks (default: all).
        confidence: Nominal coverage of the intervals.
        allow_poor_fit: Give forecasts also where the backtest found the fit poor (marked ``fit_ok: false``).
        seed: Seed of the bootstrap.

    Raises:
        EvalkitError: a k below 1, a task the run lacks, a scope with fewer than ``MIN_N`` samples per problem,
            an ``--adaptive`` problem still being sampled.
    """
    if ks is not None and any(int(k) < 1 for k in ks):
        raise EvalkitError(f"--k must be at least 1 (got {min(int(k) for k in ks)})")
    rule = results.rule
    rows: list[dict[str, Any]] = []
    for name, scope in _scopes(results, tasks).items():
        n = scope.n
        if len(scope.pids) < 2:
            raise EvalkitError(f"{name}: a forecast needs at least 2 problems with samples (got {len(scope.pids)})")
        want = sorted({int(k) for k in ks}) if ks else powers_of_two(DEFAULT_REACH * n)
        low_max = low_cap(n) if rule is None else adaptive_low_max(n, rule.successes)
        check = _backtest(results, scope, confidence, seed)
        fit_ok = check.ok
        beyond = [k for k in want if k > n]
        fc = (
            forecast_pass_at_k(scope.trials, scope.hits, beyond, confidence, seed=seed, low_max=low_max)
            if beyond
            else None
        )
        fit_info = {
            "fit_ok": fit_ok,
            "backtest": {
                "fitted_on": check.m,
                "forecast_k": check.n,
                "observed": check.observed,
                "ci_low": check.forecast.ci_low[0],
                "ci_high": check.forecast.ci_high[0],
            },
        }
        if fc is not None:
            fit_info["fit"] = {
                "pi0": fc.fit.pi0,
                "a": fc.fit.a,
                "b": fc.fit.b,
                "fitted_to_counts_up_to": low_max,
                "problems_fitted": int(np.count_nonzero((scope.hits <= low_max) & ~scope.reached)),
            }
        inside = [k for k in want if k <= n]
        observed = dict(zip(inside, _observed(results, scope, inside, confidence, seed), strict=True)) if inside else {}
        size = len(scope.pids)
        for k in want:
            row: dict[str, Any] = {"task": name, "n": n, "k": k, "n_problems": size, "confidence": confidence}
            if k <= n:
                est, low, high, how = observed[k]
                row.update(estimate=est, ci_low=max(0.0, low), ci_high=min(1.0, high), method="observed")
                row.update(ci_method=how, interval_of=POPULATION)
            elif fit_ok or allow_poor_fit:
                assert fc is not None
                i = fc.ks.index(k)
                row.update(estimate=fc.estimate[i], ci_low=fc.ci_low[i], ci_high=fc.ci_high[i])
                row["method"] = "zero-inflated beta-binomial forecast (fitted to the low counts)"
                row["interval_of"] = THESE_PROBLEMS
            else:
                row.update(estimate=None, ci_low=None, ci_high=None, method="refused")
                row["refused"] = (
                    f"poor fit: fitted on {check.m} samples per problem it forecast pass@{check.n} in "
                    f"[{check.forecast.ci_low[0]:.3f}, {check.forecast.ci_high[0]:.3f}], the run observed "
                    f"{check.observed:.3f}"
                )
            if rule is not None:
                row["adaptive"] = {"successes": rule.successes, "n": rule.n}
            rows.append({**row, **fit_info})
    return rows


def crossover(base_rows: list[dict[str, Any]], rl_rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per scope, where the base would catch up with RL: ``{"k": ..., "k_low": ..., "k_high": ..., "text": ...}``.

    ``k`` is None when the point forecasts never meet on the grid; ``k_low`` None means the bands never touch
    ("no crossover below K"); ``k_high`` None means the crossover is not certain at any k of the grid. Equal
    curves, or a base not below RL at the first k, have no crossover (all three None).
    """
    rl_by = {(r["task"], r["k"]): r for r in rl_rows}
    out: dict[str, dict[str, Any]] = {}
    scopes = sorted({r["task"] for r in base_rows} & {r["task"] for r in rl_rows})
    for scope in scopes:
        pairs = [
            (b, rl_by[(scope, b["k"])])
            for b in sorted((r for r in base_rows if r["task"] == scope), key=lambda r: r["k"])
            if (scope, b["k"]) in rl_by and b["estimate"] is not None and rl_by[(scope, b["k"])]["estimate"] is not None
        ]
        if not pairs:
            out[scope] = {"k": None, "k_low": None, "k_high": None, "text": "no forecast for both runs"}
            continue
        top = pairs[-1][0]["k"]
        first_base, first_rl = pairs[0][0]["estimate"], pairs[0][1]["estimate"]
        if all(abs(b["estimate"] - r["estimate"]) <= 1e-12 for b, r in pairs):
            out[scope] = {"k": None, "k_low": None, "k_high": None, "max_k": top,
                          "text": f"no crossover: the two curves are equal up to k = {top}"}  # fmt: skip
            continue
        if first_base >= first_rl:
            out[scope] = {"k": None, "k_low": None, "k_high": None, "max_k": top,
                          "text": f"no crossover: the base is not below RL at k = {pairs[0][0]['k']}"}  # fmt: skip
            continue
        point = next((b["k"] for b, r in pairs if b["estimate"] >= r["estimate"]), None)
        low = next((b["k"] for b, r in pairs if b["ci_high"] >= r["ci_low"]), None)
        high = next((b["k"] for b, r in pairs if b["ci_low"] > r["ci_high"]), None)
        if low is None:
            text = f"no crossover below k = {top}: the base's band stays below RL's"
        elif point is None:
            text = f"no crossover of the forecasts below k = {top} (the bands touch from k = {low})"
        else:
            upper = f"{high}" if high is not None else f"beyond {top}"
            text = f"the base catches up at k = {point} (bands: from k = {low} to {upper})"
        out[scope] = {"k": point, "k_low": low, "k_high": high, "max_k": top, "text": text}
    return out


def attach_forecasts(summary: dict[str, Any], base: RunResults, rl: RunResults, confidence: float = 0.95) -> None:
    """Add both runs' forecasts beyond n and the crossover to a comparison summary, in place.

    ``summary["forecast"]`` gets ``{"base": rows, "rl": rows, "crossover": {...}}`` (rows as
    :func:`forecast_run`), or ``{"skipped": reason}`` when a run cannot be forecast (fewer than ``MIN_N``
    samples per problem); each task section gets ``forecast`` ({model: {k: estimate}}) and ``forecast_ci``
    ({model: {k: [low, high]}}) for k > n, which the report draws beyond the observed curves.
    """
    tasks = [t for t in summary.get("tasks", {}) if isinstance(summary["tasks"][t], dict)]
    try:
        rows = {"base": forecast_run(base, None, tasks, confidence), "rl": forecast_run(rl, None, tasks, confidence)}
    except EvalkitError as exc:
        summary["forecast"] = {"skipped": str(exc)}
        return
    summary["forecast"] = {**rows, "crossover": crossover(rows["base"], rows["rl"])}
    for task in tasks:
        section = summary["tasks"][task]
        points: dict[str, dict[str, float]] = {}
        bands: dict[str, dict[str, list[float]]] = {}
        for model, model_rows in rows.items():
            mine = [
                r for r in model_rows if r["task"] == task and r["method"] != "observed" and r["estimate"] is not None
            ]
            points[model] = {str(r["k"]): r["estimate"] for r in mine}
            bands[model] = {str(r["k"]): [r["ci_low"], r["ci_high"]] for r in mine}
        section["forecast"], section["forecast_ci"] = points, bands
