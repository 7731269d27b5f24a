"""Guessability: which problems' observed pass@k is within reach of random guessing.

Dragoi et al. 2025 ("Beyond Pass@k: Breadth-Depth Metrics for Reasoning Boundaries", arXiv 2510.08325) point
out that on tasks with a small answer space, pass@k at large k is reached by guessing: a model that names a
uniformly random AIME answer (0-999) in each of 1,024 samples solves a problem with probability
``1 - 0.999^1024``, about 0.64. A pass@k gain (or a base model "catching up") at such k says little.

Per problem of a run, with ``n`` samples, ``c`` correct and ``A`` possible answers:

* observed pass@k (Chen et al. unbiased estimator) beside the guesser's exact pass@k, for the uniform model
  ``1 - (1 - 1/A)^k`` (independent uniform guesses) and the distinct model ``min(k, A)/A`` (k different
  answers; :func:`evalkit.stats.guess.guess_pass_at_k`);
* the one-sided exact binomial p-value of "the per-sample success rate is at most 1/A"
  (:func:`evalkit.stats.guess.above_guess_pvalues`). Since ``1 - (1 - p)^k`` increases with ``p``, this tests
  "pass@k is at most the uniform guesser's" at every k at once. The p-values are Holm-adjusted over every
  problem of the run, so the problems called *above guessing* are all above it with family-wise confidence;
  the others are **within reach of guessing** (not shown to be above it, which includes problems with too few
  samples to tell).

The answer space comes from ``--answers`` or from the task (:attr:`evalkit.tasks.TaskFamily.answer_space`,
1000 for ``aime24`` and ``aime25``). Not covered: answer spaces that are not uniform for a guesser (a model that
knows AIME answers are often small integers guesses better than uniform; the uniform rate is then a lower
bound on what guessing reaches).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.errors import EvalkitError
from evalkit.stats import holm, pass_at_k, powers_of_two
from evalkit.stats.guess import above_guess_pvalues, guess_pass_at_k
from evalkit.tasks.registry import get_family


def answer_space_of(task: str, answers: int | None) -> int:
    """The number of possible answers of ``task``: ``answers`` when given, else the task's own.

    Raises:
        EvalkitError: when neither says, or ``answers`` is below 2.
    """
    if answers is not None:
        if answers < 2:
            raise EvalkitError(f"--answers must be at least 2 (got {answers}): the size of the answer space")
        return answers
    try:
        known = get_family(task).answer_space
    except EvalkitError:
        known = None  # a task folder's task not registered in this process: only --answers can say
    if known is None:
        raise EvalkitError(
            f"task {task} does not say how many answers it has; pass --answers N (e.g. 1000 for integers 0-999, "
            "2 for yes/no, 4 for choices A-D)"
        )
    return int(known)


def guess_report(
    results: RunResults, answers: int | None = None, ks: Sequence[int] | None = None, confidence: float = 0.95
) -> dict[str, Any]:
    """Per problem and per task: observed pass@k against random guessing, and which problems are within reach.

    Args:
        results: A loaded run (:func:`evalkit.compare.results.load_run`).
        answers: Size of the answer space for every task of the run; None: each task's own.
        ks: The k to report (default: powers of two up to the largest n); a k above a problem's n is None.
        confidence: Family-wise confidence of the "above guessing" calls (Holm over the run's problems).

    Returns:
        ``{"model", "confidence", "guess_model", "problems": [...], "tasks": {...}}`` (see the module docstring).

    Raises:
        EvalkitError: on a run without verdicts, an unknown answer space, a bad k or confidence.
    """
    if not 0.0 < confidence < 1.0:
        raise EvalkitError(f"--confidence must be between 0 and 1 (got {confidence})")
    task_of = {p.id: p.task for p in results.problems}
    pids = [pid for pid in task_of if results.n(pid) > 0]
    if not pids:
        raise EvalkitError(f"{results.root}: no verified completion; run `evalkit score` first")
    n = np.array([results.n(pid) for pid in pids])
    c = np.array([results.c(pid) for pid in pids])
    ks = sorted(set(ks)) if ks else powers_of_two(int(n.max()))
    if ks[0] < 1:
        raise EvalkitError(f"--k must be >= 1 (got {ks[0]})")
    spaces = {task: answer_space_of(task, answers) for task in sorted({task_of[pid] for pid in pids})}
    a = np.array([spaces[task_of[pid]] for pid in pids])
    adjusted = holm(above_guess_pvalues(n, c, a))
    alpha = 1.0 - confidence
    rows = []
    for i, pid in enumerate(pids):
        at_k: dict[str, Any] = {}
        for k in ks:
            observed = float(pass_at_k(n[i], c[i], k)) if k <= n[i] else None
            at_k[str(k)] = {
                "observed": observed,
                "guess": float(guess_pass_at_k(a[i], k)),
                "guess_distinct": float(guess_pass_at_k(a[i], k, model="distinct")),
            }
        rows.append(
            {
                "problem_id": pid,
                "task": task_of[pid],
                "n": int(n[i]),
                "c": int(c[i]),
                "answers": int(a[i]),
                "p_above_guess": float(adjusted[i]),
                "within_reach": bool(adjusted[i] > alpha),
                "pass_at_k": at_k,
            }
        )
    return {
        "model": results.label(),
        "confidence": confidence,
        "test": "one-sided exact binomial, per-sample rate > 1/answers, Holm over all problems",
        "problems": rows,
        "tasks": _tasks(rows, ks, spaces),
    }


def _tasks(rows: list[dict[str, Any]], ks: Sequence[int], spaces: dict[str, int]) -> dict[str, Any]:
    """Per task: answer space, problems, problems within reach, and mean observed vs guess pass@k at each k."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    out = {}
    for task, mine in by_task.items():
        at_k = {}
        for k in ks:
            observed = [r["pass_at_k"][str(k)]["observed"] for r in mine]
            known = [x for x in observed if x is not None]
            at_k[str(k)] = {
                "observed": float(np.mean(known)) if len(known) == len(observed) else None,  # one n per claim
                "guess": mine[0]["pass_at_k"][str(k)]["guess"],
                "guess_distinct": mine[0]["pass_at_k"][str(k)]["guess_distinct"],
            }
        out[task] = {
            "answers": spaces[task],
            "problems": len(mine),
            "within_reach": sum(r["within_reach"] for r in mine),
            "pass_at_k": at_k,
        }
    return out
