"""The frontier statements of a comparison (see :mod:`evalkit.compare.summary`, (a) to (c)): per-problem
bounds, the simultaneous bound on the base's rate over RL-only problems, the chance test and McNemar's test.

Runs sampled with ``--adaptive`` (a problem stops at its R-th correct sample or at n; one or both runs): each
problem is read to m = the smaller of the two runs' n (an adaptive run stands for its rule's n, whatever it drew),
through :meth:`evalkit.compare.results.RunResults.outcome`, which replays the rule with cap m and gives its
statistic (T, S). Why every statement stays valid:

* pass@k per problem is the rule's unbiased estimator (:func:`evalkit.compare.results.pass_table`), in [0, 1]
  and independent across problems, so the intervals over problems and the paired sign-flip tests (delta cells,
  the gate) hold as for fixed n;
* classes use "solved within m", which an adaptive run knows exactly (stopped early means R >= 1 successes
  within m; never solved means all m samples were read), so they equal those of a fixed-n run of the same
  samples;
* (b) bounds the base's rate on problems it never solved: an adaptive base read all m samples there, so the
  bound is the fixed-n Clopper-Pearson one, exact;
* per-problem Clopper-Pearson intervals use (S, T): under "stop at R or m", ordering outcomes by evidence for a
  large rate, P(outcome at least as large as (R, t)) = P(Binomial(t, p) >= R) and that of (s, m) is
  P(Binomial(m, p) >= s), exactly Clopper-Pearson's lower-bound equations, so the lower bound is exact; the
  upper bound's tail P(Binomial(t - 1, p) <= R - 1) <= P(Binomial(t, p) <= R), so it is conservative;
* (c) conditions on each problem's pooled count s of 2m samples, which an adaptive run does not have where it
  stopped early; it is computed on the successes the rule read instead (S <= the count among m, equal where
  the rule read all m). Its null tail is a Poisson-binomial in q(s) = C(2m - s, m) / C(2m, m), decreasing in s,
  and the tail grows with every q, so the p-value from the smaller s is at least the exact conditional one:
  conservative, valid at its level, and close to it (q(s) is about 2^-s, tiny once s >= R). The observed
  RL-only and base-only counts are exact. Its ``method`` says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.stats import frontier_class_test, sign_flip_test, zero_success_upper_bound
from evalkit.types import Problem

__all__ = ["frontier_evidence", "frontier_for", "frontier_statements"]


def frontier_statements(
    c_base: np.ndarray, c_rl: np.ndarray, m: np.ndarray, chance: dict[str, Any], confidence: float = 0.95
) -> dict[str, Any]:
    """The three frontier statements of the module docstring, for one set of problems."""
    rl_only = (c_rl >= 1) & (c_base == 0)
    base_only = (c_base >= 1) & (c_rl == 0)
    k_rl = int(rl_only.sum())
    out: dict[str, Any] = {"confidence": confidence, "rl_only": k_rl, "base_only": int(base_only.sum())}
    if k_rl:
        # Bonferroni over every compared problem, a number fixed before the data are seen: each problem's
        # one-sided bound misses its rate with probability <= alpha / N, so all N hold at once with
        # probability >= 1 - alpha, and then so do those of the RL-only problems, whichever the data chose.
        # (Bonferroni over the K RL-only problems alone would let the data choose the family.)
        n_all = int(m.size)
        level = 1.0 - (1.0 - confidence) / n_all
        bound = max(zero_success_upper_bound(int(mm), level) for mm in np.unique(m[rl_only]))
        out["simultaneous"] = {
            "base_rate_below": bound,
            "problems": k_rl,
            "family": n_all,
            "level_each": level,
            "method": f"one-sided Clopper-Pearson at 1 - {1.0 - confidence:g}/{n_all} per problem, Bonferroni over "
            f"all {n_all} compared problems",
            "statement": (
                f"The base's per-sample success rate is below {bound:.4f} on every one of these {k_rl} "
                f"RL-only problems, {confidence:.0%} family-wise over all {n_all} compared problems "
                f"(Clopper-Pearson at {level:.5f} each, Bonferroni)."
            ),
        }
    else:
        out["simultaneous"] = None
    out["chance_test"] = {
        "statement": "RL more often solves problems the base misses than equal per-problem rates would give",
        "p_value": chance["p_rl_only_exact"],
        "shown": bool(chance["p_rl_only_exact"] <= 1.0 - confidence),
        "note": "a property of the counts, shown by sharpening as well; not evidence of expansion",
    }
    solved_b, solved_r = (c_base > 0).astype(np.float64), (c_rl > 0).astype(np.float64)
    p_rl_more = float(sign_flip_test(solved_b - solved_r, 0.0, bound=False).p_value)
    p_base_more = float(sign_flip_test(solved_r - solved_b, 0.0, bound=False).p_value)
    out["mcnemar"] = {
        "rl_only": k_rl,
        "base_only": int(base_only.sum()),
        "p_rl_solves_more": p_rl_more,
        "p_base_solves_more": p_base_more,
        "method": "exact sign test of RL-only vs base-only problems at k = m (McNemar, exact conditional)",
    }
    return out


def frontier_evidence(
    base: RunResults, rl: RunResults, problems: list[Problem], upto: dict[str, int]
) -> dict[str, Any]:
    """Are there more RL-only (base-only) problems than chance gives when both models are equally good?

    The conditional test on the counts (:func:`evalkit.stats.frontier_class_test`). When either run was sampled
    with ``--adaptive``, on the successes its rule read (S of :meth:`RunResults.outcome`): a lower bound on the
    pooled count where it stopped early, which makes the p-value conservative (module docstring); ``method``
    says so."""
    c_b = np.array([base.hits(p.id, upto[p.id]) for p in problems])
    c_r = np.array([rl.hits(p.id, upto[p.id]) for p in problems])
    m = np.array([upto[p.id] for p in problems])
    test: dict[str, Any] = frontier_class_test(c_b, c_r, m, n_perm=2000, seed=0)
    if base.rule is not None or rl.rule is not None:
        test["method"] = (
            "exact conditional test on the successes the --adaptive rule read (a lower bound on each pooled count "
            "where it stopped early): conservative"
        )
    out = {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in test.items()}
    out["label"] = "RL more often solves problems the base misses than equal per-problem rates would give"
    return out


def frontier_for(
    base: RunResults,
    rl: RunResults,
    problems: list[Problem],
    upto: dict[str, int],
    chance: dict[str, Any],
    confidence: float,
) -> dict[str, Any]:
    c_b = np.array([base.hits(p.id, upto[p.id]) for p in problems])
    c_r = np.array([rl.hits(p.id, upto[p.id]) for p in problems])
    m = np.array([upto[p.id] for p in problems])
    return frontier_statements(c_b, c_r, m, chance, confidence)
