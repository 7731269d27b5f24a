"""Reading numbers out of the summary for display: finite floats, intervals, curves and their text forms.

A malformed part of the summary (a missing key, NaN, a string where a number belongs) shows as "—" or is
skipped in a plot; it never stops the report. Nothing here computes a statistic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MODELS = ("base", "rl")
MODEL_LABEL = {"base": "base", "rl": "RL"}
CLASS_LABEL = {"both": "both", "rl_only": "RL-only", "base_only": "base-only", "neither": "neither"}
DASH = "—"
#: Marks a Δ whose interval excludes 0 but which fails Holm's adjustment (the headline's legend says so).
HOLM_MARK = "†"


def num(value: Any) -> float | None:
    """A finite float, or None for None/NaN/inf/non-numbers (those points are skipped or shown as —)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def as_map(value: Any) -> Mapping[Any, Any]:
    """``value`` if it is a mapping, else an empty one: a malformed part of the summary shows as —."""
    return value if isinstance(value, Mapping) else {}


def rows(value: Any) -> list[Any]:
    """A list-like summary value (training logs) as a list; anything else as an empty one."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return []


def pct(value: Any) -> str:
    """A fraction as a percentage with one decimal ("12.5%"), or —."""
    v = num(value)
    return DASH if v is None else f"{100 * v:.1f}%"


def fmt(value: Any, spec: str) -> str:
    """``format(value, spec)`` for a finite number, else —."""
    v = num(value)
    return DASH if v is None else format(v, spec)


def pval(value: Any) -> str:
    """A p- or q-value: "<0.0001", two significant digits below 0.01, else three decimals."""
    v = num(value)
    if v is None:
        return DASH
    return "<0.0001" if v < 1e-4 else f"{v:.2g}" if v < 0.01 else f"{v:.3f}"


def int_text(value: Any) -> str:
    """A count with thousands separators, or —."""
    v = num(value)
    return DASH if v is None else f"{int(v):,}"


def frac(c: Any, n: Any) -> str:
    """ "c/n" with thousands separators, or —."""
    vc, vn = num(c), num(n)
    if vc is None or vn is None:
        return DASH
    return f"{int(vc):,}/{int(vn):,}"


def interval(value: Any) -> tuple[float, float] | None:
    """``[lo, hi]`` from the summary as two finite floats, or None."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return None
    lo, hi = num(value[0]), num(value[1])
    return None if lo is None or hi is None else (lo, hi)


def ci_text(ci: tuple[float, float] | None, signed: bool = False) -> str:
    """An interval in percent (or signed percentage points), "" when absent."""
    if ci is None:
        return ""
    spec = "+.1f" if signed else ".1f"
    return f"[{format(100 * ci[0], spec)}, {format(100 * ci[1], spec)}]"


def curve(pass_at_k: Any) -> dict[int, float]:
    """{k: value} with int k >= 1, finite values only, sorted by k. Bad keys are skipped, not fatal."""
    out: dict[int, float] = {}
    if not isinstance(pass_at_k, Mapping):
        return out
    for key, value in pass_at_k.items():
        try:
            k = int(key)
        except (TypeError, ValueError):
            continue
        v = num(value)
        if v is not None and k >= 1:
            out[k] = v
    return dict(sorted(out.items()))


def get_k(pass_at_k: Any, k: int) -> Any:
    """The value at k of a {k: value} mapping whose keys may be strings (JSON) or ints."""
    d = as_map(pass_at_k)
    return d.get(str(k), d.get(k))


def k_max(pak: Mapping[Any, Any]) -> int | None:
    """Largest k that both models were evaluated at (keys present, values may still be NaN)."""
    keysets = []
    for m in MODELS:
        d = pak.get(m)
        ks = set()
        if isinstance(d, Mapping):
            for key in d:
                try:
                    ks.add(int(key))
                except (TypeError, ValueError):
                    continue
        keysets.append(ks)
    common = keysets[0] & keysets[1]
    return max(common) if common else None


@dataclass(frozen=True)
class Cell:
    """One table cell for the ``cell`` macro: ``<td class="{cls}">{text}<span class="ci">{ci}</span></td>``.

    ``text`` and ``ci`` are numbers formatted by evalkit (the template escapes them all the same).
    """

    text: str
    cls: str = "num"
    ci: str = ""


def int_cell(value: Any, cls: str = "") -> Cell:
    """A right-aligned count, with an extra class (e.g. "rl-only") when given."""
    return Cell(int_text(value), f"num {cls}" if cls else "num")


def pct_ci_cell(value: Any, ci: Any) -> Cell:
    """A percentage with its interval on a small second line when the summary has one."""
    return Cell(pct(value), "num", ci_text(interval(ci)))


def delta_cell(a: Any, b: Any) -> Cell:
    """Signed difference b - a in percentage points, coloured beyond ±0.05 pp (display only, no interval)."""
    va, vb = num(a), num(b)
    if va is None or vb is None:
        return Cell(DASH)
    d = 100 * (vb - va)
    return Cell(f"{d:+.1f} pp", "num pos" if d > 0.05 else "num neg" if d < -0.05 else "num")


def delta_ci_cell(a: Any, b: Any, info: Any) -> Cell:
    """Δ = RL - base in pp with the paired interval of the summary's ``delta`` entry when it has one.

    The colour follows the summary's ``significant`` decision (two-sided paired sign-flip test, Holm over
    all delta cells); older summaries without it fall back to "the interval excludes 0". A cell whose
    interval excludes 0 but that is not significant after Holm's adjustment is marked :data:`HOLM_MARK`
    (class ``holm-only``), so that the page shows every cell where the two disagree."""
    info = as_map(info)
    d = num(info.get("delta"))
    if d is None:
        va, vb = num(a), num(b)
        if va is None or vb is None:
            return Cell(DASH)
        d = vb - va
    ci = interval(info.get("ci"))
    if "significant" in info:  # the summary's Holm-adjusted decision: round-off in a bound never colours
        cls = {"up": " pos", "down": " neg"}.get(str(info.get("direction")), "")
    elif ci is not None:
        cls = " pos" if ci[0] > 0 else " neg" if ci[1] < 0 else ""
    else:
        cls = " pos" if 100 * d > 0.05 else " neg" if 100 * d < -0.05 else ""
    mark = ""
    if "significant" in info and not info.get("significant") and ci is not None and (ci[0] > 0 or ci[1] < 0):
        mark, cls = f" {HOLM_MARK}", cls + " holm-only"  # the interval alone excludes 0: not shown after Holm
    return Cell(f"{100 * d:+.1f} pp{mark}", "num" + cls, ci_text(ci, signed=True))
