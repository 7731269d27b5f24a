"""``evalkit forecast``: pass@k beyond the samples drawn, with intervals and a goodness-of-fit check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli.common import ProblemOpt, _Command, app, load_runs


@app.command("forecast", cls=_Command)
def forecast_cmd(
    runs: Annotated[list[Path], typer.Argument(help="A run directory; with two (BASE RL), also the crossover k.")],
    k: Annotated[
        list[int] | None, typer.Option("--k", help="k to forecast (repeatable; default: powers of two to 16 n).")
    ] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Only this task (repeatable; default: every task).")
    ] = None,
    allow_poor_fit: Annotated[
        bool, typer.Option("--allow-poor-fit", help="Forecast also where the backtest finds the fit poor (marked).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
    problem: ProblemOpt = [],  # noqa: B006
) -> None:
    """Forecast pass@k for k beyond n from the run's per-problem counts (zero-inflated beta-binomial fit,
    checked by a backtest; 95% intervals). Rows with k <= n are the observed estimate."""
    from evalkit.compare.forecast import crossover, forecast_run
    from evalkit.errors import EvalkitError

    if len(runs) not in (1, 2):
        raise EvalkitError(f"forecast takes one run, or two (BASE RL) for the crossover; got {len(runs)}")
    loaded = load_runs(runs, task, problem, adaptive_ok=True)  # --task, --problem as everywhere; --adaptive too
    all_rows = [forecast_run(r, k, None, allow_poor_fit=allow_poor_fit) for r in loaded]
    cross = crossover(*all_rows) if len(all_rows) == 2 else None
    if as_json:
        if cross is None:
            typer.echo(json.dumps(all_rows[0], indent=1))
        else:
            typer.echo(json.dumps({"base": all_rows[0], "rl": all_rows[1], "crossover": cross}, indent=1))
        _warn_refused(all_rows)
        return
    for run, rows in zip(runs, all_rows, strict=True):
        typer.echo(f"{run}")
        for row in rows:
            if row["estimate"] is None:
                continue
            mark = "" if row["method"] == "observed" else ("  forecast" if row["fit_ok"] else "  forecast (poor fit)")
            typer.echo(
                f"  {row['task']:24s} n={row['n']:<5d} k={row['k']:<6d} {row['estimate']:.3f} "
                f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]{mark}"
            )
    if any(row["method"] != "observed" and row["estimate"] is not None for rows in all_rows for row in rows):
        typer.echo(
            "  (intervals up to n: over problems like these; forecasts: over these problems, whose unseen samples "
            "they forecast)"
        )
    if cross:
        for scope, c in cross.items():
            typer.echo(f"crossover  {scope}: {c['text']}")
    _warn_refused(all_rows)


def _warn_refused(all_rows: list[list[dict[str, Any]]]) -> None:
    seen = set()
    for rows in all_rows:
        for row in rows:
            if row.get("refused") and row["task"] not in seen:
                seen.add(row["task"])
                typer.echo(f"warning: {row['task']}: no forecast beyond n ({row['refused']})", err=True)
