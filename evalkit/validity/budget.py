"""Budget parity of a comparison: pass@k against generated tokens, and the runs cut to a matched token limit.

Read from the runs' stored token counts (:class:`evalkit.validity.health.RunSignals`); the math is
:mod:`evalkit.stats.budget`, whose docstring says what each figure is and where it is biased.

* **tokens at k**: beside pass@k at each k of the comparison, the mean generated tokens that k samples per
  problem cost (k times the mean over problems of each problem's mean tokens per completion).
* **pass@B**: pass@k at the k a per-problem budget of B tokens affords, for powers of two B.
* **matched limit**: when one model's completions are much longer (mean tokens per completion at least
  :data:`MUCH_LONGER` times the other's), both runs are cut to one token limit ``L``, the
  :data:`MATCH_QUANTILE` quantile of the *shorter* model's completion lengths (so at most 5% of its
  completions are affected, while the longer model loses whatever it wrote beyond what the shorter one
  needed): a sample counts as passed at ``L`` only when it passed within ``L`` tokens
  (:func:`evalkit.stats.budget.passed_at_limit`, a lower bound for both models). ``L`` is chosen from the
  same samples, so the intervals of the comparison at ``L`` do not account for that choice.

Nothing here is computed when a token count is unknown (imports without ``n_tokens``): the section says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.stats.budget import budget_grid, pass_at_budget, passed_at_limit
from evalkit.validity.health import RunSignals

MUCH_LONGER = 1.5  # a model whose mean tokens per completion is this many times the other's is "much longer"
MATCH_QUANTILE = 0.95  # the matched limit: this quantile of the shorter model's completion lengths
MODELS = ("base", "rl")


def token_arrays(signals: RunSignals, problems: list[str], upto: dict[str, int]) -> dict[str, np.ndarray] | None:
    """Per problem, the token counts of its first ``upto[pid]`` verified samples (sample_idx order), or None
    when a problem has fewer samples than that (the run changed since it was loaded)."""
    frame = signals.frame
    if frame.empty:
        return None
    out: dict[str, np.ndarray] = {}
    tokens = frame["n_tokens"].to_numpy(dtype=np.int64)
    starts = frame.groupby("problem_id", sort=False).indices
    for pid in problems:
        rows = starts.get(pid)
        if rows is None or rows.size < upto[pid]:
            return None
        out[pid] = tokens[np.sort(rows)][: upto[pid]]
    return out


def budget_section(
    results: dict[str, RunResults],
    signals: dict[str, RunSignals],
    problems: list[str],
    upto: dict[str, int],
    ks: list[int],
) -> dict[str, Any]:
    """Tokens at k, pass@B and the matched limit's definition (the comparison at it is made by the caller,
    through :func:`limited`), for the compared ``problems`` each cut to ``upto`` samples.

    Returns:
        ``{"tokens_known": False, "reason"}`` when a token count is unknown; else ``tokens_per_completion``,
        ``by_k``, ``by_budget``, ``matched_limit`` (None when the lengths are alike) and ``method``.
    """
    if any(results[m].rule is not None for m in MODELS):
        return {
            "tokens_known": False,
            "reason": "a run was sampled with --adaptive (each problem stops at R successes): pass@k against tokens "
            "and the matched limit read every problem's first m samples and are not computed",
        }
    tok: dict[str, dict[str, np.ndarray]] = {}
    for m in MODELS:
        found = token_arrays(signals[m], problems, upto)
        if found is None or any((a <= 0).any() for a in found.values()):
            return {
                "tokens_known": False,
                "reason": f"the {m} run has no token count for some completions (imported without n_tokens): "
                "pass@k against tokens and the matched limit are not computed",
            }
        tok[m] = found
    mean_t = {m: np.array([tok[m][p].mean() for p in problems]) for m in MODELS}
    per_completion = {m: float(np.concatenate([tok[m][p] for p in problems]).mean()) for m in MODELS}
    n = np.array([upto[p] for p in problems])
    c = {m: np.array([results[m].c(p, upto[p]) for p in problems]) for m in MODELS}
    grid = budget_grid(np.concatenate([mean_t["base"], mean_t["rl"]]), int(n.max()))
    by_budget: dict[str, Any] = {"budgets": grid}
    for m in MODELS:
        values, capped = pass_at_budget(n, c[m], mean_t[m], grid)
        by_budget[m] = [float(v) for v in values]
        by_budget[f"capped_{m}"] = [float(v) for v in capped]
    by_k = {m: {str(k): float(k * mean_t[m].mean()) for k in ks} for m in MODELS}
    ratio = per_completion["rl"] / per_completion["base"]
    section: dict[str, Any] = {
        "tokens_known": True,
        "tokens_per_completion": {**per_completion, "ratio_rl_to_base": ratio},
        "tokens_at_k": by_k,
        "by_budget": by_budget,
        "matched_limit": None,
        "method": (
            "pass@B = mean over problems of pass@k at k = floor(B / the problem's mean tokens per completion), "
            "capped at n (a lower bound where capped); each sample is charged its problem's mean length"
        ),
    }
    if max(ratio, 1.0 / ratio) >= MUCH_LONGER:
        shorter = "base" if ratio > 1 else "rl"
        lengths = np.concatenate([tok[shorter][p] for p in problems])
        limit = int(np.quantile(lengths, MATCH_QUANTILE, method="higher"))
        section["matched_limit"] = {
            "limit": limit,
            "shorter": shorter,
            "longer": "rl" if shorter == "base" else "base",
            "ratio": max(ratio, 1.0 / ratio),
            "cut_share": {m: float(np.mean(np.concatenate([tok[m][p] for p in problems]) > limit)) for m in MODELS},
            "how": (
                f"L = the {MATCH_QUANTILE:.0%} quantile of the {shorter} model's completion lengths "
                f"({limit} tokens); a sample counts as passed at L only when it passed within L tokens (exact "
                "for completions within L, a lower bound for longer ones: one that stated a checkable answer "
                "within L tokens and went on might still pass if cut); L is chosen from the same samples, "
                "which the intervals at L do not account for"
            ),
        }
    else:
        section["matched_limit_reason"] = (
            f"mean tokens per completion differ by a factor {max(ratio, 1.0 / ratio):.2f} < {MUCH_LONGER}: "
            "no matched-limit comparison"
        )
    return section


def limited(results: RunResults, signals: RunSignals, limit: int) -> RunResults:
    """``results`` with each sample counted as passed only when it passed within ``limit`` tokens.

    Raises:
        ValueError: when the stored samples no longer line up with the loaded results.
    """
    arrays = token_arrays(signals, list(results.passed), {p: results.n(p) for p in results.passed})
    if arrays is None:
        raise ValueError(f"{results.root}: token counts do not line up with the verdicts")
    passed = {pid: passed_at_limit(arr, arrays[pid], limit) for pid, arr in results.passed.items()}
    return dataclasses.replace(results, passed=passed)
