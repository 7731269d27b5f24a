"""matplotlib figures as SVG fragments that are safe to inline, and the axes helpers the report's plots share.

Every figure is a bare :class:`matplotlib.figure.Figure` (no pyplot registry, no GUI backend), saved with
text as paths, deterministic ids (``svg.hashsalt``) and no XML header, DOCTYPE, metadata or ``<style>``, so
the same summary always gives the same bytes and the page needs no fonts.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from evalkit.report.values import get_k, interval

log = logging.getLogger(__name__)

STYLE: dict[str, dict[str, Any]] = {
    "base": {"color": "#4c72b0", "linestyle": "--", "marker": "o"},
    "rl": {"color": "#dd8452", "linestyle": "-", "marker": "s"},
}

_SVG_HEAD_RE = re.compile(r"\A.*?(?=<svg\b)", re.S)
_SVG_STRIP_RE = re.compile(r"<metadata\b.*?</metadata>|<style\b.*?</style>|<!--.*?-->", re.S)
_SVG_FORBIDDEN_RE = re.compile(r"<\s*/?\s*(script|foreignobject|iframe|object|embed)\b|javascript:", re.I)
_SVG_ID_RE = re.compile(r'\bid="([^"]+)"')
_SVG_REF_RE = re.compile(r'(url\(#|href="#)([^")]+)')


def figure_to_svg(fig: Any, prefix: str) -> str:
    """Serialise a matplotlib Figure to an SVG fragment that is safe to inline in HTML.

    Ids get ``prefix`` because several inline SVGs share one id namespace; without it clip paths and
    glyph references of one figure could resolve to another's.

    Raises:
        ValueError: the SVG holds a script, foreignObject or similar (matplotlib never writes them).
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


@dataclass(frozen=True)
class Plot:
    """A drawn figure for the ``plot`` macro: the SVG (evalkit's own output, hence Markup) or the error."""

    what: str
    svg: Markup | None
    error: str | None


def draw(what: str, figure: Callable[..., Any], prefix: str, *args: Any) -> Plot:
    """Draw ``figure(*args)`` as inline SVG; on failure keep the rest of the report and carry the error.

    Args:
        what: The plot's name for the error line ("pass@k").
        figure: Returns a matplotlib Figure.
        prefix: Id prefix of this figure's SVG elements (unique on the page).
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Gg]lyph.*missing.*")
            warnings.filterwarnings("ignore", message=".*missing from font.*")
            # matplotlib's SVG with escaped text and no script (checked above): safe to inline as it is
            return Plot(what, Markup(figure_to_svg(figure(*args), prefix)), None)
    except Exception as exc:  # a broken plot must not cost the user the tables
        log.exception("could not draw the %s plot", what)
        return Plot(what, None, repr(exc))


def new_figure(n_panels: int, cols: int, width: float, height: float) -> tuple[Any, list[Any]]:
    """A bare Figure with ``n_panels`` axes in rows of ``cols``, each ``width`` x ``height`` inches."""
    from matplotlib.figure import Figure

    cols = max(1, min(cols, n_panels))
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n_panels)]
    return fig, axes


def panel_width(panels: Sequence[Any]) -> float:
    """Inches per panel: three fit across the page; a lone panel is drawn as wide as the training plots."""
    return 3.4 if len(panels) > 1 else 4.6


def log2_ticks(ks: Sequence[int]) -> list[int]:
    """At most ~7 power-of-two ticks spanning ``ks``."""
    if not ks:
        return []
    lo, hi = math.floor(math.log2(min(ks))), math.ceil(math.log2(max(ks)))
    step = max(1, math.ceil((hi - lo + 1) / 7))
    return [2**e for e in range(lo, hi + 1, step)]


def ci_curve(ci_map: Any, ks: Iterable[int]) -> tuple[list[int], list[float], list[float]]:
    """The k values of ``ks`` that have a finite interval in ``ci_map`` ({k: [lo, hi]}), with lo and hi."""
    xs: list[int] = []
    lo: list[float] = []
    hi: list[float] = []
    for k in ks:
        ci = interval(get_k(ci_map, k))
        if ci is not None:
            xs.append(k)
            lo.append(ci[0])
            hi.append(ci[1])
    return xs, lo, hi


def log2_axis(ax: Any, ks: Sequence[int]) -> None:
    """A log2 x axis with power-of-two ticks labelled as plain numbers."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(log2_ticks(sorted(ks))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def style_axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    """Title and labels (mathtext off: '$' is literal), light grid, small ticks."""
    ax.set_title(title, fontsize=9, parse_math=False)
    ax.set_xlabel(xlabel, fontsize=8, parse_math=False)
    ax.set_ylabel(ylabel, fontsize=8, parse_math=False)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=7)


def no_data(ax: Any, text: str = "no data") -> None:
    """Say so in the middle of an empty panel."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, parse_math=False)


def spread_flat(
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


def step_axis(ax: Any, steps: Iterable[float]) -> None:
    """Integer ticks for training steps; one step alone sits in the middle of [step - 1, step + 1]."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    spread_flat(ax, "x", steps, pad=1.0, tick=True)


def marker_size(n_points: int) -> float:
    """Markers grow when a series has a single point, which has no line to show it."""
    return 6.0 if n_points == 1 else 3.0
