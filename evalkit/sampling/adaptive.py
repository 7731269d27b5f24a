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

Every backend works (hf, vllm, openai, replay: one model load for all stages) and so does ``--shard``. With
``--executor ray`` each stage starts its actors again (one model load per replica and stage): correct, but
slower than it needs to be. A replayed file that lacks a sample the rule asks for ends the sampling; the run
then stays unfinished, and ``evalkit summary`` says so.

The rule itself is pure and lives with its estimator (:mod:`evalkit.stats.adaptive`); :func:`stage_jobs`
reads a run's store for it, and :mod:`evalkit.sampling.runner` runs the stages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalkit.stats.adaptive import DEFAULT_SUCCESSES, AdaptiveRule, Decision, rule_of
from evalkit.store import RunStore, by_problem
from evalkit.types import Problem

__all__ = ["DEFAULT_SUCCESSES", "AdaptiveRule", "Decision", "rule_of", "stage_jobs", "verified_prefixes"]


def verified_prefixes(store: RunStore) -> dict[str, np.ndarray]:
    """Each problem's ``passed`` for samples 0, 1, ... up to its first sample without a verdict (a later
    verdict of a key overrides an earlier one). Reads only the verdicts' key and ``passed`` columns."""
    table = store.verdict_table(("problem_id", "sample_idx", "passed"))
    idx = table.column("sample_idx").to_numpy()
    passed = table.column("passed").to_numpy(zero_copy_only=False).astype(np.int8)
    out: dict[str, np.ndarray] = {}
    for pid, rows in by_problem(table.column("problem_id")):
        slots = np.full(int(idx[rows].max()) + 1, -1, dtype=np.int8)
        slots[idx[rows]] = passed[rows]
        gaps = np.flatnonzero(slots < 0)
        out[pid] = slots[: gaps[0] if gaps.size else slots.size] == 1
    return out


def stage_jobs(store: RunStore, problems: Sequence[Problem], rule: AdaptiveRule) -> list[tuple[Problem, list[int]]]:
    """The samples the next stage draws: for each problem the rule has not stopped, the indices below its
    stage target that are not stored yet; every problem has an entry, in order (an empty one when the rule has
    stopped it or nothing is missing: the replay backend checks its file against all of the run's problems)."""
    prefixes = verified_prefixes(store)
    have = store.completion_keys()
    empty = np.zeros(0, dtype=bool)
    jobs = []
    for problem in problems:
        prefix = prefixes.get(problem.id, empty)
        decision = rule.decide(prefix)
        missing = (
            [] if decision.done else [i for i in range(prefix.size, decision.target) if (problem.id, i) not in have]
        )
        jobs.append((problem, missing))
    return jobs
