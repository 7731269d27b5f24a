"""Contexts of the report's figure and later sections: pass@k and Δ curves, evidence beyond pass@k (with
Cover@tau), the checkpoint trajectory, training, gate, sample health and timings.

Each ``*_context`` function returns the dict its template renders, or None when the summary has nothing
for that section. Numbers are formatted here; summary strings are left to the templates' filters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.report.overview import MAX_TASK_PLOTS, plot_panels, task_items
from evalkit.report.plots import (
    cover_figure,
    delta_figure,
    eval_keys,
    passk_figure,
    reward_window,
    series,
    training_figure,
    trajectory_figure,
)
from evalkit.report.svg import draw
from evalkit.report.values import (
    DASH,
    MODELS,
    Cell,
    as_map,
    ci_text,
    fmt,
    int_cell,
    interval,
    num,
    pct,
    pval,
    rows,
)

REGIME_LABEL = {
    "diminish": "diminish: pass@1 up, pass@k not above base",
    "plateau": "plateau: pass@k rose, then flat",
    "sustained": "sustained: pass@k still rising",
    "inconclusive": "inconclusive",
}
RATE_KEYS = ("truncated", "finish_unknown", "empty", "timeout", "error")
CATEGORY_NAMES = ("preservation", "expansion", "out_of_support", "shrinkage", "neither")
#: Cover@tau columns of the evidence table: the grid's first tau (1/m: solved at all) and these.
COVER_COLUMNS = (0.1, 0.5, 1.0)


def curves_context(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """pass@k vs k per panel (overall and each task)."""
    panels, more = plot_panels(task_items(summary))
    if not panels:
        return None
    return {"plot": draw("pass@k", passk_figure, "passk", panels), "more": more, "forecast": forecast_lines(summary)}


def forecast_lines(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the curves section says of the forecasts beyond n: each scope's crossover sentence (or why there is
    no forecast), for the template; None when the summary has no forecast section."""
    fc = summary.get("forecast")
    if not isinstance(fc, Mapping):
        return None
    if "skipped" in fc:
        return {"skipped": str(fc["skipped"]), "crossover": []}
    cross = fc.get("crossover") or {}
    rows = [(label, r) for label in ("base", "rl") for r in fc.get(label, [])]
    refused = sorted({f"{r['task']} ({label}): {r['refused']}" for label, r in rows if r.get("refused")})
    return {
        "crossover": [(scope, c["text"]) for scope, c in sorted(cross.items())],
        "refused": refused,
        "skipped": None,
    }


