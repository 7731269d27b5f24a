"""``evalkit likelihood``: a model's log-probability of a run's correct completions (teacher forcing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalkit.cli.common import TasksDirOpt, _Command, _use_tasks_dir, app, check_writable
from evalkit.errors import EvalkitError


@app.command("likelihood", cls=_Command)
def likelihood_cmd(
    model: Annotated[str, typer.Argument(help="Checkpoint to score under (directory or hub id).")],
    run: Annotated[Path, typer.Argument(help="Run directory whose correct completions are scored.")],
    model_run: Annotated[
        Path | None,
        typer.Option(
            "--model-run",
            help="The run sampled from MODEL: its temperature/top-p/top-k are scored under, and problems RUN "
            "solves that it never solved go first (default: RUN's sampling settings).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Results file (default RUN/likelihood/under-<model hash>.jsonl).")
    ] = None,
    temperature: Annotated[float | None, typer.Option(help="Override the sampling temperature.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Override top-p.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Override top-k.")] = None,
    prompt_format: Annotated[
        str | None,
        typer.Option(
            "--prompt-format",
            help="raw or chat: how RUN's prompts were formatted (needed when an import left it unknown; "
            "default: RUN's own).",
        ),
    ] = None,
    max_per_problem: Annotated[
        int, typer.Option("--max-per-problem", help="Distinct correct texts scored per problem (most frequent first).")
    ] = 32,
    max_batch_tokens: Annotated[int, typer.Option("--max-batch-tokens", help="Rows x tokens per forward pass.")] = 8192,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda...")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16.")] = "auto",
    force: Annotated[bool, typer.Option(help="Discard scores made under other settings.")] = False,
    all_texts: Annotated[
        bool,
        typer.Option(
            "--all", help="Score every completion's text, not only the correct ones (up to --max-per-problem each)."
        ),
    ] = False,
    backend: Annotated[
        str,
        typer.Option(
            help="hf (any sampler); vllm, or openai (a vLLM server: --base-url, MODEL = served name): "
            "prompt_logprobs, for top-k, greedy or plain T=1 samplers."
        ),
    ] = "hf",
    revision: Annotated[str | None, typer.Option(help="Branch, tag or commit of a hub id (pinned).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Server http://HOST:PORT/v1 (openai).")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="OPENAI_API_KEY", help="(openai)")] = None,
    tasks_dir: TasksDirOpt = None,
) -> None:
    """Score a run's correct completions (every completion with --all) under a model by teacher forcing (resumable).

    Per problem: the model's probability of the most likely correct text under its sampler (temperature, top-p,
    top-k; a token outside top-p/top-k is unreachable), and the answer diversity. `evalkit compare` reads it."""
    from evalkit.likelihood import LikelihoodRequest, print_result, score_run

    if out is not None:
        check_writable(out, is_file=True)
    elif (run / "manifest.json").is_file():
        check_writable(run / "likelihood", option="RUN", advice="give --out FILE elsewhere")
    _use_tasks_dir(tasks_dir)
    if max_per_problem < 1:
        raise EvalkitError(f"--max-per-problem must be >= 1 (got {max_per_problem})")
    if max_batch_tokens < 1:
        raise EvalkitError(f"--max-batch-tokens must be >= 1 (got {max_batch_tokens})")
    if device != "auto":
        from evalkit.sampling.hf import resolve_device

        resolve_device(device)
    overrides = {"temperature": temperature, "top_p": top_p, "top_k": top_k}
    path = score_run(
        LikelihoodRequest(
            model=model, run=run, model_run=model_run, out=out, sampling=overrides, max_per_problem=max_per_problem,
            device=device, dtype=dtype, max_batch_tokens=max_batch_tokens, force=force, backend=backend,
            revision=revision, base_url=base_url, api_key=api_key, all_texts=all_texts, prompt_format=prompt_format,
        )
    )  # fmt: skip
    print_result(path)
    typer.echo(str(path))
