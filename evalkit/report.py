"""Render a comparison summary as one self-contained HTML file, with the JSON summary beside it.

The report reads only the summary dict (what the run store holds, already reduced by the comparison step),
never live objects, so it can be rebuilt from ``report.json`` years later.

What the page guarantees:

- It is one file: no network, no external CSS, JS or fonts. Plots are inline SVG drawn by matplotlib with
  text as paths, deterministic ids (``svg.hashsalt``) and no XML header, DOCTYPE, metadata or ``<style>``.
- Every string that comes from the summary (prompts, completions, model and task names, config values) is
  sanitised and then escaped with ``html.escape(quote=True)``. Sanitising makes it valid UTF-8 and safe to
  look at: lone surrogates become U+FFFD, NUL bytes are dropped, other control characters are shown as
  visible symbols (U+2400 "control pictures" or ``<U+XXXX>``), bidi overrides are shown rather than obeyed,
  and displayed completions are cut to about 2,000 characters with a marker saying how much was cut.
- The page emits no ``<script>``; the JSON beside it keeps the full, untruncated texts.

What it does not do: it computes no statistics (it shows what the summary says) and it does not check
that the summary is consistent (e.g. that class counts match the problem list).
"""

from __future__ import annotations

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

MODELS = ("base", "rl")
MODEL_LABEL = {"base": "base", "rl": "RL"}
CLASS_LABEL = {"both": "both", "rl_only": "RL-only", "base_only": "base-only", "neither": "neither"}
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


def _passk_svg(panels: list[tuple[str, Mapping[str, Any]]]) -> str:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig, axes = _new_figure(len(panels), cols=3, width=3.4, height=2.7)
    for ax, (name, pak) in zip(axes, panels, strict=True):
        all_ks: set[int] = set()
        for m in MODELS:
            curve = _curve(pak.get(m) if isinstance(pak, Mapping) else None)
            if curve:
                all_ks.update(curve)
                ax.plot(list(curve), list(curve.values()), label=MODEL_LABEL[m], markersize=3, **_STYLE[m])
        ax.set_title(_plot_label(name), fontsize=9, parse_math=False)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("pass@k", fontsize=8)
        ax.set_xlabel("k", fontsize=8)
        ax.tick_params(labelsize=7)
        if not all_ks:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(_log2_ticks(sorted(all_ks))))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.legend(fontsize=7, loc="lower right")
    return _figure_to_svg(fig, "passk")


def _training_svg(training: Sequence[Mapping[str, Any]]) -> str:
    series: dict[str, tuple[list[float], list[float]]] = {}
    for key in ("reward_mean", "kl"):
        xs: list[float] = []
        ys: list[float] = []
        for row in training:
            if not isinstance(row, Mapping):
                continue
            x, y = _num(row.get("step")), _num(row.get(key))
            if x is not None and y is not None:
                xs.append(x)
                ys.append(y)
        if xs or key == "reward_mean":
            series[key] = (xs, ys)
    fig, axes = _new_figure(len(series), cols=2, width=4.6, height=2.8)
    for ax, (key, (xs, ys)) in zip(axes, series.items(), strict=True):
        if xs:
            ax.plot(xs, ys, color="#55a868" if key == "reward_mean" else "#c44e52", linewidth=1.2)
        else:
            ax.text(0.5, 0.5, "no finite points", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(key, fontsize=9, parse_math=False)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    return _figure_to_svg(fig, "training")


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
        ("model", "model", False),
        ("checkpoint dir", "dir", False),
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
        '<table class="meta"><thead><tr><th></th><th>base</th><th>RL</th></tr></thead><tbody>\n'
        f"{_kv_rows(rows)}\n</tbody></table>{warn}</section>"
    )


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
    base, rl = pak.get("base"), pak.get("rl")
    kmax = _k_max(pak)
    classes = _map(ts.get("classes"))
    cells = [
        f"<th>{esc(name, 200)}</th>",
        _int_cell(ts.get("n_problems")),
        _int_cell(ts.get("n")),
        f'<td class="num">{_pct(_get_k(base, 1))}</td>',
        f'<td class="num">{_pct(_get_k(rl, 1))}</td>',
        _delta(_get_k(base, 1), _get_k(rl, 1)),
        _int_cell(kmax),
    ]
    if kmax is None:
        cells += ['<td class="num">—</td>'] * 3
    else:
        bk, rk = _get_k(base, kmax), _get_k(rl, kmax)
        cells += [f'<td class="num">{_pct(bk)}</td>', f'<td class="num">{_pct(rk)}</td>', _delta(bk, rk)]
    for cls in CLASS_LABEL:
        count = classes.get(cls)
        hl = cls.replace("_", "-") if cls in ("rl_only", "base_only") and (_num(count) or 0) > 0 else ""
        cells.append(_int_cell(count, hl))
    tr = '<tr class="overall">' if is_overall else "<tr>"
    return f"{tr}{''.join(cells)}</tr>"


