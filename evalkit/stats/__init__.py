"""Per-problem estimators, intervals over problems and frontier tests for comparing two checkpoints.

Every estimator takes per-problem counts (``n`` samples, ``c`` correct) and broadcasts over problems
with numpy; nothing loops over problems in Python except :func:`maj_at_k`, which needs the answers.

Estimators (each is an exact, unbiased estimate from n samples of the named quantity):

- :func:`pass_at_k`: ``1 - C(n-c, k) / C(n, k)``, Chen et al. 2021, "Evaluating Large Language Models
  Trained on Code", arXiv 2107.03374. Product form in log space, tabulated once per distinct (n, c).
- :func:`pass_hat_k`: pass^k, all k draws correct, ``C(c, k) / C(n, k)`` (Yao et al. 2024, tau-bench,
  arXiv 2406.12045).
- :func:`g_pass_at_k` and :func:`mg_pass_at_k`: G-Pass@k_tau and mG-Pass@k, Liu et al. 2024, "Are Your
  LLMs Capable of Stable Reasoning?", arXiv 2412.13147: hypergeometric tail probabilities.
- :func:`maj_at_k`: majority vote over k samples, as the expectation over random k-subsets (a U-statistic,
  so unbiased for the model's maj@k), exact for k = 1 and k = n, seeded Monte Carlo otherwise.
- :func:`cover_at_tau`: Cover@tau, the fraction of problems whose success rate is at least tau
  (Dragoi et al. 2025, "Beyond Pass@k: Breadth-Depth Metrics for Reasoning Boundaries", arXiv 2510.08325).

Intervals over problems (the problem is the unit of resampling; a problem's samples form one cluster):

- :func:`bootstrap_ci`, :func:`pass_at_k_ci`, :func:`paired_delta_ci`: studentized bootstrap (default;
  bootstrap-t, Hall 1988, Ann. Statist. 16:927), BCa (Efron 1987, JASA 82:171) or percentile, vectorised
  as multinomial resample counts times per-problem values. Paired deltas resample problem indices once
  per replicate and apply them to both runs.
- :func:`clustered_se`, :func:`pass_at_k_se_ci`, :func:`paired_delta_se_ci`: the cheap CLT alternative,
  Student-t intervals with the cluster-robust standard error (one cluster per problem).
- All interval functions take ``alternative`` ("two-sided", "less", "greater") for one-sided bounds.
  :mod:`evalkit.compare.calibration` checks their coverage by simulation.

Frontier evidence:

- :func:`frontier_class_test`: counts of RL-only / base-only solved problems with a conditional
  permutation p-value (and its exact Poisson-binomial value) under "same per-problem success rate".
- :func:`benjamini_hochberg`: BH adjusted p-values (Benjamini & Hochberg 1995, JRSS-B 57:289).
- :func:`problem_mean_ci`: the interval each reported mean gets, by the method that holds for its values:
  exact Clopper-Pearson where every per-problem value is 0 or 1 (:func:`evalkit.stats.exact.binary_mean_ci`),
  conservative Clopper-Pearson on gained and lost problems where every paired difference is -1, 0 or 1
  (:func:`evalkit.stats.exact.ternary_mean_ci`), the betting confidence set of Waudby-Smith & Ramdas (2024)
  with fewer than 100 problems (:func:`evalkit.stats.exact.betting_ci`), the studentized bootstrap
  otherwise; it says which.
- :func:`clopper_pearson`, :func:`zero_success_upper_bound`: exact binomial intervals (Clopper & Pearson
  1934), used to phrase "0 of 1024" as "rate below about 3/1024 with 95% confidence".

ProRL analyses (Liu et al. 2025, "ProRL: Prolonged Reinforcement Learning Expands Reasoning Boundaries
in Large Language Models", arXiv 2505.24864): :func:`prorl_regime` (diminish / plateau / sustained)
and :func:`gain_correlation` (Spearman correlation of the gain with the base model's pass@k).

Checkpoint turnover (:mod:`evalkit.stats.turnover`): problems gained and lost between two checkpoints with their
exact chance-level reference under no change (a permutation of each problem's pooled samples, Poisson-binomial
over problems) and the exact McNemar test of gains against losses.

Guessing (Dragoi et al. 2025, arXiv 2510.08325): :func:`guess_pass_at_k`, the exact pass@k of random guesses
from a small answer space, and :func:`above_guess_pvalues`, the exact binomial test of a problem's rate against it.

Not here: per-sample continuous scores (pass@k needs binary verdicts), weighting problems unequally.
"""

from __future__ import annotations

from evalkit.stats.estimators import (
    cover_at_tau,
    g_pass_at_k,
    maj_at_k,
    mean_pass_at_k,
    mg_pass_at_k,
    pass_at_k,
    pass_hat_k,
    powers_of_two,
)
from evalkit.stats.exact import problem_mean_ci
from evalkit.stats.frontier import benjamini_hochberg, frontier_class_test
from evalkit.stats.guess import above_guess_pvalues, guess_pass_at_k
from evalkit.stats.intervals import (
    bootstrap_ci,
    clopper_pearson,
    clustered_se,
    paired_delta_ci,
    paired_delta_se_ci,
    pass_at_k_ci,
    pass_at_k_se_ci,
    zero_success_upper_bound,
)
from evalkit.stats.paired import SignFlipResult, holm, sign_flip_test
from evalkit.stats.trajectory import (
    PairedChange,
    gain_correlation,
    gain_correlation_test,
    paired_change,
    paired_regime,
    prorl_regime,
    split_half_gain_inputs,
)

__all__ = [
    "PairedChange",
    "SignFlipResult",
    "above_guess_pvalues",
    "benjamini_hochberg",
    "bootstrap_ci",
    "clopper_pearson",
    "clustered_se",
    "cover_at_tau",
    "frontier_class_test",
    "g_pass_at_k",
    "gain_correlation",
    "gain_correlation_test",
    "guess_pass_at_k",
    "holm",
    "maj_at_k",
    "mean_pass_at_k",
    "mg_pass_at_k",
    "paired_change",
    "paired_delta_ci",
    "paired_delta_se_ci",
    "paired_regime",
    "pass_at_k",
    "pass_at_k_ci",
    "pass_at_k_se_ci",
    "pass_hat_k",
    "powers_of_two",
    "problem_mean_ci",
    "prorl_regime",
    "sign_flip_test",
    "split_half_gain_inputs",
    "zero_success_upper_bound",
]
