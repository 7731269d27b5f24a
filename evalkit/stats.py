"""pass@k and the per-problem statistics that the comparison needs.

Implemented here: the unbiased pass@k estimator of Chen et al. (2021, arXiv 2107.03374),
``1 - C(n-c, k) / C(n, k)``, vectorised with numpy broadcasting over problems and k, computed in log
space with ``gammaln`` and ``expm1`` so that it stays accurate for n = 1024 and beyond, and the
Clopper-Pearson upper bound used to phrase "0 of n" as evidence. Not yet here: G-Pass@k, maj@k,
cover@tau, bootstrap intervals and paired tests (see the statistics issue).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln
from scipy.stats import beta

ArrayLike = npt.ArrayLike


def pass_at_k(n: ArrayLike, c: ArrayLike, k: ArrayLike) -> npt.NDArray[np.float64]:
    """Unbiased pass@k per problem: the chance that k samples drawn without replacement from the n
    generated ones contain at least one of the c correct ones.

    ``n``, ``c`` and ``k`` broadcast against each other, e.g. ``n[:, None], c[:, None], ks[None, :]``
    gives a problems x k table in one call.

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
    n_a, c_a, k_a = np.broadcast_arrays(
        np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64), np.asarray(k, dtype=np.int64)
    )
    if np.any(n_a < 1):
        raise ValueError("pass_at_k: n must be >= 1")
    if np.any(k_a < 1):
        raise ValueError("pass_at_k: k must be >= 1")
    if np.any(c_a < 0) or np.any(c_a > n_a):
        raise ValueError("pass_at_k: c must satisfy 0 <= c <= n")
    fail = n_a - c_a
    # All-fail draws are possible only when k <= n - c; otherwise pass@k is exactly 1.
    possible = k_a <= fail
    defined = k_a <= n_a
    # log C(n-c, k) - log C(n, k) from a table of log-factorials (the k! terms cancel); table lookups
    # are several times faster than evaluating gammaln per element.
    log_fact = gammaln(np.arange(int(n_a.max(initial=0)) + 2, dtype=np.float64) + 1)
    safe_k = np.where(possible, k_a, 0)  # entries that are not `possible` are overwritten below
    safe_fail = np.where(possible, fail, 0)
    log_ratio = log_fact[safe_fail] - log_fact[safe_fail - safe_k] - log_fact[n_a] + log_fact[n_a - safe_k]
    value = np.where(possible, -np.expm1(np.minimum(log_ratio, 0.0)), 1.0)
    return np.where(defined, value, np.nan)


def mean_pass_at_k(n: ArrayLike, c: ArrayLike, k: int) -> float:
    """Mean pass@k over problems.

    Raises:
        ValueError: when there are no problems, or when some problem has fewer than k samples (the
            message says how many problems and the smallest n).
    """
    n_a = np.asarray(n, dtype=np.int64)
    if n_a.size == 0:
        raise ValueError("mean_pass_at_k: no problems")
    if k > int(n_a.min()):
        short = int(np.sum(n_a < k))
        raise ValueError(
            f"pass@{k} needs at least {k} samples per problem; {short} problem(s) have fewer "
            f"(smallest n = {int(n_a.min())})"
        )
    return float(np.mean(pass_at_k(n_a, c, k)))


def powers_of_two(n_max: int) -> list[int]:
    """The k values a report shows: 1, 2, 4, ... up to n_max, plus n_max itself if it is not a power."""
    if n_max < 1:
        return []
    ks = [1 << i for i in range(n_max.bit_length()) if (1 << i) <= n_max]
    if ks[-1] != n_max:
        ks.append(n_max)
    return ks


def zero_success_upper_bound(n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on the per-sample success rate after 0 successes in n.

    "0 of 1024" means the rate is below 1 - (1 - confidence)^(1/n), about 0.0029 at 95%; evalkit
    says that instead of "impossible".
    """
    if n < 1:
        raise ValueError("zero_success_upper_bound: n must be >= 1")
    return float(beta.ppf(confidence, 1, n))
