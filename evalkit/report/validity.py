"""Context of the report's validity section: threats and their flagged problems, the run's health, the claims
and pass@k deltas without the flagged problems, and budget parity (the summary's ``validity``, made by
:mod:`evalkit.validity.threats`).

Numbers are formatted here; summary strings are left to the template's filters. A malformed or missing part
shows as "—"; a summary without ``validity`` (one written before it existed) has no such section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evalkit.report.values import DASH, MODEL_LABEL, MODELS, as_map, fmt, pct, rows

MAX_FLAGGED_ROWS = 200  # flagged problems listed on the page (all are in the JSON)
FRONTIER_KEYS = ("task", "rl_only", "rl_only_after", "base_only", "base_only_after")
HEALTH_KEYS = ("truncated", "finish_unknown", "loops", "empty")
MARKS = {"only_with_flagged": "only with the flagged problems", "only_at_unequal_lengths": "only at unequal lengths"}


def _signed(value: Any) -> str:
    return fmt(value, "+.3f")


def _claims(items: Any) -> list[dict[str, str]]:
    out = []
    for c in rows(items):
        c = as_map(c)
        holds = c.get("holds")
        out.append({
            "claim": str(c.get("claim", DASH)),
            "delta": _signed(c.get("delta")),
            "after": _signed(c.get("delta_after")),
            "holds": DASH if holds is None else ("yes" if holds else "no"),
            "mark": MARKS.get(str(c.get("mark")), "") if c.get("mark") else "",
        })  # fmt: skip
    return out


def _deltas(items: Any) -> list[dict[str, Any]]:
    out = []
    for d in rows(items):
        d = as_map(d)
        shown, after = d.get("shown"), d.get("shown_after")
        out.append({
            "task": str(d.get("task", DASH)), "k": str(d.get("k", DASH)),
            "delta": _signed(d.get("delta")) + (" shown" if shown else ""),
            "after": _signed(d.get("delta_after")) + (" shown" if after else ""),
            "changed": bool(shown) != bool(after) and after is not None,
        })  # fmt: skip
    return out


def _health(threat: Mapping[str, Any]) -> list[dict[str, Any]]:
    runs = as_map(threat.get("runs"))
    table = []
    for key in HEALTH_KEYS:
        table.append({"name": key.replace("_", " "), "cells": [pct(as_map(as_map(runs.get(m)).get("rates")).get(key))
                                                                for m in MODELS]})  # fmt: skip
    table.append({"name": "passes read by a fallback rule", "cells": [pct(as_map(runs.get(m)).get("fallback_share"))
                                                                       for m in MODELS]})  # fmt: skip
    for stat in ("mean", "median", "p95"):
        cells = [fmt(as_map(as_map(runs.get(m)).get("tokens")).get(stat), ",.0f") for m in MODELS]
        table.append({"name": f"tokens per completion ({stat})", "cells": cells})
    return table


def _budget(budget: Mapping[str, Any]) -> dict[str, Any] | None:
    if not budget:
        return None
    if not budget.get("tokens_known"):
        return {"known": False, "reason": str(budget.get("reason", ""))}
    by_b = as_map(budget.get("by_budget"))
    table = []
    for j, b in enumerate(rows(by_b.get("budgets"))):
        cells = []
        for m in MODELS:
            values, capped = rows(by_b.get(m)), rows(by_b.get(f"capped_{m}"))
            v = values[j] if j < len(values) else None
            cap = capped[j] if j < len(capped) else 0
            cells.append(pct(v) + (" (capped)" if (cap or 0) > 0 else ""))
        table.append({"budget": fmt(b, ",.0f"), "cells": cells})
    per = as_map(budget.get("tokens_per_completion"))
    matched = as_map(budget.get("matched_limit"))
    return {
        "known": True,
        "per_completion": [fmt(per.get(m), ",.1f") for m in MODELS],
        "ratio": fmt(per.get("ratio_rl_to_base"), ".2f"),
        "by_budget": table,
        "method": str(budget.get("method", "")),
        "matched": {
            "limit": fmt(matched.get("limit"), ",.0f"),
            "how": str(matched.get("how", "")),
            "cut": [pct(as_map(matched.get("cut_share")).get(m)) for m in MODELS],
            "claims": _claims(matched.get("claims")),
            "deltas": _deltas(matched.get("deltas")),
        }
        if matched
        else None,
        "matched_reason": str(budget.get("matched_limit_reason") or ""),
    }


def validity_context(validity: Any) -> dict[str, Any] | None:
    """The validity section's context, or None when the summary has no ``validity``."""
    if not isinstance(validity, Mapping) or not isinstance(validity.get("threats"), Mapping):
        return None
    threats = as_map(validity.get("threats"))
    total = validity.get("problems")
    threat_rows = [
        {"name": str(name), "count": str(as_map(t).get("count", DASH)), "rule": str(as_map(t).get("rule", ""))}
        for name, t in threats.items()
    ]
    flagged = [(str(pid), ", ".join(map(str, rows(names)))) for pid, names in as_map(validity.get("flagged")).items()]
    reasons = {str(name): as_map(as_map(t).get("flagged")) for name, t in threats.items()}
    listed = []
    for pid, names in flagged[:MAX_FLAGGED_ROWS]:
        why = "; ".join(str(reasons[n][pid]) for n in names.split(", ") if pid in reasons.get(n, {}))
        listed.append({"id": pid, "threats": names, "why": why})
    without = as_map(validity.get("without_flagged"))
    health = as_map(threats.get("health"))
    warnings = {MODEL_LABEL[m]: rows(as_map(as_map(health.get("runs")).get(m)).get("warnings")) for m in MODELS}
    return {
        "problems": DASH if total is None else str(total),
        "flagged_count": len(flagged),
        "threats": threat_rows,
        "flagged": listed,
        "more_flagged": max(0, len(flagged) - MAX_FLAGGED_ROWS),
        "left": str(without.get("problems", DASH)),
        "reason": str(without.get("reason") or ""),
        "claims": _claims(without.get("claims")),
        "deltas": _deltas(without.get("deltas")),
        "frontier": [
            {
                k: str(as_map(f).get(k, DASH))
                for k in ("task", "rl_only", "rl_only_after", "base_only", "base_only_after")
            }
            for f in rows(without.get("frontier"))
        ],
        "health": _health(health),
        "warnings": [(label, [str(w) for w in ws]) for label, ws in warnings.items() if ws],
        "loop_check": str(as_map(as_map(health.get("runs")).get("rl")).get("loop_check", "")),
        "budget": _budget(as_map(validity.get("budget"))),
    }
