"""Contexts of the per-problem sections: success-rate plot, the sortable table, the RL-only and base-only tables.

The only arithmetic is c/n per problem (and RL minus base of it) for display and sorting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.report.plots import per_problem_figure, rates_of
from evalkit.report.svg import draw
from evalkit.report.text import clean
from evalkit.report.values import CLASS_LABEL, DASH, MODEL_LABEL, MODELS, frac, num

#: At most this many rows in each of the RL-only and base-only tables.
MAX_PROBLEM_ROWS = 200
#: At most this many rows in the sortable problem table (RL-only and base-only problems are kept first).
MAX_TABLE_ROWS = 5000

#: Columns of the sortable table: (label, "text" or "num"); the script sorts by ``data-type``.
TABLE_HEADS = (("id", "text"), ("task", "text"), ("bucket", "text"), ("class", "text"),
               ("base c/n", "num"), ("RL c/n", "num"), ("Δ rate", "num"))  # fmt: skip


def problem_list(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The summary's problems that are mappings (anything else is skipped)."""
    raw = summary.get("problems")
    return [p for p in raw if isinstance(p, Mapping)] if isinstance(raw, Sequence) else []


def per_problem_context(problems: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The scatter and histograms of per-problem success rates."""
    rates = rates_of(problems)
    if not rates:
        return None
    return {"count": len(rates), "plot": draw("per-problem", per_problem_figure, "perproblem", rates)}


def _table_rows(problems: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """At most MAX_TABLE_ROWS problems, in summary order; when cutting, RL-only and base-only ones stay."""
    if len(problems) <= MAX_TABLE_ROWS:
        return list(problems)
    frontier = [i for i, p in enumerate(problems) if p.get("class") in ("rl_only", "base_only")]
    rest = [i for i, p in enumerate(problems) if p.get("class") not in ("rl_only", "base_only")]
    keep = sorted((frontier + rest)[:MAX_TABLE_ROWS])
    return [problems[i] for i in keep]


def _rate(c: Any, n: Any) -> dict[str, str]:
    """A c/n cell: the text and the rate the script sorts by (``data-v``, "" when unknown)."""
    vc, vn = num(c), num(n)
    return {"text": frac(c, n), "v": f"{vc / vn:.6g}" if vc is not None and vn else ""}


def problem_table_context(problems: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Every problem (up to MAX_TABLE_ROWS) with its class and both rates, for the sortable table."""
    if not problems:
        return None
    shown = _table_rows(problems)
    counts = dict.fromkeys([*CLASS_LABEL, "other"], 0)
    rows = []
    for p in shown:
        raw_cls = p.get("class")
        cls = raw_cls if isinstance(raw_cls, str) and raw_cls in CLASS_LABEL else "other"
        counts[cls] += 1
        n, cb, cr = num(p.get("n")), num(p.get("c_base")), num(p.get("c_rl"))
        if n and cb is not None and cr is not None:
            d = 100 * (cr - cb) / n
            delta = {
                "cls": "num pos" if d > 0 else "num neg" if d < 0 else "num",
                "v": f"{d:.6g}",
                "text": f"{d:+.1f} pp",
            }
        else:
            delta = {"cls": "num", "v": "", "text": DASH}
        rows.append({
            "cls": cls,
            "id": p.get("problem_id"),
            "task": p.get("task"),
            "bucket": p.get("bucket"),
            # a known class by its label; another value as (sanitised) text, "—" when that is empty
            "label": CLASS_LABEL.get(cls) or (raw_cls if clean(raw_cls, 50) else DASH),
            "hl": cls.replace("_", "-") if cls in ("rl_only", "base_only") else "",
            "base": _rate(cb, n),
            "rl": _rate(cr, n),
            "delta": delta,
        })  # fmt: skip
    boxes = [(cls, CLASS_LABEL.get(cls, cls), count) for cls, count in counts.items() if count or cls in CLASS_LABEL]
    tasks = sorted({str(r["task"]) for r in rows})  # the task filter's choices (and each row's data-task)
    return {"rows": rows, "boxes": boxes, "shown": len(shown), "total": len(problems), "heads": TABLE_HEADS,
            "tasks": tasks}  # fmt: skip


def frontier_problems_context(problems: Sequence[Mapping[str, Any]], cls: str) -> dict[str, Any]:
    """The RL-only (``cls="rl_only"``) or base-only problems, the solving model's most-solved first."""
    solver, example_key = ("rl", "example_rl") if cls == "rl_only" else ("base", "example_base")
    rows = [p for p in problems if p.get("class") == cls]
    # Strongest evidence first: the problems the solving model solves most often.
    rows.sort(key=lambda p: -(num(p.get(f"c_{solver}")) or 0))
    shown = rows[:MAX_PROBLEM_ROWS]
    anchor = cls.replace("_", "-")
    return {
        "anchor": anchor,
        "label": CLASS_LABEL[cls],
        "solver": MODEL_LABEL[solver],
        "total": len(rows),
        "omitted": len(rows) - len(shown),
        "rows": [
            {
                "id": p.get("problem_id"),
                "task": p.get("task"),
                "bucket": p.get("bucket"),
                "prompt": p.get("prompt"),
                "reference": p.get("reference"),
                "counts": [(frac(p.get(f"c_{m}"), p.get("n")), anchor if m == solver else "") for m in MODELS],
                "example": p.get(example_key),
            }
            for p in shown
        ],
    }
