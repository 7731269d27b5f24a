"""``evalkit tasks`` and ``evalkit problems``: what can be sampled, and the problems a spec makes."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from evalkit.cli.common import TasksDirOpt, _Command, _use_tasks_dir, app
from evalkit.errors import EvalkitError


@app.command("tasks", cls=_Command)
def tasks_cmd(tasks_dir: TasksDirOpt = None) -> None:
    """List the registered tasks and their parameters."""
    import dataclasses

    from evalkit.tasks.registry import get_family, prefix_names, prefix_task_names, task_names

    _use_tasks_dir(tasks_dir)
    for name in task_names():
        try:
            fam = get_family(name)
        except EvalkitError as exc:  # a broken user task file: say so and list the others
            typer.echo(f"{name:10s} error: {exc}")
            continue
        params = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(fam.Config))
        typer.echo(f"{name:10s} {fam.description}\n{'':10s} parameters: {params}")
        source = f"data: {fam.data_source()}, " if hasattr(fam, "data_source") else ""
        prompt = json.dumps(fam.prompt_template, ensure_ascii=False)
        typer.echo(f"{'':10s} {source}max_tokens: {fam.default_max_tokens}, prompt: {prompt}")
    for prefix, description in prefix_names().items():
        try:
            names = ", ".join(n.partition(":")[2] for n in prefix_task_names(prefix))
        except EvalkitError as exc:
            names = f"unavailable: {exc}"
        typer.echo(f"{prefix + ':NAME':10s} {description}\n{'':10s} NAME: {names}")


@app.command("problems", cls=_Command)
def problems_cmd(
    task: Annotated[str, typer.Argument(help="Task spec, e.g. add or add@digits=4.")],
    limit: Annotated[int, typer.Option(help="Number of problems.")] = 10,
    seed: Annotated[int, typer.Option(help="Problem seed.")] = 0,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per line.")] = False,
    tasks_dir: TasksDirOpt = None,
) -> None:
    """Print a task's problems."""
    from evalkit.tasks.registry import TaskSpec, make_problems

    _use_tasks_dir(tasks_dir)
    for p in make_problems(TaskSpec.parse(task), seed, limit):
        typer.echo(json.dumps(p.to_json()) if jsonl else f"{p.id}\t{p.prompt!r}\t{p.reference!r}")