def _section_headline(summary: Mapping[str, Any]) -> str:
    items = _task_items(summary)
    if not items:
        return '<section id="headline"><h2>Headline</h2><p class="muted">No task summaries.</p></section>'
    rows = "\n".join(_headline_row(*it) for it in items)
    return (
        '<section id="headline"><h2>Headline</h2>\n'
        '<table class="grid"><thead><tr>'
        '<th rowspan="2">task</th><th rowspan="2">problems</th><th rowspan="2">n</th>'
        '<th colspan="3">pass@1</th><th rowspan="2">k<sub>max</sub></th>'
        '<th colspan="3">pass@k<sub>max</sub></th>'
        '<th colspan="4">problems solved by</th></tr>\n<tr>'
        "<th>base</th><th>RL</th><th>Δ</th><th>base</th><th>RL</th><th>Δ</th>"
        '<th>both</th><th class="rl-only">RL-only</th><th class="base-only">base-only</th><th>neither</th>'
        f"</tr></thead><tbody>\n{rows}\n</tbody></table>\n"
        '<p class="muted">RL-only: solved at least once by the RL model in its n samples and never by the '
        "base model (expansion). Base-only: the reverse (shrinkage). Δ is RL minus base, in percentage "
        "points. Not solved in n samples is not impossible: 0 of n bounds the per-sample success rate "
        "below about 3/n with 95% confidence.</p></section>"
    )


def _section_curves(summary: Mapping[str, Any]) -> str:
    items = _task_items(summary)
    panels: list[tuple[str, Mapping[str, Any]]] = []
    n_tasks = 0
    for name, ts, is_overall in items:
        if not is_overall:
            n_tasks += 1
            if n_tasks > MAX_TASK_PLOTS:
                continue
        pak = ts.get("pass_at_k")
        panels.append((name, pak if isinstance(pak, Mapping) else {}))
    if not panels:
        return ""
    more = (
        f'<p class="muted">{n_tasks - MAX_TASK_PLOTS} more tasks not plotted; their numbers are in the '
        "headline table and the JSON summary.</p>"
        if n_tasks > MAX_TASK_PLOTS
        else ""
    )
    return (
        '<section id="curves"><h2>pass@k curves</h2>\n'
        '<p class="muted">k on a log<sub>2</sub> axis; missing or NaN points are skipped.</p>\n'
        f"{_safe_plot('pass@k', _passk_svg, panels)}{more}</section>"
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
        '<section id="buckets"><h2>By bucket</h2>\n<table class="grid"><thead><tr>'
        '<th rowspan="2">task</th><th rowspan="2">bucket</th><th rowspan="2">problems</th>'
        '<th colspan="3">pass@1</th><th rowspan="2">k<sub>max</sub></th>'
        '<th colspan="3">pass@k<sub>max</sub></th>'
        "</tr><tr><th>base</th><th>RL</th><th>Δ</th><th>base</th><th>RL</th><th>Δ</th></tr></thead><tbody>\n"
        f"{body}\n</tbody></table></section>"
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
        '<table class="grid problems"><thead><tr><th>problem</th><th>task</th><th>bucket</th><th>prompt</th>'
        "<th>reference</th><th>base c/n</th><th>RL c/n</th>"
        f"<th>a correct {MODEL_LABEL[solver]} completion</th></tr></thead>"
        f"<tbody>\n{rows_html}\n</tbody></table>"
        f"{more}</section>"
    )


