"""Contexts and figures of the report's support section (``summary["support"]``: perplexity distributions,
support dynamics, entropy, winner-take-all) and checkpoint-turnover section (``summary["turnover"]``).

The numbers come from :mod:`evalkit.compare.support`, :mod:`evalkit.compare.support_evidence` and
:mod:`evalkit.compare.turnover`; here they are only formatted and drawn. Each ``*_context`` returns None when the
summary has nothing for its section; a malformed value shows as —.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.report.svg import draw, new_figure, no_data, style_axes
from evalkit.report.text import plot_label
from evalkit.report.values import DASH, as_map, fmt, int_text, interval, num, pval

PERPLEXITY_SOURCES = (
    ("base_under_base", "base on its own samples (sampler)"),
    ("base_under_base_raw", "base on its own samples (raw model)"),
    ("rl_under_rl", "RL on its own samples (sampler)"),
    ("rl_under_base", "base on RL's samples"),
    ("base_under_rl", "RL on the base's samples"),
)
RATE_KEYS = ("SRR", "NDR", "SDS", "NSCR")
COUNT_KEYS = ("P", "E", "S", "O")
MAX_POINTS = 2000  # winner-take-all points drawn (all are in the JSON)


def _perplexity_rows(ppl: Mapping[str, Any]) -> list[dict[str, Any]]:
    qs = [str(q) for q in ppl.get("quantiles") or []]
    out = []
    for key, label in PERPLEXITY_SOURCES:
        src = as_map(ppl.get(key))
        for pop in ("all", "correct"):
            dist = src.get(pop)
            if isinstance(dist, Mapping):
                quant = as_map(dist.get("quantiles"))
                cells = [fmt(quant.get(q), ".3g") if quant.get(q) is not None else "∞" for q in qs]
                out.append(
                    {
                        "source": label,
                        "population": pop,
                        "samples": int_text(dist.get("samples")),
                        "unreachable": int_text(dist.get("unreachable")),
                        "cells": cells,
                        "missing": None,
                    }
                )
            else:
                why = src.get("all_missing") if pop == "all" and src.get("all_missing") else src.get("missing")
                out.append(
                    {
                        "source": label,
                        "population": pop,
                        "samples": DASH,
                        "unreachable": DASH,
                        "cells": [DASH] * len(qs),
                        "missing": str(why) if why else None,
                    }
                )
    return out


def _dynamics_row(name: str, block: Mapping[str, Any], counts_fmt: str) -> dict[str, Any]:
    return {
        "name": name,
        "counts": [fmt(block.get(k), counts_fmt) for k in COUNT_KEYS],
        "rates": [fmt(block.get(k), "+.3f" if k == "NSCR" else ".3f") for k in RATE_KEYS],
        "epsilon": fmt(block.get("epsilon"), ".3g"),
    }


def _dynamics(dyn: Mapping[str, Any]) -> dict[str, Any] | None:
    overall = as_map(dyn.get("overall"))
    if not overall:
        return None
    at_n = as_map(overall.get("at_n"))
    rows = [_dynamics_row("overall", at_n, ".0f")]
    rows += [_dynamics_row(str(t), as_map(as_map(b).get("at_n")), ".0f") for t, b in as_map(dyn.get("tasks")).items()]
    at_k = as_map(overall.get("at_k"))
    return {
        "rows": rows,
        "at_k": [_dynamics_row(f"k = {k}", as_map(b), ".1f") for k, b in at_k.items()],
        "zeta": fmt(overall.get("zeta"), "g"),
        "epsilon_paper": fmt(at_n.get("epsilon_paper"), ".3g"),
        "n": f"{int_text(at_n.get('n_min'))}"
        + (f"–{int_text(at_n.get('n_max'))}" if at_n.get("n_max") != at_n.get("n_min") else ""),
    }


def _entropy(ent: Mapping[str, Any]) -> dict[str, Any] | None:
    if not ent:
        return None
    tok, ans = as_map(ent.get("token")), as_map(ent.get("answer"))
    ci = interval(ans.get("delta_ci"))
    return {
        "token": [fmt(as_map(tok.get(s)).get("nats_per_token"), ".3f") for s in ("base", "rl")],
        "token_missing": [as_map(tok.get(s)).get("missing") for s in ("base", "rl")],
        "answer": [fmt(ans.get("base"), ".3f"), fmt(ans.get("rl"), ".3f")],
        "delta": fmt(ans.get("delta"), "+.3f") + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""),
        "problems": int_text(ans.get("problems")),
        "samples": int_text(ans.get("samples_per_problem")),
    }


def perplexity_figure(ppl: Mapping[str, Any]) -> Any:
    """Per source (and population), the 5-95% range as a thin line, 25-75% as a thick one and the median as a
    dot, on a log axis: the perplexity distributions side by side (as arXiv 2504.13837, Fig. 6)."""
    qs = [str(q) for q in ppl.get("quantiles") or []]
    rows = []
    for key, label in PERPLEXITY_SOURCES:
        for pop in ("all", "correct"):
            dist = as_map(as_map(ppl.get(key)).get(pop))
            quant = [num(as_map(dist.get("quantiles")).get(q)) for q in qs]
            if dist and len(quant) == 5 and quant[2] is not None:
                rows.append((f"{label}, {pop}", quant))
    fig, (ax,) = new_figure(1, cols=1, width=6.4, height=0.32 * max(len(rows), 3) + 0.9)
    style_axes(ax, "per-token perplexity (5, 25, 50, 75, 95%)", "perplexity (log scale)", "")
    if not rows:
        no_data(ax)
        return fig
    top = max(v for _, quant in rows for v in quant if v is not None)
    for y, (_label, quant) in enumerate(rows):
        lo5, lo25, mid, hi75, hi95 = (top * 1.5 if v is None else v for v in quant)  # unreachable: off the right
        color = "#dd8452" if _label.startswith("RL") else "#4c72b0"  # the scoring model's colour
        ax.plot([lo5, hi95], [y, y], color=color, linewidth=1.0)
        ax.plot([lo25, hi75], [y, y], color=color, linewidth=4.0, solid_capstyle="butt")
        ax.plot([mid], [y], marker="o", color="black", markersize=3)
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    for axis in (ax.xaxis,):
        axis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
        axis.set_minor_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
    ax.tick_params(axis="x", which="minor", labelsize=6)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([plot_label(label, 48) for label, _ in rows], fontsize=6)
    ax.invert_yaxis()
    return fig


def wta_figure(points: Sequence[Mapping[str, Any]]) -> Any:
    """Per problem RL solved: the base's log-likelihood per token of RL's solutions (x) against RL's gain (y);
    unreachable solutions sit at the left edge, marked x."""
    fig, (ax,) = new_figure(1, cols=1, width=4.6, height=3.0)
    style_axes(
        ax, "winner-take-all", "base log-likelihood per token of RL's solutions (nats)", "RL gain in per-sample rate"
    )
    pts = [(num(p.get("x")), num(p.get("gain")), p.get("x")) for p in points if isinstance(p, Mapping)]
    finite = [(x, y) for x, y, _raw in pts if x is not None and y is not None]
    lost = [y for x, y, raw in pts if x is None and y is not None and raw is not None]
    if not finite and not lost:
        no_data(ax)
        return fig
    if finite:
        ax.scatter([x for x, _ in finite], [y for _, y in finite], s=10, color="#4c72b0", alpha=0.7, label="problem")
    if lost:
        left = min((x for x, _ in finite), default=0.0) - 0.5
        ax.scatter([left] * len(lost), lost, s=16, marker="x", color="#d62728", label="unreachable under base")
    ax.axhline(0.0, color="#8c8c8c", linewidth=0.8)
    ax.legend(fontsize=7, loc="best")
    return fig


def _has_distribution(ppl: Mapping[str, Any]) -> bool:
    return any(
        isinstance(as_map(ppl.get(key)).get(pop), Mapping)
        for key, _ in PERPLEXITY_SOURCES
        for pop in ("all", "correct")
    )


def support_context(support: Any) -> dict[str, Any] | None:
    """Perplexity quantiles, support dynamics at epsilon, entropy and the winner-take-all view."""
    support = as_map(support)
    if not support:
        return None
    ppl = as_map(support.get("perplexity"))
    wta = as_map(support.get("winner_take_all"))
    points = [p for p in wta.get("points") or [] if isinstance(p, Mapping)]
    rho = num(wta.get("spearman_rho"))
    return {
        "quantiles": [str(q) for q in ppl.get("quantiles") or []],
        "perplexity": _perplexity_rows(ppl) if ppl else [],
        "perplexity_plot": draw("perplexity", perplexity_figure, "perplexity", ppl) if _has_distribution(ppl) else None,
        "dynamics": _dynamics(as_map(support.get("dynamics"))),
        "entropy": _entropy(as_map(support.get("entropy"))),
        "wta": {
            "points": len(points),
            "rho": DASH if rho is None else f"{rho:+.2f}",
            "p": pval(wta.get("p_value")),
            "plot": draw("winner-take-all", wta_figure, "wta", points[:MAX_POINTS]),
        }
        if points
        else None,
        "wta_missing": wta.get("missing"),
        "notes": [str(n) for n in support.get("notes") or []],
    }


def turnover_figure(turnover: Mapping[str, Any]) -> Any:
    """Left: gains (up) and losses (down) per step with the chance reference (expected: dots; 1 - confidence
    upper quantile: dashes). Right: problems by the checkpoint at which they were first and last solved."""
    fig, (ax, ax2) = new_figure(2, cols=2, width=3.6, height=2.9)
    from matplotlib.ticker import MaxNLocator

    steps = [s for s in turnover.get("steps") or [] if isinstance(s, Mapping)]
    style_axes(ax, "gains and losses per step", "step", "problems")
    for axis in (ax.yaxis, ax2.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    if steps:
        xs = list(range(len(steps)))
        gains = [num(s.get("gains")) or 0.0 for s in steps]
        losses = [num(s.get("losses")) or 0.0 for s in steps]
        ax.bar(xs, gains, color="#2ca02c", label="gained")
        ax.bar(xs, [-v for v in losses], color="#d62728", label="lost")
        for sign in (1, -1):
            ax.scatter(
                xs,
                [sign * (num(s.get("expected")) or 0.0) for s in steps],
                color="black",
                s=12,
                zorder=3,
                label="chance: expected" if sign == 1 else None,
            )
            ax.scatter(
                xs,
                [sign * (num(s.get("upper")) or 0.0) for s in steps],
                color="black",
                marker="_",
                s=120,
                zorder=3,
                label="chance: upper" if sign == 1 else None,
            )
        ax.axhline(0.0, color="#8c8c8c", linewidth=0.8)
        ax.set_xticks(xs)
        ax.set_xticklabels([plot_label(f"{s.get('from')}→{s.get('to')}", 24) for s in steps], fontsize=6)
        ax.legend(fontsize=6, loc="best")
    else:
        no_data(ax)
    cps = [c for c in turnover.get("checkpoints") or [] if isinstance(c, Mapping)]
    probs = [p for p in turnover.get("problems") or [] if isinstance(p, Mapping)]
    style_axes(ax2, "first and last solved", "checkpoint", "problems")
    if cps and probs:
        idx = list(range(len(cps)))
        first = [sum(1 for p in probs if p.get("first_solved") == i) for i in idx]
        last = [sum(1 for p in probs if p.get("last_solved") == i) for i in idx]
        ax2.bar([i - 0.2 for i in idx], first, width=0.4, color="#4c72b0", label="first solved")
        ax2.bar([i + 0.2 for i in idx], last, width=0.4, color="#dd8452", label="last solved")
        ax2.set_xticks(idx)
        ax2.set_xticklabels([plot_label(_checkpoint_label(c), 24) for c in cps], fontsize=6)
        ax2.legend(fontsize=6, loc="best")
    else:
        no_data(ax2)
    return fig


def _checkpoint_label(c: Mapping[str, Any]) -> str:
    step = num(c.get("step"))
    return str(c.get("label")) + ("" if step is None else f" (step {int(step)})")


def turnover_context(turnover: Any) -> dict[str, Any] | None:
    """Gains and losses per consecutive checkpoints with their chance reference, and the counts."""
    turnover = as_map(turnover)
    steps = [s for s in turnover.get("steps") or [] if isinstance(s, Mapping)]
    if not steps:
        return None
    level = num(turnover.get("confidence"))
    return {
        "steps": [
            {
                "name": f"{s.get('from')} → {s.get('to')}",
                "cells": [
                    int_text(s.get("gains")),
                    int_text(s.get("losses")),
                    fmt(s.get("expected"), ".1f"),
                    int_text(s.get("upper")),
                    pval(s.get("p_gains")),
                    pval(s.get("p_losses")),
                    pval(s.get("p_sign")),
                ],
            }
            for s in steps
        ],
        "checkpoints": [
            (_checkpoint_label(as_map(c)), int_text(as_map(c).get("solved")), str(as_map(c).get("run")))
            for c in turnover.get("checkpoints") or []
        ],
        "counts": {
            k: int_text(turnover.get(k)) for k in ("n_problems", "ever_solved", "always_solved", "lost_by_final")
        },
        "level": DASH if level is None else f"{100 * (1 - level):.0f}%",
        "plot": draw("turnover", turnover_figure, "turnover", turnover),
    }
