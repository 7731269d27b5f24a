"""Diversity of a run's answers to one problem: distinct answers and their entropy.

Used by the likelihood files (answer diversity per problem, stored beside the log-probabilities) and by the
comparison's evidence section (RL narrowing its answers shows as a drop in entropy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_COUNTS_LISTED = 16  # the largest correct-answer counts kept per problem


def entropy_bits(counts: Sequence[int] | np.ndarray) -> float:
    """Shannon entropy in bits of the empirical distribution given by ``counts`` (0 for no or one outcome)."""
    arr = np.asarray([c for c in counts if c > 0], dtype=np.float64)
    if arr.size <= 1:
        return 0.0
    p = arr / arr.sum()
    return float(-(p * np.log2(p)).sum())


def answer_diversity(keys: Mapping[str, int], correct_keys: Mapping[str, int]) -> dict[str, Any]:
    """Diversity of one run's answers to one problem.

    Args:
        keys: Answer key (the verifier's dedup key, or normalised text) -> samples with it, over all
            verified samples.
        correct_keys: The same over the correct samples only.

    Returns:
        ``distinct_answers``, ``answer_entropy_bits`` (all samples), ``distinct_correct``,
        ``correct_entropy_bits`` and ``correct_counts`` (the largest counts, at most 16).
    """
    correct = sorted((int(v) for v in correct_keys.values() if v > 0), reverse=True)
    return {
        "distinct_answers": sum(1 for v in keys.values() if v > 0),
        "answer_entropy_bits": entropy_bits(list(keys.values())),
        "distinct_correct": len(correct),
        "correct_entropy_bits": entropy_bits(correct),
        "correct_counts": correct[:MAX_COUNTS_LISTED],
    }
