"""One n per task: runs whose problems hold uneven numbers of samples are refused, or cut to the smallest.

Every comparison cuts each problem to the samples all its runs hold (``min`` over the runs, in sample_idx
order). When that number differs between the problems of one task, as in an import whose file lacks some
samples of some problems (an import records no n to check against), a scope's pass@k, frontier classes and
"0 of n" bounds would each rest on another n while the verdict names one. The missing samples need not be
missing at random (a request that failed on a long, hard problem), so evalkit does not choose for the user:

* by default ``summary``, ``compare``, ``report`` and ``gate`` refuse (exit 2) with one line naming the run(s),
  the task, how many problems hold how many samples, a few of the short problems, and the two ways on;
* with ``--truncate-n`` every problem of such a task is cut to the task's smallest n (its first samples by
  sample_idx) in every run compared, and the output says so in its text and in the JSON (``truncate_n``:
  the option, and per task the n compared, the problems cut, the samples per problem each run held).

Tasks whose problems share one n are never cut, and tasks of different n stay apart (one scope per n).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from evalkit.compare.results import RunResults
from evalkit.errors import EvalkitError

OPTION = "--truncate-n"
SHOWN = 3  # short problems named in the refusal


@dataclass
class UnevenTask:
    """A task whose problems would be compared at more than one n.

    Attributes:
        task: The task's scope name (``add``, ``add@digits=4``).
        n: The smallest compared n (what ``--truncate-n`` cuts to).
        counts: Compared n -> how many problems have it.
        runs: Run label -> (smallest, largest) samples per problem it holds in the task.
        short: Ids of problems below the largest n (the first :data:`SHOWN`).
    """

    task: str
    n: int
    counts: dict[int, int]
    runs: dict[str, tuple[int, int]]
    short: list[str]

    def text(self) -> str:
        """``task add: 4 problems have 8 samples, 2 have 4 (add-..., ...); base 4..8, RL 8``."""
        counts = sorted(self.counts.items(), reverse=True)
        parts = [f"{k} {'has' if k == 1 else 'have'} {n}" for n, k in counts]
        have = f"{counts[0][1]} problem(s) have {counts[0][0]} samples, " + ", ".join(parts[1:])
        spans = ", ".join(f"{label} {_span(lo, hi)}" for label, (lo, hi) in self.runs.items())
        more = ", ..." if sum(k for n, k in counts[1:]) > len(self.short) else ""
        return f"task {self.task}: {have} (e.g. {', '.join(self.short)}{more}); samples per problem: {spans}"


def _span(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}..{hi}"


def uneven_tasks(runs: list[tuple[str, RunResults]]) -> list[UnevenTask]:
    """The tasks whose compared n is not one number, over the problems the first and last run both hold with
    verified samples (one run: its own); a problem's compared n is the least any run holding it has."""
    first, last = runs[0][1], runs[-1][1]
    by_task: dict[str, dict[str, int]] = defaultdict(dict)
    for p in first.problems:
        if first.n(p.id) and last.n(p.id):
            by_task[p.task][p.id] = min(r.n(p.id) for _, r in runs if r.n(p.id))
    out = []
    for task, upto in sorted(by_task.items()):
        counts = Counter(upto.values())
        if len(counts) < 2:
            continue
        top = max(counts)
        spans = {}
        for label, run in runs:
            held = [run.n(pid) for pid in upto if run.n(pid)]
            if held:  # an intermediate run may hold none of the task's problems
                spans[label] = (min(held), max(held))
        short = [pid for pid, n in upto.items() if n < top][:SHOWN]
        out.append(UnevenTask(task, min(counts), dict(sorted(counts.items())), spans, short))
    return out


def refusal(uneven: list[UnevenTask], where: str, verb: str = "compare") -> str:
    """The one-line refusal: what is uneven, and the two ways on."""
    tasks = "; ".join(t.text() for t in uneven)
    cuts = ", ".join(f"{t.task} at n = {t.n}" for t in uneven)
    return (
        f"{where}: the samples per problem differ within a task, and a verdict needs one n per task: {tasks}. "
        f"Import (or sample) the missing samples, or pass {OPTION} to {verb} every problem of the task at its "
        f"smallest n ({cuts}: the first samples of each problem by sample_idx)"
    )


def truncate(runs: list[RunResults], uneven: list[UnevenTask]) -> list[RunResults]:
    """The runs with every problem of each uneven task cut to that task's smallest n."""
    cut_to = {t.task: t.n for t in uneven}
    out = []
    for run in runs:
        passed = dict(run.passed)
        prefix = dict(run.prefix)
        for p in run.problems:
            n = cut_to.get(p.task)
            if n is not None and p.id in passed and passed[p.id].size > n:
                passed[p.id] = passed[p.id][:n]
                prefix[p.id] = min(prefix.get(p.id, n), n)
        out.append(dataclasses.replace(run, passed=passed, prefix=prefix))
    return out


def record(uneven: list[UnevenTask]) -> dict[str, Any]:
    """The JSON of a truncation (``truncate_n``)."""
    return {
        "option": OPTION,
        "tasks": [
            {
                "task": t.task,
                "n": t.n,
                "problems_cut": sum(k for n, k in t.counts.items() if n > t.n),
                "problems": sum(t.counts.values()),
                "samples_per_problem": {label: list(span) for label, span in t.runs.items()},
            }
            for t in uneven
        ],
    }


def lines(truncated: dict[str, Any] | None) -> list[str]:
    """What a truncation did, one line per task (empty when nothing was cut)."""
    if not truncated:
        return []
    return [
        f"truncated ({OPTION}): task {t['task']} compared at n = {t['n']} (the first {t['n']} samples of each "
        f"problem): {t['problems_cut']} of {t['problems']} problems cut; samples per problem held: "
        + ", ".join(f"{label} {_span(*span)}" for label, span in t["samples_per_problem"].items())
        for t in truncated["tasks"]
    ]


def one_n_per_task(
    runs: list[tuple[str, RunResults]], allow_truncate: bool, verb: str = "compare"
) -> tuple[list[RunResults], dict[str, Any] | None]:
    """The runs to compare, each task at one n, and the truncation's record (None when nothing was cut).

    Raises:
        EvalkitError: when some task's problems would be compared at more than one n and not ``allow_truncate``.
    """
    loaded = [run for _, run in runs]
    if any(run.manifest.get("identity", {}).get("adaptive") is not None for run in loaded):
        return loaded, None  # an --adaptive run's n differs by design, and is summarised by its own estimator
    uneven = uneven_tasks(runs)
    if not uneven:
        return loaded, None
    if not allow_truncate:
        where = " vs ".join(dict.fromkeys(str(run.root) for run in loaded))
        raise EvalkitError(refusal(uneven, where, verb))
    return truncate(loaded, uneven), record(uneven)
