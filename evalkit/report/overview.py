"""Contexts of the report's first sections: runs, verdict, findings, headline (with the chance test), buckets.

Each ``*_context`` function takes the summary (or one part of it) and returns the dict its template
renders, or None when the summary has nothing for that section. Summary strings pass through unchanged:
the templates sanitise them (``clean``/``clip``) and Jinja2 escapes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.report.values import (
    CLASS_LABEL,
    DASH,
    HOLM_MARK,
    MODELS,
    Cell,
    as_map,
    delta_cell,
    delta_ci_cell,
    get_k,
    int_cell,
    k_max,
    num,
    pct,
    pct_ci_cell,
    pval,
)
from evalkit.sampling.provenance import UNKNOWN

#: At most this many per-task panels in each per-task figure (plus the overall panel).
MAX_TASK_PLOTS = 11

#: Rows of the runs table: label, key in each run's entry, whether the value is structured (a mapping).
RUN_FIELDS = (
    # the checkpoint the samples came from (a local directory, hub id or server model) and its content
    # hash; the run directory is where evalkit stored them
    ("model checkpoint", "model", False),
    ("model hash", "model_hash", False),
    ("run directory", "dir", False),
    ("samples per problem (n)", "n", False),
    ("samples drawn", "samples_drawn", False),
    ("adaptive stopping (--adaptive)", "adaptive", True),
    ("seed", "seed", False),
    ("prompt format", "prompt_format", False),
    ("backend", "backend", False),
    ("fingerprint", "fingerprint", False),
    ("git", "git", False),
    ("sampling", "sampling", True),
    ("versions", "versions", True),
)


def runs_context(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Both runs' identity side by side: ``rows`` of (label, structured, [base value, RL value])."""
    runs = as_map(summary.get("runs"))
    infos = [_with_unknown(as_map(runs.get(m))) for m in MODELS]
    rows = [(label, structured, [info.get(key) for info in infos]) for label, key, structured in RUN_FIELDS]
    return {"rows": rows, "same_sampling": infos[0].get("sampling") == infos[1].get("sampling")}


def _with_unknown(info: Mapping[str, Any]) -> Mapping[str, Any]:
    """A run's entry with each setting it lists in ``unknown_settings`` (an import that did not state it) shown
    as "unknown", never as an empty cell or a default."""
    unknown = info.get("unknown_settings")
    if not isinstance(unknown, list) or not unknown:
        return info
    out = dict(info)
    sampling = as_map(info.get("sampling"))
    out["sampling"] = {k: UNKNOWN if k in unknown and v is None else v for k, v in sampling.items()}
    for key in ("seed", "prompt_format"):
        if key in unknown and out.get(key) is None:
            out[key] = UNKNOWN
    return out


def verdict_context(verdict: Any) -> dict[str, Any] | None:
    """The verdict in plain words (:func:`evalkit.compare.verdict.verdict_sentences`), first thing after the runs."""
    if not verdict or not isinstance(verdict, Sequence) or isinstance(verdict, str):
        return None
    return {"sentences": [str(s) for s in verdict]}


def notes_context(notes: Any) -> dict[str, Any] | None:
    """The findings, one list item each."""
    if not notes:
        return None
    return {"notes": [notes] if isinstance(notes, str) else list(notes)}


def task_items(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], bool]]:
    """(name, TaskSummary, is_overall) for overall first, then every task in summary order."""
    items: list[tuple[str, Mapping[str, Any], bool]] = []
    overall = summary.get("overall")
    if isinstance(overall, Mapping):
        items.append(("overall", overall, True))
    tasks = summary.get("tasks")
    if isinstance(tasks, Mapping):
        items.extend((str(name), ts, False) for name, ts in tasks.items() if isinstance(ts, Mapping))
    return items


def plot_panels(
    items: list[tuple[str, Mapping[str, Any], bool]],
) -> tuple[list[tuple[str, Mapping[str, Any]]], int]:
    """(name, part) for overall and the first MAX_TASK_PLOTS tasks, and how many tasks were left out.

    With a single task, overall is that task: only the task's panel is drawn, not the same curves twice."""
    if sum(not is_overall for *_, is_overall in items) == 1:
        items = [it for it in items if not it[2]]
    panels: list[tuple[str, Mapping[str, Any]]] = []
    n_tasks = 0
    for name, part, is_overall in items:
        if not is_overall:
            n_tasks += 1
            if n_tasks > MAX_TASK_PLOTS:
                continue
        panels.append((name, part))
    return panels, max(0, n_tasks - MAX_TASK_PLOTS)


