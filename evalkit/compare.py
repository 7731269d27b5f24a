"""Base run vs RL run: frontier classes per problem and pass@k curves, as the report's summary dict.

Both runs are reduced to the problems they share. For each problem, both are cut to the largest common
number of samples m = min(n_base, n_rl) (samples in sample_idx order), and the problem is classed:

* ``rl_only``: base solved 0 of m, RL solved at least one (expansion);
* ``base_only``: the reverse (shrinkage);
* ``both`` / ``neither``.

"0 of m" is evidence, not proof: the base's per-sample success rate is then below the one-sided
Clopper-Pearson bound (about 3/m at 95%), which the summary records. Significance tests on the class
counts and bootstrap intervals come with the statistics issue.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.errors import EvalkitError
from evalkit.results import RunResults, _bucket, task_table
from evalkit.stats import powers_of_two, zero_success_upper_bound
from evalkit.types import Problem

CLASSES = ("both", "rl_only", "base_only", "neither")
EXAMPLE_CHARS = 2000


def classify(c_base: int, c_rl: int) -> str:
    if c_base and c_rl:
        return "both"
    if c_rl:
        return "rl_only"
    if c_base:
        return "base_only"
    return "neither"


def run_info(results: RunResults) -> dict[str, Any]:
    identity = results.manifest.get("identity", {})
    info = results.manifest.get("info", {})
    return {
        "dir": str(results.root),
        "model": identity.get("model"),
        "model_hash": identity.get("model_hash"),
        "fingerprint": results.manifest.get("fingerprint"),
        "n": info.get("n"),
        "sampling": identity.get("sampling"),
        "seed": identity.get("seed"),
        "backend": identity.get("backend"),
        "tasks": identity.get("tasks"),
        "git": info.get("git"),
        "versions": info.get("versions"),
        "unverified": results.unverified,
    }


def common_problems(base: RunResults, rl: RunResults) -> tuple[list[Problem], list[str]]:
    """Problems both runs hold with at least one verified sample each, and notes on what was dropped."""
    rl_ids = {p.id for p in rl.problems}
    shared = [p for p in base.problems if p.id in rl_ids]
    notes = []
    dropped = len(base.problems) + len(rl.problems) - 2 * len(shared)
    if not shared:
        raise EvalkitError(
            f"{base.root} and {rl.root} share no problems; sample both with the same --task, --problem-seed and --limit"
        )
    if dropped:
        notes.append(
            f"The runs hold different problem sets: compared the {len(shared)} shared problems; "
            f"{dropped} problem(s) present in only one run were dropped."
        )
    usable = [p for p in shared if base.n(p.id) and rl.n(p.id)]
    if len(usable) < len(shared):
        notes.append(
            f"{len(shared) - len(usable)} shared problem(s) have no verified samples in one run and "
            "were left out; rerun `evalkit sample` or `evalkit score` to finish them."
        )
    if not usable:
        raise EvalkitError(f"{base.root} vs {rl.root}: no problem has verified samples in both runs")
    return usable, notes


def _section(base: RunResults, rl: RunResults, problems: list[Problem], upto: dict[str, int]) -> dict[str, Any]:
    m = min(upto[p.id] for p in problems)
    ks = powers_of_two(m)
    counts = dict.fromkeys(CLASSES, 0)
    for p in problems:
        counts[classify(base.c(p.id, upto[p.id]), rl.c(p.id, upto[p.id]))] += 1
    # pass@k with each problem cut to its common n, so both models are judged on equal budgets
    return {
        "n_problems": len(problems),
        "n": m,
        "pass_at_k": {"base": _table(base, problems, ks, upto), "rl": _table(rl, problems, ks, upto)},
        "classes": counts,
    }


def _table(
    results: RunResults, problems: list[Problem], ks: list[int], upto: dict[str, int]
) -> dict[str, float | None]:
    # group by cut so task_table's single `upto` applies; the common case is one group
    groups: dict[int, list[Problem]] = defaultdict(list)
    for p in problems:
        groups[upto[p.id]].append(p)
    total: dict[str, float] = defaultdict(float)
    for cut, probs in groups.items():
        for k, v in task_table(results, probs, ks, upto=cut).items():
            total[k] += (v if v is not None else float("nan")) * len(probs)
    return {k: (v / len(problems) if v == v else None) for k, v in total.items()}


def compare_runs(base: RunResults, rl: RunResults, title: str = "evalkit: base vs RL") -> dict[str, Any]:
    """The summary dict that the report renders and ``evalkit compare --json`` prints."""
    problems, notes = common_problems(base, rl)
    upto = {p.id: min(base.n(p.id), rl.n(p.id)) for p in problems}
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_task[p.task].append(p)
    tasks = {}
    for task, probs in sorted(by_task.items()):
        section = _section(base, rl, probs, upto)
        buckets: dict[str, list[Problem]] = defaultdict(list)
        for p in probs:
            b = _bucket(p)
            if b is not None:
                buckets[b].append(p)
        section["buckets"] = {
            name: {k: v for k, v in _section(base, rl, bp, upto).items() if k in ("n_problems", "pass_at_k", "n")}
            for name, bp in sorted(buckets.items())
        }
        tasks[task] = section
    overall = _section(base, rl, problems, upto)
    overall["buckets"] = {}
    rows = []
    for p in problems:
        m = upto[p.id]
        cb, cr = base.c(p.id, m), rl.c(p.id, m)
        cls = classify(cb, cr)
        rows.append(
            {
                "problem_id": p.id,
                "task": p.task,
                "prompt": p.prompt,
                "reference": p.reference,
                "bucket": _bucket(p),
                "n": m,
                "c_base": cb,
                "c_rl": cr,
                "class": cls,
                "base_rate_upper_95": zero_success_upper_bound(m) if cb == 0 else None,
                "rl_rate_upper_95": zero_success_upper_bound(m) if cr == 0 else None,
                "example_base": base.example.get(p.id, "")[:EXAMPLE_CHARS] if cb else None,
                "example_rl": rl.example.get(p.id, "")[:EXAMPLE_CHARS] if cr else None,
            }
        )
    m_all = overall["n"]
    ub = zero_success_upper_bound(m_all)
    cls = overall["classes"]
    notes.append(
        f"RL-only problems: {cls['rl_only']}; base-only: {cls['base_only']} (of {len(problems)}). "
        f"'0 of {m_all}' means that model's per-sample success rate on that problem is below {ub:.4f} "
        f"with 95% confidence (one-sided Clopper-Pearson), not that it is impossible."
    )
    return {
        "title": title,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evalkit_version": __version__,
        "runs": {"base": run_info(base), "rl": run_info(rl)},
        "ks": powers_of_two(m_all),
        "overall": overall,
        "tasks": tasks,
        "problems": rows,
        "rates": {"base": base.rates, "rl": rl.rates},
        "training": training_log(rl),
        "training_eval": training_log(rl, "eval_log.jsonl"),
        "gate": None,
        "notes": notes,
    }


def training_log(results: RunResults, name: str = "train_log.jsonl") -> list[dict[str, Any]] | None:
    """A GRPO log (per-step ``train_log.jsonl`` or held-out ``eval_log.jsonl``) of the RL run's checkpoint,
    when evalkit's trainer made it."""
    model = results.manifest.get("identity", {}).get("model")
    if not isinstance(model, str):
        return None
    path = Path(model) / name
    if not path.is_file():
        return None
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows or None
