"""Unbiased pass@k under inverse binomial sampling with a cap: the rule of ``evalkit sample --adaptive``
(:class:`AdaptiveRule`, its stages described in :mod:`evalkit.sampling.adaptive`) and its estimator.

The rule: read a problem's samples in order and stop at the R-th success,
or at n samples. The outcome is (T, S): stopped at T <= n with S = R (the T-th sample is the R-th success), or
T = n with S < R. With per-sample success rate p and q = 1 - p,

    P(T = t, S = R) = C(t - 1, R - 1) p^R q^(t - R),   t = R .. n,
    P(T = n, S = s) = C(n, s) p^s q^(n - s),           s = 0 .. R - 1.

Derivation of the estimator. The indicator "the first k samples all fail" has mean q^k and is known on every
path for k <= n: when T <= k the T-th sample is a success among the first k (when S = R), and otherwise the
first k samples were read. Its Rao-Blackwellisation given (T, S) is, by exchangeability of the samples before
the last one,

* S = R at T = t: the first t - 1 samples hold R - 1 successes in a uniformly random arrangement, so
  P(first k all fail | T = t, S = R) = C(t - 1 - k, R - 1) / C(t - 1, R - 1) for k < t, and 0 for k >= t;
* T = n, S = s < R: C(n - k, s) / C(n, s), Chen et al.'s estimator.

By the identity C(a - k, r) / C(a, r) = C(a - r, k) / C(a, k), the first case is Chen et al.'s pass@k of the
counts (t - 1, R - 1): the samples before the stopping one. So

    pass@k = 1 - C(t-1-k, R-1) / C(t-1, R-1)   (k < t, stopped at the R-th success; 1 for k >= t),
    pass@k = 1 - C(n-k, s) / C(n, s)            (n samples, s < R successes).

It is unbiased for every k <= n, lies in [0, 1], and is the UMVU estimator: (T, S) is complete (the n + 1
path probabilities span the polynomials in p of degree <= n: the stopped paths span p^R times those of degree
<= n - R, and p^s q^(n - s), s < R, have distinct lowest powers modulo p^R), so the unbiased estimator is
unique. ``tests/test_adaptive.py`` checks exact unbiasedness by enumerating every path for small n and R.

Intervals over problems: per-problem estimates are independent across problems and bounded in [0, 1], so the
interval methods of :func:`evalkit.stats.problem_mean_ci` apply to them as to fixed-n estimates. pass@n is
exactly the fixed-n run's indicator "solved at least once". Not implemented: per-problem intervals under this
rule, and estimators that also read the samples drawn after the stopping one.

References: Chen et al. 2021 (arXiv 2107.03374) for pass@k; Haldane 1945, "On a method of estimating
frequencies", Biometrika 33, and Girshick, Mosteller and Savage 1946 (Ann. Math. Statist. 17) for unbiased
estimation under inverse binomial sampling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.stats._common import ArrayLike, FloatArray
from evalkit.stats.estimators import pass_at_k

RULE_NAME = "inverse-binomial"
GROWTH = 4  # a stage at most this many times the samples drawn before it
DEFAULT_SUCCESSES = 16


@dataclass(frozen=True)
class Decision:
    """Where a problem stands under the rule.

    Attributes:
        done: The rule has stopped (R successes seen, or n samples read).
        target: Samples (indices 0 .. target - 1) that must be stored and verified: when ``done``, those drawn.
        used: When done, the stopping time T: the samples the estimator reads (<= target).
        successes: When done, the successes S among the first ``used`` samples.
        reached: When done, whether R successes were seen (S = R at T); otherwise T = n and S < R.
    """

    done: bool
    target: int
    used: int = 0
    successes: int = 0
    reached: bool = False


@dataclass(frozen=True)
class AdaptiveRule:
    """Inverse binomial sampling with a cap: stop at ``successes`` correct samples or at ``n`` samples.

    Attributes:
        successes: R >= 1, successes that stop a problem.
        n: The cap (the fixed-n run this replaces), >= 1.
        first: Samples of the first stage, in 1 .. n.
    """

    successes: int
    n: int
    first: int

    @classmethod
    def make(cls, successes: int, n: int, first: int | None = None) -> AdaptiveRule:
        """The rule for ``--adaptive``; ``first`` defaults to 2R (at most n).

        Raises:
            EvalkitError: when R < 1, n < 1 or ``first`` outside 1 .. n.
        """
        if successes < 1:
            raise EvalkitError(f"--adaptive-successes must be >= 1 (got {successes})")
        if n < 1:
            raise EvalkitError(f"--n must be >= 1 (got {n})")
        first = min(n, 2 * successes) if first is None else first
        if not 1 <= first <= n:
            raise EvalkitError(f"the first stage of --adaptive must hold 1 to n = {n} samples (got {first})")
        return cls(successes, n, first)

    def to_json(self) -> dict[str, Any]:
        """What the manifest records as ``identity.adaptive``."""
        return {"rule": RULE_NAME, "successes": self.successes, "n": self.n, "first": self.first, "growth": GROWTH}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "manifest") -> AdaptiveRule:
        """The rule a manifest records.

        Raises:
            EvalkitError: naming ``where`` when the entry is not a rule this evalkit knows.
        """
        ok = (
            isinstance(data, Mapping)
            and data.get("rule") == RULE_NAME
            and data.get("growth") == GROWTH
            and all(
                isinstance(data.get(key), int) and not isinstance(data.get(key), bool)
                for key in ("successes", "n", "first")
            )
        )
        if not ok:
            raise EvalkitError(
                f"{where}: identity.adaptive {data!r} is not a rule this evalkit reads (a newer evalkit?)"
            )
        try:
            return cls.make(int(data["successes"]), int(data["n"]), int(data["first"]))
        except EvalkitError as exc:
            raise EvalkitError(f"{where}: identity.adaptive: {exc}") from None

    def next_target(self, drawn: int, successes: int) -> int:
        """The samples to have after the next stage, given ``successes`` among the first ``drawn`` (< R)."""
        if successes <= 0:
            return min(self.n, GROWTH * drawn)
        projected = math.ceil(1.1 * drawn * self.successes / successes)
        return min(self.n, max(drawn + self.successes - successes, min(GROWTH * drawn, projected)))

    def decide(self, prefix: np.ndarray) -> Decision:
        """Run the stages over a problem's verified outcomes in ``sample_idx`` order.

        Args:
            prefix: Booleans, shape (m,): ``passed`` of samples 0 .. m - 1 (a contiguous prefix; samples
                past a gap are not part of it).

        Returns:
            The :class:`Decision`: done with (T, S), or the stage target still to be drawn.
        """
        outcomes = np.asarray(prefix, dtype=bool)
        target = self.first
        while True:
            if outcomes.size < target:
                return Decision(False, target)
            hits = np.flatnonzero(outcomes[:target])
            if hits.size >= self.successes:
                return Decision(True, target, int(hits[self.successes - 1]) + 1, self.successes, True)
            if target >= self.n:
                return Decision(True, target, self.n, int(hits.size), False)
            target = self.next_target(target, int(hits.size))


def rule_of(manifest: Mapping[str, Any], where: str = "manifest") -> AdaptiveRule | None:
    """The adaptive rule a run's manifest records, or None for a fixed-n run."""
    entry = manifest.get("identity", {}).get("adaptive")
    return None if entry is None else AdaptiveRule.from_json(entry, where)