def _headline_row(name: str, ts: Mapping[str, Any], is_overall: bool) -> dict[str, Any]:
    pak, cis, delta = as_map(ts.get("pass_at_k")), as_map(ts.get("pass_at_k_ci")), as_map(ts.get("delta"))
    base, rl = pak.get("base"), pak.get("rl")
    kmax = k_max(pak)
    classes = as_map(ts.get("classes"))
    cells = [
        int_cell(ts.get("n_problems")),
        int_cell(ts.get("n")),
        pct_ci_cell(get_k(base, 1), get_k(cis.get("base"), 1)),
        pct_ci_cell(get_k(rl, 1), get_k(cis.get("rl"), 1)),
        delta_ci_cell(get_k(base, 1), get_k(rl, 1), get_k(delta, 1)),
        int_cell(kmax),
    ]
    if kmax is None:
        cells += [Cell(DASH)] * 3
    else:
        bk, rk = get_k(base, kmax), get_k(rl, kmax)
        cells += [
            pct_ci_cell(bk, get_k(cis.get("base"), kmax)),
            pct_ci_cell(rk, get_k(cis.get("rl"), kmax)),
            delta_ci_cell(bk, rk, get_k(delta, kmax)),
        ]
    for cls in CLASS_LABEL:
        count = classes.get(cls)
        hl = cls.replace("_", "-") if cls in ("rl_only", "base_only") and (num(count) or 0) > 0 else ""
        cells.append(int_cell(count, hl))
    return {"name": name, "overall": is_overall, "cells": cells}


def _chance_cells(ft: Mapping[str, Any], key: str) -> list[Cell]:
    """Observed count, exact p-value and BH q-value of one side (rl_only or base_only) of the frontier test."""
    p = ft.get(f"p_{key}_exact", ft.get(f"p_{key}"))
    q = ft.get(f"q_{key}")
    # the decisive value is the BH q-value across tasks where there is one, else (overall row) the p-value
    use_q = num(q) is not None
    decisive = num(q) if use_q else num(p)
    count = num(ft.get(key))
    sig = " sig" if decisive is not None and decisive < 0.05 and (count or 0) > 0 else ""
    p_sig, q_sig = ("", sig) if use_q else (sig, "")
    return [
        int_cell(ft.get(key), key.replace("_", "-") if (count or 0) > 0 else ""),
        Cell(pval(p), "num" + p_sig),
        Cell(pval(q), "num" + q_sig),
    ]


def _chance_rows(items: list[tuple[str, Mapping[str, Any], bool]]) -> list[dict[str, Any]]:
    rows = []
    for name, ts, is_overall in items:
        ft = ts.get("frontier_test")
        if not isinstance(ft, Mapping):
            continue
        exp = num(ft.get("expected_under_null"))
        cells = [int_cell(ts.get("n_problems")), Cell(DASH if exp is None else f"{exp:.1f}")]
        cells += _chance_cells(ft, "rl_only") + _chance_cells(ft, "base_only")
        rows.append({"name": name, "overall": is_overall, "cells": cells})
    return rows


def headline_context(summary: Mapping[str, Any]) -> dict[str, Any]:
    """pass@1 and pass@k_max with intervals, the class counts, and the chance test's rows (may be empty)."""
    items = task_items(summary)
    conf = num(as_map(summary.get("overall")).get("confidence"))
    rows = [_headline_row(*it) for it in items]
    return {
        "rows": rows,
        "level": f"{100 * conf:.0f}%" if conf is not None else "bootstrap",
        "chance_rows": _chance_rows(items),
        "holm": _holm_legend(items, rows),
    }


def _holm_legend(items: list[tuple[str, Mapping[str, Any], bool]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How many headline Δ cells carry the Holm mark, and the family size the summary records."""
    sizes = [
        size
        for _name, ts, _overall in items
        for cell in as_map(ts.get("delta")).values()
        if (size := num(as_map(as_map(cell).get("holm_family")).get("size"))) is not None
    ]
    marked = sum(1 for r in rows for c in r["cells"] if "holm-only" in c.cls)
    return {"mark": HOLM_MARK, "marked": marked, "size": int(max(sizes)) if sizes else None}


def buckets_context(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """pass@1 and pass@k_max per (task, bucket), with RL - base in pp."""
    rows = []
    for name, ts, _ in task_items(summary):
        buckets = ts.get("buckets")
        if not isinstance(buckets, Mapping):
            continue
        for bname, b in buckets.items():
            if not isinstance(b, Mapping):
                continue
            pak = as_map(b.get("pass_at_k"))
            base, rl = pak.get("base"), pak.get("rl")
            kmax = k_max(pak)
            bk = get_k(base, kmax) if kmax else None
            rk = get_k(rl, kmax) if kmax else None
            b1, r1 = get_k(base, 1), get_k(rl, 1)
            cells = [int_cell(b.get("n_problems")), Cell(pct(b1)), Cell(pct(r1)), delta_cell(b1, r1), int_cell(kmax)]
            cells += [Cell(pct(bk)), Cell(pct(rk)), delta_cell(bk, rk)]
            rows.append({"task": name, "bucket": bname, "cells": cells})
    return {"rows": rows} if rows else None
