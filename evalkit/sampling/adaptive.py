"""Adaptive sampling (``evalkit sample --adaptive``): per problem, sample in stages until R successes or n samples.

The rule is inverse binomial sampling with a cap (Haldane 1945; Girshick, Mosteller and Savage 1946): read
a problem's samples in ``sample_idx`` order and stop at the R-th success, or at n samples if fewer than R
succeed. Its stopping time T and the successes S among the first T samples are a complete sufficient
statistic, so every pass@k with k <= n has exactly one unbiased estimator (the UMVU one;
:func:`evalkit.stats.adaptive.adaptive_pass_at_k`). A problem never solved is sampled to n, as in a fixed-n run.

Samples are drawn in stages whose sizes follow from the counts so far (:meth:`AdaptiveRule.next_target`):
a first stage of ``first`` samples, then, with s successes among m, about ``m * R / s`` samples (at most four
times m, at least ``m + R - s``), or four times m while s = 0, never past n. A stage ends on a boundary, so the
R-th success may come before the last sample drawn: the samples after it are stored and counted as drawn, but
the estimator reads only the first T (which keeps it exact; using them would need another estimator).

What makes it independent of batching, replicas and interruptions: each sample has its own seed (so the
i-th sample of a problem is the same however it is produced), and the stage targets are recomputed from index
0 by :meth:`AdaptiveRule.decide` on the stored, verified samples (so a resumed run asks for exactly the
samples an uninterrupted one would have drawn). Because the samples of a problem are a prefix of those a
fixed-n run with the same seed draws, the problems solved at least once are exactly the fixed-n run's.

This module is pure (no store, no model); :mod:`evalkit.sampling.runner` runs the stages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError

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
