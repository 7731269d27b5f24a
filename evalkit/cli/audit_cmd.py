"""``evalkit audit``: threats to validity measured from a model or a run.

* ``audit contamination MODEL --task T --out RUN``: the partial-prompt completion audit
  (:mod:`evalkit.validity.contamination`).
* ``audit guess RUN``: the problems whose observed pass@k is within reach of random guessing
  (:mod:`evalkit.validity.guess`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli.common import TaskOpt, TasksDirOpt, _Command, _Group, _specs, _use_tasks_dir, app
from evalkit.errors import EvalkitError

audit_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Threats to validity: contamination, guessing.")
app.add_typer(audit_app, name="audit")

_AUDIT_BACKENDS = ("hf", "vllm", "openai")


@audit_app.command("contamination", cls=_Command)
def contamination_cmd(
    model: Annotated[str, typer.Argument(help="Checkpoint directory or hub id (or a served name with openai).")],
    out: Annotated[Path, typer.Option(help="Run directory of the audit; rerunning the same command resumes it.")],
    task: TaskOpt = [],  # noqa: B006
    fractions: Annotated[
        str, typer.Option(help="Shares of each statement shown, comma-separated (cut at a word boundary).")
    ] = "0.4,0.6,0.8",
    backend: Annotated[str, typer.Option(help="hf, vllm or openai (a server; see --base-url).")] = "hf",
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", help="Tokens decoded (default: the longest withheld rest in characters + 16)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Problems per task (loaded data sets: a seeded random subset).")] = 100,
    problem_seed: Annotated[int, typer.Option("--problem-seed", help="Seed of the problem generators.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows decoded together (hf).")] = 512,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda... (hf)")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16 (hf, vllm).")] = "auto",
    tensor_parallel_size: Annotated[int, typer.Option("--tensor-parallel-size", help="GPUs (vllm).")] = 1,
    revision: Annotated[
        str | None, typer.Option(help="Branch, tag or commit of a hub id, pinned to its commit (hf, vllm).")
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Server http://HOST:PORT/v1 (openai).")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="OPENAI_API_KEY", help="(openai)")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight (openai).")] = 8,
    workers: Annotated[int | None, typer.Option(help="Verifier processes (default: cores).")] = None,
    verify_timeout: Annotated[float, typer.Option("--verify-timeout", help="Seconds per verification.")] = 10.0,
    force: Annotated[bool, typer.Option(help="Discard a different run found in --out.")] = False,
    skip_short: Annotated[
        bool, typer.Option("--skip-short", help="Leave out statements too short to cut (listed) instead of refusing.")
    ] = False,
    tasks_dir: TasksDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-problem scores and flags as JSON.")] = False,
) -> None:
    """Show the model the first part of each problem statement, decode greedily, and flag the problems whose
    withheld rest it reproduces (ROUGE-L >= 0.7 at 60%, or an exact reproduction of 5 words or more)."""
    from evalkit.validity.contamination import ContaminationRequest, parse_fractions, run_contamination

    if backend not in _AUDIT_BACKENDS:
        known = ", ".join(_AUDIT_BACKENDS)
        raise EvalkitError(f"--backend {backend!r}: the audit decodes with a model: one of {known}")
    if limit < 1:
        raise EvalkitError(f"--limit must be >= 1 (got {limit})")
    shares = parse_fractions(fractions)
    _use_tasks_dir(tasks_dir)
    if backend == "hf" and device != "auto":
        from evalkit.sampling.hf import resolve_device

        resolve_device(device)
    per_backend: dict[str, dict[str, Any]] = {
        "hf": {"batch_size": batch_size, "device": device, "dtype": dtype},
        "vllm": {"dtype": dtype, "tensor_parallel_size": tensor_parallel_size, "chat": False},
        "openai": {"base_url": base_url or "", "api_key": api_key, "concurrency": concurrency},
    }
    options = per_backend[backend]
    if revision is not None:
        if backend not in ("hf", "vllm"):
            raise EvalkitError("--revision pins a hub id's commit; it needs --backend hf or vllm")
        options["revision"] = revision
    report = run_contamination(
        ContaminationRequest(
            model=model,
            specs=_specs(task),
            out=out,
            fractions=shares,
            backend=backend,
            backend_options=options,
            max_tokens=max_tokens,
            problem_seed=problem_seed,
            limit=limit,
            force=force,
            workers=workers,
            verify_timeout_s=verify_timeout,
            quiet=as_json,
            skip_short=skip_short,
        )
    )
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    print_contamination(report)


def print_contamination(report: dict[str, Any]) -> None:
    """The audit's per-task rates and its flagged problems, as terminal lines."""
    typer.echo(f"flag rule: {report['flag_rule']}")
    for task, entry in report["tasks"].items():
        typer.echo(f"{task}: {entry['flagged']} of {entry['problems']} problems flagged")
        for x, rates in entry["by_fraction"].items():
            if rates["scored"]:
                reach = "-" if rates["reaches_answer"] is None else f"{rates['reaches_answer']:.2f}"
                typer.echo(
                    f"  prefix {x:>4s}: ROUGE-L {rates['rouge_l']:.2f}  exact {rates['exact']:.2f}  "
                    f"reaches answer {reach}"
                )
    for row in report["problems"]:
        if row["flagged"]:
            typer.echo(f"flagged {row['problem_id']}: {row['reason']}")
    if report["skipped"]:
        typer.echo(f"not audited (statements too short to cut): {', '.join(report['skipped'])}")


@audit_app.command("guess", cls=_Command)
def guess_cmd(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    answers: Annotated[
        int | None,
        typer.Option(help="Size of the answer space (default: the task's own; AIME tasks know 1000)."),
    ] = None,
    k: Annotated[
        list[int] | None, typer.Option("--k", help="k to report (repeatable; default: powers of two).")
    ] = None,
    confidence: Annotated[float, typer.Option(help="Family-wise confidence of the 'above guessing' calls.")] = 0.95,
    tasks_dir: TasksDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print per-problem and per-task rows as JSON.")] = False,
) -> None:
    """Compare each problem's pass@k with random guessing from the answer space (1 - (1 - 1/A)^k), and list the
    problems whose success rate is not shown to be above guessing (exact binomial test, Holm over problems)."""
    from evalkit.compare.results import load_run
    from evalkit.validity.guess import guess_report

    _use_tasks_dir(tasks_dir)
    report = guess_report(load_run(run), answers, k, confidence)
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    for task, entry in report["tasks"].items():
        typer.echo(
            f"{task}: {entry['within_reach']} of {entry['problems']} problems within reach of guessing "
            f"({entry['answers']} answers; {report['test']}, {100 * confidence:g}% family-wise)"
        )
        for kk, row in entry["pass_at_k"].items():
            seen = "-" if row["observed"] is None else f"{row['observed']:.3f}"
            typer.echo(
                f"  k={kk:<6s} pass@k {seen}  guess {row['guess']:.3f}  distinct guesses {row['guess_distinct']:.3f}"
            )
