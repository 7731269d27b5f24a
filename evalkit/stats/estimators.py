"""Per-problem estimators: pass@k, pass^k, G-Pass@k, mG-Pass@k, maj@k and Cover@tau.

Each takes per-problem counts (``n`` samples, ``c`` correct) and broadcasts over problems with numpy.
Sources are in each function's docstring; every estimator is checked against exact fractions or scipy in
the tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Literal

import numpy as np
from scipy.special import gammaln

from evalkit.stats._common import _BLOCK, ArrayLike, FloatArray, IntArray, _as_counts, _as_k

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
    """m = max(ceil(k * tau), 1) with tau read as a short fraction (0.14 -> 7/50), so that k * tau does
    not pick up binary rounding: in floats 50 * 0.14 = 7.000000000000001 and 100 * 0.55 =
    55.00000000000001, whose ceilings are 8 and 56."""
    frac = Fraction(tau).limit_denominator(1_000_000)
    return max(-((-k * frac.numerator) // frac.denominator), 1)


def g_pass_at_k(n: ArrayLike, c: ArrayLike, k: ArrayLike, tau: float) -> FloatArray:
    """G-Pass@k_tau per problem (arXiv 2412.13147): the chance that at least ``m = max(ceil(k * tau), 1)``
    of k samples drawn without replacement from the n generated ones are correct, i.e. ``P(X >= m)``
    with X ~ Hypergeometric(population n, successes c, draws k).

    ``tau`` is read as the nearest fraction with denominator <= 10**6, so tau = 0.14 and k = 50 give
    m = 7 (float arithmetic would give 8; likewise tau = 0.55, k = 100 gives 55, not 56). tau = 0 and
    small tau (m = 1) are exactly :func:`pass_at_k`, as in OpenCompass and lighteval, which list the
    thresholds 0, 0.25, 0.5, 0.75 and 1; tau = 1
    (m = k) is exactly :func:`pass_hat_k`. Broadcasts like :func:`pass_at_k`; NaN where ``k > n``.
    Cost grows with (distinct (n, c) pairs) x (sum of distinct k): 11 powers of two over 10,000 problems
    take about 0.1 s, every k = 1..1024 a few seconds.

    Args:
        n: Samples per problem (>= 1).
        c: Correct samples per problem (0 <= c <= n).
        k: Budget (>= 1).
        tau: Required fraction of correct samples among the k, in [0, 1].

    Raises:
        ValueError: on invalid counts, k < 1 or tau outside [0, 1].
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"g_pass_at_k: tau must be in [0, 1], got {tau}")
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