def _section_training(training: Any, evals: Any = None) -> str:
    if not isinstance(training, Sequence) or isinstance(training, str) or not training:
        return ""
    table = ""
    if isinstance(evals, Sequence) and not isinstance(evals, str) and evals:
        keys = [k for k in evals[0] if isinstance(k, str) and k.startswith("pass@")]
        head = "".join(f"<th>{esc(k)}</th>" for k in keys)
        body = "".join(
            "<tr><td>"
            + esc(row.get("step"))
            + "</td>"
            + "".join(f"<td>{_pct(row.get(k))}</td>" for k in keys)
            + "</tr>"
            for row in evals
            if isinstance(row, Mapping)
        )
        table = (
            '<p class="muted">Held-out validation during training (problems apart from the compared ones).</p>'
            f"<table><thead><tr><th>step</th>{head}</tr></thead><tbody>{body}</tbody></table>\n"
        )
    return (
        '<section id="training"><h2>Training</h2>\n'
        f'<p class="muted">GRPO log, {len(training):,} rows.</p>\n'
        f"{_safe_plot('training', _training_svg, training)}{table}</section>"
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
table.inner { margin: 0; }
table.inner td { border: none; padding: 0 6px 0 0; }
table.meta td { max-width: 40em; }
table.problems { width: 100%; table-layout: fixed; }
table.problems th:nth-child(1) { width: 9%; } table.problems th:nth-child(2) { width: 7%; }
table.problems th:nth-child(3) { width: 6%; } table.problems th:nth-child(4) { width: 24%; }
table.problems th:nth-child(5) { width: 10%; } table.problems th:nth-child(6),
table.problems th:nth-child(7) { width: 6%; } table.problems th:nth-child(8) { width: 32%; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; max-height: 22em;
        overflow: auto; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.cut { display: block; color: #a60; font-style: italic; }
.rl-only { background: #e3f4e1; } .base-only { background: #fbe4dc; }
thead th.rl-only { background: #cfeccb; } thead th.base-only { background: #f6cfc2; }
.pos { color: #1a7f37; } .neg { color: #c0392b; } .hot { color: #c0392b; font-weight: 600; }
.muted { color: #777; } .warn, .error { color: #a40; font-weight: 600; }
ul.notes li { margin: 0.3em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.gate { border: 2px solid; border-radius: 4px; padding: 0.5em 1em; display: inline-block; }
.gate.pass { border-color: #1a7f37; background: #eef8ee; }
.gate.fail { border-color: #c0392b; background: #fdeeee; }
.gate ul { margin: 0.3em 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.plot svg { max-width: 100%; height: auto; }
.plot svg * { stroke-linejoin: round; stroke-linecap: butt; }
header .meta { color: #555; }
"""


def _render(summary: Mapping[str, Any]) -> str:
    title = summary.get("title") or "evalkit report"
    raw_problems = summary.get("problems")
    problems: list[Mapping[str, Any]] = (
        [p for p in raw_problems if isinstance(p, Mapping)] if isinstance(raw_problems, Sequence) else []
    )
    sections = [
        _section_meta(summary),
        _section_notes(summary.get("notes")),
        _section_headline(summary),
        _section_curves(summary),
        _section_buckets(summary),
        _section_problems(problems, "rl_only"),
        _section_problems(problems, "base_only"),
        _section_training(summary.get("training"), summary.get("training_eval")),
        _section_gate(summary.get("gate")),
        _section_rates(summary.get("rates")),
    ]
    present = re.findall(r'<section id="([a-z-]+)"><h2>([^<(]+)', "".join(sections))
    nav = " ".join(f'<a href="#{sid}">{label.strip()}</a>' for sid, label in present)
    body = "\n\n".join(s for s in sections if s)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # No network for anything: a report opened years later, offline, must look the same.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{esc(title, 200)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title, 500)}</h1>\n"
        f'<div class="meta">created {esc(summary.get("created"), 100)} · evalkit '
        f"{esc(summary.get('evalkit_version'), 100)}</div>\n<nav>{nav}</nav></header>\n"
        f"{body}\n</body>\n</html>\n"
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
