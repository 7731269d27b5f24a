"""ProRL analyses over checkpoints: regimes and the gain correlation.

- :func:`paired_regime`: ProRL's diminish / plateau / sustained (Liu et al. 2025, arXiv 2505.24864,
  Sec. 4) decided from paired comparisons on the problems every checkpoint was scored on, with
  "inconclusive" whenever the paired bounds do not show a regime. Each bound is the one-sided bound of
  the paired sign-flip test (:func:`evalkit.stats.sign_flip_test`) at the given confidence; a label
  that needs two or three bounds needs all of them (an intersection-union test, so its error rate is
  at most 1 - confidence without adjustment).
- :func:`prorl_regime`: the same rules on curve values with independent half-widths, for curves
  without per-problem values. It ignores pairing, so it can call a real paired gain noise.
- :func:`gain_correlation`, :func:`split_half_gain_inputs` and :func:`gain_correlation_test` (a paired
  sign-flip reference, valid with tasks of unequal variance): the rank correlation across tasks of
  the base's pass@k with the RL gain. Computing both from the same base samples gives a spurious
  negative correlation (the base's error enters x and, negated, the gain); split-half inputs make the
  two independent under "no RL effect" (see :mod:`evalkit.compare.calibration` for its null rejection rate).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from evalkit.stats._common import ArrayLike, FloatArray
from evalkit.stats.estimators import pass_at_k
from evalkit.stats.paired import sign_flip_test

# Bounds within this of zero count as zero: round-off never decides a regime. The exact sign-flip bound
# of differences that are all tied sits at +-(1e-9 - 6e-14) (its tie tolerance, then bisection), so the
# threshold must be well above 1e-9; per-problem pass@k bounds that matter are above 1e-4.
_ZERO = 1e-6


@dataclass(frozen=True)
class PairedChange:
    """A paired change between two checkpoints on the same problems, with one-sided bounds."""

    estimate: float
    lower: float  # one-sided lower bound at the confidence
    upper: float  # one-sided upper bound at the confidence

    def as_list(self) -> list[float]:
        return [self.estimate, self.lower, self.upper]


def paired_change(before: ArrayLike, after: ArrayLike, confidence: float = 0.95, seed: int = 0) -> PairedChange:
    """Mean of after - before over problems, with one-sided paired sign-flip bounds (each at ``confidence``).

    Raises:
        ValueError: on unequal shapes or fewer than one problem.
    """
    a, b = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 1:
        raise ValueError("paired_change: before and after must be 1-D, one value per shared problem")
    d = b - a
    up = sign_flip_test(d, 0.0, confidence, seed=seed)
    down = sign_flip_test(-d, 0.0, confidence, seed=seed)
    return PairedChange(float(up.estimate), -float(down.upper), float(up.upper))


def paired_regime(
    pass1: Sequence[ArrayLike],
    passk: Sequence[ArrayLike],
    confidence: float = 0.95,
    flat_margin: float = 0.02,
) -> dict[str, Any]:
    """ProRL's regime of a training run from per-problem values at each checkpoint (base first).

    ``pass1[t]`` and ``passk[t]`` hold checkpoint t's per-problem pass@1 and pass@k_max on the same
    problems in the same order. With one-sided paired bounds at ``confidence`` (see the module docstring):

    1. ``"diminish"``: pass@1 rose (final - base lower bound > 0) and pass@k did not: its final - base
       upper bound is <= 0 and the paired test of "pass@k did not fall" rejects at 1 - ``confidence``.
       The test is needed where the bound alone misleads: when every problem that changed moved the same
       way (e.g. 1 of 60 lost, none gained, or none changed) the inverted sign-flip bound is exactly 0,
       while the exact sign test gives p = 0.5 (or 1): no evidence that pass@k did not rise.
    2. ``"plateau"``: pass@k rose from the base to some earlier checkpoint (lower bound > 0) and the
       last segment is shown flat: both bounds within +-``flat_margin``. This comes before
       "sustained": a last-segment rise whose upper bound is within ``flat_margin`` (e.g. +0.001 with
       bounds +0.0002, +0.003 on many problems) is too small to count as still rising.
    3. ``"sustained"``: pass@k still rose over the last segment (final - previous lower bound > 0).
    4. ``"inconclusive"``: none of these was shown.

    Bounds within 1e-6 of zero count as zero (a last segment whose differences are all round-off is
    flat, never a rise; all-tied differences give bounds of +-1e-9 from the exact test's tie tolerance).

    Returns:
        ``{"regime", "sentence", "evidence"}``: the label, one sentence saying what the bounds show, and
        the paired changes (estimate, lower, upper) it used.

    Raises:
        ValueError: with fewer than 3 checkpoints or mismatched shapes.
    """
    if len(pass1) != len(passk) or len(passk) < 3:
        raise ValueError("paired_regime: needs per-problem values at 3 or more checkpoints (base first)")
    p1 = [np.asarray(v, dtype=np.float64) for v in pass1]
    pk = [np.asarray(v, dtype=np.float64) for v in passk]
    last = len(pk) - 1
    conf = f"{confidence:.0%}"
    d1 = paired_change(p1[0], p1[last], confidence)
    dk = paired_change(pk[0], pk[last], confidence)
    seg = paired_change(pk[last - 1], pk[last], confidence)
    rises = [paired_change(pk[0], pk[t], confidence) for t in range(1, last)]
    evidence: dict[str, Any] = {
        "pass1_final_minus_base": d1.as_list(),
        "passk_final_minus_base": dk.as_list(),
        "passk_last_segment": seg.as_list(),
        "passk_checkpoint_minus_base": [r.as_list() for r in rises],
        "confidence": confidence,
        "flat_margin": flat_margin,
        "method": "one-sided paired sign-flip bounds on the shared problems",
    }

    def show(c: PairedChange) -> str:
        return f"{c.estimate:+.3f} (one-sided {conf} bounds {c.lower:+.3f}, {c.upper:+.3f})"

    risen = [t for t, r in enumerate(rises, start=1) if r.lower > _ZERO]
    flat = seg.lower >= -flat_margin - _ZERO and seg.upper <= flat_margin + _ZERO
    fell_p = float(sign_flip_test(pk[last] - pk[0], 0.0, confidence).p_value)
    evidence["passk_fell_p_value"] = fell_p
    if d1.lower > _ZERO and dk.upper <= _ZERO and fell_p <= 1.0 - confidence:
        regime = "diminish"
        sentence = (
            f"pass@1 rose, final - base {show(d1)}, while pass@k did not rise: final - base {show(dk)}, "
            f"upper bound at or below zero (paired test that it fell: p = {fell_p:.3g})."
        )
    elif risen and flat:
        regime = "plateau"
        sentence = (
            f"pass@k rose from the base to checkpoint {risen[0]} ({show(rises[risen[0] - 1])}) and the "
            f"last segment stayed within +-{flat_margin:g}: {show(seg)}."
        )
    elif seg.lower > _ZERO:
        regime = "sustained"
        sentence = f"pass@k still rose over the last segment: {show(seg)}, lower bound above zero."
    else:
        regime = "inconclusive"
        sentence = (
            f"No regime is shown at {conf}: pass@k final - base {show(dk)}; last segment {show(seg)}; "
            f"pass@1 final - base {show(d1)}."
        )
    return {"regime": regime, "sentence": sentence, "evidence": evidence}


def split_half_gain_inputs(
    base_passed: Sequence[ArrayLike], final_passed: Sequence[ArrayLike]
) -> tuple[float, float, int]:
    """x and gain of one task for :func:`gain_correlation`, from independent halves of the base's samples.

    Each problem's base samples (in sample order) are split into even and odd indices. x is mean pass@h
    from the even half; the gain is mean pass@h of the final checkpoint's first h... odd-indexed samples
    minus mean pass@h of the base's odd half, with h the size of the odd half (both gain terms from h
    samples, so with no RL effect the gain is symmetric about zero and independent of x's error).

    Args:
        base_passed: Per problem, the base's verdicts in sample order (bools), at least 2 each.
        final_passed: Per problem, the final checkpoint's verdicts (at least as many as the odd half).

    Returns:
        (x, gain, h).

    Raises:
        ValueError: on mismatched lengths or problems with fewer than 2 base samples.
    """
    if len(base_passed) != len(final_passed) or not base_passed:
        raise ValueError("split_half_gain_inputs: one verdict array per problem in each run")
    xs: list[int] = []
    gb: list[int] = []
    gf: list[int] = []
    arrays = [
        (np.asarray(b, dtype=bool), np.asarray(f, dtype=bool)) for b, f in zip(base_passed, final_passed, strict=True)
    ]
    h = min(b.size // 2 for b, _ in arrays)
    if h < 1:
        raise ValueError("split_half_gain_inputs: every problem needs at least 2 base samples")
    if min(f.size for _, f in arrays) < 2 * h:
        raise ValueError("split_half_gain_inputs: the final run needs as many samples per problem as the base")
    for b, f in arrays:
        xs.append(int(b[0 : 2 * h : 2].sum()))
        gb.append(int(b[1 : 2 * h : 2].sum()))
        gf.append(int(f[1 : 2 * h : 2].sum()))
    x_mean, base_mean, final_mean = (float(np.mean(pass_at_k(h, np.array(v), h))) for v in (xs, gb, gf))
    return x_mean, final_mean - base_mean, h


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
    plateau or keep rising? From curve values only; when per-problem values exist use
    :func:`paired_regime`, which uses the pairing of checkpoints on the same problems (this function's
    independent-noise model can call a real paired gain noise, and then "diminish").

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

    The p-value is only valid when x and the gain do not share measurement error. With gain = final -
    base and x = base from the same samples, the base's error enters both with opposite signs: with no RL
    effect at all rho averaged -0.3 and p < 0.05 in about a fifth of simulated data sets
    (:mod:`evalkit.compare.calibration`). Build the inputs with :func:`split_half_gain_inputs`.

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


def _split_differences(
    base_passed: Sequence[ArrayLike], final_passed: Sequence[ArrayLike]
) -> tuple[float, FloatArray, int]:
    """x (mean pass@h of the base's even-indexed half) and the per-problem gains d_i (pass@h of the final
    checkpoint's odd half minus the base's odd half) of one task, as in :func:`split_half_gain_inputs`."""
    x, _gain, h = split_half_gain_inputs(base_passed, final_passed)
    b_odd = np.array([int(np.asarray(b, dtype=bool)[1 : 2 * h : 2].sum()) for b in base_passed])
    f_odd = np.array([int(np.asarray(f, dtype=bool)[1 : 2 * h : 2].sum()) for f in final_passed])
    return x, np.asarray(pass_at_k(h, f_odd, h) - pass_at_k(h, b_odd, h), dtype=np.float64), h


def gain_correlation_test(
    base_by_task: Sequence[Sequence[ArrayLike]],
    final_by_task: Sequence[Sequence[ArrayLike]],
    n_flip: int = 4000,
    seed: int = 0,
) -> dict[str, Any]:
    """Spearman correlation across tasks of the base's pass@h with the RL gain in pass@h (split halves, as
    :func:`split_half_gain_inputs`), with a paired sign-flip reference instead of Spearman's own null.

    With no RL effect (the final checkpoint samples each problem as the base does), a problem's odd-indexed
    base half and final half are exchangeable and independent of the even half that gives x, so flipping the
    sign of each problem's gain d_i leaves the joint law of (x, gains) unchanged. The p-value counts flips whose
    |rho| reaches the observed one, ``(1 + #)/(1 + n_flip)``: valid at any number of tasks and whatever the
    tasks' sizes and variances (Spearman's own null needs the tasks to be exchangeable; with tasks of unequal
    variance it gave 6.4% false positives at nominal 5% in :mod:`evalkit.compare.calibration`). A flip that
    leaves the gains constant (rho undefined) counts as reaching it.

    Args:
        base_by_task: Per task, per problem the base's verdicts in sample order (at least 2 each).
        final_by_task: Per task, per problem the final checkpoint's verdicts (as many as the base's).
        n_flip: Random sign vectors.
        seed: Seed of the sign vectors.

    Returns:
        ``{"rho", "p_value", "x", "gain", "h", "method"}`` (per-task lists for x, gain, h); rho and p_value NaN,
        with a RuntimeWarning, below 3 tasks or for constant inputs (see :func:`gain_correlation`).

    Raises:
        ValueError: on unequal task counts, the errors of :func:`split_half_gain_inputs`, or n_flip < 1.
    """
    if len(base_by_task) != len(final_by_task):
        raise ValueError("gain_correlation_test: one entry per task in each run")
    if n_flip < 1:
        raise ValueError("gain_correlation_test: n_flip must be >= 1")
    parts = [_split_differences(b, f) for b, f in zip(base_by_task, final_by_task, strict=True)]
    xs = [p[0] for p in parts]
    gains = [float(p[1].mean()) for p in parts]
    out: dict[str, Any] = {
        "x": xs, "gain": gains, "h": [p[2] for p in parts],
        "method": "Spearman over tasks; p-value from flipping the sign of each problem's split-half gain "
        f"({n_flip} random flips)",
    }  # fmt: skip
    rho, _spearman_p = gain_correlation(xs, gains)
    out["rho"] = rho
    if math.isnan(rho):
        out["p_value"] = math.nan
        return out
    rng = np.random.default_rng(seed)
    flipped = np.stack([(np.where(rng.random((n_flip, p[1].size)) < 0.5, -1.0, 1.0) @ p[1]) / p[1].size for p in parts])
    ranks_x = sps.rankdata(xs)
    ranks_g = sps.rankdata(flipped.T, axis=1)  # (n_flip, tasks)
    rx = ranks_x - ranks_x.mean()
    rg = ranks_g - ranks_g.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx * rx).sum() * (rg * rg).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho_star = (rg @ rx) / denom
    extreme = np.isnan(rho_star) | (np.abs(rho_star) >= abs(rho) - 1e-12)
    out["p_value"] = float((1 + int(extreme.sum())) / (1 + n_flip))
    return out
