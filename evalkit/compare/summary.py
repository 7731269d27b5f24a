"""Base run vs RL run: frontier classes per problem and pass@k curves, as the report's summary dict.

Both runs are reduced to the problems they share. For each problem, both are cut to the largest common
number of samples m = min(n_base, n_rl) (samples in sample_idx order), and the problem is classed:

* ``rl_only``: base solved 0 of m, RL solved at least one;
* ``base_only``: the reverse;
* ``both`` / ``neither``.

What the summary states about RL-only problems, in three separate statements (``frontier``):

(a) per problem: RL's c/m with its two-sided Clopper-Pearson interval, and the base's 0/m with its
    one-sided 95% upper bound on the per-sample rate (about 3/m);
(b) across the K RL-only problems at once: the base's rate is below X on every one of them, 95%
    family-wise over all N compared problems (one-sided Clopper-Pearson at 1 - 0.05/N each, Bonferroni
    over every compared problem of the scope, a family fixed before the data are seen; Bonferroni over the
    K RL-only problems would let the data choose the family and fails in simulation when some problems are
    rare but reachable). It says "the base's rate is below X", never "the base cannot solve it", and on its
    own it is not expansion;
(c) the chance test: RL more often solves problems the base misses than equal per-problem rates would
    give (:func:`evalkit.stats.frontier_class_test`). A small p-value means RL is better on some
    problems, which pure sharpening also produces; it is not evidence of expansion. The exact McNemar-type
    test of RL-only vs base-only counts (pass@m per problem, exact sign test) is reported beside it.

Runs sampled with ``--adaptive``: see :mod:`evalkit.compare.frontier` for why every statement stays valid.

Delta cells (RL - base mean pass@k) carry a two-sided paired sign-flip p-value and a ``significant``
decision after Holm's adjustment over every delta cell of the summary (all tasks and k, and overall);
colours and marks follow that decision, never the sign of a bound at round-off level.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from evalkit import __version__
from evalkit.compare.answers import attach_answers
from evalkit.compare.claims import scope_claims
from evalkit.compare.evidence import evidence_summary
from evalkit.compare.frontier import frontier_evidence, frontier_for
from evalkit.compare.results import RunResults, _bucket, pass_table
from evalkit.compare.verdict import verdict_sentences
from evalkit.errors import EvalkitError
from evalkit.sampling.provenance import manifest_unknown
from evalkit.stats import (
    benjamini_hochberg,
    clopper_pearson,
    holm,
    powers_of_two,
    problem_mean_ci,
    sign_flip_test,
    zero_success_upper_bound,
)
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
        "prompt_format": identity.get("prompt_format", "raw"),  # a sampled run records it only when not raw
        "unknown_settings": manifest_unknown(identity),  # an import's settings nobody stated (null above)
        "backend": identity.get("backend"),
        "tasks": identity.get("tasks"),
        "git": info.get("git"),
        "versions": info.get("versions"),
        "unverified": results.unverified,
        # an --adaptive run: its stopping rule and the samples it drew (problems x n for the fixed-n run it replaces)
        "adaptive": identity.get("adaptive"),
        "samples_drawn": int(sum(a.size for a in results.passed.values())),
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


def per_problem_table(results: RunResults, problems: list[Problem], ks: list[int], upto: dict[str, int]) -> np.ndarray:
    """Per-problem pass@k, shape (problems, ks), each problem cut to its common sample count ``upto``
    (:func:`evalkit.compare.results.pass_table`: the adaptive estimator for an ``--adaptive`` run)."""
    return pass_table(results, problems, ks, upto)


def common_budget(base: RunResults, rl: RunResults, problems: list[Problem]) -> dict[str, int]:
    """Problem id -> the samples both runs stand for (:meth:`RunResults.budget`): the smaller n, where an
    ``--adaptive`` run stands for its rule's n whatever it drew."""
    return {p.id: min(base.budget(p.id), rl.budget(p.id)) for p in problems}


