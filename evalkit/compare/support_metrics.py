"""The support metrics of "The Invisible Leash" and the entropies and winner-take-all correlation beside them:
pure functions on counts and log-probabilities (docs/support.md defines each name and says where evalkit differs).

**Support dynamics** (Wu et al. 2025, "The Invisible Leash: Why RLVR May or May Not Escape Its Origin", arXiv
2507.14843, Definitions 3.2 and 3.3). A correct answer is in a model's *empirical support* at threshold epsilon
when the model gives it probability above epsilon; the paper counts answer-level correct completions (traces with
the same verified outcome are one class) found by each model within a sampling budget of k samples:
P (preservation: both find it), E (expansion: only RL), S (shrinkage: only the base), O (out of support: neither).

- ``SRR = P / (P + S)`` (support retention rate), ``NDR = E / (P + E)`` (net discovery rate),
  ``SDS = 2 SRR NDR / (SRR + NDR) = 2PE / (P^2 + 2PE + ES)`` (support dynamic score, their harmonic mean),
  ``NSCR = (E - S) / (P + E + S)`` (net support change rate). A rate whose denominator is 0 is None.
- **epsilon and k.** A class of probability above epsilon is missed by k independent samples with probability
  below (1 - epsilon)^k; it is found with probability at least 1 - zeta when ``epsilon = 1 - zeta^(1/k)``
  (:func:`detection_threshold`). The paper (Appendix C.4) bounds log(1 - p) <= -p and states epsilon = -ln(zeta)/k
  (3.66e-4 at k = 8192, zeta = 0.05), a slightly larger value than the exact root; both are reported
  (``epsilon``, ``epsilon_paper``).
  "Found in k samples" is therefore the operational test of "probability above epsilon_k", with error rate zeta
  for a class exactly at epsilon_k. It is also the one-sided 1 - zeta upper bound on the rate of a class never
  seen in k samples (:func:`evalkit.stats.zero_success_upper_bound`).
- **Unit.** One verified outcome per problem (the verifier passes a problem's correct answers as one class), so
  the four counts are counts of problems; at k = n they are the comparison's frontier classes. At powers of two
  k < n they are *expected* counts for a fresh draw of k samples per model, from the unbiased pass@k of each run
  (the runs are independent, so the product of two unbiased estimates is unbiased for the joint probability);
  the rates at k < n are ratios of those expected counts.

**Entropy** (the same paper, Section 5.1):

- *Answer-level entropy*: per problem, ``-sum_j p_j ln p_j`` over the distinct answers of its samples (p_j their
  sample shares; an unfinished sample, cut at the token limit, counts as the answer "NA"), in nats; the mean over
  problems (:func:`answer_entropy`).
- *Token-level entropy*: the paper averages the entropy of the full next-token distribution over each sequence's
  steps, then over sequences. evalkit records only the sampled token's log-probability, so it estimates the
  token-weighted mean entropy by the pooled surprisal ``sum_i -log p_S(y_i) / sum_i T_i`` of the model's own
  samples under the distribution they were drawn from (:func:`token_entropy`): each step's expected surprisal
  is that step's entropy, and by optional stopping the sum over a sequence of (surprisal - entropy) has mean 0,
  so the ratio is a consistent estimate of the token-weighted mean entropy. The paper's per-sequence average
  weighs short sequences more; with sequences of equal length the two coincide.

**Winner-take-all** (Nguyen et al. 2025, "The Reasoning Boundary Paradox: How Reinforcement Learning Constrains
Language Models", arXiv 2510.02230: RLVR reinforces problems whose correct solutions the base already finds
likely): per problem RL solved, x = the base's per-token log-likelihood of RL's correct samples (from the
likelihood file; a teacher-forced score, free of the base's sampling noise) against RL's gain in per-sample
success rate, with Spearman's rank correlation (:func:`winner_take_all`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalkit.stats import pass_at_k

ZETA = 0.05


def detection_threshold(k: int, zeta: float = ZETA) -> float:
    """epsilon_k = 1 - zeta^(1/k): a class of probability above it appears in k samples with probability > 1 - zeta.

    Raises:
        ValueError: for k < 1 or zeta outside (0, 1).
    """
    if k < 1 or not 0.0 < zeta < 1.0:
        raise ValueError(f"detection_threshold: need k >= 1 and 0 < zeta < 1 (got k={k}, zeta={zeta})")
    return float(-math.expm1(math.log(zeta) / k))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def support_rates(p: float, e: float, s: float, o: float = 0.0) -> dict[str, float | None]:
    """SRR, NDR, SDS and NSCR from the four counts (module docstring); None where a denominator is 0.

    Args:
        p: Preservation count (both find the correct answer).
        e: Expansion count (only RL).
        s: Shrinkage count (only the base).
        o: Out-of-support count (neither); enters no rate, kept for the record.
    """
    srr, ndr = _ratio(p, p + s), _ratio(e, p + e)
    sds: float | None = None
    if srr is not None and ndr is not None:
        sds = 2.0 * srr * ndr / (srr + ndr) if srr + ndr > 0 else 0.0
    return {
        "P": float(p),
        "E": float(e),
        "S": float(s),
        "O": float(o),
        "SRR": srr,
        "NDR": ndr,
        "SDS": sds,
        "NSCR": _ratio(e - s, p + e + s),
    }


def support_dynamics(
    m: Sequence[int] | np.ndarray,
    c_base: Sequence[int] | np.ndarray,
    c_rl: Sequence[int] | np.ndarray,
    ks: Sequence[int],
    zeta: float = ZETA,
) -> dict[str, Any]:
    """The support metrics at the full budget and at each k of ``ks`` (see the module docstring).

    Args:
        m: (P,) samples per problem in both runs (the common budget).
        c_base: (P,) the base's correct samples among them.
        c_rl: (P,) RL's.
        ks: Budgets at or below min(m) for the expected counts.
        zeta: Miss probability that sets epsilon.

    Returns:
        ``{"at_n": rates + {"n_min", "n_max", "epsilon", "epsilon_paper"}, "at_k": {str(k): rates + {"epsilon"}},
        "zeta"}``; epsilon at n is that of the smallest n.
    """
    n_a, cb, cr = (np.asarray(v, dtype=np.int64) for v in (m, c_base, c_rl))
    found_b, found_r = cb > 0, cr > 0
    at_n = support_rates(
        float(np.sum(found_b & found_r)),
        float(np.sum(~found_b & found_r)),
        float(np.sum(found_b & ~found_r)),
        float(np.sum(~found_b & ~found_r)),
    )
    lo, hi = int(n_a.min()), int(n_a.max())
    at_n.update(
        {"n_min": lo, "n_max": hi, "epsilon": detection_threshold(lo, zeta), "epsilon_paper": -math.log(zeta) / lo}
    )
    at_k: dict[str, Any] = {}
    for k in ks:
        pb, pr = pass_at_k(n_a, cb, k), pass_at_k(n_a, cr, k)
        rates = support_rates(
            float(np.sum(pb * pr)),
            float(np.sum((1 - pb) * pr)),
            float(np.sum(pb * (1 - pr))),
            float(np.sum((1 - pb) * (1 - pr))),
        )
        at_k[str(k)] = {**rates, "epsilon": detection_threshold(int(k), zeta)}
    return {"at_n": at_n, "at_k": at_k, "zeta": zeta}


def answer_entropy(counts: Sequence[int] | np.ndarray | Mapping[Any, int]) -> float:
    """Shannon entropy in nats of the empirical answer distribution given by ``counts`` (0 for one answer).

    Raises:
        ValueError: for no samples or a negative count.
    """
    values = list(counts.values()) if isinstance(counts, Mapping) else list(counts)
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or arr.sum() <= 0 or np.any(arr < 0):
        raise ValueError("answer_entropy: needs at least one sample and no negative count")
    p = arr[arr > 0] / arr.sum()
    return float(-(p * np.log(p)).sum())


def token_entropy(logprobs: Sequence[float] | np.ndarray, tokens: Sequence[int] | np.ndarray) -> float | None:
    """Pooled surprisal per token, ``sum(-logprobs) / sum(tokens)`` in nats: the estimate of the token-weighted
    mean entropy of the distribution the samples were drawn from (module docstring). None without tokens.

    Args:
        logprobs: (N,) each sample's total natural-log probability under the distribution it was drawn from.
        tokens: (N,) the tokens each total runs over.
    """
    lp, t = np.asarray(logprobs, dtype=np.float64), np.asarray(tokens, dtype=np.float64)
    keep = np.isfinite(lp) & (t > 0)
    total = float(t[keep].sum())
    return float(-lp[keep].sum() / total) if total > 0 else None


def winner_take_all(x: Sequence[float], gain: Sequence[float]) -> dict[str, Any]:
    """Spearman's rank correlation of the base's likelihood of RL's solutions (``x``, ``-inf`` allowed: ranked
    lowest) with RL's gain, and its two-sided p-value (scipy); None values with fewer than 3 points or a
    constant input.

    Returns:
        ``{"points", "spearman_rho", "p_value"}``.
    """
    from scipy import stats as sps

    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(gain, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError("winner_take_all: x and gain must be 1-D and of equal length")
    out: dict[str, Any] = {"points": int(xs.size), "spearman_rho": None, "p_value": None}
    if xs.size < 3:
        return out
    finite = xs[np.isfinite(xs)]
    floor = (finite.min() - 1.0) if finite.size else 0.0
    xs = np.where(np.isneginf(xs), floor, xs)  # unreachable: below every finite value, tied among themselves
    if np.all(xs == xs[0]) or np.all(ys == ys[0]):
        return out
    res = sps.spearmanr(xs, ys)
    out["spearman_rho"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out
