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
  :mod:`evalkit.calibration` checks their coverage by simulation.

Frontier evidence:

- :func:`frontier_class_test`: counts of RL-only / base-only solved problems with a conditional
  permutation p-value (and its exact Poisson-binomial value) under "same per-problem success rate".
- :func:`benjamini_hochberg`: BH adjusted p-values (Benjamini & Hochberg 1995, JRSS-B 57:289).
- :func:`clopper_pearson`, :func:`zero_success_upper_bound`: exact binomial intervals (Clopper & Pearson
  1934), used to phrase "0 of 1024" as "rate below about 3/1024 with 95% confidence".

ProRL analyses (Liu et al. 2025, "ProRL: Prolonged Reinforcement Learning Expands Reasoning Boundaries
in Large Language Models", arXiv 2505.24864): :func:`prorl_regime` (diminish / plateau / sustained)
and :func:`gain_correlation` (Spearman correlation of the gain with the base model's pass@k).

Not here: per-sample continuous scores (pass@k needs binary verdicts), weighting problems unequally.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as sps
from scipy.special import gammaln

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Alternative = Literal["two-sided", "less", "greater"]
BootMethod = Literal["studentized", "bca", "percentile"]

# Upper bound on the elements of one temporary block (tables, resample counts, permutations), so that
# memory stays around 32 MiB whatever the input size.
_BLOCK = 1 << 22


# ----------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------


def _as_counts(name: str, n: ArrayLike, c: ArrayLike) -> tuple[IntArray, IntArray]:
    """Validated integer (n, c) arrays; they are not broadcast (callers broadcast lazily)."""
    n_a = np.asarray(n, dtype=np.int64)
    c_a = np.asarray(c, dtype=np.int64)
    np.broadcast_shapes(n_a.shape, c_a.shape)  # raises ValueError on a shape mismatch
    if np.any(n_a < 1):
        raise ValueError(f"{name}: n must be >= 1")
    if np.any(c_a < 0) or np.any(c_a > n_a):
        raise ValueError(f"{name}: c must satisfy 0 <= c <= n")
    return n_a, c_a


def _as_k(name: str, k: ArrayLike) -> IntArray:
    k_a = np.asarray(k, dtype=np.int64)
    if np.any(k_a < 1):
        raise ValueError(f"{name}: k must be >= 1")
    return k_a


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_alternative(alternative: str) -> None:
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be 'two-sided', 'less' or 'greater', got {alternative!r}")


# ----------------------------------------------------------------------------------------------------
# pass@k, pass^k
# ----------------------------------------------------------------------------------------------------


def _pair_index(n_a: IntArray, s_a: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Distinct (n, s) pairs of the broadcast of n and s, and each element's index into them."""
    shape = np.broadcast_shapes(n_a.shape, s_a.shape)
    nb = np.broadcast_to(n_a, shape).ravel()
    sb = np.broadcast_to(s_a, shape).ravel()
    width = int(sb.max(initial=0)) + 1
    keys, inv = np.unique(nb * width + sb, return_inverse=True)
    return keys // width, keys % width, inv.reshape(shape)


def _gather(table: FloatArray, pair_inv: IntArray, k_inv: IntArray) -> FloatArray:
    """``table[pair_inv, k_inv]`` (broadcast). When the (n, c) axes all come before the k axes, as in
    ``n[:, None], c[:, None], ks[None, :]``, this is one gather of whole rows of the k-ordered table,
    a few times faster than numpy's general two-index gather for a 10,000 x 1024 result."""
    ndim = max(pair_inv.ndim, k_inv.ndim)
    ps = (1,) * (ndim - pair_inv.ndim) + pair_inv.shape
    ks = (1,) * (ndim - k_inv.ndim) + k_inv.shape
    for split in range(ndim + 1):
        if all(d == 1 for d in ps[split:]) and all(d == 1 for d in ks[:split]):
            rows = np.take(table[:, k_inv.ravel()], pair_inv.ravel(), axis=0)
            return rows.reshape(ps[:split] + ks[split:])
    return table[pair_inv, k_inv]


def _subset_log_prob(
    n_a: IntArray, s_a: IntArray, k_a: IntArray, transform: Callable[[FloatArray], FloatArray] | None = None
) -> FloatArray:
    """log P(k draws without replacement from n items all land in a fixed subset of s items).

    That is ``log C(s, k) - log C(n, k) = sum_{j<k} log((s - j) / (n - j))``: -inf when k > s, NaN when
    k > n. The sum is a cumulative sum over j, so one row per distinct (n, s) serves every k at once;
    the result is gathered from a (distinct pairs) x (distinct k) table, after applying ``transform``
    to the table (much cheaper than to the gathered result, which can be 10,000 x 1024). Each term is taken as
    ``log(r)`` or ``log1p(r - 1)``, whichever is exact for r = (s - j) / (n - j), so the table carries a
    relative error of about k ulp (1e-13 at k = 1024), far below 1e-12.
    """
    nu, su, pair_inv = _pair_index(n_a, s_a)
    ku, k_inv = np.unique(k_a, return_inverse=True)
    k_inv = k_inv.reshape(k_a.shape)
    kmax = int(min(int(ku.max(initial=1)), int(nu.max(initial=1))))
    table = np.full((nu.size, ku.size), np.nan)
    cols = np.flatnonzero(ku <= kmax)  # columns with k > max(n) stay NaN
    j = np.arange(kmax, dtype=np.float64)
    rows_per_block = max(1, _BLOCK // max(kmax, 1))
    for lo in range(0, nu.size, rows_per_block):
        n_blk = nu[lo : lo + rows_per_block, None].astype(np.float64)
        s_blk = su[lo : lo + rows_per_block, None].astype(np.float64)
        live = j[None, :] < s_blk  # draw j (0-based) can still hit the subset
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = n_blk - j[None, :]
            ratio = (s_blk - j[None, :]) / denom
            terms = np.where(ratio < 0.5, np.log(ratio), np.log1p(-(n_blk - s_blk) / denom))
        terms = np.where(live, terms, -np.inf)
        cum = np.cumsum(terms, axis=1)
        block = cum[:, ku[cols] - 1]
        block[ku[cols][None, :] > n_blk] = np.nan
        table[lo : lo + rows_per_block, cols] = block
    if transform is not None:
        table = transform(table)
    return _gather(table, pair_inv, k_inv)


def pass_at_k(n: ArrayLike, c: ArrayLike, k: ArrayLike) -> FloatArray:
    """Unbiased pass@k per problem: the chance that k samples drawn without replacement from the n
    generated ones contain at least one of the c correct ones.

    ``n``, ``c`` and ``k`` broadcast against each other, e.g. ``n[:, None], c[:, None], ks[None, :]``
    gives a problems x k table in one call. The all-fail probability ``prod_{j<k} (n-c-j)/(n-j)`` is
    tabulated once per distinct (n, c) for every k by a cumulative sum in log space, then gathered, so
    the cost is (distinct pairs x max k) plus one gather, and the result is within about 1e-13 of the
    exact fraction.

    Args:
        n: Samples per problem (>= 1).
        c: Correct samples per problem (0 <= c <= n).
        k: Budget (>= 1).

    Returns:
        A float array of the broadcast shape. Entries with ``k > n`` are NaN (the estimator is not
        defined there; it is never reported as 1.0). Use :func:`mean_pass_at_k` to get an error instead.

    Raises:
        ValueError: if n < 1, k < 1, c < 0 or c > n anywhere.
    """
    n_a, c_a = _as_counts("pass_at_k", n, c)
    k_a = _as_k("pass_at_k", k)
    return _subset_log_prob(n_a, n_a - c_a, k_a, lambda t: -np.expm1(t))


def pass_hat_k(n: ArrayLike, c: ArrayLike, k: ArrayLike) -> FloatArray:
    """Unbiased pass^k per problem: the chance that k samples drawn without replacement are all correct,
    ``C(c, k) / C(n, k)`` (an unbiased estimate of p^k).

    Broadcasts like :func:`pass_at_k`; NaN where ``k > n``.

    Raises:
        ValueError: if n < 1, k < 1, c < 0 or c > n anywhere.
    """
    n_a, c_a = _as_counts("pass_hat_k", n, c)
    k_a = _as_k("pass_hat_k", k)
    return _subset_log_prob(n_a, c_a, k_a, np.exp)


def mean_pass_at_k(n: ArrayLike, c: ArrayLike, k: int) -> float:
    """Mean pass@k over problems.

    Raises:
        ValueError: when there are no problems, or when some problem has fewer than k samples (the
            message says how many problems and the smallest n).
    """
    n_a = np.asarray(n, dtype=np.int64)
    if n_a.size == 0:
        raise ValueError("mean_pass_at_k: no problems")
    _require_k_le_n(n_a, k)
    return float(np.mean(pass_at_k(n_a, c, k)))


def _require_k_le_n(n_a: IntArray, k: int) -> None:
    if k > int(n_a.min()):
        short = int(np.sum(n_a < k))
        raise ValueError(
            f"pass@{k} needs at least {k} samples per problem; {short} problem(s) have fewer "
            f"(smallest n = {int(n_a.min())})"
        )


def powers_of_two(n_max: int) -> list[int]:
    """The k values a report shows: 1, 2, 4, ... up to n_max, plus n_max itself if it is not a power."""
    if n_max < 1:
        return []
    ks = [1 << i for i in range(n_max.bit_length()) if (1 << i) <= n_max]
    if ks[-1] != n_max:
        ks.append(n_max)
    return ks


# ----------------------------------------------------------------------------------------------------
# G-Pass@k, mG-Pass@k (hypergeometric functionals)
# ----------------------------------------------------------------------------------------------------


def _hypergeom_expect(
    name: str, n: ArrayLike, c: ArrayLike, k: ArrayLike, weight: Callable[[int], FloatArray]
) -> FloatArray:
    """E[weight(k)[X]] for X ~ Hypergeometric(population n, successes c, draws k), broadcast; NaN if k > n.

    ``weight(k)`` is a vector over x = 0..k; only the x where it is non-zero are evaluated. The pmf is
    ``C(c, x) C(n-c, k-x) / C(n, k)`` from log-factorials (relative error about 3e-12 at n = 1024),
    one distinct k at a time over all distinct (n, c) pairs.
    """
    n_a, c_a = _as_counts(name, n, c)
    k_a = _as_k(name, k)
    nu, cu, pair_inv = _pair_index(n_a, c_a)
    ku, k_inv = np.unique(k_a, return_inverse=True)
    lf = gammaln(np.arange(int(nu.max(initial=1)) + 1, dtype=np.float64) + 1.0)
    table = np.full((nu.size, ku.size), np.nan)
    for col, kk in enumerate(ku.tolist()):
        w_full = weight(kk)
        x = np.flatnonzero(w_full)
        if kk > nu.max() or x.size == 0:
            table[:, col] = np.where(nu >= kk, 0.0, np.nan)
            continue
        w = w_full[x]
        shared = -(lf[x] + lf[kk - x])[None, :]  # the x-only part of log C(c, x) + log C(n-c, k-x)
        rows = max(1, _BLOCK // x.size)
        for lo in range(0, nu.size, rows):
            nn, cc = nu[lo : lo + rows, None], cu[lo : lo + rows, None]
            ok_row = nn >= kk
            const = lf[cc] + lf[nn - cc] - lf[nn] + lf[kk] + lf[np.where(ok_row, nn - kk, 0)]
            i1 = cc - x[None, :]  # c - x >= 0 and (n - c) - (k - x) >= 0: x inside the support
            i2 = nn - cc - kk + x[None, :]
            log_pmf = const + shared - lf[np.maximum(i1, 0)] - lf[np.maximum(i2, 0)]
            pmf = np.where((i1 >= 0) & (i2 >= 0), np.exp(log_pmf), 0.0)
            table[lo : lo + rows, col] = np.where(ok_row[:, 0], np.clip(pmf @ w, 0.0, 1.0), np.nan)
    return _gather(table, pair_inv, k_inv.reshape(k_a.shape))


def _threshold(k: int, tau: float) -> int:
    """m = max(ceil(k * tau), 1) with tau read as a short fraction (0.7 -> 7/10), so that k * tau does
    not pick up binary rounding: in floats 10 * 0.7 = 7.000000000000001, whose ceiling is 8."""
    frac = Fraction(tau).limit_denominator(1_000_000)
    return max(-((-k * frac.numerator) // frac.denominator), 1)


def g_pass_at_k(n: ArrayLike, c: ArrayLike, k: ArrayLike, tau: float) -> FloatArray:
    """G-Pass@k_tau per problem (arXiv 2412.13147): the chance that at least ``m = max(ceil(k * tau), 1)``
    of k samples drawn without replacement from the n generated ones are correct, i.e. ``P(X >= m)``
    with X ~ Hypergeometric(population n, successes c, draws k).

    ``tau`` is read as the nearest fraction with denominator <= 10**6, so tau = 0.7 and k = 10 give
    m = 7 (float arithmetic would give 8). Small tau (m = 1) is exactly :func:`pass_at_k`; tau = 1
    (m = k) is exactly :func:`pass_hat_k`. Broadcasts like :func:`pass_at_k`; NaN where ``k > n``.
    Cost grows with (distinct (n, c) pairs) x (sum of distinct k): 11 powers of two over 10,000 problems
    take about 0.1 s, every k = 1..1024 a few seconds.

    Args:
        n: Samples per problem (>= 1).
        c: Correct samples per problem (0 <= c <= n).
        k: Budget (>= 1).
        tau: Required fraction of correct samples among the k, in (0, 1].

    Raises:
        ValueError: on invalid counts, k < 1 or tau outside (0, 1].
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"g_pass_at_k: tau must be in (0, 1], got {tau}")
    k_a = _as_k("g_pass_at_k", k)
    n_a, c_a = _as_counts("g_pass_at_k", n, c)
    ku = np.unique(k_a)
    m = np.array([_threshold(int(kk), tau) for kk in ku], dtype=np.int64)
    if np.all(m == 1):
        return pass_at_k(n_a, c_a, k_a)
    if np.all(m == ku):
        return pass_hat_k(n_a, c_a, k_a)

    def weight(kk: int) -> FloatArray:
        return (np.arange(kk + 1) >= _threshold(kk, tau)).astype(np.float64)

    out = _hypergeom_expect("g_pass_at_k", n_a, c_a, k_a, weight)
    # Endpoints through the product-form estimators, so that G-Pass agrees with them bit for bit.
    m_of_k = m[np.searchsorted(ku, k_a)]
    if np.any(m_of_k == 1):
        out = np.where(m_of_k == 1, pass_at_k(n_a, c_a, k_a), out)
    if np.any(m_of_k == k_a):
        out = np.where(m_of_k == k_a, pass_hat_k(n_a, c_a, k_a), out)
    return out


def mg_pass_at_k(
    n: ArrayLike, c: ArrayLike, k: ArrayLike, convention: Literal["paper", "integral"] = "paper"
) -> FloatArray:
    """mG-Pass@k per problem (arXiv 2412.13147), the mean of G-Pass@k_tau over tau in (0.5, 1].

    Conventions (X ~ Hypergeometric(n, c, k), the number of correct samples among k drawn):

    - ``"paper"`` (default; the paper's formula, with i/k as an exact fraction):
      ``(2/k) * sum_{i=ceil(k/2)+1}^{k} P(X >= i) = (2/k) * E[max(X - ceil(k/2), 0)]``.
    - ``"integral"``: ``2 * integral_{1/2}^{1} G-Pass@k_tau dtau = E[max(2X/k - 1, 0)]``.

    The two agree for even k. For odd k the paper's sum leaves out half of the step at
    i = ceil(k/2), ``(1/k) * P(X >= ceil(k/2))``; in particular mG-Pass@1 is 0 under "paper" and pass@1
    under "integral". Broadcasts like :func:`pass_at_k`; NaN where ``k > n``.

    Raises:
        ValueError: on invalid counts, k < 1 or an unknown convention.
    """
    if convention not in ("paper", "integral"):
        raise ValueError(f"mg_pass_at_k: convention must be 'paper' or 'integral', got {convention!r}")

    def weight(kk: int) -> FloatArray:
        x = np.arange(kk + 1, dtype=np.float64)
        if convention == "paper":
            return (2.0 / kk) * np.maximum(x - (kk + 1) // 2, 0.0)
        return np.maximum(2.0 * x / kk - 1.0, 0.0)

    return _hypergeom_expect("mg_pass_at_k", n, c, k, weight)


# ----------------------------------------------------------------------------------------------------
# maj@k, Cover@tau
# ----------------------------------------------------------------------------------------------------


def maj_at_k(
    answers: Sequence[Sequence[str | None]],
    references: Sequence[str],
    k: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> FloatArray:
    """Expected majority-vote accuracy over k samples, per problem.

    Definition: for a problem with n extracted answers (``None`` = nothing extracted), draw k of the n
    samples uniformly without replacement, take the most frequent answer among the drawn non-None
    ones, break ties uniformly at random, and score 1 if it equals the reference string exactly (answers
    are compared as given; normalise them before). If all k drawn are None the score is 0. maj@k is the
    expectation of that score over the draw and the tie-break. Averaging a symmetric kernel over k-subsets
    is a U-statistic, so this is an unbiased estimate of the model's majority-vote accuracy with k fresh
    samples, the maj@k analogue of the unbiased pass@k.

    Computation: the tie-break is averaged exactly (a draw where the reference ties with t - 1 other
    answers scores 1/t). The draw is averaged exactly when k == 1 (fraction of samples equal to the
    reference), k == n (one subset), or when no other non-None answer exists (then it is pass@k of the
    reference). Otherwise it is estimated from ``n_boot`` draws of the answer counts (multivariate
    hypergeometric) from ``numpy.random.default_rng([seed, problem_index])``, so a problem's value does
    not depend on the other problems; the Monte Carlo standard error is at most 0.5 / sqrt(n_boot) per
    problem and much smaller for a mean over problems.

    Args:
        answers: Per problem, the extracted answer of each sample.
        references: Per problem, the reference answer.
        k: Votes per majority (>= 1).
        n_boot: Monte Carlo draws per problem when the value is not computed exactly.
        seed: Seed of the Monte Carlo draws.

    Returns:
        A float array with one value per problem; NaN for problems with fewer than k answers.

    Raises:
        ValueError: if the two sequences differ in length, k < 1 or n_boot < 1.
    """
    if len(answers) != len(references):
        raise ValueError(f"maj_at_k: {len(answers)} answer lists but {len(references)} references")
    if k < 1:
        raise ValueError("maj_at_k: k must be >= 1")
    if n_boot < 1:
        raise ValueError("maj_at_k: n_boot must be >= 1")
    out = np.full(len(answers), np.nan)
    for i, (ans, ref) in enumerate(zip(answers, references, strict=True)):
        n = len(ans)
        if k > n:
            continue
        counts = Counter(a for a in ans if a is not None)
        n_ref = counts.pop(ref, 0)
        others = np.array(sorted(counts.values(), reverse=True), dtype=np.int64)
        if n_ref == 0:
            out[i] = 0.0
        elif k == 1:
            out[i] = n_ref / n
        elif k == n:
            top = int(others[0]) if others.size else 0
            out[i] = 0.0 if top > n_ref else 1.0 / (1 + int(np.sum(others == n_ref)))
        elif others.size == 0:
            out[i] = float(pass_at_k(n, n_ref, k))
        else:
            colors = np.concatenate([[n_ref], others, [n - n_ref - int(others.sum())]])
            draws = np.random.default_rng([seed, i]).multivariate_hypergeometric(colors, k, size=n_boot)
            x_ref, x_oth = draws[:, 0], draws[:, 1:-1]
            best_other = x_oth.max(axis=1)
            ties = np.sum(x_oth == x_ref[:, None], axis=1)
            score = np.where((x_ref > 0) & (x_ref >= best_other), 1.0 / (1 + ties), 0.0)
            out[i] = float(score.mean())
    return out


def cover_at_tau(n: ArrayLike, c: ArrayLike, tau: ArrayLike) -> FloatArray:
    """Cover@tau (arXiv 2510.08325): the fraction of problems whose per-sample success rate c/n is at
    least tau.

    This is the plug-in estimate (c/n in place of the true rate), so a problem whose true rate sits near
    tau counts with probability about 1/2; the bias shrinks as n grows. The comparison is done on c/n as a
    correctly rounded quotient, so c/n = 7/10 and tau = 0.7 count as equal.

    Args:
        n: Samples per problem (>= 1), one entry per problem.
        c: Correct samples per problem.
        tau: Threshold(s) in [0, 1]; any shape.

    Returns:
        Array of tau's shape (0-d for a scalar tau).

    Raises:
        ValueError: on invalid counts, no problems, or tau outside [0, 1].
    """
    n_a, c_a = _as_counts("cover_at_tau", n, c)
    rate = (c_a / n_a).ravel()
    if rate.size == 0:
        raise ValueError("cover_at_tau: no problems")
    tau_a = np.asarray(tau, dtype=np.float64)
    if np.any(~((tau_a >= 0.0) & (tau_a <= 1.0))):
        raise ValueError("cover_at_tau: tau must be in [0, 1]")
    srt = np.sort(rate)
    below = np.searchsorted(srt, tau_a, side="left")
    return np.asarray((rate.size - below) / rate.size, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------
# Intervals over problems
# ----------------------------------------------------------------------------------------------------


def _problem_values(name: str, values: ArrayLike) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"{name}: values must be 1-D (problems) or 2-D (problems x statistics)")
    if x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 problems, got {x.shape[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: values must be finite (no NaN: is k larger than some n?)")
    return x


def _bootstrap_moments(x: FloatArray, seed: int, n_boot: int) -> tuple[FloatArray, FloatArray]:
    """Resample the rows (problems) of the P x K matrix x ``n_boot`` times, vectorised.

    Each replicate draws P problem indices with replacement; their counts (a multinomial row) times the
    values / P is the replicate's mean. Returns, each of shape (n_boot, K), the replicate mean minus the
    sample mean and the replicate mean of squared deviations from the sample mean (centred moments, so
    that replicate variances do not suffer cancellation). The draws depend only on (seed, n_boot, P), so
    every column, and both sides of a paired comparison, see the same resampled problem sets.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    p, k = x.shape
    dev = x - x.mean(axis=0)
    both = np.concatenate([dev, dev * dev], axis=1)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, 2 * k))
    rows = max(1, _BLOCK // p)
    for lo in range(0, n_boot, rows):
        b = min(rows, n_boot - lo)
        idx = rng.integers(0, p, size=(b, p)) + (np.arange(b) * p)[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * p).reshape(b, p).astype(np.float64)
        out[lo : lo + b] = counts @ both / p
    return out[:, :k], out[:, k:]


def _column_quantiles(sorted_boot: FloatArray, q: FloatArray) -> FloatArray:
    """Per-column quantiles at per-column levels q (linear interpolation, numpy's default rule)."""
    b = sorted_boot.shape[0]
    pos = np.clip(q, 0.0, 1.0) * (b - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, b - 1)
    frac = pos - lo
    cols = np.arange(sorted_boot.shape[1])
    return sorted_boot[lo, cols] * (1.0 - frac) + sorted_boot[hi, cols] * frac


def _levels(confidence: float, alternative: Alternative) -> tuple[float | None, float | None]:
    """Quantile levels of the lower and upper bound (None: that side is unbounded)."""
    alpha = 1.0 - confidence
    if alternative == "two-sided":
        return alpha / 2.0, 1.0 - alpha / 2.0
    if alternative == "less":
        return None, confidence
    return alpha, None


def _bca_bounds(
    x: FloatArray, m1c: FloatArray, confidence: float, alternative: Alternative, accelerate: bool = True
) -> list[FloatArray | None]:
    """BCa (or, with ``accelerate=False`` and no bias correction, percentile) bounds per column."""
    est = x.mean(axis=0)
    srt = np.sort(m1c, axis=0)
    b = srt.shape[0]
    if accelerate:
        # Bias correction: where the estimate sits among the replicates (ties count half).
        below = np.sum(srt < 0, axis=0) + 0.5 * np.sum(srt == 0, axis=0)
        z0 = sps.norm.ppf(np.clip(below / b, 0.5 / b, 1.0 - 0.5 / b))
        # Jackknife acceleration, closed-form for a mean: theta_(i) = (S - x_i) / (P - 1), so
        # a = sum(d^3) / (6 sum(d^2)^1.5) with d = x_i - mean (the (P - 1) factors cancel).
        d = x - est
        ss = np.sum(d**2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(ss > 0, np.sum(d**3, axis=0) / (6.0 * ss**1.5), 0.0)
    bounds: list[FloatArray | None] = []
    for level in _levels(confidence, alternative):
        if level is None:
            bounds.append(None)
            continue
        if accelerate:
            z = z0 + sps.norm.ppf(level)
            denom = 1.0 - acc * z
            ok = denom > 0
            q = np.where(ok, sps.norm.cdf(z0 + z / np.where(ok, denom, 1.0)), float(level > 0.5))
        else:
            q = np.full(srt.shape[1], level)
        bounds.append(est + _column_quantiles(srt, q))
    return bounds


def _studentized_bounds(
    x: FloatArray, m1c: FloatArray, m2c: FloatArray, confidence: float, alternative: Alternative
) -> list[FloatArray | None]:
    """Bootstrap-t bounds per column: symmetric (quantile of |t*|) when two-sided, signed when one-sided.

    t* = (replicate mean - mean) / replicate SE. A replicate with zero spread (all its problems have the
    same value) has t* = +-inf; when such replicates decide a bound, the bound is not finite and the BCa
    bound is used instead (this happens only with a handful of non-constant problems).
    """
    p = x.shape[0]
    var = np.var(x, axis=0, ddof=1)
    se = np.sqrt(var / p)
    var_star = np.maximum(m2c - m1c**2, 0.0) * p / (p - 1)
    flat = var_star <= 1e-12 * var
    tiny = np.abs(m1c) <= 1e-12 * np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(flat, np.where(tiny, 0.0, np.sign(m1c) * np.inf), m1c / np.sqrt(var_star / p))
    lo_level, hi_level = _levels(confidence, alternative)
    est = x.mean(axis=0)
    if alternative == "two-sided":
        crit = np.quantile(np.abs(t), confidence, axis=0, method="higher")
        low: FloatArray | None = est - crit * se
        high: FloatArray | None = est + crit * se
    else:
        low = None if lo_level is None else est - np.quantile(t, 1.0 - lo_level, axis=0, method="higher") * se
        high = None if hi_level is None else est - np.quantile(t, 1.0 - hi_level, axis=0, method="lower") * se
    fallback = _bca_bounds(x, m1c, confidence, alternative)
    out: list[FloatArray | None] = []
    for mine, bca in zip((low, high), fallback, strict=True):
        if mine is None or bca is None:
            out.append(None)
            continue
        with np.errstate(invalid="ignore"):
            mine = np.where(se > 0, mine, est)  # constant values: a zero-width interval
        out.append(np.where(np.isfinite(mine), mine, bca))
    return out


def _interval_from_boot(
    x: FloatArray,
    m1c: FloatArray,
    m2c: FloatArray,
    confidence: float,
    alternative: Alternative,
    method: BootMethod,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(estimate, low, high) per column of the P x K matrix x from its resample moments."""
    est = x.mean(axis=0)
    if method == "studentized":
        bounds = _studentized_bounds(x, m1c, m2c, confidence, alternative)
    else:
        bounds = _bca_bounds(x, m1c, confidence, alternative, accelerate=method == "bca")
    lo_b, hi_b = bounds
    # Rounding, or a degenerate resample distribution, must not leave the estimate outside.
    low = np.full_like(est, -np.inf) if lo_b is None else np.minimum(lo_b, est)
    high = np.full_like(est, np.inf) if hi_b is None else np.maximum(hi_b, est)
    return est, low, high


def bootstrap_ci(
    values: ArrayLike,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    alternative: Alternative = "two-sided",
    method: BootMethod = "studentized",
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bootstrap interval for the mean over problems of per-problem values, one interval per column.

    Problems are resampled with replacement, vectorised as multinomial counts times values; all columns
    share the same resamples. Methods:

    - ``"studentized"`` (default): bootstrap-t (Efron & Tibshirani 1993, ch. 12; Hall 1988). Two-sided
      it is the symmetric form ``mean +- q * se`` with q the ``confidence`` quantile of |t*|; one-sided
      bounds use the signed t* quantile. Where the bound is not finite (replicates with zero spread decide
      it, i.e. only a handful of problems differ from the rest) the BCa bound is used.
    - ``"bca"``: Efron's bias-corrected and accelerated percentile interval (jackknife acceleration in
      closed form for a mean).
    - ``"percentile"``: the plain percentile interval.

    Why studentized: per-problem pass@k values are bounded and often very skewed (most problems at 0 or
    at 1) or heavy-tailed (paired deltas that are mostly 0). In the simulations of
    :mod:`evalkit.calibration` (P = 200, nominal 95%) the studentized interval kept 94-96% coverage in
    every setting but the sparsest (pass@1 = 0.25%, where a few problems carry the whole mean: 92.6%);
    the percentile and CLT intervals fell to about 86% when pass@k was near 1 (and to 88% in the sparse
    setting), and BCa to 91-92% there and on heavy-tailed paired deltas. The price is width: up to 1.5x
    the percentile interval when pass@k is near 0 or 1. The interval always contains the estimate.

    Args:
        values: Per-problem values, shape (P,) or (P, K); finite.
        confidence: Coverage level, in (0, 1).
        seed: Seed of the resampling.
        n_boot: Number of resamples.
        alternative: "two-sided"; "less" gives (-inf, upper bound); "greater" gives (lower bound, +inf).
            Each one-sided bound has coverage ``confidence`` on its own.
        method: "studentized", "bca" or "percentile".

    Returns:
        (estimate, low, high), each of shape values.shape[1:] (0-d for 1-D values).

    Raises:
        ValueError: on fewer than 2 problems, non-finite values or invalid options.
    """
    _check_confidence(confidence)
    _check_alternative(alternative)
    if method not in ("studentized", "bca", "percentile"):
        raise ValueError(f"method must be 'studentized', 'bca' or 'percentile', got {method!r}")
    x = _problem_values("bootstrap_ci", values)
    x2 = x.reshape(x.shape[0], -1)
    est, low, high = _interval_from_boot(x2, *_bootstrap_moments(x2, seed, n_boot), confidence, alternative, method)
    shape = x.shape[1:]
    return est.reshape(shape), low.reshape(shape), high.reshape(shape)


def _clip_interval(est: float, low: float, high: float, lo_lim: float, hi_lim: float) -> tuple[float, float, float]:
    """Clip finite bounds to the range the statistic can take; infinite (one-sided) bounds stay."""
    low = low if math.isinf(low) else max(low, lo_lim)
    high = high if math.isinf(high) else min(high, hi_lim)
    return est, low, high


def _per_problem_pass(name: str, n: ArrayLike, c: ArrayLike, k: int) -> FloatArray:
    n_a, c_a = _as_counts(name, n, c)
    if n_a.ndim != 1 or np.ndim(c_a) != 1 or n_a.shape != c_a.shape:
        raise ValueError(f"{name}: n and c must be 1-D arrays with one entry per problem")
    if n_a.size == 0:
        raise ValueError(f"{name}: no problems")
    _require_k_le_n(n_a, k)
    return pass_at_k(n_a, c_a, k)


def pass_at_k_ci(
    n: ArrayLike,
    c: ArrayLike,
    k: int,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    alternative: Alternative = "two-sided",
    method: BootMethod = "studentized",
) -> tuple[float, float, float]:
    """Mean pass@k over problems with a bootstrap interval (problems resampled; see :func:`bootstrap_ci`).

    Args:
        n: Samples per problem (1-D).
        c: Correct samples per problem (1-D).
        k: Budget; every problem needs n >= k.
        confidence: Coverage level.
        seed: Seed of the resampling.
        n_boot: Number of resamples.
        alternative: "two-sided", "less" (low = -inf) or "greater" (high = +inf).
        method: "studentized" (default), "bca" or "percentile".

    Returns:
        (estimate, low, high).

    Raises:
        ValueError: on invalid counts, some n < k, fewer than 2 problems or invalid options.
    """
    vals = _per_problem_pass("pass_at_k_ci", n, c, k)
    est, low, high = bootstrap_ci(vals, confidence, seed, n_boot, alternative, method)
    return _clip_interval(float(est), float(low), float(high), 0.0, 1.0)


def _paired_deltas(n_a: ArrayLike, c_a: ArrayLike, n_b: ArrayLike, c_b: ArrayLike, k: int) -> FloatArray:
    a = _per_problem_pass("paired_delta", n_a, c_a, k)
    b = _per_problem_pass("paired_delta", n_b, c_b, k)
    if a.shape != b.shape:
        raise ValueError(f"paired_delta: A has {a.size} problems and B has {b.size}; pair them first")
    return b - a


def paired_delta_ci(
    n_a: ArrayLike,
    c_a: ArrayLike,
    n_b: ArrayLike,
    c_b: ArrayLike,
    k: int,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    alternative: Alternative = "two-sided",
    method: BootMethod = "studentized",
) -> tuple[float, float, float]:
    """Paired bootstrap interval for delta = mean pass@k of B - mean pass@k of A on the same problems.

    Entry i of every array is the same problem. Each replicate resamples problem indices once and uses
    them for both A and B, which is the same as resampling the per-problem differences. Identical runs
    give exactly (0, 0, 0). For a CI gate "is B worse than A by more than tol at 95%, one-sided?", use
    ``alternative="less"`` and test ``high < -tol``.

    Args:
        n_a: Samples per problem, run A (e.g. the base or baseline).
        c_a: Correct samples per problem, run A.
        n_b: Samples per problem, run B (e.g. the RL checkpoint or candidate).
        c_b: Correct samples per problem, run B.
        k: Budget; every problem needs n >= k in both runs.
        confidence: Coverage level.
        seed: Seed of the resampling.
        n_boot: Number of resamples.
        alternative: "two-sided", "less" (low = -inf) or "greater" (high = +inf).
        method: "studentized" (default), "bca" or "percentile".

    Returns:
        (delta, low, high).

    Raises:
        ValueError: on invalid counts, unequal problem counts, some n < k or invalid options.
    """
    d = _paired_deltas(n_a, c_a, n_b, c_b, k)
    est, low, high = bootstrap_ci(d, confidence, seed, n_boot, alternative, method)
    return _clip_interval(float(est), float(low), float(high), -1.0, 1.0)


def clustered_se(values: ArrayLike) -> float:
    """Standard error of a mean over problems, with each problem's samples as one cluster.

    ``values`` is either one value per problem (1-D, e.g. per-problem pass@k) or a problems x samples
    matrix of per-sample scores (2-D, every problem with the same number of samples). The result is
    ``sd(problem means, ddof=1) / sqrt(P)``, which for equal cluster sizes is exactly the cluster-robust
    (CR1, G/(G-1)-corrected) standard error of the overall mean: samples of one problem are correlated,
    problems are independent.

    Raises:
        ValueError: on fewer than 2 problems, non-finite values or more than 2 dimensions.
    """
    x = _problem_values("clustered_se", values)
    means = x.mean(axis=1) if x.ndim == 2 else x
    return float(np.std(means, ddof=1) / math.sqrt(means.size))


def _se_interval(x: FloatArray, confidence: float, alternative: Alternative) -> tuple[float, float, float]:
    _check_confidence(confidence)
    _check_alternative(alternative)
    est = float(x.mean())
    se = clustered_se(x)
    df = x.size - 1
    if alternative == "two-sided":
        half = float(sps.t.ppf(1.0 - (1.0 - confidence) / 2.0, df)) * se
        return est, est - half, est + half
    half = float(sps.t.ppf(confidence, df)) * se
    if alternative == "less":
        return est, -math.inf, est + half
    return est, est - half, math.inf


def pass_at_k_se_ci(
    n: ArrayLike, c: ArrayLike, k: int, confidence: float = 0.95, alternative: Alternative = "two-sided"
) -> tuple[float, float, float]:
    """Mean pass@k with a CLT interval: estimate +- t_{P-1} * :func:`clustered_se` (finite bounds clipped
    to [0, 1]). Cheap, and calibrated (93-97% at P = 200) while pass@k is away from 0 and 1; when most
    problems sit at 0 or at 1 (pass@64 = 0.985, or pass@1 = 0.25%) its coverage fell to 86-88% in
    :mod:`evalkit.calibration`, where :func:`pass_at_k_ci` (studentized bootstrap) held.

    Returns:
        (estimate, low, high); "less" gives low = -inf, "greater" gives high = +inf.

    Raises:
        ValueError: on invalid counts, some n < k, fewer than 2 problems or invalid options.
    """
    vals = _per_problem_pass("pass_at_k_se_ci", n, c, k)
    return _clip_interval(*_se_interval(vals, confidence, alternative), 0.0, 1.0)


def paired_delta_se_ci(
    n_a: ArrayLike,
    c_a: ArrayLike,
    n_b: ArrayLike,
    c_b: ArrayLike,
    k: int,
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
) -> tuple[float, float, float]:
    """Paired CLT interval for delta = mean pass@k of B - A: the standard error of the per-problem
    differences (paired, so shared problem difficulty cancels), t_{P-1} quantiles, clipped to [-1, 1].

    Returns:
        (delta, low, high); identical runs give exactly (0, 0, 0).

    Raises:
        ValueError: as :func:`paired_delta_ci`.
    """
    d = _paired_deltas(n_a, c_a, n_b, c_b, k)
    return _clip_interval(*_se_interval(d, confidence, alternative), -1.0, 1.0)


# ----------------------------------------------------------------------------------------------------
# Frontier evidence
# ----------------------------------------------------------------------------------------------------


def _poisson_binomial_sf(q: FloatArray, observed: int) -> float:
    """P(sum of independent Bernoulli(q_i) >= observed), by the exact convolution recursion."""
    pmf = np.zeros(q.size + 1)
    pmf[0] = 1.0
    for i, qi in enumerate(q.tolist()):
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1.0 - qi) + pmf[: i + 1] * qi
        pmf[0] *= 1.0 - qi
    return float(min(1.0, pmf[observed:].sum()))


def frontier_class_test(
    c_base: ArrayLike, c_rl: ArrayLike, m: ArrayLike, n_perm: int = 10000, seed: int = 0
) -> dict[str, Any]:
    """How many problems only the RL model solves (and only the base solves), and is that more than chance?

    A problem is *RL-only* when ``c_rl >= 1`` and ``c_base == 0``, *base-only* when ``c_base >= 1`` and
    ``c_rl == 0``. Null hypothesis: on every problem both models have the same per-sample success rate.
    Conditional on a problem's total s = c_base + c_rl, the 2m samples are then exchangeable, so the
    base's share is Hypergeometric(2m, s, m); the permutation test splits each problem's pooled samples
    at random into two groups of m, counts RL-only (base-only) problems, and repeats ``n_perm`` times.
    It is vectorised by drawing each problem's class of the split from its exact probabilities,
    ``q = P(base gets 0 of s) = C(2m - s, m) / C(2m, m)`` for RL-only and, by symmetry, the same q for
    base-only (never both), which has the same distribution as splitting and classifying. p-values are
    ``(1 + #{null count >= observed}) / (1 + n_perm)``, one-sided. The null count is a sum of independent
    Bernoulli(q_i), so its exact tail (Poisson-binomial) is reported too.

    Args:
        c_base: Correct samples per problem, base model.
        c_rl: Correct samples per problem, RL model.
        m: Samples per problem, common to both models (scalar or per problem).
        n_perm: Number of permutations.
        seed: Seed of the permutations.

    Returns:
        A dict with ``rl_only`` and ``base_only`` (observed counts), ``expected_under_null`` (the expected
        count of each under the null, sum of q_i), ``p_rl_only`` and ``p_base_only`` (permutation),
        ``p_rl_only_exact`` and ``p_base_only_exact`` (exact tails), ``n_problems`` and ``n_perm``.

    Raises:
        ValueError: on counts outside [0, m], m < 1, mismatched shapes or n_perm < 1.
    """
    if n_perm < 1:
        raise ValueError("frontier_class_test: n_perm must be >= 1")
    m_a = np.asarray(m, dtype=np.int64)
    cb = np.asarray(c_base, dtype=np.int64)
    cr = np.asarray(c_rl, dtype=np.int64)
    shape = np.broadcast_shapes(m_a.shape, cb.shape, cr.shape)
    m_a, cb, cr = (np.broadcast_to(a, shape).ravel() for a in (m_a, cb, cr))
    if np.any(m_a < 1):
        raise ValueError("frontier_class_test: m must be >= 1")
    if np.any((cb < 0) | (cb > m_a) | (cr < 0) | (cr > m_a)):
        raise ValueError("frontier_class_test: counts must satisfy 0 <= c <= m")
    rl_only = int(np.sum((cr >= 1) & (cb == 0)))
    base_only = int(np.sum((cb >= 1) & (cr == 0)))
    s = cb + cr
    q = np.where(s >= 1, np.exp(_subset_log_prob(2 * m_a, 2 * m_a - s, m_a)), 0.0)
    q = q[q > 0]
    rng = np.random.default_rng(seed)
    ge_rl = ge_base = 0
    rows = max(1, _BLOCK // max(q.size, 1))
    for lo in range(0, n_perm, rows):
        u = rng.random((min(rows, n_perm - lo), q.size))
        ge_rl += int(np.sum(np.sum(u < q, axis=1) >= rl_only))
        ge_base += int(np.sum(np.sum(u >= 1.0 - q, axis=1) >= base_only))
    return {
        "rl_only": rl_only,
        "base_only": base_only,
        "expected_under_null": float(q.sum()),
        "p_rl_only": (1 + ge_rl) / (1 + n_perm),
        "p_base_only": (1 + ge_base) / (1 + n_perm),
        "p_rl_only_exact": _poisson_binomial_sf(q, rl_only),
        "p_base_only_exact": _poisson_binomial_sf(q, base_only),
        "n_problems": int(m_a.size),
        "n_perm": n_perm,
    }


def benjamini_hochberg(pvalues: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (q-values): ``min_{j >= i} p_(j) * M / j``, capped at 1.

    Rejecting every hypothesis with adjusted p <= alpha controls the false discovery rate at alpha for
    independent or positively dependent tests. The result has the input's shape, is monotone in the
    p-values and never below them.

    Raises:
        ValueError: on NaN or values outside [0, 1].
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    if np.any(~((flat >= 0.0) & (flat <= 1.0))):
        raise ValueError("benjamini_hochberg: p-values must be in [0, 1] (no NaN)")
    total = flat.size
    if total == 0:
        return p.copy()
    order = np.argsort(flat, kind="stable")
    scaled = flat[order] * total / np.arange(1, total + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(total)
    out[order] = adjusted
    return out.reshape(p.shape)


def zero_success_upper_bound(n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on the per-sample success rate after 0 successes in n.

    "0 of 1024" means the rate is below 1 - (1 - confidence)^(1/n), about 0.0029 at 95%; evalkit
    says that instead of "impossible".
    """
    if n < 1:
        raise ValueError("zero_success_upper_bound: n must be >= 1")
    return float(sps.beta.ppf(confidence, 1, n))


def clopper_pearson(
    c: ArrayLike, n: ArrayLike, confidence: float = 0.95, alternative: Alternative = "two-sided"
) -> tuple[FloatArray, FloatArray]:
    """Exact (Clopper-Pearson) interval for a binomial success rate, vectorised over (c, n).

    Two-sided: ``low = Beta.ppf(alpha/2; c, n-c+1)`` (0 when c = 0) and ``high = Beta.ppf(1-alpha/2; c+1,
    n-c)`` (1 when c = n). "less" gives (0, one-sided upper bound), "greater" (one-sided lower bound, 1);
    with c = 0, "less" matches :func:`zero_success_upper_bound`.

    Raises:
        ValueError: on invalid counts or options.
    """
    _check_confidence(confidence)
    _check_alternative(alternative)
    n_a, c_a = _as_counts("clopper_pearson", n, c)
    n_a, c_a = np.broadcast_arrays(n_a, c_a)
    alpha = 1.0 - confidence
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    with np.errstate(invalid="ignore"):
        low = np.where(c_a == 0, 0.0, sps.beta.ppf(tail, np.maximum(c_a, 1), n_a - c_a + 1))
        high = np.where(c_a == n_a, 1.0, sps.beta.ppf(1.0 - tail, c_a + 1, np.maximum(n_a - c_a, 1)))
    if alternative == "less":
        low = np.zeros_like(low)
    elif alternative == "greater":
        high = np.ones_like(high)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------
# ProRL analyses
# ----------------------------------------------------------------------------------------------------


def _halfwidths(name: str, h: float | Sequence[float], size: int) -> FloatArray:
    out = np.broadcast_to(np.asarray(h, dtype=np.float64), (size,)).astype(np.float64)
    if np.any(~(out >= 0)):
        raise ValueError(f"prorl_regime: {name} must be >= 0")
    return out


def prorl_regime(
    pass1: Sequence[float],
    passk: Sequence[float],
    passk_ci_halfwidth: float | Sequence[float] = 0.0,
    pass1_ci_halfwidth: float | Sequence[float] = 0.0,
) -> str:
    """Classify a training run the way ProRL (arXiv 2505.24864, Sec. 4) does: does pass@k_max shrink,
    plateau or keep rising?

    Inputs are values at three or more checkpoints in training order, the first being the base model.
    The noise of a change between checkpoints s and t is ``sqrt(h_s^2 + h_t^2)`` with h the given CI
    half-widths (independent intervals; 0 means "take values at face value"). With K = pass@k_max,
    P = pass@1, first = base, last = final checkpoint, prev = the one before it, rules in this order:

    1. ``"diminish"``: P rose beyond noise (P_last - P_first > noise) and K ended at or below the base
       (K_last - K_first <= noise, i.e. not above it beyond noise).
    2. ``"sustained"``: K rose beyond noise over the last segment (K_last - K_prev > noise).
    3. ``"plateau"``: K rose beyond noise from the base to some checkpoint before the last, and the last
       segment changed within noise (abs(K_last - K_prev) <= noise).
    4. ``"inconclusive"``: none of these (e.g. K fell in the last segment while still above the base,
       or neither metric moved).

    Raises:
        ValueError: with fewer than 3 checkpoints, unequal lengths, NaN values or negative half-widths.
    """
    p1 = np.asarray(pass1, dtype=np.float64)
    pk = np.asarray(passk, dtype=np.float64)
    if p1.ndim != 1 or pk.ndim != 1 or p1.size != pk.size:
        raise ValueError("prorl_regime: pass1 and passk must be 1-D with one value per checkpoint")
    if pk.size < 3:
        raise ValueError(f"prorl_regime: needs at least 3 checkpoints (base first), got {pk.size}")
    if not (np.all(np.isfinite(p1)) and np.all(np.isfinite(pk))):
        raise ValueError("prorl_regime: values must be finite")
    hk = _halfwidths("passk_ci_halfwidth", passk_ci_halfwidth, pk.size)
    h1 = _halfwidths("pass1_ci_halfwidth", pass1_ci_halfwidth, p1.size)

    def noise(h: FloatArray, s: int, t: int) -> float:
        return float(math.hypot(h[s], h[t]))

    last = pk.size - 1
    pass1_rose = p1[last] - p1[0] > noise(h1, 0, last)
    if pass1_rose and pk[last] - pk[0] <= noise(hk, 0, last):
        return "diminish"
    seg = pk[last] - pk[last - 1]
    seg_noise = noise(hk, last - 1, last)
    if seg > seg_noise:
        return "sustained"
    rose_early = any(pk[t] - pk[0] > noise(hk, 0, t) for t in range(1, last))
    if rose_early and abs(seg) <= seg_noise:
        return "plateau"
    return "inconclusive"


def gain_correlation(base_passk: Sequence[float], gains: Sequence[float]) -> tuple[float, float]:
    """Spearman rank correlation across tasks between the base model's pass@k and the RL gain, with its
    two-sided p-value (scipy.stats.spearmanr). ProRL reports that gains are largest where the base is weak
    (a negative rho).

    Returns:
        (rho, p_value). (nan, nan) with a RuntimeWarning saying why when there are fewer than 3 tasks or
        one of the inputs is constant (the rank correlation is undefined).

    Raises:
        ValueError: on unequal lengths or non-finite values.
    """
    x = np.asarray(base_passk, dtype=np.float64)
    y = np.asarray(gains, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError("gain_correlation: base_passk and gains must be 1-D and of equal length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("gain_correlation: values must be finite")
    if x.size < 3:
        warnings.warn(
            f"gain_correlation: needs at least 3 tasks for a rank correlation, got {x.size}; returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return math.nan, math.nan
    if np.all(x == x[0]) or np.all(y == y[0]):
        warnings.warn(
            "gain_correlation: one input is constant across tasks, so the rank correlation is undefined; returning NaN",
            RuntimeWarning,
            stacklevel=2,
        )
        return math.nan, math.nan
    res = sps.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


__all__ = [
    "benjamini_hochberg",
    "bootstrap_ci",
    "clopper_pearson",
    "clustered_se",
    "cover_at_tau",
    "frontier_class_test",
    "g_pass_at_k",
    "gain_correlation",
    "maj_at_k",
    "mean_pass_at_k",
    "mg_pass_at_k",
    "paired_delta_ci",
    "paired_delta_se_ci",
    "pass_at_k",
    "pass_at_k_ci",
    "pass_at_k_se_ci",
    "pass_hat_k",
    "powers_of_two",
    "prorl_regime",
    "zero_success_upper_bound",
]