def _intervals(
    table: np.ndarray, ks: list[int], confidence: float, paired: bool = False
) -> tuple[dict[str, list[float] | None], dict[str, str | None]]:
    """Interval of the mean over problems for each k, and the method of each (None with fewer than two
    problems): exact where every value is 0 or 1 (-1, 0 or 1 for paired deltas), betting with few problems,
    the studentized bootstrap otherwise (:func:`evalkit.stats.exact.problem_mean_ci`)."""
    if table.shape[0] < 2:
        return {str(k): None for k in ks}, {str(k): None for k in ks}
    cis = problem_mean_ci(table, confidence, paired=paired, seed=0)
    return (
        {str(k): [float(lo), float(hi)] for k, (_e, lo, hi, _m) in zip(ks, cis, strict=True)},
        {str(k): method for k, (*_v, method) in zip(ks, cis, strict=True)},
    )


def _section(
    base: RunResults, rl: RunResults, problems: list[Problem], upto: dict[str, int], confidence: float = 0.95
) -> dict[str, Any]:
    m = min(upto[p.id] for p in problems)
    ks = powers_of_two(m)
    counts = dict.fromkeys(CLASSES, 0)
    for p in problems:
        counts[classify(base.hits(p.id, upto[p.id]), rl.hits(p.id, upto[p.id]))] += 1
    # pass@k with each problem cut to its common n, so both models are judged on equal budgets
    tb, tr = per_problem_table(base, problems, ks, upto), per_problem_table(rl, problems, ks, upto)
    delta_ci, delta_method = _intervals(tr - tb, ks, confidence, paired=True)  # per-problem differences
    base_ci, base_method = _intervals(tb, ks, confidence)
    rl_ci, rl_method = _intervals(tr, ks, confidence)
    p_delta = _two_sided_p(tr - tb)
    return {
        "n_problems": len(problems),
        "n": m,
        "pass_at_k": {"base": _means(tb, ks), "rl": _means(tr, ks)},
        "pass_at_k_ci": {"base": base_ci, "rl": rl_ci},
        "pass_at_k_ci_method": {"base": base_method, "rl": rl_method},
        "delta": {
            str(k): {
                "delta": float(tr[:, j].mean() - tb[:, j].mean()),
                "ci": delta_ci[str(k)],
                "ci_method": delta_method[str(k)],
                "p_value": float(p_delta[j]),
            }
            for j, k in enumerate(ks)
        },
        "confidence": confidence,
        "classes": counts,
    }


def _two_sided_p(diff: np.ndarray) -> np.ndarray:
    """Two-sided paired sign-flip p-value of "mean difference = 0" per column: twice the smaller one-sided
    p-value, capped at 1 (exact where every difference is -1, 0 or 1)."""
    down = sign_flip_test(diff, 0.0, seed=0, bound=False).p_value
    up = sign_flip_test(-diff, 0.0, seed=0, bound=False).p_value
    return np.atleast_1d(np.minimum(1.0, 2.0 * np.minimum(down, up)))


