"""Commands on run directories: ``import``, ``merge``, ``score``, ``convert`` and ``summary``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli.common import (
    ProblemOpt,
    SelectTaskOpt,
    TaskOpt,
    TasksDirOpt,
    _Command,
    _specs,
    _use_tasks_dir,
    app,
    check_writable,
    load_runs,
    print_run_summary,
    warn_isolation,
)
from evalkit.errors import EvalkitError


@app.command("import", cls=_Command)
def import_cmd(
    samples: Annotated[
        Path,
        typer.Argument(
            help='Samples file: JSONL lines {"problem_id", "completion"[, "sample_idx"]}, an lm-eval --log_samples '
            "file, or lighteval details (Parquet)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Run directory to create.")],
    task: TaskOpt = [],  # noqa: B006
    problem_seed: Annotated[int, typer.Option("--problem-seed")] = 0,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Match the file against each task's first LIMIT problems (default: a data set's all, a "
            "generated task's up to the largest index in the file)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Discard a different run found in --out.")] = False,
    tasks_dir: TasksDirOpt = None,
    source_format: Annotated[
        str | None,
        typer.Option("--format", help="jsonl, lm-eval or lighteval (default: detected from the file)."),
    ] = None,
    field: Annotated[
        list[str],
        typer.Option(
            "--field",
            help="NAME=KEY: read evalkit's field NAME (problem_id, completion, sample_idx, finish_reason, n_tokens, "
            "position) from KEY, a dotted path, in a plain JSONL file (repeatable).",
        ),
    ] = [],  # noqa: B006
    model_name: Annotated[
        str | None,
        typer.Option("--model-name", help="The model's name (default: the file's, else imported:FILE)."),
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature used (default: unknown).")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="top-p used (default: unknown).")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="top-k used, 0 for none (default: unknown).")] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Token limit per completion used (default: unknown).")
    ] = None,
    prompt_format: Annotated[
        str | None, typer.Option("--prompt-format", help="raw, chat, or the template's name (default: unknown).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed used (default: unknown).")] = None,
    stop: Annotated[
        list[str],
        typer.Option(
            "--stop", help="A stop string used (repeatable; --stop '' for none; default: unknown).", show_default=False
        ),
    ] = [],  # noqa: B006
    settings: Annotated[
        Path | None,
        typer.Option(
            help="JSON file of settings (model_name, temperature, top_p, top_k, max_tokens, stop, seed, "
            "prompt_format); default: SAMPLES' stem + .settings.json when it exists."
        ),
    ] = None,
) -> None:
    """Import completions made elsewhere as a run, and verify them.

    The run holds the problems the file has samples for; evalkit says how many of each task's it lacks. How the
    completions were made is recorded from the options, the settings file and the file's own record; what none
    of them states is recorded and shown as unknown, never as a default."""
    from evalkit.sampling.importers import parse_fields
    from evalkit.sampling.runner import import_samples

    check_writable(out)
    _use_tasks_dir(tasks_dir)
    given: dict[str, Any] = {
        "model_name": model_name, "temperature": temperature, "top_p": top_p, "top_k": top_k,
        "max_tokens": max_tokens, "prompt_format": prompt_format, "seed": seed,
    }  # fmt: skip
    if stop:  # --stop '' alone: stated that no stop string was used
        given["stop"] = [s for s in stop if s]
    store = import_samples(
        samples, _specs(task), out, problem_seed, limit, force,
        source_format=source_format, fields=parse_fields(field), settings=given, settings_file=settings,
    )  # fmt: skip
    print_run_summary(store.root)


@app.command("merge", cls=_Command)
def merge_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories: the shards of one run (--shard i/N).")],
    out: Annotated[Path, typer.Option(help="New run directory for the merged run.")],
) -> None:
    """Combine shard runs into one run, equal to the unsharded run (refusing runs that differ)."""
    from evalkit.sampling.shard import merge_runs

    check_writable(out)
    result = merge_runs(runs, out, command=" ".join(sys.argv))
    typer.echo(
        f"merged {len(runs)} runs into {out}: {result.problems} problems, {result.completions} samples"
        + (f" ({result.duplicates} held twice, written once)" if result.duplicates else ""),
        err=True,
    )
    try:
        print_run_summary(out)
    except EvalkitError as exc:  # a shard was not finished: the merged run resumes like any other
        typer.echo(f"note: {exc}", err=True)


@app.command("score", cls=_Command)
def score_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    workers: Annotated[int | None, typer.Option(help="Verifier processes (default: cores).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per verification.")] = 10.0,
) -> None:
    """Re-verify every completion of a run (replacing its verdicts)."""
    from evalkit.store import RunStore
    from evalkit.verify.stage import verify_run

    store = RunStore.open(run)
    check_writable(run, option="RUN", advice="score writes the verdicts into the run directory")
    store.lock()
    count = verify_run(store, rescore=True, workers=workers, timeout_s=timeout)
    typer.echo(f"verified {count} completions", err=True)
    print_run_summary(run)


@app.command("convert", cls=_Command)
def convert_cmd(run: Annotated[Path, typer.Argument(help="Run directory.")]) -> None:
    """Convert a run's JSON-line shards (store format 1) to Parquet (format 2), in place; safe to interrupt."""
    from evalkit.store import RunStore, convert_run

    RunStore.open(run)  # a run directory, or a one-line error
    check_writable(run, option="RUN", advice="convert rewrites the run's shards in place")
    result = convert_run(run)
    done = f"converted {result.completions} completions and {result.verdicts} verdicts to Parquet"
    typer.echo(done if result.converted else f"{run}: already store format 2", err=True)


