"""Turnover of the solved set across a checkpoint series (base, intermediate checkpoints, final).

For ``evalkit report BASE MID... FINAL`` (and ``compare --mid``): on the problems every run holds with verified
samples, each cut to its common sample count m (the smallest n over the runs, samples in sample_idx order),

- per problem, the checkpoint at which it was first solved and the one at which it was last solved (solved: at
  least one of the m samples passed), with the training step where the checkpoint's path names one
  (``.../step-250``), and its solved pattern over the series;
- per consecutive pair of checkpoints, the problems gained and lost, with the exact chance-level reference of
  :mod:`evalkit.stats.turnover` (what two checkpoints with equal per-problem rates would gain and lose);
- the counts: problems ever solved, solved at every checkpoint, solved at the base and not at the final one.

Each step's p-values are separate tests (no adjustment across steps); the report says so.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from evalkit.compare.results import RunResults
from evalkit.errors import EvalkitError
from evalkit.stats.turnover import first_last_solved, turnover_step

#: At most this many problems are listed per step (gained / lost); the counts are always complete.
MAX_LISTED = 50


_STEP_RE = re.compile(r"(?:^|[^A-Za-z0-9])(?:global_)?step[-_]?(\d+)$")


def training_step(run: RunResults) -> int | None:
    """The training step of a run's checkpoint when its model path ends in ``step-N`` / ``step_N`` / ``stepN``
    (evalkit's GRPO trainer saves ``checkpoints/step-N``); None otherwise (the base, a hub id)."""
    model = str(run.manifest.get("identity", {}).get("model", "")).rstrip("/")
    found = _STEP_RE.search(model.rsplit("/", 1)[-1])
    return int(found.group(1)) if found else None


def checkpoint_labels(count: int) -> list[str]:
    """``base``, ``checkpoint 1`` ... ``final`` for a series of ``count`` runs."""
    return ["base", *(f"checkpoint {i}" for i in range(1, count - 1)), "final"][:count]


def checkpoint_turnover(runs: list[RunResults], confidence: float = 0.95) -> dict[str, Any]:
    """The ``turnover`` key of the summary for two or more runs in training order (see the module docstring).

    Returns:
        ``{"checkpoints": [{"label", "run", "step", "solved"}], "steps": [turnover step + {"from", "to",
        "gained", "lost"}], "problems": [{"problem_id", "task", "m", "first_solved", "last_solved",
        "first_solved_step", "last_solved_step", "pattern"}],
        "ever_solved", "always_solved", "lost_by_final", "n_problems", "confidence", "method"}``; checkpoint
        indices count from 0 (the base).

    Raises:
        EvalkitError: for fewer than two runs or no problem shared with verified samples.
    """
    if len(runs) < 2:
        raise EvalkitError("turnover needs at least two runs (base ... final)")
    shared = set.intersection(*({p.id for p in r.problems if r.n(p.id)} for r in runs))
    problems = [p for p in runs[0].problems if p.id in shared]
    if not problems:
        raise EvalkitError("the runs of the checkpoint series share no problem with verified samples")
    m = np.array([min(r.n(p.id) for r in runs) for p in problems])
    counts = np.array([[r.c(p.id, int(mm)) for p, mm in zip(problems, m, strict=True)] for r in runs])
    solved = counts > 0
    labels = checkpoint_labels(len(runs))
    first, last = first_last_solved(solved)
    train_steps = [training_step(r) for r in runs]

    def step_of(index: int | None) -> int | None:
        return None if index is None else train_steps[index]

    steps = []
    for t in range(1, len(runs)):
        step = turnover_step(counts[t - 1], counts[t], m, confidence)
        gained = [problems[i].id for i in np.flatnonzero(~solved[t - 1] & solved[t])]
        lost = [problems[i].id for i in np.flatnonzero(solved[t - 1] & ~solved[t])]
        steps.append(
            {"from": labels[t - 1], "to": labels[t], **step, "gained": gained[:MAX_LISTED], "lost": lost[:MAX_LISTED]}
        )
    return {
        "checkpoints": [
            {"label": label, "run": str(r.root), "step": train_steps[i], "solved": int(solved[i].sum())}
            for i, (label, r) in enumerate(zip(labels, runs, strict=True))
        ],
        "steps": steps,
        "problems": [
            {
                "problem_id": p.id,
                "task": p.task,
                "m": int(m[i]),
                "first_solved": first[i],
                "last_solved": last[i],
                "first_solved_step": step_of(first[i]),
                "last_solved_step": step_of(last[i]),
                "pattern": "".join("1" if v else "0" for v in solved[:, i]),
            }
            for i, p in enumerate(problems)
        ],
        "n_problems": len(problems),
        "ever_solved": int(solved.any(axis=0).sum()),
        "always_solved": int(solved.all(axis=0).sum()),
        "lost_by_final": int((solved[0] & ~solved[-1]).sum()),
        "confidence": confidence,
        "method": "solved: at least one of the first m samples passed (m = the smallest n over the runs); chance "
        "reference: exact conditional permutation of each problem's 2m samples between the two checkpoints "
        "(no change: equal per-problem rates), gains and losses each Poisson-binomial; p_sign: exact binomial "
        "test of gains against losses; each step tested on its own",
    }
