"""The report's figures, drawn from the summary with matplotlib (see :mod:`evalkit.report.svg` for the SVG).

Each ``*_figure`` function takes plain summary parts and returns a matplotlib Figure; malformed or NaN
points are skipped, an empty panel says "no data". The only arithmetic is c/n per problem and a trailing
moving average of the training reward, for display.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.report.svg import (
    STYLE,
    ci_curve,
    log2_axis,
    marker_size,
    new_figure,
    no_data,
    panel_width,
    spread_flat,
    step_axis,
    style_axes,
)
from evalkit.report.text import plot_label
from evalkit.report.values import CLASS_LABEL, MODEL_LABEL, MODELS, as_map, curve, interval, num

CLASS_COLOR = {"both": "#8c8c8c", "rl_only": "#2ca02c", "base_only": "#d62728", "neither": "#c7c7c7"}


def passk_figure(panels: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """pass@k vs k (log2) per panel, each model with its interval band (``pass_at_k_ci``) when given."""
    fig, axes = new_figure(len(panels), cols=3, width=panel_width(panels), height=2.7)
    for ax, (name, ts) in zip(axes, panels, strict=True):
        pak, cis = as_map(ts.get("pass_at_k")), as_map(ts.get("pass_at_k_ci"))
        all_ks: set[int] = set()
        for m in MODELS:
            pts = curve(pak.get(m))
            if pts:
                all_ks.update(pts)
                ax.plot(list(pts), list(pts.values()), label=MODEL_LABEL[m], markersize=marker_size(len(pts)),
                        **STYLE[m])  # fmt: skip
            xs, lo, hi = ci_curve(cis.get(m), sorted(pts))
            if len(xs) >= 2:
                ax.fill_between(xs, lo, hi, color=STYLE[m]["color"], alpha=0.18, linewidth=0)
            all_ks.update(_forecast_curve(ax, m, pts, ts))
        style_axes(ax, plot_label(name), "k", "pass@k")
        ax.set_ylim(-0.02, 1.02)
        if not all_ks:
            no_data(ax)
            continue
        log2_axis(ax, sorted(all_ks))
        ax.legend(fontsize=7, loc="lower right")
    return fig


def _forecast_curve(ax: Any, model: str, observed: Mapping[int, float], ts: Mapping[str, Any]) -> list[int]:
    """Draw ``model``'s forecast beyond n (dotted, from the last observed point, with its band); its k values."""
    ahead = curve(as_map(ts.get("forecast")).get(model))
    if not ahead:
        return []
    last = max(observed) if observed else None
    ks = ([last] if last is not None else []) + sorted(ahead)
    ys = ([observed[last]] if last is not None else []) + [ahead[k] for k in sorted(ahead)]
    ax.plot(ks, ys, color=STYLE[model]["color"], linestyle=":", linewidth=1.4, label=f"{MODEL_LABEL[model]} forecast")
    xs, lo, hi = ci_curve(as_map(ts.get("forecast_ci")).get(model), sorted(ahead))
    if len(xs) >= 2:
        ax.fill_between(xs, lo, hi, color=STYLE[model]["color"], alpha=0.08, linewidth=0, hatch="..")
    return sorted(ahead)