def _repeats_a_task(sec: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> bool:
    """A group section that holds exactly one task's problems, computed apart from that task's section."""
    names = sec.get("scope", {}).get("tasks") or []
    return len(names) == 1 and names[0] in tasks and tasks[names[0]] is not sec


def _excludes_zero(cell: dict[str, Any]) -> bool:
    """The printed interval lies on one side of 0 (True when no interval was computed)."""
    ci = cell.get("ci")
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return True
    return bool(ci[0] > 0 or ci[1] < 0)


def _adjust_delta_cells(sections: list[dict[str, Any]], confidence: float) -> None:
    """Holm over the distinct delta cells; sets ``p_holm``, ``significant``, ``direction`` and ``adjustment``.

    A change is marked shown only when the Holm-adjusted sign-flip test rejects *and* the printed interval
    lies on the same side of 0, so that the report never says "shown" beside an interval that holds 0. Both
    are valid at the stated level, so requiring both keeps the family-wise error rate.
    """
    cells = [cell for sec in sections for cell in sec["delta"].values()]
    if not cells:
        return
    adjusted = holm([c["p_value"] for c in cells])
    for cell, p_adj in zip(cells, adjusted, strict=True):
        cell["p_holm"] = float(p_adj)
        cell["significant"] = bool(p_adj <= 1.0 - confidence) and _excludes_zero(cell)
        cell["direction"] = ("up" if cell["delta"] > 0 else "down") if cell["significant"] else None
        cell["adjustment"] = (
            f"Holm over {len(cells)} distinct delta cells (each task and k, and each group of several tasks); "
            "shown only where the interval also excludes 0"
        )
        # what the page's marks are checked against: the family the p-value was adjusted in, and the interval
        cell["holm_family"] = {
            "name": "delta cells",
            "members": "each task and k, and each group of several tasks",
            "size": len(cells),
            "alpha": 1.0 - confidence,
        }
        cell["interval_excludes_0"] = _excludes_zero(cell) and cell.get("ci") is not None


def _means(table: np.ndarray, ks: list[int]) -> dict[str, float | None]:
    return {str(k): float(table[:, j].mean()) for j, k in enumerate(ks)}


def _groups(
    base: RunResults,
    rl: RunResults,
    problems: list[Problem],
    upto: dict[str, int],
    tasks: dict[str, dict[str, Any]],
    confidence: float,
) -> list[dict[str, Any]]:
    """One section per n (the scopes of the verdict's claims), each with ``scope`` = {"tasks", "n"}.

    Tasks are grouped by their n (the common samples per problem); a group of one task is that task's
    section, a group of several is a section over their problems, and a single group covers every problem."""
    by_n: dict[int, list[str]] = defaultdict(list)
    for name, sec in sorted(tasks.items()):
        by_n[int(sec["n"])].append(name)
    groups = []
    for n, names in sorted(by_n.items(), key=lambda item: -item[0]):
        if len(names) == 1 and len(by_n) > 1:
            sec = tasks[names[0]]
        else:
            probs = [p for p in problems if p.task in names]
            sec = _section(base, rl, probs, upto, confidence)
            sec["frontier_test"] = frontier_evidence(base, rl, probs, upto)
            sec["frontier"] = frontier_for(base, rl, probs, upto, sec["frontier_test"], confidence)
            sec["buckets"] = {}
        sec["scope"] = {"tasks": names, "n": n}
        groups.append(sec)
    return groups


def _frontier_notes(sec: dict[str, Any], notes: list[str], several: bool) -> None:
    """The notes on one scope's frontier classes, bound and tests."""
    m_all = sec["n"]
    ub = zero_success_upper_bound(m_all)
    cls, ft, fr = sec["classes"], sec["frontier_test"], sec["frontier"]
    prefix = f"Tasks {', '.join(sec['scope']['tasks'])} (n = {m_all}): " if several else ""
    notes.append(
        f"{prefix}RL-only problems: {cls['rl_only']}; base-only: {cls['base_only']} (of {sec['n_problems']}). Per "
        f"problem: '0 of {m_all}' means that model's per-sample success rate there is below {ub:.4f} with 95% "
        "confidence (one-sided Clopper-Pearson), not that it is impossible."
    )
    if fr["simultaneous"] is not None:
        notes.append(
            prefix + fr["simultaneous"]["statement"] + " This bounds the base's reach at this budget; it is not "
            "evidence of expansion without likelihood evidence."
        )
    notes.append(
        f"{prefix}Chance test (not evidence of expansion): RL more often solves problems the base misses than equal "
        f"per-problem rates would give? About {ft['expected_under_null']:.1f} one-sided problems are expected by "
        f"chance; p = {ft['p_rl_only_exact']:.3g} for {cls['rl_only']} RL-only, p = {ft['p_base_only_exact']:.3g} "
        f"for {cls['base_only']} base-only ({ft.get('method') or 'exact conditional test'}; Benjamini-Hochberg "
        "across tasks in the JSON). "
        "A small p means RL is better on some problems, which sharpening alone also gives."
    )
    notes.append(
        f"{prefix}McNemar-type exact test at k = {m_all}: p = {fr['mcnemar']['p_rl_solves_more']:.3g} that RL solves "
        f"more problems than the base, p = {fr['mcnemar']['p_base_solves_more']:.3g} for the reverse."
    )


def compare_runs(
    base: RunResults, rl: RunResults, title: str = "evalkit: base vs RL", confidence: float = 0.95
) -> dict[str, Any]:
    """The summary dict that the report renders and ``evalkit compare --json`` prints."""
    problems, notes = common_problems(base, rl)
    upto = common_budget(base, rl, problems)
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        by_task[p.task].append(p)
    tasks = {}
    for task, probs in sorted(by_task.items()):
        section = _section(base, rl, probs, upto, confidence)
        section["frontier_test"] = frontier_evidence(base, rl, probs, upto)
        section["frontier"] = frontier_for(base, rl, probs, upto, section["frontier_test"], confidence)
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
    groups = _groups(base, rl, problems, upto, tasks, confidence)
    overall = groups[0] if len(groups) == 1 else None  # pooled only when every task shares n
    # the family of Holm's adjustment is the distinct checks: a group of one task is that task's section again
    # (same problems, same p-values), so it is left out of the family and takes the task's decisions
    unique = {id(sec): sec for sec in [*groups, *tasks.values()] if not _repeats_a_task(sec, tasks)}
    _adjust_delta_cells(list(unique.values()), confidence)
    for sec in groups:
        if _repeats_a_task(sec, tasks):
            for k, cell in sec["delta"].items():
                same = tasks[sec["scope"]["tasks"][0]]["delta"].get(k, {})
                for key in ("p_holm", "significant", "direction", "adjustment", "holm_family", "interval_excludes_0"):
                    if key in same:
                        cell[key] = same[key]
    # Benjamini-Hochberg across tasks: a few tasks showing RL-only problems by chance is expected
    names = sorted(tasks)
    for key in ("rl_only", "base_only"):
        q = benjamini_hochberg([tasks[t]["frontier_test"][f"p_{key}_exact"] for t in names])
        for t, qv in zip(names, q, strict=True):
            tasks[t]["frontier_test"][f"q_{key}"] = float(qv)
    rows = []
    for p in problems:
        m = upto[p.id]
        (tb, cb, _), (tr, cr, _) = base.outcome(p.id, m), rl.outcome(p.id, m)
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
                # (S, T) of the rule for an --adaptive run: the two-sided interval stays valid (see frontier_evidence)
                "rl_rate_ci_95": [float(v) for v in clopper_pearson(cr, tr)] if cls == "rl_only" else None,
                "rl_rate_upper_95": zero_success_upper_bound(m) if cr == 0 else None,
                "example_base": base.example.get(p.id, "")[:EXAMPLE_CHARS] if cb else None,
                "example_rl": rl.example.get(p.id, "")[:EXAMPLE_CHARS] if cr else None,
            }
            # an --adaptive run read T <= n samples of the problem (S of T): the trials its bounds use
            | ({"n_base": tb, "n_rl": tr} if base.rule is not None or rl.rule is not None else {})
        )
    for sec in groups:
        _frontier_notes(sec, notes, len(groups) > 1)
    n_sig = sum(1 for sec in unique.values() for cell in sec["delta"].values() if cell.get("significant"))
    notes.append(
        f"Delta cells marked significant: {n_sig}, from two-sided paired sign-flip tests with Holm's adjustment "
        f"over the distinct delta cells (each task and k, and each group of several tasks) at {1 - confidence:.0%} "
        "family-wise, and an interval that excludes 0."
    )
    summary: dict[str, Any] = {
        "title": title,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evalkit_version": __version__,
        "runs": {"base": run_info(base), "rl": run_info(rl)},
        "ks": powers_of_two(min(sec["n"] for sec in groups)),
        "overall": overall,
        # one section per n: tasks sampled at different n are never pooled at one k
        "groups": groups,
        "tasks": tasks,
        "problems": rows,
        "rates": {"base": base.rates, "rl": rl.rates},
        "training": training_log(rl),
        "training_eval": training_log(rl, "eval_log.jsonl"),
        "gate": None,
        # pass@k area on log k and the 2x2 at k; categories, likelihood and diversity when `evalkit likelihood` ran
        "evidence": evidence_summary(base, rl, problems, upto, confidence, notes=notes),
        "notes": notes,
    }
    summary["claims"] = [claim for sec in groups for claim in scope_claims(sec, rows, summary["evidence"])]
    summary["verdict"] = verdict_sentences(summary)
    attach_answers(summary, base, rl)  # distinct answers per problem and chosen samples, from the verdicts
    return summary


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
