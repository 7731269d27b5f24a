"""``evalkit sample``: a model's completions for a task's problems, into a run directory (resumable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli.common import (
    TaskOpt,
    TasksDirOpt,
    _Command,
    _specs,
    _use_tasks_dir,
    app,
    check_writable,
    print_run_summary,
)
from evalkit.errors import EvalkitError


@app.command("sample", cls=_Command)
def sample_cmd(
    model: Annotated[
        str, typer.Argument(help="Checkpoint directory or hub id (or a samples JSONL for --backend replay).")
    ],
    out: Annotated[Path, typer.Option(help="Run directory; rerunning the same command resumes it.")],
    task: TaskOpt = [],  # noqa: B006
    n: Annotated[int, typer.Option(help="Samples per problem.")] = 16,
    backend: Annotated[str, typer.Option(help="hf, vllm, openai (a server; see --base-url) or replay.")] = "hf",
    temperature: float = 1.0,
    top_p: Annotated[float, typer.Option("--top-p")] = 1.0,
    top_k: Annotated[int, typer.Option("--top-k")] = 0,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="Longest completion in tokens (default: the tasks' largest).")
    ] = None,
    prompt_template: Annotated[
        Path | None,
        typer.Option("--prompt-template", help="File with {prompt} (or the task's fields) where the question goes."),
    ] = None,
    stop: Annotated[list[str], typer.Option(help="Stop string (repeatable).")] = [],  # noqa: B006
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    problem_seed: Annotated[int, typer.Option("--problem-seed", help="Seed of the problem generators.")] = 0,
    limit: Annotated[int, typer.Option(help="Problems per task (loaded data sets: a seeded random subset).")] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows decoded together (hf).")] = 512,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda...")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16 (hf, vllm).")] = "auto",
    tensor_parallel_size: Annotated[int, typer.Option("--tensor-parallel-size", help="GPUs (vllm).")] = 1,
    gpu_memory_utilization: Annotated[
        float | None,
        typer.Option("--gpu-memory-utilization", help="Memory fraction vLLM reserves (vllm; default: vLLM's own)."),
    ] = None,
    chat: Annotated[bool, typer.Option("--chat", help="Apply the tokenizer's chat template (hf, vllm).")] = False,
    logprobs: Annotated[
        bool,
        typer.Option(
            "--logprobs/--no-logprobs",
            help="Record each completion's log-probability under the sampler and the raw model (hf; on by default).",
        ),
    ] = True,
    system: Annotated[
        str | None, typer.Option("--system", help="System message before each prompt (needs --chat; hf, vllm).")
    ] = None,
    revision: Annotated[
        str | None, typer.Option(help="Branch, tag or commit of a hub id, pinned to its commit (hf, vllm).")
    ] = None,
    engine_arg: Annotated[
        list[str], typer.Option("--engine-arg", help="KEY=VALUE for vllm.LLM, VALUE as JSON (repeatable; vllm).")
    ] = [],  # noqa: B006
    base_url: Annotated[str | None, typer.Option("--base-url", help="Server http://HOST:PORT/v1 (openai).")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="OPENAI_API_KEY", help="(openai)")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight (openai).")] = 8,
    max_retries: Annotated[
        int, typer.Option("--max-retries", help="Retries of a failed request, each shown (openai).")
    ] = 8,
    workers: Annotated[int | None, typer.Option(help="Verifier processes (default: cores).")] = None,
    verify_timeout: Annotated[float, typer.Option("--verify-timeout", help="Seconds per verification.")] = 10.0,
    force: Annotated[bool, typer.Option(help="Discard a different run found in --out.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(help="i/N: sample only problems i, i+N, i+2N, ... of the run (job arrays; `evalkit merge`)."),
    ] = None,
    executor: Annotated[
        str, typer.Option(help="local, or ray: sample on N Ray actors (needs Ray: evalkit's ray extra).")
    ] = "local",
    replicas: Annotated[int | None, typer.Option(min=1, help="Ray actors, one model each (ray; default 1).")] = None,
    address: Annotated[
        str | None, typer.Option(help="A running Ray cluster, e.g. ray://HOST:10001 (ray; default: start one).")
    ] = None,
    adaptive: Annotated[
        bool,
        typer.Option(
            "--adaptive",
            help="Sample in stages; stop a problem at R correct samples (--adaptive-successes) or at --n. "
            "pass@k stays unbiased for every k up to n; never-solved problems get all n.",
        ),
    ] = False,
    adaptive_successes: Annotated[
        int | None,
        typer.Option("--adaptive-successes", help="R, correct samples that stop a problem (--adaptive; default 16)."),
    ] = None,
    tasks_dir: TasksDirOpt = None,
) -> None:
    """Sample N completions per problem, store them, verify them (resumable)."""
    _check_executor(executor, replicas, address)
    if adaptive_successes is not None and not adaptive:
        raise typer.BadParameter("needs --adaptive", param_hint="'--adaptive-successes'")
    rule = None
    if adaptive:
        from evalkit.sampling.adaptive import DEFAULT_SUCCESSES, AdaptiveRule

        rule = AdaptiveRule.make(DEFAULT_SUCCESSES if adaptive_successes is None else adaptive_successes, n)
    check_writable(out)
    from evalkit.sampling.base import BACKENDS, SamplingConfig, make_backend
    from evalkit.sampling.runner import SampleRequest, sample

    _use_tasks_dir(tasks_dir)
    if backend not in BACKENDS:
        make_backend(backend, model)  # raises with suggestions
    if (chat or system is not None) and backend not in ("hf", "vllm"):
        raise EvalkitError("--chat and --system need a backend with a tokenizer (hf, vllm); others send the raw prompt")
    if chat or system is not None:
        _check_chat(model, chat, system)  # before the run directory is created
    if backend == "hf" and device != "auto":
        from evalkit.sampling.hf import resolve_device

        resolve_device(device)  # an unusable --device fails before the run directory is created
    per_backend: dict[str, dict[str, Any]] = {
        "hf": {"batch_size": batch_size, "device": device, "dtype": dtype}
        | ({"chat": True} if chat else {})
        | ({} if logprobs else {"logprobs": False})
        | ({"system": system} if system is not None else {}),
        "vllm": {"dtype": dtype, "tensor_parallel_size": tensor_parallel_size, "chat": chat}
        | ({"system": system} if system is not None else {})
        | ({"gpu_memory_utilization": gpu_memory_utilization} if gpu_memory_utilization is not None else {})
        | ({"engine_options": _engine_args(engine_arg)} if engine_arg else {}),
        "openai": {"base_url": base_url or "", "api_key": api_key, "concurrency": concurrency}
        | {"max_retries": max_retries},
    }
    options = per_backend.get(backend, {})
    specs = _specs(task)
    if max_tokens is None:  # the manifest records the value used
        from evalkit.tasks.registry import default_max_tokens

        max_tokens = default_max_tokens(specs)
    from evalkit.tasks.prompting import read_template

    template = None if prompt_template is None else read_template(prompt_template)
    if revision is not None:
        if backend not in ("hf", "vllm"):
            raise EvalkitError("--revision pins a hub id's commit; it needs --backend hf or vllm")
        options = {**options, "revision": revision}
    req = SampleRequest(
        model=model,
        specs=specs,
        n=n,
        out=out,
        backend=backend,
        sampling=SamplingConfig(temperature, top_p, top_k, max_tokens, tuple(stop)),
        seed=seed,
        problem_seed=problem_seed,
        limit=limit,
        force=force,
        backend_options=options,
        workers=workers,
        verify_timeout_s=verify_timeout,
        shard=_shard(shard),
        prompt_template=template,
        executor=executor,
        replicas=replicas or 1,
        address=address,
        adaptive=rule,
    )
    store = sample(req)
    print_run_summary(store.root)


def _check_executor(executor: str, replicas: int | None, address: str | None) -> None:
    """Usage errors: an unknown --executor, or --replicas/--address without --executor ray."""
    if executor not in ("local", "ray"):
        raise typer.BadParameter(f"{executor!r} is not one of 'local', 'ray'", param_hint="'--executor'")
    for flag, value in (("--replicas", replicas), ("--address", address)):
        if value is not None and executor != "ray":
            raise typer.BadParameter("needs --executor ray", param_hint=f"'{flag}'")


def _shard(text: str | None) -> tuple[int, int] | None:
    from evalkit.sampling.shard import parse_shard

    return None if text is None else parse_shard(text)


def _check_chat(model: str, chat: bool, system: str | None) -> None:
    """Refuse ``--system`` without ``--chat``, and ``--chat`` for a local checkpoint whose tokenizer has no
    chat template (hub ids are checked when the backend loads them)."""
    from evalkit.sampling.base import check_prompt_format, require_chat_template

    check_prompt_format(chat, system)
    local = Path(model).expanduser()
    if chat and local.is_dir():
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(local))
        except (OSError, ValueError):
            return  # the backend reports an unloadable checkpoint in its own words
        require_chat_template(tokenizer, model)


def _engine_args(pairs: list[str]) -> dict[str, Any]:
    """``--engine-arg KEY=VALUE`` pairs as keyword arguments (VALUE parsed as JSON, else kept as text)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EvalkitError(f"--engine-arg {pair!r}: expected KEY=VALUE, e.g. enforce_eager=true")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