def adaptive_pass_at_k(used: ArrayLike, successes: ArrayLike, reached: ArrayLike, r: int, k: ArrayLike) -> FloatArray:
    """Unbiased pass@k per problem under "stop at R successes or n samples".

    ``used``, ``successes``, ``reached`` and ``k`` broadcast against each other (e.g. ``used[:, None]`` and
    ``ks[None, :]`` for a problems x k table).

    Args:
        used: The stopping time T per problem (samples read by the rule), >= 1.
        successes: Successes among those T samples (R where ``reached``).
        reached: Whether the rule stopped at the R-th success (else T = n, the cap, and successes < R).
        r: R, the successes that stop a problem (>= 1).
        k: Budget per entry, 1 <= k; entries with k > T on a problem that did not reach R are NaN, as
            for fixed n (a problem that reached R has pass@k = 1 for every k >= T).

    Returns:
        Float array of the broadcast shape, values in [0, 1] (NaN as above).

    Raises:
        ValueError: on T < 1, successes outside [0, T], a reached problem whose successes are not R, or k < 1.
    """
    t_a, s_a, hit, k_a = np.broadcast_arrays(
        np.asarray(used, dtype=np.int64),
        np.asarray(successes, dtype=np.int64),
        np.asarray(reached, dtype=bool),
        np.asarray(k, dtype=np.int64),
    )
    if r < 1:
        raise ValueError(f"adaptive_pass_at_k: R must be >= 1 (got {r})")
    if np.any(t_a < 1) or np.any(s_a < 0) or np.any(s_a > t_a) or np.any(k_a < 1):
        raise ValueError("adaptive_pass_at_k: need T >= 1, 0 <= successes <= T and k >= 1")
    if np.any(hit & (s_a != r)) or np.any(~hit & (s_a >= r)):
        raise ValueError(f"adaptive_pass_at_k: a problem that reached R = {r} has R successes, any other fewer")
    out = np.empty(t_a.shape, dtype=np.float64)
    early = hit & (k_a >= t_a)  # the stopping success lies among the first k samples
    out[early] = 1.0
    before = hit & ~early  # k <= T - 1: Chen et al. on the T - 1 samples before the stopping one
    if before.any():
        out[before] = pass_at_k(t_a[before] - 1, r - 1, k_a[before])
    capped = ~hit
    if capped.any():
        out[capped] = pass_at_k(t_a[capped], s_a[capped], k_a[capped])
    return out


def decisions(rule: AdaptiveRule, prefixes: Sequence[np.ndarray]) -> list[Decision]:
    """The rule's :class:`Decision` for each problem's verified prefix."""
    return [rule.decide(prefix) for prefix in prefixes]


def adaptive_table(rule: AdaptiveRule, done: Sequence[Decision], ks: Sequence[int]) -> FloatArray:
    """Per-problem pass@k, shape (problems, len(ks)), for problems the rule has stopped.

    Raises:
        ValueError: when a decision is not done (the run is not finished) or some k > n.
    """
    if any(not d.done for d in done):
        raise ValueError("adaptive_table: a problem is still being sampled")
    if any(k > rule.n for k in ks):
        raise ValueError(f"adaptive_table: k above n = {rule.n}")
    used = np.array([d.used for d in done], dtype=np.int64)
    succ = np.array([d.successes for d in done], dtype=np.int64)
    hit = np.array([d.reached for d in done], dtype=bool)
    return adaptive_pass_at_k(used[:, None], succ[:, None], hit[:, None], rule.successes, np.asarray(ks)[None, :])
