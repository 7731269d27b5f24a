"""Render a comparison summary as one self-contained HTML file, with the JSON summary beside it.

The report reads only the summary dict (what the run store holds, already reduced by the comparison step),
never live objects, so it can be rebuilt from ``report.json`` years later.

Sections, in page order (each one only when the summary holds its data): runs, the verdict in plain words
(:mod:`evalkit.verdict`), findings, headline
(pass@1 and pass@k_max with intervals, frontier classes with their chance level, p- and BH q-values),
pass@k curves with interval bands, delta pass@k with its band, per-problem success rates (scatter and
histograms), buckets, the sortable problem table, the RL-only and base-only tables, evidence beyond pass@k
(:mod:`evalkit.frontier_evidence`), the checkpoint
trajectory (ProRL regime per task), training curves, gate, sample health and stage timings.

What the page guarantees:

- It is one file: no network, no external CSS, JS or fonts. Plots are inline SVG drawn by matplotlib with
  text as paths, deterministic ids (``svg.hashsalt``) and no XML header, DOCTYPE, metadata or ``<style>``.
- Every string that comes from the summary (prompts, completions, model and task names, config values) is
  sanitised and then escaped with ``html.escape(quote=True)``. Sanitising makes it valid UTF-8 and safe to
  look at: lone surrogates become U+FFFD, NUL bytes are dropped, other control characters are shown as
  visible symbols (U+2400 "control pictures" or ``<U+XXXX>``), bidi overrides are shown rather than obeyed,
  and displayed completions are cut to about 2,000 characters with a marker saying how much was cut.
- The page carries exactly one ``<script>``: the constant :data:`TABLE_SCRIPT` (sorting and filtering the
  problem table), which holds no summary data. The table rows are rendered as escaped HTML on the server
  side; the script only reorders and hides existing rows and writes numbers it computes via
  ``textContent``, so no summary text is ever parsed as HTML or JavaScript. The Content-Security-Policy
  allows that one script by its SHA-256 hash only: even an injected ``<script>`` would not run.
  Without JavaScript the table is still complete, just not sortable.
- The JSON beside it keeps the full, untruncated texts.

What it does not do: it computes no statistics (it shows what the summary says; the only arithmetic is
c/n per problem and a moving average of the training reward for display) and it does not check that the
summary is consistent (e.g. that class counts match the problem list).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError

__all__ = ["write_report"]

log = logging.getLogger(__name__)

#: Displayed completions, prompts and references are cut to this many characters.
MAX_TEXT_CHARS = 2000
#: References are usually short; a long one is cut harder so that 400 rows stay small.
MAX_REFERENCE_CHARS = 500
#: At most this many rows in each of the RL-only and base-only tables.
MAX_PROBLEM_ROWS = 200
#: At most this many per-task panels in the pass@k figure (plus the overall panel).
MAX_TASK_PLOTS = 11
#: At most this many rows in the sortable problem table (RL-only and base-only problems are kept first).
MAX_TABLE_ROWS = 5000

MODELS = ("base", "rl")
MODEL_LABEL = {"base": "base", "rl": "RL"}
CLASS_LABEL = {"both": "both", "rl_only": "RL-only", "base_only": "base-only", "neither": "neither"}
CLASS_COLOR = {"both": "#8c8c8c", "rl_only": "#2ca02c", "base_only": "#d62728", "neither": "#c7c7c7"}
REGIME_LABEL = {
    "diminish": "diminish: pass@1 up, pass@k not above base",
    "plateau": "plateau: pass@k rose, then flat",
    "sustained": "sustained: pass@k still rising",
    "inconclusive": "inconclusive",
}
RATE_KEYS = ("truncated", "empty", "timeout", "error")

# Characters that must not reach the page as themselves:
# - C0 controls except \t and \n, DEL, C1 controls (HTML parse errors, invisible or terminal escapes),
# - surrogates (not encodable as UTF-8), noncharacters U+FDD0..U+FDEF, U+xFFFE/U+xFFFF,
# - bidi embeddings/overrides/isolates (they can reorder what the reader sees).
_UNSAFE_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\u202a-\u202e\u2066-\u2069\U0001fffe\U0001ffff\U0010fffe\U0010ffff]"
)


def _replace_unsafe(match: re.Match[str]) -> str:
    ch = match.group()
    cp = ord(ch)
    if cp == 0:
        return ""
    if cp < 0x20:
        return chr(0x2400 + cp)  # U+2400 block: visible symbols for C0 controls
    if cp == 0x7F:
        return "\u2421"
    if 0xD800 <= cp <= 0xDFFF:
        return "\ufffd"
    return f"<U+{cp:04X}>"


def _to_text(value: Any) -> str:
    """Return a display string for any summary value (chat-message prompts are shown as JSON)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # circular structures: str() is good enough for display
        return str(value)


def clean_text(value: Any, limit: int | None = None) -> tuple[str, int]:
    """Sanitise a value for display: valid UTF-8, no NULs, control characters made visible.

    Args:
        value: Any summary value; non-strings are shown as JSON.
        limit: Cut the raw text to this many characters first (None: no cut).

    Returns:
        The sanitised text (not HTML-escaped) and the length of the raw text, so callers can say how much
        was cut.
    """
    text = _to_text(value)
    total = len(text)
    if limit is not None and total > limit:
        text = text[:limit]  # cut before sanitising: a megabyte line costs nothing more than 2,000 chars
    text = text.replace("\r\n", "\n")
    return _UNSAFE_RE.sub(_replace_unsafe, text), total


def esc(value: Any, limit: int | None = None) -> str:
    """Sanitise and HTML-escape one summary value; append a visible marker when it was cut."""
    text, total = clean_text(value, limit)
    out = html.escape(text, quote=True)
    if limit is not None and total > limit:
        out += f'<span class="cut">… [cut: showing {limit:,} of {total:,} characters]</span>'
    return out


def _block(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    """A preformatted, wrapped, scrollable block for prompts and completions."""
    if value is None:
        return '<span class="muted">—</span>'
    return f'<div class="text">{esc(value, limit)}</div>'


# --------------------------------------------------------------------------------------------- numbers


def _num(value: Any) -> float | None:
    """A finite float, or None for None/NaN/inf/non-numbers (those points are skipped or shown as —)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _pct(value: Any) -> str:
    v = _num(value)
    return "—" if v is None else f"{100 * v:.1f}%"


def _delta(a: Any, b: Any) -> str:
    """Signed difference b - a in percentage points, as a coloured cell's content."""
    va, vb = _num(a), _num(b)
    if va is None or vb is None:
        return '<td class="num">—</td>'
    d = 100 * (vb - va)
    cls = " pos" if d > 0.05 else " neg" if d < -0.05 else ""
    return f'<td class="num{cls}">{d:+.1f} pp</td>'


def _interval(value: Any) -> tuple[float, float] | None:
    """``[lo, hi]`` from the summary as two finite floats, or None."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return None
    lo, hi = _num(value[0]), _num(value[1])
    return None if lo is None or hi is None else (lo, hi)


def _ci_text(ci: tuple[float, float] | None, signed: bool = False) -> str:
    """An interval in percent (or signed percentage points) on its own small line, empty when absent."""
    if ci is None:
        return ""
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f'<span class="ci">[{fmt.format(100 * ci[0])}, {fmt.format(100 * ci[1])}]</span>'


def _pct_ci_cell(value: Any, ci: Any) -> str:
    return f'<td class="num">{_pct(value)}{_ci_text(_interval(ci))}</td>'


def _delta_ci_cell(a: Any, b: Any, info: Any) -> str:
    """Δ = RL - base in pp with the paired interval of the summary's ``delta`` entry when it has one.

    The colour follows the summary's ``significant`` decision (two-sided paired sign-flip test, Holm over
    all delta cells); older summaries without it fall back to "the interval excludes 0"."""
    info = _map(info)
    d = _num(info.get("delta"))
    if d is None:
        va, vb = _num(a), _num(b)
        if va is None or vb is None:
            return '<td class="num">—</td>'
        d = vb - va
    ci = _interval(info.get("ci"))
    if "significant" in info:  # the summary's Holm-adjusted decision: round-off in a bound never colours
        cls = {"up": " pos", "down": " neg"}.get(str(info.get("direction")), "")
    elif ci is not None:
        cls = " pos" if ci[0] > 0 else " neg" if ci[1] < 0 else ""
    else:
        cls = " pos" if 100 * d > 0.05 else " neg" if 100 * d < -0.05 else ""
    return f'<td class="num{cls}">{100 * d:+.1f} pp{_ci_text(ci, signed=True)}</td>'


def _pval(value: Any) -> str:
    v = _num(value)
    if v is None:
        return "—"
    return "&lt;0.0001" if v < 1e-4 else f"{v:.2g}" if v < 0.01 else f"{v:.3f}"


def _int_cell(value: Any, cls: str = "") -> str:
    v = _num(value)
    text = "—" if v is None else f"{int(v):,}"
    return f'<td class="{" ".join(("num", cls)).strip()}">{text}</td>'


def _curve(pass_at_k: Mapping[str, Any] | None) -> dict[int, float]:
    """{k: value} with int k, finite values only, sorted by k. Bad keys are skipped, not fatal."""
    out: dict[int, float] = {}
    if not isinstance(pass_at_k, Mapping):
        return out
    for key, value in pass_at_k.items():
        try:
            k = int(key)
        except (TypeError, ValueError):
            continue
        v = _num(value)
        if v is not None and k >= 1:
            out[k] = v
    return dict(sorted(out.items()))


def _map(value: Any) -> Mapping[Any, Any]:
    """``value`` if it is a mapping, else an empty one: a malformed part of the summary shows as —."""
    return value if isinstance(value, Mapping) else {}


def _get_k(pass_at_k: Any, k: int) -> Any:
    d = _map(pass_at_k)
    return d.get(str(k), d.get(k))


def _k_max(pak: Mapping[Any, Any]) -> int | None:
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


# --------------------------------------------------------------------------------------------- JSON


def _json_safe(obj: Any) -> Any:
    """Copy ``obj`` with NaN/inf turned into None and numpy/tuple values into plain JSON types."""
    if isinstance(obj, Mapping):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, without importing numpy here
        return _json_safe(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj  # let json.dump raise a TypeError naming anything else


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and os.replace, so a crash never leaves half a file."""
    # open() rather than mkstemp: the file gets the usual umask permissions, not 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------- plots