def delta_context(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Δ pass@k vs k per panel, when any panel has the summary's ``delta``."""
    panels, more = plot_panels(task_items(summary))
    if not any(isinstance(ts.get("delta"), Mapping) and ts.get("delta") for _, ts in panels):
        return None
    return {"plot": draw("delta pass@k", delta_figure, "delta", panels), "more": more}


def _cover_cells(cover: Mapping[str, Any]) -> list[Cell]:
    """base → RL at 1/m and at COVER_COLUMNS, then RL - base and its interval in pp (— where a tau is absent)."""
    taus = [num(t) for t in cover.get("tau") or []]

    def at(key: str, j: int) -> Any:
        values = cover.get(key)
        return values[j] if isinstance(values, Sequence) and j < len(values) else None

    cells = []
    for tau in [taus[0] if taus else None, *COVER_COLUMNS]:
        j = (
            None
            if tau is None
            else next((i for i, t in enumerate(taus) if t is not None and abs(t - tau) < 1e-12), None)
        )
        if j is None:
            cells.append(Cell(DASH))
            continue
        d = num(at("delta", j))
        bound = ci_text(interval(at("delta_ci", j)), signed=True)
        delta = f"Δ {DASH if d is None else f'{100 * d:+.1f}'} {bound}".rstrip()
        cells.append(Cell(f"{pct(at('base', j))} → {pct(at('rl', j))}", "num", delta))
    return cells


def _evidence_row(name: str, sec: Mapping[str, Any], with_lk: bool) -> dict[str, Any]:
    auc = as_map(sec.get("pass_at_k_auc"))
    ci = interval(auc.get("delta_ci"))
    ci_part = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
    row: dict[str, Any] = {
        "name": name,
        "auc": [fmt(auc.get("base"), ".3f"), fmt(auc.get("rl"), ".3f"), fmt(auc.get("delta"), "+.3f") + ci_part],
        "cover": _cover_cells(as_map(sec.get("cover_at_tau"))),
    }
    if with_lk:
        cats = as_map(sec.get("categories"))
        lk = as_map(as_map(sec.get("likelihood")).get("rl_only_under_base"))
        div = as_map(sec.get("diversity"))
        row["categories"] = [as_map(cats.get(c)).get("count", DASH) for c in CATEGORY_NAMES]
        row["likelihood"] = f"{fmt(lk.get('max_log10_prob'), '.1f')} / {fmt(lk.get('median_log10_prob'), '.1f')}"
        row["diversity"] = (
            f"{fmt(as_map(div.get('base')).get('mean_distinct_correct'), '.2f')} / "
            f"{fmt(as_map(div.get('rl')).get('mean_distinct_correct'), '.2f')}"
        )
    return row


def evidence_context(evidence: Any) -> dict[str, Any] | None:
    """Evidence beyond pass@k (:mod:`evalkit.compare.evidence`): pass@k area on log k and Cover@tau, and
    with likelihood files the categories, the base's probability of RL's RL-only solutions and the diversity."""
    if not isinstance(evidence, Mapping):
        return None
    scopes: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(evidence.get("overall"), Mapping):
        scopes.append(("overall", as_map(evidence.get("overall"))))
    else:  # tasks at different n: one row per n, never pooled
        for group in evidence.get("groups") or []:
            if isinstance(group, Mapping):
                scopes.append((f"n = {as_map(group.get('scope')).get('n')}", as_map(group)))
    if not scopes:
        return None
    lead = len(scopes)
    scopes += [
        (str(t), as_map(sec)) for t, sec in sorted(as_map(evidence.get("tasks")).items(), key=lambda kv: str(kv[0]))
    ]
    with_lk = "categories" in scopes[0][1]
    items = [(name, sec, i < lead) for i, (name, sec) in enumerate(scopes)]
    panels, more = plot_panels(items)
    has_cover = any(isinstance(sec.get("cover_at_tau"), Mapping) for _, sec in scopes)
    level = num(as_map(scopes[0][1].get("cover_at_tau")).get("confidence"))
    return {
        "rows": [_evidence_row(name, sec, with_lk) for name, sec in scopes],
        "with_lk": with_lk,
        "categories": [c.replace("_", " ") for c in CATEGORY_NAMES],
        "thresholds": evidence.get("thresholds") if with_lk else None,
        # summaries written before Cover@tau existed have no such subsection
        "cover": {
            "plot": draw("Cover@tau", cover_figure, "cover", panels),
            "heads": ["1/m (solved at all)", *(f"{t:g}" for t in COVER_COLUMNS[:-1]), "1 (every sample)"],
            "level": DASH if level is None else f"{100 * level:.0f}%",
            "more": more,
        }
        if has_cover
        else None,
    }


def trajectory_context(traj: Any) -> dict[str, Any] | None:
    """The ProRL regime and pass@1 / pass@n per checkpoint for each task, and the gain correlation."""
    traj = as_map(traj)
    tasks = as_map(traj.get("tasks"))
    items = [(str(name), row) for name, row in tasks.items() if isinstance(row, Mapping)]
    if not items:
        return None
    table = []
    runs: list[str] = []
    for name, row in items:
        cps = [c for c in row.get("checkpoints") or [] if isinstance(c, Mapping)]
        if len(cps) > len(runs):
            runs = [str(c.get("run")) for c in cps]
        n = num(row.get("n"))
        kn = str(int(n)) if n is not None else "n"
        regime = str(row.get("regime"))
        table.append({
            "name": name,
            "cells": [int_cell(row.get("n_problems")), int_cell(n)],
            "regime_cls": f"regime {regime}" if regime in REGIME_LABEL else "regime ",
            "regime": REGIME_LABEL.get(regime, regime),
            "paths": [" → ".join(pct(c.get(key)) for c in cps) for key in ("pass@1", f"pass@{kn}")],
        })  # fmt: skip
    corr = as_map(traj.get("gain_correlation"))
    rho = num(corr.get("spearman_rho"))
    labels = ["base", *(f"checkpoint {i}" for i in range(1, len(runs) - 1)), "final"]
    return {
        "rows": table,
        "corr": {"tasks": corr.get("tasks"), "rho": f"{rho:+.2f}", "p": pval(corr.get("p_value"))}
        if rho is not None
        else None,
        "corr_reason": corr.get("reason") or "not available",
        "plot": draw("trajectory", trajectory_figure, "trajectory", items[:MAX_TASK_PLOTS]),
        "more": max(0, len(items) - MAX_TASK_PLOTS),
        "runs": list(zip(labels, runs, strict=False)),
    }


def training_context(training: Any, evals: Any = None) -> dict[str, Any] | None:
    """The GRPO log's reward and KL, the held-out evaluations (plot and table)."""
    train_rows, eval_rows = rows(training), rows(evals)
    if not train_rows and not eval_rows:
        return None
    keys = eval_keys(eval_rows)
    return {
        "n_rows": len(train_rows),
        "smoothed": reward_window(len(series(train_rows, "reward_mean")[1])) > 1,
        "plot": draw("training", training_figure, "training", train_rows, eval_rows),
        "eval_keys": keys,
        "evals": [(r.get("step"), [pct(r.get(k)) for k in keys]) for r in eval_rows if isinstance(r, Mapping)],
    }


def gate_context(gate: Any) -> dict[str, Any] | None:
    """The gate's outcome and its lines."""
    if not isinstance(gate, Mapping):
        return None
    lines = gate.get("lines") or []
    lines = [lines] if isinstance(lines, str) else list(lines)
    if gate.get("command"):
        lines = [f"evalkit gate command: {gate['command']}", *lines]
    family = gate.get("multiplicity")
    if isinstance(family, Mapping):
        lines.append(f"Holm's family: {family.get('family')} ({family.get('size')} check(s)).")
    passed = gate.get("passed")
    label = "PASSED" if passed is True else "FAILED" if passed is False else "REFUSED"
    return {"passed": gate.get("passed") is True, "label": label, "lines": lines}


def rates_context(rates: Any) -> dict[str, Any] | None:
    """Share of samples truncated, empty, timed out or errored, per model."""
    if not isinstance(rates, Mapping) or not rates:
        return None
    per_model = [as_map(rates.get(m)) for m in MODELS]
    table = []
    for key in RATE_KEYS:
        cells = []
        for r in per_model:
            v = num(r.get(key))
            hot = v is not None and v > 0 and key in ("timeout", "error")
            unknown = num(r.get("finish_unknown"))
            if key == "truncated" and unknown is not None and unknown >= 1:  # imported without finish reasons
                cells.append(Cell("unknown", "num"))
                continue
            cells.append(Cell(pct(v), "num hot" if hot else "num"))
        table.append((key, cells))
    return {"rows": table}


def timings_context(timings: Any) -> dict[str, Any] | None:
    """Wall time per stage ({stage: seconds}, e.g. the demo's), as a two-column table."""
    if not isinstance(timings, Mapping) or not timings:
        return None
    table = []
    for stage, seconds in timings.items():
        v = num(seconds)
        table.append({"stage": str(stage).replace("_", " "), "seconds": DASH if v is None else f"{v:,.1f}",
                      "total": stage == "total"})  # fmt: skip
    return {"rows": table}