@app.command("summary", cls=_Command)
def summary_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print CSV: task,k,pass_at_k,ci_low,ci_high,confidence,n_problems,n_min.")
    ] = False,
    task: SelectTaskOpt = [],  # noqa: B006
    problem: ProblemOpt = [],  # noqa: B006
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Summarise a run where some problems lack samples or verdicts, on the problems it finished; the "
            "output says so (default: refuse, exit 2).",
        ),
    ] = False,
    truncate_n: Annotated[
        bool,
        typer.Option(
            "--truncate-n",
            help="Where the problems of a task hold uneven numbers of samples, use every problem's first n samples, "
            "n the task's smallest; the output says so (default: refuse, exit 2).",
        ),
    ] = False,
) -> None:
    """pass@k per task (every power of two up to n) for a run."""
    from evalkit.cli.compare_cmds import _one_n, _partial, _partial_lines
    from evalkit.compare.common_n import lines
    from evalkit.compare.results import summarize

    if as_json and as_csv:
        raise EvalkitError("--json and --csv: choose one")
    (results,) = load_runs([run], task, problem, adaptive_ok=True)
    partial = _partial([results], allow_partial)
    (results,), truncated = _one_n([results], truncate_n, "summarise")
    said = [*_partial_lines(partial), *lines(truncated)]
    if as_json:
        body = summarize(results, allow_partial=allow_partial) | {"health": _health(run), "truncate_n": truncated}
        typer.echo(json.dumps(body | ({"partial": partial} if partial else {}), indent=1))
        warn_isolation(run)
    elif as_csv:
        from evalkit.store.frame import summary_csv

        for line in said:
            typer.echo(line, err=True)
        typer.echo(summary_csv(summarize(results, allow_partial=allow_partial)), nl=False)
        warn_isolation(run)
    else:
        for line in said:
            typer.echo(line)
        print_run_summary(run, results, allow_partial=allow_partial)
        print_health(_health(run))


def _health(run: Path) -> dict[str, Any]:
    from evalkit.validity.health import health_of

    return health_of(run)


def print_health(health: dict[str, Any]) -> None:
    """The run's health (:mod:`evalkit.validity.health`) as terminal lines: shares, tokens, flagged problems."""
    rates = health["rates"]

    def share(key: str) -> str:
        return "unknown" if rates[key] is None else f"{100 * rates[key]:.1f}%"

    fallback = health["fallback_share"]
    tokens = health["tokens"]
    typer.echo(
        f"health     cut at the limit {share('truncated')}, loops {share('loops')}, empty {share('empty')}, "
        f"finish unknown {share('finish_unknown')}, passes by a fallback rule "
        + ("-" if fallback is None else f"{100 * fallback:.1f}%")
        + ", tokens per completion "
        + ("unknown" if tokens is None else f"mean {tokens['mean']:.0f}, median {tokens['median']:.0f}")
    )
    flagged = health["flagged"]
    if flagged:
        shown = ", ".join(f"{pid} ({', '.join(flags)})" for pid, flags in list(flagged.items())[:5])
        more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
        typer.echo(f"health     {len(flagged)} problems flagged: {shown}{more} ({health['flag_rule']})")