def _plot_label(value: Any, limit: int = 40) -> str:
    """Sanitised, short text for a plot title; mathtext is off at the call site so '$' is literal."""
    text, total = clean_text(value, limit)
    text = text.replace("\n", " ")
    return text + "…" if total > limit else text


_SVG_HEAD_RE = re.compile(r"\A.*?(?=<svg\b)", re.S)
_SVG_STRIP_RE = re.compile(r"<metadata\b.*?</metadata>|<style\b.*?</style>|<!--.*?-->", re.S)
_SVG_FORBIDDEN_RE = re.compile(r"<\s*/?\s*(script|foreignobject|iframe|object|embed)\b|javascript:", re.I)
_SVG_ID_RE = re.compile(r'\bid="([^"]+)"')
_SVG_REF_RE = re.compile(r'(url\(#|href="#)([^")]+)')


def _figure_to_svg(fig: Any, prefix: str) -> str:
    """Serialise a matplotlib Figure to an SVG fragment that is safe to inline in HTML.

    Ids get ``prefix`` because several inline SVGs share one id namespace; without it clip paths and
    glyph references of one figure could resolve to another's.
    """
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"evalkit-{prefix}", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = _SVG_HEAD_RE.sub("", buf.getvalue(), count=1)
    svg = _SVG_STRIP_RE.sub("", svg)
    svg = _SVG_ID_RE.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _SVG_REF_RE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    if _SVG_FORBIDDEN_RE.search(svg):  # matplotlib never emits these; refuse rather than inline them
        raise ValueError("matplotlib SVG output contains a forbidden element")
    return svg.strip()


def _new_figure(n_panels: int, cols: int, width: float, height: float) -> tuple[Any, list[Any]]:
    # A bare Figure (no pyplot): no global figure registry, no GUI backend, nothing leaks between calls.
    from matplotlib.figure import Figure

    cols = max(1, min(cols, n_panels))
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n_panels)]
    return fig, axes


def _panel_width(panels: Sequence[Any]) -> float:
    """Inches per panel: three fit across the page; a lone panel is drawn as wide as the training plots."""
    return 3.4 if len(panels) > 1 else 4.6


def _log2_ticks(ks: Sequence[int]) -> list[int]:
    """At most ~7 power-of-two ticks spanning ``ks``."""
    if not ks:
        return []
    lo, hi = math.floor(math.log2(min(ks))), math.ceil(math.log2(max(ks)))
    step = max(1, math.ceil((hi - lo + 1) / 7))
    return [2**e for e in range(lo, hi + 1, step)]


_STYLE = {
    "base": {"color": "#4c72b0", "linestyle": "--", "marker": "o"},
    "rl": {"color": "#dd8452", "linestyle": "-", "marker": "s"},
}


def _ci_curve(ci_map: Any, ks: Iterable[int]) -> tuple[list[int], list[float], list[float]]:
    """The k values of ``ks`` that have a finite interval in ``ci_map`` ({k: [lo, hi]}), with lo and hi."""
    xs: list[int] = []
    lo: list[float] = []
    hi: list[float] = []
    for k in ks:
        ci = _interval(_get_k(ci_map, k))
        if ci is not None:
            xs.append(k)
            lo.append(ci[0])
            hi.append(ci[1])
    return xs, lo, hi


def _log2_axis(ax: Any, ks: Sequence[int]) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(_log2_ticks(sorted(ks))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def _style_axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=9, parse_math=False)
    ax.set_xlabel(xlabel, fontsize=8, parse_math=False)
    ax.set_ylabel(ylabel, fontsize=8, parse_math=False)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=7)


def _no_data(ax: Any, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, parse_math=False)