def delta_figure(panels: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """Δ pass@k = RL - base vs k (log2) per panel, with the paired interval band."""
    fig, axes = new_figure(len(panels), cols=3, width=panel_width(panels), height=2.4)
    for ax, (name, ts) in zip(axes, panels, strict=True):
        delta = as_map(ts.get("delta"))
        pts: dict[int, float] = {}
        band: dict[int, tuple[float, float]] = {}
        for key, entry in delta.items():
            try:
                k = int(key)
            except (TypeError, ValueError):
                continue
            d = num(as_map(entry).get("delta"))
            if d is None or k < 1:
                continue
            pts[k] = 100 * d
            ci = interval(as_map(entry).get("ci"))
            if ci is not None:
                band[k] = (100 * ci[0], 100 * ci[1])
        style_axes(ax, plot_label(name), "k", "Δ pass@k (pp)")
        ax.axhline(0.0, color="#444", linewidth=0.8)
        if not pts:
            no_data(ax)
            continue
        ks = sorted(pts)
        ax.plot(ks, [pts[k] for k in ks], color="#8172b3", marker="o", markersize=marker_size(len(ks)), linewidth=1.3,
                label="RL − base")  # fmt: skip
        bk = [k for k in ks if k in band]
        if len(bk) >= 2:
            lo, hi = [band[k][0] for k in bk], [band[k][1] for k in bk]
            ax.fill_between(bk, lo, hi, color="#8172b3", alpha=0.2, linewidth=0, label="interval")
        # Δ exactly 0 everywhere (identical runs) with no band drawn: ±1 pp, not matplotlib's ±0.055 pp
        drawn = [0.0, *pts.values(), *(v for k in bk for v in band[k])] if len(bk) >= 2 else [0.0, *pts.values()]
        spread_flat(ax, "y", drawn, pad=1.0)
        log2_axis(ax, ks)
        ax.legend(fontsize=7, loc="best")
    return fig


#: Histogram classes of per-problem success rates: exactly 0, ten deciles of (0, 1), exactly 1.
RATE_BINS = ["0", *(f"{10 * i}–{10 * i + 10}" for i in range(10)), "100"]


def rate_bin(rate: float) -> int:
    if rate <= 0.0:
        return 0
    if rate >= 1.0:
        return len(RATE_BINS) - 1
    return 1 + min(9, int(rate * 10))


def rates_of(problems: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    """(base rate, RL rate, class) per problem with valid counts: c/n of the samples the runs share."""
    out = []
    for p in problems:
        n, cb, cr = num(p.get("n")), num(p.get("c_base")), num(p.get("c_rl"))
        if n is None or cb is None or cr is None or n <= 0:
            continue
        cls = p.get("class")
        if cls not in CLASS_LABEL:  # a malformed class: colour the point by its counts instead
            cls = ("both" if cr else "base_only") if cb else ("rl_only" if cr else "neither")
        out.append((min(max(cb / n, 0.0), 1.0), min(max(cr / n, 0.0), 1.0), cls))
    return out


def per_problem_figure(rates: list[tuple[float, float, str]]) -> Any:
    """Scatter of per-problem base vs RL success rate (coloured by class) and histograms of both."""
    from collections import Counter

    from matplotlib.ticker import MaxNLocator

    fig, (ax, hx) = new_figure(2, cols=2, width=4.6, height=3.6)
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
    style_axes(ax, "per-problem success rate c/n", "base", "RL")
    ax.legend(fontsize=7, loc="lower right", markerscale=1.0)

    width = 0.4
    for j, m in enumerate(MODELS):
        counts = [0] * len(RATE_BINS)
        for b, r, _ in rates:
            counts[rate_bin(b if m == "base" else r)] += 1
        xs = [i + (j - 0.5) * width for i in range(len(RATE_BINS))]
        hx.bar(xs, counts, width=width, color=STYLE[m]["color"], alpha=0.85, label=MODEL_LABEL[m])
    hx.set_xticks(range(len(RATE_BINS)))
    hx.set_xticklabels(RATE_BINS, rotation=45, ha="right")
    style_axes(hx, "problems by success rate", "c/n (%): exactly 0, deciles, exactly 100", "problems")
    hx.grid(True, axis="y", alpha=0.3)
    hx.grid(False, axis="x")
    hx.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of problems: no 2.5 ticks
    hx.legend(fontsize=7, loc="upper center")
    return fig


def trajectory_figure(panels: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """pass@1 and pass@n vs checkpoint (base first) per task, with the interval half-widths as error bars."""
    fig, axes = new_figure(len(panels), cols=3, width=panel_width(panels), height=2.7)
    for ax, (name, row) in zip(axes, panels, strict=True):
        cps = [c for c in row.get("checkpoints") or [] if isinstance(c, Mapping)]
        n = num(row.get("n"))
        regime = row.get("regime")
        style_axes(ax, plot_label(f"{name}: {regime}" if regime else name, 60), "checkpoint", "pass@k")
        ax.set_ylim(-0.02, 1.02)
        if not cps:
            no_data(ax)
            continue
        xs = list(range(len(cps)))
        keys = [("1", "#4c72b0", "o")]
        if n is not None and int(n) != 1:
            keys.append((str(int(n)), "#dd8452", "s"))
        for k, color, marker in keys:
            ys = [num(c.get(f"pass@{k}")) for c in cps]
            hw = [num(c.get(f"halfwidth@{k}")) or 0.0 for c in cps]
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


def series(rows: Sequence[Any], key: str, x_key: str = "step") -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        x, y = num(row.get(x_key)), num(row.get(key))
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


def eval_keys(evals: Sequence[Any]) -> list[str]:
    """``pass@N`` keys of the held-out eval rows, in k order."""
    keys: set[str] = set()
    for row in evals:
        if isinstance(row, Mapping):
            keys.update(k for k in row if isinstance(k, str) and re.fullmatch(r"pass@\d+", k))
    return sorted(keys, key=lambda k: int(k[5:]))


#: Panel titles for the GRPO log's columns (the trainer's k3 KL estimate is per token).
TRAINING_TITLE = {"reward_mean": "reward (mean over the step's batch)", "kl": "KL to the reference (per token)"}


def reward_window(n_points: int) -> int:
    """Width of the reward's trailing moving average: 1 (none drawn) for fewer than 40 points."""
    return max(1, min(50, n_points // 20))


def training_figure(training: Sequence[Any], evals: Sequence[Any]) -> Any:
    """GRPO reward (with its trailing mean) and KL per step, and the held-out pass@k evaluations."""
    panels: list[str] = []
    if training:
        panels.append("reward_mean")
        if series(training, "kl")[0]:
            panels.append("kl")
    if evals:
        panels.append("eval")
    fig, axes = new_figure(len(panels), cols=2, width=4.6, height=2.8)
    for ax, key in zip(axes, panels, strict=True):
        if key == "eval":
            style_axes(ax, "held-out eval", "step", "pass@k")
            ax.set_ylim(-0.02, 1.02)
            keys = eval_keys(evals)
            steps: list[float] = []
            for i, k in enumerate(keys):
                xs, ys = series(evals, k)
                if xs:
                    steps += xs
                    ax.plot(xs, ys, marker="os^v"[i % 4], markersize=marker_size(len(xs)), linewidth=1.2, label=k)
            step_axis(ax, steps)
            if keys:
                ax.legend(fontsize=7, loc="best")
            else:
                no_data(ax, "no pass@k columns")
            continue
        xs, ys = series(training, key)
        style_axes(ax, TRAINING_TITLE.get(key, key), "step", "")
        if not xs:
            no_data(ax, "no finite points")
            continue
        marker = {"marker": "o", "markersize": marker_size(1)} if len(xs) == 1 else {}
        if key == "reward_mean":
            # the per-step reward is noisy (one batch of prompts); the trailing mean shows the trend
            window = reward_window(len(ys))
            # faint only when the moving average is drawn over it; a short log is the only line
            faint = {"linewidth": 0.8, "alpha": 0.35} if window > 1 else {"linewidth": 1.2}
            ax.plot(xs, ys, color="#55a868", label="per step", **faint, **marker)
            if window > 1:
                ax.plot(xs, moving_average(ys, window), color="#1b5e20", linewidth=1.6,
                        label=f"moving average ({window} steps)")  # fmt: skip
            ax.legend(fontsize=7, loc="best")
        else:
            ax.plot(xs, ys, color="#c44e52", linewidth=1.2, **marker)
        step_axis(ax, xs)
        spread_flat(ax, "y", ys, pad=max(0.01, 0.1 * abs(ys[0])), floor=0.0 if key == "kl" else None)
    return fig


def _tau_label(tau: float, lo: float) -> str:
    """A tau tick: the grid's first tau as "1/m" (e.g. 1/1024), the others as plain numbers."""
    return f"1/{round(1 / tau):d}" if tau == lo and tau < 0.5 else f"{tau:g}"


def cover_figure(panels: list[tuple[str, Mapping[str, Any]]]) -> Any:
    """Cover@tau vs tau (log10 axis from 1/m to 1) per panel, base and RL (``cover_at_tau`` of an evidence scope).

    The points are the grid's values joined by straight lines; between two grid values the true curve lies
    between its neighbours (it only falls as tau grows).

    Args:
        panels: (name, evidence scope) pairs; each scope's ``cover_at_tau`` holds parallel lists ``tau``,
            ``base`` and ``rl`` (fractions of problems).
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig, axes = new_figure(len(panels), cols=3, width=panel_width(panels), height=2.7)
    for ax, (name, scope) in zip(axes, panels, strict=True):
        cover = as_map(scope.get("cover_at_tau"))
        style_axes(ax, plot_label(name), "tau (per-problem success rate at least)", "Cover@tau")
        ax.set_ylim(-0.02, 1.02)
        taus = [num(t) for t in cover.get("tau") or []]
        drawn: list[float] = []
        for m in MODELS:
            values = cover.get(m) or []
            pts = [(t, v) for t, v in zip(taus, map(num, values), strict=False) if t and t > 0 and v is not None]
            if pts:
                drawn += [t for t, _ in pts]
                ax.plot([t for t, _ in pts], [v for _, v in pts], label=MODEL_LABEL[m],
                        markersize=marker_size(len(pts)), **STYLE[m])  # fmt: skip
        if not drawn:
            no_data(ax)
            continue
        lo = min(drawn)
        ax.set_xscale("log")
        ticks = [t for t in (lo, 0.01, 0.1, 0.5, 1.0) if t >= lo and (t == lo or t > 1.5 * lo)]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos, lo=lo: _tau_label(x, lo)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlim(lo / 1.3, 1.3)
        ax.legend(fontsize=7, loc="lower left")
    return fig
