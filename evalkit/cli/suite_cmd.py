"""``evalkit suite zero-baseline``: a task folder of the problems a base model never solved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from evalkit.cli.common import _Command, _Group, app

suite_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Build problem suites from runs.")
app.add_typer(suite_app, name="suite")


@suite_app.command("zero-baseline", cls=_Command)
def zero_baseline_cmd(
    base_run: Annotated[Path, typer.Argument(help="The base model's run directory.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the suite (a --tasks-dir folder).")],
    confidence: Annotated[float, typer.Option(help="Confidence of the family-wise bound on the base's rate.")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print the suite's description as JSON.")] = False,
) -> None:
    """Write the problems the base never solved in its n samples as a task folder (sample any model on it with
    --tasks-dir OUT; compare on it reports the expansion rate at each k)."""
    from evalkit.compare.results import load_run
    from evalkit.compare.zero_baseline import build_suite
    from evalkit.errors import EvalkitError

    if not 0.0 < confidence < 1.0:
        raise EvalkitError(f"--confidence must be between 0 and 1 (got {confidence})")
    if out.exists() and not out.is_dir():
        raise EvalkitError(f"--out {out}: exists and is not a folder")
    description = build_suite(load_run(base_run), out, confidence)
    if as_json:
        typer.echo(json.dumps(description, indent=1))
        return
    typer.echo(
        f"{description['problems']} of {description['of']} problems never solved by the base in {description['n']} "
        f"samples; its per-sample rate is below {description['rate_below']:.3g} on all of them "
        f"({100 * confidence:.0f}% family-wise, {description['family']})"
    )
    typer.echo(f"suite: {out} (tasks {', '.join(description['tasks'])}); sample with --tasks-dir {out}")