def _spread_flat(
    ax: Any, axis: str, values: Iterable[float], pad: float, floor: float | None = None, tick: bool = False
) -> None:
    """Give ``axis`` ("x" or "y") a readable span when all of its data share one value.

    matplotlib centres a lone value in a window of about ±5% of it (±0.055 around 0), so one training step
    gets an axis labelled -0.04 to 0.04 and a constant series a magnified band of noise-free ticks. Here
    one value v gets the window v ± ``pad`` (cut just below ``floor`` when given, e.g. 0 for KL, so that a
    point on the floor is not clipped in half) and, with ``tick``, a single tick at v. Axes whose data
    spread keep matplotlib's limits.
    """
    vals = {float(v) for v in values}
    if len(vals) != 1:
        return
    (v,) = vals
    lo, hi = v - pad, v + pad
    if floor is not None and v >= floor:
        lo = max(lo, floor - 0.05 * pad)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo, hi)
    if tick:
        from matplotlib.ticker import FixedLocator

        (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(FixedLocator([v]))


def _step_axis(ax: Any, steps: Iterable[float]) -> None:
    """Integer ticks for training steps; one step alone sits in the middle of [step - 1, step + 1]."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _spread_flat(ax, "x", steps, pad=1.0, tick=True)


def _marker_size(n_points: int) -> float:
    """Markers grow when a series has a single point, which has no line to show it."""
    return 6.0 if n_points == 1 else 3.0


def _passk_svg(panels: list[tuple[str, Mapping[str, Any]]]) -> str:
    return _figure_to_svg(_passk_figure(panels), "passk")


def _passk_figure(panels: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """pass@k vs k (log2) per panel, each model with its interval band (``pass_at_k_ci``) when given."""
    fig, axes = _new_figure(len(panels), cols=3, width=_panel_width(panels), height=2.7)
    for ax, (name, ts) in zip(axes, panels, strict=True):
        pak, cis = _map(ts.get("pass_at_k")), _map(ts.get("pass_at_k_ci"))
        all_ks: set[int] = set()
        for m in MODELS:
            curve = _curve(pak.get(m))
            if curve:
                all_ks.update(curve)
                ax.plot(list(curve), list(curve.values()), label=MODEL_LABEL[m], markersize=_marker_size(len(curve)),
                        **_STYLE[m])  # fmt: skip
            xs, lo, hi = _ci_curve(cis.get(m), sorted(curve))
            if len(xs) >= 2:
                ax.fill_between(xs, lo, hi, color=_STYLE[m]["color"], alpha=0.18, linewidth=0)
        _style_axes(ax, _plot_label(name), "k", "pass@k")
        ax.set_ylim(-0.02, 1.02)
        if not all_ks:
            _no_data(ax)
            continue
        _log2_axis(ax, sorted(all_ks))
        ax.legend(fontsize=7, loc="lower right")
    return fig


def _delta_svg(panels: list[tuple[str, Mapping[str, Any]]]) -> str:
    return _figure_to_svg(_delta_figure(panels), "delta")


def _delta_figure(panels: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """Δ pass@k = RL - base vs k (log2) per panel, with the paired interval band."""
    fig, axes = _new_figure(len(panels), cols=3, width=_panel_width(panels), height=2.4)
    for ax, (name, ts) in zip(axes, panels, strict=True):
        delta = _map(ts.get("delta"))
        pts: dict[int, float] = {}
        band: dict[int, tuple[float, float]] = {}
        for key, entry in delta.items():
            try:
                k = int(key)
            except (TypeError, ValueError):
                continue
            d = _num(_map(entry).get("delta"))
            if d is None or k < 1:
                continue
            pts[k] = 100 * d
            ci = _interval(_map(entry).get("ci"))
            if ci is not None:
                band[k] = (100 * ci[0], 100 * ci[1])
        _style_axes(ax, _plot_label(name), "k", "Δ pass@k (pp)")
        ax.axhline(0.0, color="#444", linewidth=0.8)
        if not pts:
            _no_data(ax)
            continue
        ks = sorted(pts)
        ax.plot(ks, [pts[k] for k in ks], color="#8172b3", marker="o", markersize=_marker_size(len(ks)), linewidth=1.3,
                label="RL − base")  # fmt: skip
        bk = [k for k in ks if k in band]
        if len(bk) >= 2:
            lo, hi = [band[k][0] for k in bk], [band[k][1] for k in bk]
            ax.fill_between(bk, lo, hi, color="#8172b3", alpha=0.2, linewidth=0, label="interval")
        # Δ exactly 0 everywhere (identical runs) with no band drawn: ±1 pp, not matplotlib's ±0.055 pp
        drawn = [0.0, *pts.values(), *(v for k in bk for v in band[k])] if len(bk) >= 2 else [0.0, *pts.values()]
        _spread_flat(ax, "y", drawn, pad=1.0)
        _log2_axis(ax, ks)
        ax.legend(fontsize=7, loc="best")
    return fig


#: Histogram classes of per-problem success rates: exactly 0, ten deciles of (0, 1), exactly 1.
_RATE_BINS = ["0", *(f"{10 * i}–{10 * i + 10}" for i in range(10)), "100"]


def _rate_bin(rate: float) -> int:
    if rate <= 0.0:
        return 0
    if rate >= 1.0:
        return len(_RATE_BINS) - 1
    return 1 + min(9, int(rate * 10))


def _rates_of(problems: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """(base rate, RL rate, class) per problem with valid counts: c/n of the samples the runs share."""
    out = []
    for p in problems:
        n, cb, cr = _num(p.get("n")), _num(p.get("c_base")), _num(p.get("c_rl"))
        if n is None or cb is None or cr is None or n <= 0:
            continue
        cls = p.get("class")
        if cls not in CLASS_LABEL:  # a malformed class: colour the point by its counts instead
            cls = ("both" if cr else "base_only") if cb else ("rl_only" if cr else "neither")
        out.append((min(max(cb / n, 0.0), 1.0), min(max(cr / n, 0.0), 1.0), cls))
    return out


def _per_problem_svg(rates: list[tuple[float, float, str]]) -> str:
    return _figure_to_svg(_per_problem_figure(rates), "perproblem")


def _per_problem_figure(rates: list[tuple[float, float, str]]) -> Any:
    """Scatter of per-problem base vs RL success rate (coloured by class) and histograms of both."""
    from collections import Counter

    from matplotlib.ticker import MaxNLocator

    fig, (ax, hx) = _new_figure(2, cols=2, width=4.6, height=3.6)
    # Identical points (e.g. the many 0/n and n/n problems) are drawn once, sized by how many they are.
    points = Counter((round(b, 4), round(r, 4), cls) for b, r, cls in rates)
    for cls in CLASS_LABEL:
        pts = [(b, r, cnt) for (b, r, c), cnt in points.items() if c == cls]
        if not pts:
            continue
        total = sum(cnt for *_, cnt in pts)
        xs, ys, sizes = [b for b, _, _ in pts], [r for _, r, _ in pts], [14 * math.sqrt(c) for *_, c in pts]
        label = f"{CLASS_LABEL[cls]} ({total:,})"
        ax.scatter(xs, ys, s=sizes, color=CLASS_COLOR[cls], alpha=0.65, linewidths=0, label=label)
    ax.plot([0, 1], [0, 1], color="#444", linewidth=0.8, linestyle=":")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")
    _style_axes(ax, "per-problem success rate c/n", "base", "RL")
    ax.legend(fontsize=7, loc="lower right", markerscale=1.0)

    width = 0.4
    for j, m in enumerate(MODELS):
        counts = [0] * len(_RATE_BINS)
        for b, r, _ in rates:
            counts[_rate_bin(b if m == "base" else r)] += 1
        xs = [i + (j - 0.5) * width for i in range(len(_RATE_BINS))]
        hx.bar(xs, counts, width=width, color=_STYLE[m]["color"], alpha=0.85, label=MODEL_LABEL[m])
    hx.set_xticks(range(len(_RATE_BINS)))
    hx.set_xticklabels(_RATE_BINS, rotation=45, ha="right")
    _style_axes(hx, "problems by success rate", "c/n (%): exactly 0, deciles, exactly 100", "problems")
    hx.grid(True, axis="y", alpha=0.3)
    hx.grid(False, axis="x")
    hx.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of problems: no 2.5 ticks
    hx.legend(fontsize=7, loc="upper center")
    return fig


def _trajectory_svg(panels: list[tuple[str, Mapping[str, Any]]]) -> str:
    return _figure_to_svg(_trajectory_figure(panels), "trajectory")


def _trajectory_figure(panels: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """pass@1 and pass@n vs checkpoint (base first) per task, with the interval half-widths as error bars."""
    fig, axes = _new_figure(len(panels), cols=3, width=_panel_width(panels), height=2.7)
    for ax, (name, row) in zip(axes, panels, strict=True):
        cps = [c for c in row.get("checkpoints") or [] if isinstance(c, Mapping)]
        n = _num(row.get("n"))
        regime = row.get("regime")
        _style_axes(ax, _plot_label(f"{name}: {regime}" if regime else name, 60), "checkpoint", "pass@k")
        ax.set_ylim(-0.02, 1.02)
        if not cps:
            _no_data(ax)
            continue
        xs = list(range(len(cps)))
        keys = [("1", "#4c72b0", "o")]
        if n is not None and int(n) != 1:
            keys.append((str(int(n)), "#dd8452", "s"))
        for k, color, marker in keys:
            ys = [_num(c.get(f"pass@{k}")) for c in cps]
            hw = [_num(c.get(f"halfwidth@{k}")) or 0.0 for c in cps]
            good = [i for i, y in enumerate(ys) if y is not None]
            if good:
                ax.errorbar([xs[i] for i in good], [ys[i] for i in good], yerr=[hw[i] for i in good], color=color,
                            marker=marker, markersize=3, capsize=2, linewidth=1.2, label=f"pass@{k}")  # fmt: skip
        labels = ["base", *(str(i) for i in range(1, len(cps) - 1)), "final"]
        ax.set_xticks(xs)
        ax.set_xticklabels(labels[: len(cps)])
        ax.set_xlim(-0.5, len(cps) - 0.5)  # a lone checkpoint too gets a unit-wide axis
        ax.legend(fontsize=7, loc="best")
    return fig


def _series(rows: Sequence[Any], key: str, x_key: str = "step") -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        x, y = _num(row.get(x_key)), _num(row.get(key))
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def moving_average(ys: Sequence[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` points (fewer at the start), so it never looks ahead."""
    out: list[float] = []
    total = 0.0
    for i, y in enumerate(ys):
        total += y
        if i >= window:
            total -= ys[i - window]
        out.append(total / min(i + 1, window))
    return out


def _eval_keys(evals: Sequence[Any]) -> list[str]:
    """``pass@N`` keys of the held-out eval rows, in k order."""
    keys: set[str] = set()
    for row in evals:
        if isinstance(row, Mapping):
            keys.update(k for k in row if isinstance(k, str) and re.fullmatch(r"pass@\d+", k))
    return sorted(keys, key=lambda k: int(k[5:]))


def _training_svg(training: Sequence[Any], evals: Sequence[Any]) -> str:
    return _figure_to_svg(_training_figure(training, evals), "training")


#: Panel titles for the GRPO log's columns (the trainer's k3 KL estimate is per token).
_TRAINING_TITLE = {"reward_mean": "reward (mean over the step's batch)", "kl": "KL to the reference (per token)"}


def _reward_window(n_points: int) -> int:
    """Width of the reward's trailing moving average: 1 (none drawn) for fewer than 40 points."""
    return max(1, min(50, n_points // 20))


def _training_figure(training: Sequence[Any], evals: Sequence[Any]) -> Any:
    """GRPO reward (with its trailing mean) and KL per step, and the held-out pass@k evaluations."""
    panels: list[str] = []
    if training:
        panels.append("reward_mean")
        if _series(training, "kl")[0]:
            panels.append("kl")
    if evals:
        panels.append("eval")
    fig, axes = _new_figure(len(panels), cols=2, width=4.6, height=2.8)
    for ax, key in zip(axes, panels, strict=True):
        if key == "eval":
            _style_axes(ax, "held-out eval", "step", "pass@k")
            ax.set_ylim(-0.02, 1.02)
            keys = _eval_keys(evals)
            steps: list[float] = []
            for i, k in enumerate(keys):
                xs, ys = _series(evals, k)
                if xs:
                    steps += xs
                    ax.plot(xs, ys, marker="os^v"[i % 4], markersize=_marker_size(len(xs)), linewidth=1.2, label=k)
            _step_axis(ax, steps)
            if keys:
                ax.legend(fontsize=7, loc="best")
            else:
                _no_data(ax, "no pass@k columns")
            continue
        xs, ys = _series(training, key)
        _style_axes(ax, _TRAINING_TITLE.get(key, key), "step", "")
        if not xs:
            _no_data(ax, "no finite points")
            continue
        marker = {"marker": "o", "markersize": _marker_size(1)} if len(xs) == 1 else {}
        if key == "reward_mean":
            # the per-step reward is noisy (one batch of prompts); the trailing mean shows the trend
            window = _reward_window(len(ys))
            # faint only when the moving average is drawn over it; a short log is the only line
            faint = {"linewidth": 0.8, "alpha": 0.35} if window > 1 else {"linewidth": 1.2}
            ax.plot(xs, ys, color="#55a868", label="per step", **faint, **marker)
            if window > 1:
                ax.plot(xs, moving_average(ys, window), color="#1b5e20", linewidth=1.6,
                        label=f"moving average ({window} steps)")  # fmt: skip
            ax.legend(fontsize=7, loc="best")
        else:
            ax.plot(xs, ys, color="#c44e52", linewidth=1.2, **marker)
        _step_axis(ax, xs)
        _spread_flat(ax, "y", ys, pad=max(0.01, 0.1 * abs(ys[0])), floor=0.0 if key == "kl" else None)
    return fig


def _safe_plot(what: str, draw: Any, *args: Any) -> str:
    """Draw a plot; on failure keep the rest of the report and show the error in its place."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Gg]lyph.*missing.*")
            warnings.filterwarnings("ignore", message=".*missing from font.*")
            return f'<div class="plot">{draw(*args)}</div>'
    except Exception as exc:  # a broken plot must not cost the user the tables
        log.exception("could not draw the %s plot", what)
        return f'<p class="error">Could not draw the {esc(what)} plot: {esc(repr(exc), 500)}</p>'


# --------------------------------------------------------------------------------------------- sections


def _kv_rows(rows: Iterable[tuple[str, Any, Any]]) -> str:
    out = []
    for label, base, rl in rows:
        out.append(f"<tr><th>{esc(label)}</th><td>{base}</td><td>{rl}</td></tr>")
    return "\n".join(out)


def _json_cell(value: Any) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, Mapping) and value:
        items = "".join(f"<tr><td>{esc(k, 200)}</td><td>{esc(v, 500)}</td></tr>" for k, v in value.items())
        return f'<table class="inner">{items}</table>'
    return f"<code>{esc(value, 1000)}</code>"


def _section_meta(summary: Mapping[str, Any]) -> str:
    runs = _map(summary.get("runs"))
    infos = [_map(runs.get(m)) for m in MODELS]
    fields = [
        # the checkpoint the samples came from (a local directory, hub id or server model) and its content
        # hash; the run directory is where evalkit stored them
        ("model checkpoint", "model", False),
        ("model hash", "model_hash", False),
        ("run directory", "dir", False),
        ("samples per problem (n)", "n", False),
        ("seed", "seed", False),
        ("backend", "backend", False),
        ("fingerprint", "fingerprint", False),
        ("git", "git", False),
        ("sampling", "sampling", True),
        ("versions", "versions", True),
    ]
    rows = []
    for label, key, structured in fields:
        cells = []
        for info in infos:
            v = info.get(key)
            if structured:
                cells.append(_json_cell(v))
            elif v is None:
                cells.append('<span class="muted">—</span>')
            else:
                cells.append(f"<code>{esc(v, 500)}</code>")
        rows.append((label, cells[0], cells[1]))
    same = infos[0].get("sampling") == infos[1].get("sampling")
    warn = "" if same else '<p class="warn">The two runs used different sampling configs; compare with care.</p>'
    return (
        '<section id="runs"><h2>Runs</h2>\n'
        '<div class="wide"><table class="meta"><thead><tr><th></th><th>base</th><th>RL</th></tr></thead><tbody>\n'
        f"{_kv_rows(rows)}\n</tbody></table></div>{warn}</section>"
    )


def _section_verdict(verdict: Any) -> str:
    """The verdict in plain words (:func:`evalkit.verdict.verdict_sentences`), first thing after the runs."""
    if not verdict or not isinstance(verdict, Sequence) or isinstance(verdict, str):
        return ""
    text = " ".join(esc(str(s), MAX_TEXT_CHARS) for s in verdict)
    return f'<section id="verdict"><h2>Verdict</h2><p class="verdict">{text}</p></section>'


def _section_notes(notes: Any) -> str:
    if not notes:
        return ""
    if isinstance(notes, str):
        notes = [notes]
    items = "\n".join(f"<li>{esc(n, MAX_TEXT_CHARS)}</li>" for n in notes)
    return f'<section id="notes"><h2>Findings</h2><ul class="notes">\n{items}\n</ul></section>'


def _task_items(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], bool]]:
    """(name, TaskSummary, is_overall) for overall first, then every task in summary order."""
    items: list[tuple[str, Mapping[str, Any], bool]] = []
    overall = summary.get("overall")
    if isinstance(overall, Mapping):
        items.append(("overall", overall, True))
    tasks = summary.get("tasks")
    if isinstance(tasks, Mapping):
        items.extend((str(name), ts, False) for name, ts in tasks.items() if isinstance(ts, Mapping))
    return items


def _headline_row(name: str, ts: Mapping[str, Any], is_overall: bool) -> str:
    pak = _map(ts.get("pass_at_k"))
    cis = _map(ts.get("pass_at_k_ci"))
    delta = _map(ts.get("delta"))
    base, rl = pak.get("base"), pak.get("rl")
    kmax = _k_max(pak)
    classes = _map(ts.get("classes"))
    cells = [
        f"<th>{esc(name, 200)}</th>",
        _int_cell(ts.get("n_problems")),
        _int_cell(ts.get("n")),
        _pct_ci_cell(_get_k(base, 1), _get_k(cis.get("base"), 1)),
        _pct_ci_cell(_get_k(rl, 1), _get_k(cis.get("rl"), 1)),
        _delta_ci_cell(_get_k(base, 1), _get_k(rl, 1), _get_k(delta, 1)),
        _int_cell(kmax),
    ]
    if kmax is None:
        cells += ['<td class="num">—</td>'] * 3
    else:
        bk, rk = _get_k(base, kmax), _get_k(rl, kmax)
        cells += [
            _pct_ci_cell(bk, _get_k(cis.get("base"), kmax)),
            _pct_ci_cell(rk, _get_k(cis.get("rl"), kmax)),
            _delta_ci_cell(bk, rk, _get_k(delta, kmax)),
        ]
    for cls in CLASS_LABEL:
        count = classes.get(cls)
        hl = cls.replace("_", "-") if cls in ("rl_only", "base_only") and (_num(count) or 0) > 0 else ""
        cells.append(_int_cell(count, hl))
    tr = '<tr class="overall">' if is_overall else "<tr>"
    return f"{tr}{''.join(cells)}</tr>"


def _evidence_cells(ft: Mapping[str, Any], key: str) -> str:
    """Observed count, exact p-value and BH q-value of one side (rl_only or base_only) of the frontier test."""
    p = ft.get(f"p_{key}_exact", ft.get(f"p_{key}"))
    q = ft.get(f"q_{key}")
    # the decisive value is the BH q-value across tasks where there is one, else (overall row) the p-value
    use_q = _num(q) is not None
    decisive = _num(q) if use_q else _num(p)
    count = _num(ft.get(key))
    sig = " sig" if decisive is not None and decisive < 0.05 and (count or 0) > 0 else ""
    p_sig, q_sig = ("", sig) if use_q else (sig, "")
    return (
        f"{_int_cell(ft.get(key), key.replace('_', '-') if (count or 0) > 0 else '')}"
        f'<td class="num{p_sig}">{_pval(p)}</td><td class="num{q_sig}">{_pval(q)}</td>'
    )


def _evidence_table(items: list[tuple[str, Mapping[str, Any], bool]]) -> str:
    rows = []
    for name, ts, is_overall in items:
        ft = ts.get("frontier_test")
        if not isinstance(ft, Mapping):
            continue
        tr = '<tr class="overall">' if is_overall else "<tr>"
        exp = _num(ft.get("expected_under_null"))
        rows.append(
            f"{tr}<th>{esc(name, 200)}</th>{_int_cell(ts.get('n_problems'))}"
            f'<td class="num">{"—" if exp is None else f"{exp:.1f}"}</td>'
            f"{_evidence_cells(ft, 'rl_only')}{_evidence_cells(ft, 'base_only')}</tr>"
        )
    if not rows:
        return ""
    body = "\n".join(rows)
    return (
        '<h3 id="frontier-evidence">Chance test: does RL more often solve problems the base misses than equal '
        "rates would give?</h3>\n"
        '<div class="wide"><table class="grid"><thead><tr><th rowspan="2">task</th><th rowspan="2">problems</th>'
        '<th rowspan="2">expected by chance<br>(each side)</th>'
        '<th colspan="3" class="rl-only">RL-only</th><th colspan="3" class="base-only">base-only</th></tr>\n'
        "<tr><th>count</th><th>p</th><th>q (BH)</th><th>count</th><th>p</th><th>q (BH)</th></tr></thead>"
        f"<tbody>\n{body}\n</tbody></table></div>\n"
        '<p class="muted">Chance level: if on every problem both models had the same per-sample success rate, '
        "this many problems would still come out RL-only (and as many base-only) just from sampling; it is the "
        "sum over problems of the probability that a random split of the pooled samples leaves one side with "
        "none. p: exact one-sided p-value of the observed count under that null. q: Benjamini-Hochberg "
        "adjusted across tasks (none for the overall row). Bold: the deciding value (q, or p for the overall "
        "row) is below 0.05. A small p means RL is better on some problems, which sharpening alone also "
        "gives: it is not evidence that the base cannot solve them.</p>\n"
    )


def _section_headline(summary: Mapping[str, Any]) -> str:
    items = _task_items(summary)
    if not items:
        return '<section id="headline"><h2>Headline</h2><p class="muted">No task summaries.</p></section>'
    rows = "\n".join(_headline_row(*it) for it in items)
    conf = _num(_map(summary.get("overall")).get("confidence"))
    level = f"{100 * conf:.0f}%" if conf is not None else "bootstrap"
    return (
        '<section id="headline"><h2>Headline</h2>\n'
        '<div class="wide"><table class="grid"><thead><tr>'
        '<th rowspan="2">task</th><th rowspan="2">problems</th><th rowspan="2">n</th>'
        '<th colspan="3">pass@1</th><th rowspan="2">k<sub>max</sub></th>'
        '<th colspan="3">pass@k<sub>max</sub></th>'
        '<th colspan="4">problems solved by</th></tr>\n<tr>'
        "<th>base</th><th>RL</th><th>Δ</th><th>base</th><th>RL</th><th>Δ</th>"
        '<th>both</th><th class="rl-only">RL-only</th><th class="base-only">base-only</th><th>neither</th>'
        f"</tr></thead><tbody>\n{rows}\n</tbody></table></div>\n"
        f'<p class="muted">Brackets: {level} intervals over problems (bootstrap); Δ is RL minus base in '
        "percentage points with its paired interval (the same problems resampled for both), coloured only "
        "when significant: two-sided paired sign-flip test, Holm-adjusted over every Δ cell (all tasks and k) "
        "at 5% family-wise. RL-only: solved at least once by the RL model in its n samples and never by the "
        "base model. Base-only: the reverse. Not solved in n samples is not impossible: 0 of n bounds the "
        "per-sample success rate below about 3/n with 95% confidence; the findings give one bound that holds "
        "for all RL-only problems at once.</p>\n"
        f"{_evidence_table(items)}</section>"
    )


def _plot_panels(summary: Mapping[str, Any]) -> tuple[list[tuple[str, Mapping[str, Any]]], str]:
    """(name, task summary) for overall and the first MAX_TASK_PLOTS tasks, and a note on the rest.

    With a single task, overall is that task: only the task's panel is drawn, not the same curves twice."""
    items = _task_items(summary)
    if sum(not is_overall for *_, is_overall in items) == 1:
        items = [it for it in items if not it[2]]
    panels: list[tuple[str, Mapping[str, Any]]] = []
    n_tasks = 0
    for name, ts, is_overall in items:
        if not is_overall:
            n_tasks += 1
            if n_tasks > MAX_TASK_PLOTS:
                continue
        panels.append((name, ts))
    more = (
        f'<p class="muted">{n_tasks - MAX_TASK_PLOTS} more tasks not plotted; their numbers are in the '
        "headline table and the JSON summary.</p>"
        if n_tasks > MAX_TASK_PLOTS
        else ""
    )
    return panels, more


def _section_curves(summary: Mapping[str, Any]) -> str:
    panels, more = _plot_panels(summary)
    if not panels:
        return ""
    return (
        '<section id="curves"><h2>pass@k curves</h2>\n'
        '<p class="muted">k on a log<sub>2</sub> axis; shaded: the interval over problems of each model\'s '
        "pass@k. Missing or NaN points are skipped.</p>\n"
        f"{_safe_plot('pass@k', _passk_svg, panels)}{more}</section>"
    )


def _section_delta(summary: Mapping[str, Any]) -> str:
    panels, more = _plot_panels(summary)
    if not any(isinstance(ts.get("delta"), Mapping) and ts.get("delta") for _, ts in panels):
        return ""
    return (
        '<section id="delta"><h2>Δ pass@k (RL − base)</h2>\n'
        '<p class="muted">Percentage points, k on a log<sub>2</sub> axis; shaded: the paired interval. Above '
        "0 at every k: RL is better at every budget. Above 0 at small k but below at large k: RL sharpens "
        "what the base could already reach and loses coverage.</p>\n"
        f"{_safe_plot('delta pass@k', _delta_svg, panels)}{more}</section>"
    )


def _section_per_problem(problems: Sequence[Mapping[str, Any]]) -> str:
    rates = _rates_of(problems)
    if not rates:
        return ""
    return (
        '<section id="per-problem"><h2>Per-problem success rates</h2>\n'
        f'<p class="muted">Each of the {len(rates):,} problems by its share of correct samples c/n under each '
        "model (equal points are drawn once, larger). Above the dotted diagonal: RL solves it more often. "
        "RL-only problems sit on the left edge (base 0/n), base-only problems on the bottom edge. The histogram "
        "keeps exactly 0 and exactly 100% apart from the deciles between them.</p>\n"
        f"{_safe_plot('per-problem', _per_problem_svg, rates)}</section>"
    )


def _section_buckets(summary: Mapping[str, Any]) -> str:
    rows = []
    for name, ts, _ in _task_items(summary):
        buckets = ts.get("buckets")
        if not isinstance(buckets, Mapping):
            continue
        for bname, b in buckets.items():
            if not isinstance(b, Mapping):
                continue
            pak = _map(b.get("pass_at_k"))
            base, rl = pak.get("base"), pak.get("rl")
            kmax = _k_max(pak)
            bk = _get_k(base, kmax) if kmax else None
            rk = _get_k(rl, kmax) if kmax else None
            rows.append(
                f"<tr><th>{esc(name, 200)}</th><td>{esc(bname, 200)}</td>{_int_cell(b.get('n_problems'))}"
                f'<td class="num">{_pct(_get_k(base, 1))}</td><td class="num">{_pct(_get_k(rl, 1))}</td>'
                f"{_delta(_get_k(base, 1), _get_k(rl, 1))}{_int_cell(kmax)}"
                f'<td class="num">{_pct(bk)}</td><td class="num">{_pct(rk)}</td>{_delta(bk, rk)}</tr>'
            )
    if not rows:
        return ""
    body = "\n".join(rows)
    return (
        '<section id="buckets"><h2>By bucket</h2>\n<div class="wide"><table class="grid"><thead><tr>'
        '<th rowspan="2">task</th><th rowspan="2">bucket</th><th rowspan="2">problems</th>'
        '<th colspan="3">pass@1</th><th rowspan="2">k<sub>max</sub></th>'
        '<th colspan="3">pass@k<sub>max</sub></th>'
        "</tr><tr><th>base</th><th>RL</th><th>Δ</th><th>base</th><th>RL</th><th>Δ</th></tr></thead><tbody>\n"
        f"{body}\n</tbody></table></div></section>"
    )


def _frac(c: Any, n: Any) -> str:
    vc, vn = _num(c), _num(n)
    if vc is None or vn is None:
        return "—"
    return f"{int(vc):,}/{int(vn):,}"


def _section_problems(problems: Sequence[Mapping[str, Any]], cls: str) -> str:
    solver, example_key = ("rl", "example_rl") if cls == "rl_only" else ("base", "example_base")
    rows = [p for p in problems if isinstance(p, Mapping) and p.get("class") == cls]
    # Strongest evidence first: the problems the solving model solves most often.
    rows.sort(key=lambda p: -(_num(p.get(f"c_{solver}")) or 0))
    shown = rows[:MAX_PROBLEM_ROWS]
    label = CLASS_LABEL[cls]
    anchor = cls.replace("_", "-")
    if not rows:
        return f'<section id="{anchor}"><h2>{label} problems</h2><p class="muted">None.</p></section>'
    body = []
    for p in shown:
        n = p.get("n")
        counts = "".join(
            f'<td class="num{" " + anchor if m == solver else ""}">{_frac(p.get(f"c_{m}"), n)}</td>' for m in MODELS
        )
        body.append(
            f"<tr><td><code>{esc(p.get('problem_id'), 200)}</code></td>"
            f"<td>{esc(p.get('task'), 200)}</td><td>{esc(p.get('bucket'), 200)}</td>"
            f"<td>{_block(p.get('prompt'))}</td><td>{_block(p.get('reference'), MAX_REFERENCE_CHARS)}</td>"
            f"{counts}<td>{_block(p.get(example_key))}</td></tr>"
        )
    omitted = len(rows) - len(shown)
    more = (
        f'<p class="muted">{omitted:,} more {label} problems omitted; all are listed in the JSON summary.</p>'
        if omitted
        else ""
    )
    rows_html = "\n".join(body)
    return (
        f'<section id="{anchor}"><h2>{label} problems ({len(rows):,})</h2>\n'
        '<div class="wide"><table class="grid problems"><thead><tr>'
        "<th>problem</th><th>task</th><th>bucket</th><th>prompt</th>"
        "<th>reference</th><th>base c/n</th><th>RL c/n</th>"
        f"<th>a correct {MODEL_LABEL[solver]} completion</th></tr></thead>"
        f"<tbody>\n{rows_html}\n</tbody></table></div>"
        f"{more}</section>"
    )


def _table_rows(problems: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """At most MAX_TABLE_ROWS problems, in summary order; when cutting, RL-only and base-only ones stay."""
    if len(problems) <= MAX_TABLE_ROWS:
        return list(problems)
    frontier = [i for i, p in enumerate(problems) if p.get("class") in ("rl_only", "base_only")]
    rest = [i for i, p in enumerate(problems) if p.get("class") not in ("rl_only", "base_only")]
    keep = sorted((frontier + rest)[:MAX_TABLE_ROWS])
    return [problems[i] for i in keep]


def _rate_cell(c: Any, n: Any, cls: str = "") -> str:
    vc, vn = _num(c), _num(n)
    rate = f"{vc / vn:.6g}" if vc is not None and vn else ""
    return f'<td class="{" ".join(("num", cls)).strip()}" data-v="{rate}">{_frac(c, n)}</td>'


def _section_problem_table(problems: Sequence[Mapping[str, Any]]) -> str:
    if not problems:
        return ""
    shown = _table_rows(problems)
    body = []
    counts = dict.fromkeys([*CLASS_LABEL, "other"], 0)
    for p in shown:
        raw_cls = p.get("class")
        cls = raw_cls if isinstance(raw_cls, str) and raw_cls in CLASS_LABEL else "other"
        counts[cls] += 1
        label = CLASS_LABEL.get(cls, esc(raw_cls, 50) or "—")
        n, cb, cr = _num(p.get("n")), _num(p.get("c_base")), _num(p.get("c_rl"))
        if n and cb is not None and cr is not None:
            d = 100 * (cr - cb) / n
            dcls = " pos" if d > 0 else " neg" if d < 0 else ""
            dcell = f'<td class="num{dcls}" data-v="{d:.6g}">{d:+.1f} pp</td>'
        else:
            dcell = '<td class="num" data-v="">—</td>'
        hl = cls.replace("_", "-") if cls in ("rl_only", "base_only") else ""
        body.append(
            f'<tr data-class="{cls}"><td><code>{esc(p.get("problem_id"), 200)}</code></td>'
            f"<td>{esc(p.get('task'), 200)}</td><td>{esc(p.get('bucket'), 200)}</td>"
            f'<td class="{hl}">{label}</td>'
            f"{_rate_cell(cb, n)}{_rate_cell(cr, n)}{dcell}</tr>"
        )
    boxes = "".join(
        f'<label><input type="checkbox" class="pt-cls" value="{cls}" checked> {CLASS_LABEL.get(cls, cls)} '
        f"({count:,})</label> "
        for cls, count in counts.items()
        if count or cls in CLASS_LABEL
    )
    cut = (
        f'<p class="warn">Showing {len(shown):,} of {len(problems):,} problems (every RL-only and base-only '
        "one first, then the others in order, up to the cap); all are in the JSON summary.</p>\n"
        if len(shown) < len(problems)
        else ""
    )
    heads = [("id", "text"), ("task", "text"), ("bucket", "text"), ("class", "text"),
             ("base c/n", "num"), ("RL c/n", "num"), ("Δ rate", "num")]  # fmt: skip
    head = "".join(
        f'<th data-type="{kind}" data-key="{i}"><button type="button">{label}</button></th>'
        for i, (label, kind) in enumerate(heads)
    )
    rows_html = "\n".join(body)
    return (
        '<section id="problem-table"><h2>All problems</h2>\n'
        f"{cut}"
        '<div class="controls"><input type="search" id="pt-q" placeholder="filter by id, task or bucket" '
        f'aria-label="filter problems"> {boxes}<span id="pt-count" class="muted">{len(shown):,} problems '
        "(sorting and filtering need JavaScript)</span></div>\n"
        '<p class="muted">Click a column header to sort (again to reverse). c/n: correct samples of the n both '
        "runs share. Δ rate: RL minus base share of correct samples, in percentage points.</p>\n"
        f'<div class="scroll"><table class="grid sortable" id="pt"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{rows_html}\n</tbody></table></div></section>"
    )


#: The page's only script: sorts and filters the problem table (``#pt``). It holds no summary data; it
#: moves existing rows, toggles ``hidden`` and writes numbers through ``textContent``. Optional state in
#: the URL fragment, e.g. ``report.html#problem-table?q=add&cls=rl_only,both&sort=5&dir=desc``.
TABLE_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("pt");
  if (!table) { return; }
  try {
    var tbody = table.tBodies[0];
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var box = document.getElementById("pt-q");
    var checks = Array.prototype.slice.call(document.querySelectorAll("input.pt-cls"));
    var count = document.getElementById("pt-count");
    var items = Array.prototype.map.call(tbody.rows, function (row, i) {
      var text = "";
      for (var c = 0; c < 3; c++) { text += row.cells[c].textContent.toLowerCase() + "\\n"; }
      return { row: row, pos: i, text: text, cls: row.getAttribute("data-class") };
    });
    var sortCol = -1;
    var sortDesc = false;

    function key(item, col, numeric) {
      var cell = item.row.cells[col];
      if (!numeric) { return cell.textContent.toLowerCase(); }
      var v = parseFloat(cell.getAttribute("data-v"));
      return isNaN(v) ? -Infinity : v;
    }

    function filter() {
      var q = box.value.trim().toLowerCase();
      var allowed = {};
      checks.forEach(function (cb) { if (cb.checked) { allowed[cb.value] = true; } });
      var shown = 0;
      items.forEach(function (item) {
        var ok = allowed[item.cls] === true && (q === "" || item.text.indexOf(q) !== -1);
        item.row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      count.textContent = "showing " + shown.toLocaleString("en") + " of " + items.length.toLocaleString("en");
      table.setAttribute("data-shown", String(shown));
    }

    function sortBy(col, desc) {
      var numeric = heads[col].getAttribute("data-type") === "num";
      sortCol = col;
      sortDesc = desc;
      var keyed = items.map(function (item) { return { k: key(item, col, numeric), item: item }; });
      keyed.sort(function (a, b) {
        if (a.k < b.k) { return desc ? 1 : -1; }
        if (a.k > b.k) { return desc ? -1 : 1; }
        return a.item.pos - b.item.pos;
      });
      items = keyed.map(function (x) { return x.item; });
      var frag = document.createDocumentFragment();
      items.forEach(function (item) { frag.appendChild(item.row); });
      tbody.appendChild(frag);
      heads.forEach(function (th, i) {
        if (i === col) { th.setAttribute("aria-sort", desc ? "descending" : "ascending"); }
        else { th.removeAttribute("aria-sort"); }
      });
    }

    heads.forEach(function (th, i) {
      th.querySelector("button").addEventListener("click", function () {
        // numbers sort largest first on the first click, text A to Z
        sortBy(i, i === sortCol ? !sortDesc : th.getAttribute("data-type") === "num");
      });
    });
    box.addEventListener("input", filter);
    checks.forEach(function (cb) { cb.addEventListener("change", filter); });

    var m = /^#problem-table\\?(.*)$/.exec(window.location.hash);
    if (m) {
      var params = new URLSearchParams(m[1]);
      if (params.has("q")) { box.value = params.get("q"); }
      if (params.has("cls")) {
        var want = params.get("cls").split(",");
        checks.forEach(function (cb) { cb.checked = want.indexOf(cb.value) !== -1; });
      }
      var col = parseInt(params.get("sort") || "", 10);
      if (col >= 0 && col < heads.length) { sortBy(col, params.get("dir") === "desc"); }
    }
    filter();
    if (m) { document.getElementById("problem-table").scrollIntoView(); }
    table.setAttribute("data-ready", "1");
  } catch (err) {
    document.documentElement.setAttribute("data-script-error", String(err));
    throw err;
  }
})();
"""


def _script_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def _section_trajectory(traj: Any) -> str:
    traj = _map(traj)
    tasks = _map(traj.get("tasks"))
    items = [(str(name), row) for name, row in tasks.items() if isinstance(row, Mapping)]
    if not items:
        return ""
    rows = []
    runs: list[str] = []
    for name, row in items:
        cps = [c for c in row.get("checkpoints") or [] if isinstance(c, Mapping)]
        if len(cps) > len(runs):
            runs = [str(c.get("run")) for c in cps]
        n = _num(row.get("n"))
        kn = str(int(n)) if n is not None else "n"
        regime = str(row.get("regime"))
        path = lambda key, cps=cps: " → ".join(_pct(c.get(key)) for c in cps)  # noqa: E731
        rows.append(
            f"<tr><th>{esc(name, 200)}</th>{_int_cell(row.get('n_problems'))}{_int_cell(n)}"
            f'<td class="regime {esc(regime, 40) if regime in REGIME_LABEL else ""}">'
            f"{esc(REGIME_LABEL.get(regime, regime), 100)}</td>"
            f"<td>{path('pass@1')}</td><td>{path(f'pass@{kn}')}</td></tr>"
        )
    corr = _map(traj.get("gain_correlation"))
    rho, pv = _num(corr.get("spearman_rho")), _num(corr.get("p_value"))
    corr_line = (
        f"<p>Across {esc(corr.get('tasks'))} tasks, Spearman rank correlation of the base's pass@h with the "
        f"final gain in pass@h, from independent halves of the base's samples (h = n/2): ρ = {rho:+.2f} "
        f"(p = {_pval(pv)}). A negative ρ with a small p would agree with ProRL's observation that RL gains most "
        "where the base is weakest.</p>\n"
        if rho is not None
        else f'<p class="muted">Gain correlation: {esc(corr.get("reason") or "not available", 200)}.</p>\n'
    )
    labels = ["base", *(f"checkpoint {i}" for i in range(1, len(runs) - 1)), "final"]
    names = "".join(f"<li>{lab}: <code>{esc(r, 300)}</code></li>" for lab, r in zip(labels, runs, strict=False))
    panels = items[:MAX_TASK_PLOTS]
    more = (
        f'<p class="muted">{len(items) - MAX_TASK_PLOTS} more tasks not plotted.</p>'
        if len(items) > MAX_TASK_PLOTS
        else ""
    )
    body = "\n".join(rows)
    return (
        '<section id="trajectory"><h2>Checkpoint trajectory</h2>\n'
        '<div class="wide"><table class="grid"><thead><tr><th>task</th><th>problems</th><th>n</th><th>ProRL regime</th>'
        f"<th>pass@1, base → final</th><th>pass@n, base → final</th></tr></thead><tbody>\n{body}\n"
        "</tbody></table></div>\n"
        '<p class="muted">Regime (ProRL, arXiv 2505.24864), from one-sided 95% paired sign-flip bounds on the '
        "shared problems: <em>diminish</em> pass@1 rose (lower bound above 0) and pass@n did not (final - base "
        "upper bound at or below 0); <em>sustained</em> pass@n rose over the last segment (lower bound above 0); "
        "<em>plateau</em> pass@n rose earlier and the last segment is shown within ±0.02; <em>inconclusive</em> "
        "none of these was shown, which is not evidence of no change (the findings say what the bounds show). "
        "Error bars: interval half-widths over problems.</p>\n"
        f"{corr_line}{_safe_plot('trajectory', _trajectory_svg, panels)}{more}"
        f'<p class="muted">Checkpoints, in training order:</p><ul class="runs">{names}</ul></section>'
    )


def _rows(value: Any) -> list[Any]:
    """A list-like summary value (training logs) as a list; anything else as an empty one."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return []


def _section_training(training: Any, evals: Any = None) -> str:
    train_rows, eval_rows = _rows(training), _rows(evals)
    if not train_rows and not eval_rows:
        return ""
    table = ""
    if eval_rows:
        keys = _eval_keys(eval_rows)
        head = "".join(f"<th>{esc(k)}</th>" for k in keys)
        body = "".join(
            "<tr><td>"
            + esc(row.get("step"))
            + "</td>"
            + "".join(f'<td class="num">{_pct(row.get(k))}</td>' for k in keys)
            + "</tr>"
            for row in eval_rows
            if isinstance(row, Mapping)
        )
        table = (
            '<p class="muted">Held-out validation during training (problems apart from the compared ones).</p>'
            f'<table class="grid small"><thead><tr><th>step</th>{head}</tr></thead><tbody>{body}</tbody></table>\n'
        )
    smoothed = _reward_window(len(_series(train_rows, "reward_mean")[1])) > 1
    log_line = (
        f"GRPO log, {len(train_rows):,} rows. The per-step reward is the mean over one batch of prompts and is "
        "noisy" + ("; the dark line is its trailing moving average." if smoothed else ".")
        if train_rows
        else "No GRPO log; held-out evaluations only."
    )
    return (
        '<section id="training"><h2>Training</h2>\n'
        f'<p class="muted">{log_line}</p>\n'
        f"{_safe_plot('training', _training_svg, train_rows, eval_rows)}{table}</section>"
    )


def _section_gate(gate: Any) -> str:
    if not isinstance(gate, Mapping):
        return ""
    passed = gate.get("passed") is True
    lines = gate.get("lines") or []
    if isinstance(lines, str):
        lines = [lines]
    items = "\n".join(f"<li>{esc(line, MAX_TEXT_CHARS)}</li>" for line in lines)
    verdict = "PASSED" if passed else "FAILED"
    return (
        f'<section id="gate"><h2>Gate</h2><div class="gate {"pass" if passed else "fail"}">'
        f"<strong>{verdict}</strong><ul>\n{items}\n</ul></div></section>"
    )


def _section_rates(rates: Any) -> str:
    if not isinstance(rates, Mapping) or not rates:
        return ""
    per_model = [_map(rates.get(m)) for m in MODELS]
    rows = []
    for key in RATE_KEYS:
        cells = []
        for r in per_model:
            v = _num(r.get(key))
            hot = " hot" if v is not None and v > 0 and key in ("timeout", "error") else ""
            cells.append(f'<td class="num{hot}">{_pct(v)}</td>')
        rows.append(f"<tr><th>{key}</th>{''.join(cells)}</tr>")
    body = "\n".join(rows)
    return (
        '<section id="rates"><h2>Sample health</h2>\n'
        '<table class="grid small"><thead><tr><th>share of samples</th><th>base</th><th>RL</th></tr></thead>'
        f"<tbody>\n{body}\n</tbody></table>\n"
        '<p class="muted">Truncated: hit the token limit. Timeout and error are verifier outcomes and never '
        "count as passed.</p></section>"
    )


def _fmt(value: Any, spec: str) -> str:
    v = _num(value)
    return "—" if v is None else format(v, spec)


def _section_evidence(evidence: Any) -> str:
    """Evidence beyond pass@k (:mod:`evalkit.frontier_evidence`): pass@k area on log k, and with likelihood
    files the categories, the base's probability of RL's RL-only solutions and the answer diversity."""
    if not isinstance(evidence, Mapping) or not isinstance(evidence.get("overall"), Mapping):
        return ""
    scopes = [("overall", _map(evidence.get("overall")))]
    scopes += [(str(t), _map(sec)) for t, sec in sorted(_map(evidence.get("tasks")).items())]
    with_lk = "categories" in scopes[0][1]
    head = "<th>scope</th><th>area base</th><th>area RL</th><th>Δ area [95%]</th>"
    if with_lk:
        head += "".join(f"<th>{c.replace('_', ' ')}</th>" for c in CATEGORY_NAMES)
        head += "<th>RL-only: base log10 p (max / median)</th><th>distinct correct (base / RL)</th>"
    rows = []
    for name, sec in scopes:
        auc = _map(sec.get("pass_at_k_auc"))
        ci = auc.get("delta_ci")
        ci_text = f" [{_fmt(ci[0], '+.3f')}, {_fmt(ci[1], '+.3f')}]" if isinstance(ci, list) and len(ci) == 2 else ""
        cells = [
            esc(name),
            _fmt(auc.get("base"), ".3f"),
            _fmt(auc.get("rl"), ".3f"),
            _fmt(auc.get("delta"), "+.3f") + ci_text,
        ]
        if with_lk:
            cats = _map(sec.get("categories"))
            cells += [esc(_map(cats.get(c)).get("count", "—")) for c in CATEGORY_NAMES]
            lk = _map(_map(sec.get("likelihood")).get("rl_only_under_base"))
            cells.append(f"{_fmt(lk.get('max_log10_prob'), '.1f')} / {_fmt(lk.get('median_log10_prob'), '.1f')}")
            div = _map(sec.get("diversity"))
            cells.append(
                f"{_fmt(_map(div.get('base')).get('mean_distinct_correct'), '.2f')} / "
                f"{_fmt(_map(div.get('rl')).get('mean_distinct_correct'), '.2f')}"
            )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    body = "\n".join(rows)
    note = (
        esc(evidence.get("thresholds"), MAX_TEXT_CHARS)
        if with_lk
        else "Run <code>evalkit likelihood</code> for the categories, likelihood and diversity."
    )
    return (
        '<section id="evidence"><h2>Evidence beyond pass@k</h2>\n'
        f'<table class="grid small"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>\n'
        '<p class="muted">Area: mean pass@k over k = 1..m on log k, in [0, 1]. '
        f"{note} JSON: <code>evidence</code> (pass_at_k_auc, matrix_at_k, categories, likelihood, diversity, "
        "problems).</p></section>"
    )


CATEGORY_NAMES = ("preservation", "expansion", "out_of_support", "shrinkage", "neither")


def _section_timings(timings: Any) -> str:
    """Wall time per stage ({stage: seconds}, e.g. the demo's), as a two-column table; nothing when absent."""
    if not isinstance(timings, Mapping) or not timings:
        return ""
    rows = []
    for stage, seconds in timings.items():
        v = _num(seconds)
        cls = ' class="total"' if stage == "total" else ""
        rows.append(
            f"<tr{cls}><th>{esc(str(stage).replace('_', ' '), 100)}</th>"
            f'<td class="num">{"—" if v is None else f"{v:,.1f}"}</td></tr>'
        )
    body = "\n".join(rows)
    return (
        '<section id="timings"><h2>Timings</h2>\n'
        '<table class="grid small"><thead><tr><th>stage</th><th>seconds</th></tr></thead>'
        f"<tbody>\n{body}\n</tbody></table>\n"
        '<p class="muted">Wall-clock seconds of each stage of the run that produced this summary.</p></section>'
    )


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #222; background: #fff; margin: 0 auto; padding: 1em 2em 4em; max-width: 1400px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
nav { font-size: 0.9em; margin: 0.5em 0 1em; }
nav a { margin-right: 1em; color: #336; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; vertical-align: top; text-align: left; }
thead th { background: #f3f3f3; text-align: center; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.overall th, tr.overall td { font-weight: 600; background: #fafafa; }
tr.overall td.rl-only { background: #d6efd2; } tr.overall td.base-only { background: #f8d9cd; }
table.inner { margin: 0; }
table.inner td { border: none; padding: 0 6px 0 0; }
table.meta td { max-width: 40em; }
table.problems { width: 100%; min-width: 48em; table-layout: fixed; }
table.problems th:nth-child(1) { width: 10.5%; } table.problems th:nth-child(2) { width: 7.5%; }
table.problems th:nth-child(3) { width: 7.5%; } table.problems th:nth-child(4) { width: 21%; }
table.problems th:nth-child(5) { width: 10%; } table.problems th:nth-child(6),
table.problems th:nth-child(7) { width: 6.5%; } table.problems th:nth-child(8) { width: 30.5%; }
table.problems thead th { font-size: 0.93em; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; max-height: 22em;
        overflow: auto; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.cut { display: block; color: #a60; font-style: italic; }
.rl-only { background: #e3f4e1; } .base-only { background: #fbe4dc; }
thead th.rl-only { background: #cfeccb; } thead th.base-only { background: #f6cfc2; }
.pos { color: #1a7f37; } .neg { color: #c0392b; } .hot { color: #c0392b; font-weight: 600; }
.muted { color: #777; } .warn, .error { color: #a40; font-weight: 600; }
ul.notes li { margin: 0.3em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
p.verdict { font-size: 1.05em; line-height: 1.5; max-width: 70em; overflow-wrap: anywhere; }
.gate { border: 2px solid; border-radius: 4px; padding: 0.5em 1em; display: inline-block; }
.gate.pass { border-color: #1a7f37; background: #eef8ee; }
.gate.fail { border-color: #c0392b; background: #fdeeee; }
.gate ul { margin: 0.3em 0 0; }
.gate li { white-space: pre-wrap; overflow-wrap: anywhere; }
.plot svg { max-width: 100%; height: auto; }
.plot svg * { stroke-linejoin: round; stroke-linecap: butt; }
header .meta { color: #555; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.ci { display: block; font-size: 0.8em; color: #777; font-weight: normal; }
.sig { font-weight: 700; }
.controls { margin: 0.5em 0; display: flex; flex-wrap: wrap; gap: 0.4em 1em; align-items: center; }
.controls input[type=search] { min-width: 18em; padding: 2px 4px; }
.scroll { max-height: 36em; overflow: auto; border: 1px solid #ddd; display: inline-block; max-width: 100%; }
.scroll table { margin: 0; }
.scroll thead th { position: sticky; top: 0; z-index: 1; }
table.sortable th button { font: inherit; font-weight: 600; background: none; border: none; padding: 0;
                           cursor: pointer; color: inherit; }
table.sortable th button::after { content: " ↕"; color: #aaa; }
table.sortable th[aria-sort=ascending] button::after { content: " ▲"; color: #333; }
table.sortable th[aria-sort=descending] button::after { content: " ▼"; color: #333; }
table.sortable td:first-child { max-width: 22em; overflow-wrap: anywhere; }
td.regime.diminish { background: #fbe4dc; } td.regime.sustained { background: #e3f4e1; }
td.regime.plateau { background: #fdf3d8; }
ul.runs { font-size: 0.9em; }
tr.total th, tr.total td { font-weight: 600; border-top: 2px solid #bbb; }
.wide { max-width: 100%; overflow-x: auto; margin: 0.5em 0; }
.wide > table { margin: 0; }
@media (max-width: 900px) {
  body { padding: 0.5em 0.8em 3em; }
  th, td { padding: 3px 4px; }
}
"""


def _render(summary: Mapping[str, Any]) -> str:
    title = summary.get("title") or "evalkit report"
    raw_problems = summary.get("problems")
    problems: list[Mapping[str, Any]] = (
        [p for p in raw_problems if isinstance(p, Mapping)] if isinstance(raw_problems, Sequence) else []
    )
    sections = [
        _section_meta(summary),
        _section_verdict(summary.get("verdict")),
        _section_notes(summary.get("notes")),
        _section_headline(summary),
        _section_curves(summary),
        _section_delta(summary),
        _section_per_problem(problems),
        _section_buckets(summary),
        _section_problem_table(problems),
        _section_problems(problems, "rl_only"),
        _section_problems(problems, "base_only"),
        _section_evidence(summary.get("evidence")),
        _section_trajectory(summary.get("trajectory")),
        _section_training(summary.get("training"), summary.get("training_eval")),
        _section_gate(summary.get("gate")),
        _section_rates(summary.get("rates")),
        _section_timings(summary.get("timings")),
    ]
    present = re.findall(r'<section id="([a-z-]+)"><h2>([^<(]+)', "".join(sections))
    nav = " ".join(f'<a href="#{sid}">{label.strip()}</a>' for sid, label in present)
    body = "\n\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # No network for anything: a report opened years later, offline, must look the same.
        # The one inline script is allowed by its hash, so nothing else (even injected) could run.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        f"style-src 'unsafe-inline'; img-src data:; script-src {_script_hash(TABLE_SCRIPT)}\">\n"
        f"<title>{esc(title, 200)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title, 500)}</h1>\n"
        f'<div class="meta">created {esc(summary.get("created"), 100)} · evalkit '
        f"{esc(summary.get('evalkit_version'), 100)}</div>\n<nav>{nav}</nav></header>\n"
        f"{body}\n<script>{TABLE_SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_report(summary: dict[str, Any], out_html: Path) -> Path:
    """Write the HTML report and, beside it, the JSON summary it was rendered from.

    Args:
        summary: The comparison summary (schema in the module that produces it): runs, ks, overall and
            per-task pass@k and class counts, problems, rates, optional training log and gate result, notes.
        out_html: Where to write the page. The JSON goes to ``out_html.with_suffix(".json")``; parent
            directories are created.

    Returns:
        ``out_html``.

    Raises:
        EvalkitError: ``out_html`` ends in ``.json`` (the page would overwrite its own summary).
        TypeError: The summary holds a value JSON cannot represent.
    """
    out_html = Path(out_html)
    out_json = out_html.with_suffix(".json")
    if out_json == out_html:
        raise EvalkitError(f"report path {out_html} ends in .json; give an .html path")
    out_html.parent.mkdir(parents=True, exist_ok=True)

    # The JSON keeps every text in full; lone surrogates survive as \udcXX escapes (ensure_ascii).
    safe = _json_safe(summary)
    json_text = json.dumps(safe, indent=1, sort_keys=False, allow_nan=False) + "\n"
    page = _render(summary)

    _atomic_write(out_json, json_text.encode("utf-8"))
    # Strict encoding: anything unsanitised that slipped through fails here instead of writing bad UTF-8.
    _atomic_write(out_html, page.encode("utf-8"))
    return out_html
