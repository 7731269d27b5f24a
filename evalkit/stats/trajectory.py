"""ProRL analyses over checkpoints: regimes and the gain correlation."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from evalkit.stats._common import FloatArray

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
