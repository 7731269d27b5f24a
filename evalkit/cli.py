"""The ``evalkit`` command line (typer).

Every command turns an :class:`~evalkit.errors.EvalkitError` into one line on stderr and exit code 2
(``--debug`` shows the traceback); a usage error (unknown command or option, missing argument, a value of
the wrong type) prints click's usage line and exits 2 too, whichever click typer parses with; Ctrl-C exits
130, saying whether a rerun resumes. ``evalkit gate`` exits 1 on a regression, and only then. Heavy modules
are imported inside the commands so that ``evalkit --help`` and spawned verifier workers start fast.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from evalkit.errors import EvalkitError

# commands that a rerun resumes: an interrupt says so
_RESUMABLE = frozenset({"sample", "import", "compare", "grpo", "demo", "likelihood"})


class Interrupted(BaseException):  # a signal, like KeyboardInterrupt, not an error
    """Ctrl-C inside a command, carried past click to :func:`main` (click would turn a KeyboardInterrupt
    into ``Abort`` or a silent ``Exit(130)``, depending on its version).

    Args:
        command: The name of the interrupted command (``sample``, ``grpo``...).
    """

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


def _plain_flags(params: list[Any]) -> list[Any]:
    """Give flags (``--chat``, ``--force/--no-force``, ``--help``) an empty metavar, so that help pages show no
    value type for them (typer 0.29's help shows ``<bool>``; older versions show nothing either way)."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""
    return params


class _Group(typer.core.TyperGroup):
    """typer's group with plain flags in its help page."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))


class _Command(typer.core.TyperCommand):
    """typer's command with plain flags in its help page and Ctrl-C raised as :class:`Interrupted`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted(self.name or "") from None


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Does RL expand what a model can solve? pass@k to k=1024, frontier classes, reports, a CI gate.",
)
train_app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    help="Make checkpoints: a tiny base model (sft) or an RL model (grpo).",
)
app.add_typer(train_app, name="train")

_DEBUG = {"on": False}

TaskOpt = Annotated[list[str], typer.Option("--task", "-t", help="Task spec NAME or NAME@key=value,... (repeatable).")]
TasksDirOpt = Annotated[
    Path | None,
    typer.Option("--tasks-dir", help="Folder of *.jsonl task files; each becomes a task named by its stem."),
]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    _DEBUG["on"] = debug


def _use_tasks_dir(tasks_dir: Path | None) -> None:
    if tasks_dir is not None:
        from evalkit.taskdir import register_tasks_dir

        register_tasks_dir(tasks_dir)


def _specs(tasks: list[str]) -> list[Any]:
    from evalkit.tasks import TaskSpec

    if not tasks:
        raise EvalkitError("no task given; pass --task NAME (see `evalkit tasks`)")
    return [TaskSpec.parse(t) for t in tasks]


@app.command("tasks", cls=_Command)
def tasks_cmd(tasks_dir: TasksDirOpt = None) -> None:
    """List the registered tasks and their parameters."""
    import dataclasses

    from evalkit.tasks import get_family, prefix_names, prefix_task_names, task_names

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
    from evalkit.tasks import TaskSpec, make_problems

    _use_tasks_dir(tasks_dir)
    for p in make_problems(TaskSpec.parse(task), seed, limit):
        typer.echo(json.dumps(p.to_json()) if jsonl else f"{p.id}\t{p.prompt!r}\t{p.reference!r}")


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
        float | None, typer.Option("--gpu-memory-utilization", help="Memory fraction vLLM reserves (vllm).")
    ] = None,
    chat: Annotated[bool, typer.Option("--chat", help="Apply the tokenizer's chat template (hf, vllm).")] = False,
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
    tasks_dir: TasksDirOpt = None,
) -> None:
    """Sample N completions per problem, store them, verify them (resumable)."""
    _check_executor(executor, replicas, address)
    from evalkit.runner import SampleRequest, sample
    from evalkit.sampling.base import BACKENDS, SamplingConfig, make_backend

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
        from evalkit.tasks import default_max_tokens

        max_tokens = default_max_tokens(specs)
    from evalkit.prompting import read_template

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
    )
    store = sample(req)
    _print_summary(store.root)


def _check_executor(executor: str, replicas: int | None, address: str | None) -> None:
    """Usage errors: an unknown --executor, or --replicas/--address without --executor ray."""
    if executor not in ("local", "ray"):
        raise typer.BadParameter(f"{executor!r} is not one of 'local', 'ray'", param_hint="'--executor'")
    for flag, value in (("--replicas", replicas), ("--address", address)):
        if value is not None and executor != "ray":
            raise typer.BadParameter("needs --executor ray", param_hint=f"'{flag}'")


def _shard(text: str | None) -> tuple[int, int] | None:
    from evalkit.shard import parse_shard

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


@app.command("import", cls=_Command)
def import_cmd(
    samples: Annotated[Path, typer.Argument(help='JSONL lines {"problem_id", "completion"[, "sample_idx"]}.')],
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
) -> None:
    """Import completions made elsewhere as a run, and verify them.

    The run holds the problems the file has samples for; evalkit says how many of each task's it lacks."""
    from evalkit.runner import import_samples

    _use_tasks_dir(tasks_dir)
    store = import_samples(samples, _specs(task), out, problem_seed, limit, force)
    _print_summary(store.root)


@app.command("merge", cls=_Command)
def merge_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Run directories: the shards of one run (--shard i/N).")],
    out: Annotated[Path, typer.Option(help="New run directory for the merged run.")],
) -> None:
    """Combine shard runs into one run, equal to the unsharded run (refusing runs that differ)."""
    from evalkit.shard import merge_runs

    result = merge_runs(runs, out, command=" ".join(sys.argv))
    typer.echo(
        f"merged {len(runs)} runs into {out}: {result.problems} problems, {result.completions} samples"
        + (f" ({result.duplicates} held twice, written once)" if result.duplicates else ""),
        err=True,
    )
    try:
        _print_summary(out)
    except EvalkitError as exc:  # a shard was not finished: the merged run resumes like any other
        typer.echo(f"note: {exc}", err=True)


@app.command("score", cls=_Command)
def score_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    workers: int | None = None,
    timeout: Annotated[float, typer.Option(help="Seconds per verification.")] = 10.0,
) -> None:
    """Re-verify every completion of a run (replacing its verdicts)."""
    from evalkit.store import RunStore
    from evalkit.verify import verify_run

    store = RunStore.open(run)
    store.lock()
    count = verify_run(store, rescore=True, workers=workers, timeout_s=timeout)
    typer.echo(f"verified {count} completions", err=True)
    _print_summary(run)


@app.command("convert", cls=_Command)
def convert_cmd(run: Annotated[Path, typer.Argument(help="Run directory.")]) -> None:
    """Convert a run's JSON-line shards (store format 1) to Parquet (format 2), in place; safe to interrupt."""
    from evalkit.store import convert_run

    result = convert_run(run)
    done = f"converted {result.completions} completions and {result.verdicts} verdicts to Parquet"
    typer.echo(done if result.converted else f"{run}: already store format 2", err=True)


TRUNCATION_WARN = 0.05  # above this fraction of completions cut at --max-tokens, the summary warns


def _print_summary(run: Path) -> None:
    from evalkit.results import load_run, summarize

    results = load_run(run)
    summary = summarize(results)
    for task, row in summary["tasks"].items():
        cells = "  ".join(f"@{k}={v:.3f}" for k, v in row["pass_at_k"].items() if v is not None)
        typer.echo(f"{task:10s} {row['n_problems']:4d} problems  n={row['n_min']}  pass{cells}")
    truncated = float(summary["rates"].get("truncated", 0.0))
    typer.echo(f"truncated  {100 * truncated:.1f}% of completions stopped at the token limit")
    if truncated > TRUNCATION_WARN:
        limit = results.manifest.get("identity", {}).get("sampling", {}).get("max_tokens")
        at = f" --max-tokens {limit}" if limit else " the token limit"
        typer.echo(
            f"warning: {100 * truncated:.1f}% of completions were cut at{at} and count as failures; "
            "pass@k mostly measures the length limit: raise --max-tokens",
            err=True,
        )
    if summary["unverified"]:
        typer.echo(f"note: {summary['unverified']} completions have no verdict yet; run `evalkit score`", err=True)


@app.command("summary", cls=_Command)
def summary_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print CSV: task,k,pass_at_k,ci_low,ci_high,confidence,n_problems,n_min.")
    ] = False,
) -> None:
    """pass@k per task (every power of two up to n) for a run."""
    from evalkit.results import load_run, summarize

    if as_json and as_csv:
        raise EvalkitError("--json and --csv: choose one")
    if as_json:
        typer.echo(json.dumps(summarize(load_run(run)), indent=1))
    elif as_csv:
        from evalkit.store.frame import summary_csv

        typer.echo(summary_csv(summarize(load_run(run))), nl=False)
    else:
        _print_summary(run)


@app.command("compare", cls=_Command)
def compare_cmd(
    base: Annotated[Path, typer.Argument(help="Base run directory, or base checkpoint (with --task).")],
    rl: Annotated[Path, typer.Argument(help="RL run directory, or RL checkpoint (with --task).")],
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path("reports/compare"),
    task: TaskOpt = [],  # noqa: B006
    n: Annotated[int, typer.Option(help="Samples per problem when sampling checkpoints.")] = 64,
    limit: int = 100,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="When sampling checkpoints (default: the tasks' largest).")
    ] = None,
    mid: Annotated[
        list[Path], typer.Option("--mid", help="Intermediate checkpoint run, in training order (repeatable).")
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Also print the summary JSON.")] = False,
    refuse_mismatch: Annotated[
        bool,
        typer.Option(
            "--refuse-mismatch",
            help="Exit 2 when the runs differ in sampling config, prompt format or n (default: warn and compare).",
        ),
    ] = False,
) -> None:
    """Compare a base and an RL run: frontier classes, pass@k curves, HTML report.

    With --mid runs, also classify each task's trajectory (ProRL: diminish / plateau / sustained)."""
    from evalkit.report import write_report
    from evalkit.results import load_run

    runs = []
    for label, path in (("base", base), ("rl", rl)):
        if (path / "manifest.json").is_file():
            runs.append(path)
        elif (path / "config.json").is_file():
            from evalkit.runner import SampleRequest, sample
            from evalkit.sampling.base import SamplingConfig
            from evalkit.tasks import default_max_tokens

            run_dir = out / f"{label}_run"
            sample(
                SampleRequest(
                    model=str(path),
                    specs=_specs(task),
                    n=n,
                    out=run_dir,
                    limit=limit,
                    sampling=SamplingConfig(max_tokens=max_tokens or default_max_tokens(_specs(task))),
                )
            )
            runs.append(run_dir)
        else:
            raise EvalkitError(f"{path}: neither a run directory (manifest.json) nor a checkpoint (config.json)")
    loaded = [load_run(runs[0]), *(load_run(m) for m in mid), load_run(runs[1])]
    _check_comparable(loaded[0], loaded[-1], refuse_mismatch)
    summary = _compare_with_trajectory(loaded)
    html = write_report(summary, out / "report.html")
    _print_compare(summary)
    typer.echo(f"report: {html}", err=True)
    if as_json:
        typer.echo(html.with_suffix(".json").read_text())


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
    max_per_problem: Annotated[
        int, typer.Option("--max-per-problem", help="Distinct correct texts scored per problem (most frequent first).")
    ] = 32,
    max_batch_tokens: Annotated[int, typer.Option("--max-batch-tokens", help="Rows x tokens per forward pass.")] = 8192,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda...")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16.")] = "auto",
    force: Annotated[bool, typer.Option(help="Discard scores made under other settings.")] = False,
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
    """Score a run's correct completions under a model by teacher forcing (resumable).

    Per problem: the model's probability of the most likely correct text under its sampler (temperature, top-p,
    top-k; a token outside top-p/top-k is unreachable), and the answer diversity. `evalkit compare` reads it."""
    from evalkit.likelihood import LikelihoodRequest, print_result, score_run

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
            revision=revision, base_url=base_url, api_key=api_key,
        )
    )  # fmt: skip
    print_result(path)
    typer.echo(str(path))


def _check_comparable(base: Any, rl: Any, refuse: bool) -> None:
    """Warn on stderr (or refuse, exit 2) when base and RL runs were sampled unlike each other."""
    from evalkit.gate import comparability

    shared = sorted({p.id for p in base.problems} & {p.id for p in rl.problems})
    differences = comparability(base, rl, shared, labels=("base", "RL"))
    if differences and refuse:
        raise EvalkitError(f"{base.root} vs {rl.root}: {'; '.join(differences)} (--refuse-mismatch)")
    for difference in differences:
        typer.echo(f"warning: {difference}; the comparison is of unlike runs", err=True)


def _compare_with_trajectory(runs: list[Any], title: str | None = None) -> dict[str, Any]:
    from evalkit.compare import compare_with_trajectory

    return compare_with_trajectory(runs, title)


@app.command("report", cls=_Command)
def report_cmd(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories in training order: the base first, the final checkpoint last, "
            "intermediate checkpoints between them.",
            metavar="RUN_DIR",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path("reports/report"),
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
) -> None:
    """Write the HTML report (and its JSON) for runs that already exist: base vs final, plus the
    checkpoint trajectory (ProRL regime per task) when intermediate runs are given."""
    from evalkit.report import write_report
    from evalkit.results import load_run

    if len(runs) < 2:
        raise EvalkitError("evalkit report needs at least two run directories: BASE [INTERMEDIATE...] FINAL")
    for path in runs:
        if not (path / "manifest.json").is_file():
            raise EvalkitError(f"{path}: not an evalkit run directory (no manifest.json)")
    loaded = [load_run(p) for p in runs]
    _check_comparable(loaded[0], loaded[-1], refuse=False)
    summary = _compare_with_trajectory(loaded, title)
    html = write_report(summary, out / "report.html")
    _print_compare(summary)
    typer.echo(f"report: {html}", err=True)


def _print_compare(summary: dict[str, Any]) -> None:
    for name, sec in [("overall", summary["overall"]), *summary["tasks"].items()]:
        ks = [str(k) for k in (1, sec["n"])]
        b, r = sec["pass_at_k"]["base"], sec["pass_at_k"]["rl"]
        cls = sec["classes"]
        typer.echo(
            f"{name:10s} pass@1 {b[ks[0]]:.3f} -> {r[ks[0]]:.3f}   pass@{ks[1]} {b[ks[1]]:.3f} -> {r[ks[1]]:.3f}   "
            f"rl-only {cls['rl_only']}  base-only {cls['base_only']}  both {cls['both']}  neither {cls['neither']}"
        )


@app.command("gate", cls=_Command)
def gate_cmd(
    baseline: Annotated[Path, typer.Argument(help="Baseline run directory.")],
    candidate: Annotated[Path, typer.Argument(help="Candidate run directory.")],
    k: Annotated[list[int], typer.Option("--k", help="k to check (repeatable).")] = [1],  # noqa: B006
    max_drop: Annotated[float, typer.Option("--max-drop", help="Largest allowed absolute drop of pass@k.")] = 0.02,
    confidence: Annotated[
        float, typer.Option(help="1 - the whole gate's false alarm rate (all tasks and k together).")
    ] = 0.95,
    task: Annotated[
        list[str], typer.Option("--task", "-t", help="Gate only this task (repeatable; default: every shared task).")
    ] = [],  # noqa: B006
    allow_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-mismatch",
            help="Gate runs that differ in sampling config, prompt format or n, with a warning "
            "(default: refuse, exit 2).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Exit 0 when the candidate did not regress, 1 when pass@k dropped more than --max-drop, 2 on bad input.

    Method: a paired sign-flip test per (task, k) check of "pass@k fell by more than --max-drop".

    Exact (McNemar-type) where every problem's pass@k is 0 or 1, as at k = n; 10,000 seeded random flips otherwise.

    Holm's adjustment over all checks: two runs of one model fail the gate in at most 1 - --confidence of cases (5%).
    """

    from evalkit.gate import gate_summary, run_gate
    from evalkit.results import load_run

    result = run_gate(
        load_run(baseline), load_run(candidate), list(k), max_drop, confidence, tasks=list(task) or None,
        mismatch="warn" if allow_mismatch else "refuse",
    )  # fmt: skip
    for warning in result.warnings:
        typer.echo(warning, err=True)
    if as_json:
        typer.echo(json.dumps(gate_summary(result), indent=1))
    else:
        for line in result.lines:
            typer.echo(line)
        typer.echo("gate: PASS" if result.passed else "gate: FAIL (regression)")
    raise typer.Exit(0 if result.passed else 1)


@train_app.command("sft", cls=_Command)
def train_sft_cmd(
    out: Annotated[Path, typer.Option(help="Checkpoint directory to write.")],
    task: TaskOpt = [],  # noqa: B006
    steps: int = 1000,
    seed: int = 0,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 128,
    lr: float = 3e-3,
    hidden_size: Annotated[int, typer.Option("--hidden-size")] = 128,
    layers: int = 4,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Stop after this many seconds.")] = None,
) -> None:
    """Train a tiny character-level Llama from scratch on procedural tasks (a base checkpoint)."""
    from evalkit.tinymodel import TinyConfig
    from evalkit.train.sft import SFTConfig, train_sft

    path = train_sft(
        _specs(task),
        out,
        SFTConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, time_limit_s=time_limit),
        TinyConfig(hidden_size=hidden_size, layers=layers),
        log=lambda m: typer.echo(m, err=True),
    )
    typer.echo(str(path))


@train_app.command("grpo", cls=_Command)
def train_grpo_cmd(
    model: Annotated[str, typer.Option(help="Starting checkpoint.")],
    out: Annotated[Path, typer.Option(help="Output folder (final checkpoint, logs, state); rerun to resume.")],
    task: TaskOpt = [],  # noqa: B006
    eval_task: Annotated[list[str], typer.Option("--eval-task", help="Validation task spec (default: --task).")] = [],  # noqa: B006
    config: Annotated[Path | None, typer.Option(help="JSON file of GRPOConfig fields; flags override it.")] = None,
    steps: Annotated[int | None, typer.Option()] = None,
    group_size: Annotated[int | None, typer.Option("--group-size", help="Samples per prompt (G).")] = None,
    prompts_per_step: Annotated[int | None, typer.Option("--prompts-per-step")] = None,
    temperature: Annotated[float | None, typer.Option()] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens")] = None,
    lr: Annotated[float | None, typer.Option()] = None,
    warmup_steps: Annotated[int | None, typer.Option("--warmup-steps")] = None,
    beta: Annotated[float | None, typer.Option(help="KL coefficient (k3 estimator).")] = None,
    eps_low: Annotated[float | None, typer.Option("--eps-low")] = None,
    eps_high: Annotated[float | None, typer.Option("--eps-high")] = None,
    epochs: Annotated[int | None, typer.Option(help="Optimisation passes per rollout batch.")] = None,
    scale_std: Annotated[bool | None, typer.Option("--scale-std/--no-scale-std")] = None,
    dynamic_sampling: Annotated[bool | None, typer.Option("--dynamic-sampling/--no-dynamic-sampling")] = None,
    reset_every: Annotated[int | None, typer.Option("--reset-every", help="Reset period in steps (0: never).")] = None,
    reset_patience: Annotated[int | None, typer.Option("--reset-patience", help="Reset after N stale evals.")] = None,
    mask_truncated: Annotated[bool | None, typer.Option("--mask-truncated/--keep-truncated")] = None,
    reward: Annotated[str | None, typer.Option(help="passed (0/1) or score (continuous).")] = None,
    eval_every: Annotated[int | None, typer.Option("--eval-every", help="Held-out eval period (0: never).")] = None,
    eval_n: Annotated[int | None, typer.Option("--eval-n", help="Samples per validation problem.")] = None,
    save_every: Annotated[int | None, typer.Option("--save-every", help="State save period in steps.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Stop after this many seconds.")] = None,
) -> None:
    """Train with GRPO and ProRL's controls: clip-higher, KL to a reference, resets, dynamic sampling."""
    from evalkit.train.grpo import GRPOConfig, train_grpo

    given = {
        "steps": steps, "group_size": group_size, "prompts_per_step": prompts_per_step, "temperature": temperature,
        "max_tokens": max_tokens, "lr": lr, "warmup_steps": warmup_steps, "beta": beta, "eps_low": eps_low,
        "eps_high": eps_high, "epochs": epochs, "scale_std": scale_std, "dynamic_sampling": dynamic_sampling,
        "reset_every": reset_every, "reset_patience": reset_patience, "mask_truncated": mask_truncated,
        "reward": reward, "eval_every": eval_every, "eval_n": eval_n, "save_every": save_every, "seed": seed,
        "time_limit_s": time_limit,
    }  # fmt: skip
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    cfg = GRPOConfig.from_file(config, **overrides) if config else GRPOConfig(**overrides)
    evals = _specs(eval_task) if eval_task else None
    path = train_grpo(model, _specs(task), out, cfg, log=lambda m: typer.echo(m, err=True), eval_specs=evals)
    typer.echo(str(path))


@app.command("demo", cls=_Command)
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("reports/demo"),
    quick: Annotated[bool, typer.Option("--quick", help="A ~1 minute version (smaller model budget, n=64).")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Retrain the checkpoints even if they exist.")] = False,
) -> None:
    """Train a tiny base, RL it, sample both to n=1024, compare, report, gate: offline on a CPU.

    Fixed step counts and pinned CPU numerics: the same numbers on any machine with the same packages."""
    from evalkit.determinism import pin_cpu_numerics_env

    pin_cpu_numerics_env()  # before anything imports torch
    from evalkit.demo import run_demo

    run_demo(out, quick=quick, fresh=fresh)


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """Exception class ``name`` (ClickException, Abort, Exit) of every click that may parse the command line:
    the copy that typer bundles (``typer._click``, recent typer) and the click package (older typer), plus
    typer's own ``Exit`` and ``Abort``."""
    found: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions", "typer.exceptions"):
        with contextlib.suppress(ImportError):
            cls = getattr(importlib.import_module(module), name, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append(cls)
    return tuple(found)


def _is_click_error(exc: BaseException) -> bool:
    """A click usage error of any click flavour (also one bundled under another module name)."""
    if isinstance(exc, _click_classes("ClickException")):
        return True
    return any(c.__name__ == "ClickException" for c in type(exc).__mro__) and callable(getattr(exc, "show", None))


def _give_usage_context(exc: BaseException, args: list[str]) -> None:
    """Give a usage error raised without a click context (click's parser raises "Option '--out' requires an
    argument" so) the context of the command that ``args`` names, so that it shows that command's usage line."""
    if not hasattr(exc, "ctx") or exc.ctx is not None:
        return
    try:
        import typer.main

        command: Any = typer.main.get_command(app)
        ctx = command.context_class(command, info_name="evalkit")
        for word in args:
            sub = command.get_command(ctx, word) if hasattr(command, "get_command") else None
            if sub is None:
                if word.startswith("-"):  # an option of the group (--debug)
                    continue
                break
            command, ctx = sub, sub.context_class(sub, info_name=word, parent=ctx)
        exc.ctx = ctx
    except Exception:  # the message alone is still shown
        return


def _say_interrupted(command: str | None) -> int:
    hint = "; rerun the same command to resume" if command in _RESUMABLE else ""
    typer.echo(f"interrupted{hint}", err=True)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: run the app and return its exit code.

    Exit codes: 0 success, 1 a regression found by ``evalkit gate``, 2 a usage error (click's usage line and
    message, whichever click typer uses) or an :class:`~evalkit.errors.EvalkitError` (one line; ``--debug``
    shows the traceback), 130 Ctrl-C (with how to resume).

    Args:
        argv: The arguments after ``evalkit`` (default: ``sys.argv[1:]``).
    """
    _DEBUG["on"] = False
    args = list(argv) if argv is not None else sys.argv[1:]
    from evalkit.determinism import share_cpus_env

    share_cpus_env()  # before any command imports torch: OpenMP threads wait passively on shared cores
    try:
        # without standalone mode click returns the code of a typer.Exit instead of raising it
        code = app(args=args, prog_name="evalkit", standalone_mode=False)
    except EvalkitError as exc:
        if _DEBUG["on"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        return 2
    except Interrupted as exc:
        return _say_interrupted(exc.command)
    except KeyboardInterrupt:
        return _say_interrupted(None)
    except Exception as exc:
        if isinstance(exc, _click_classes("Exit")):
            return int(getattr(exc, "exit_code", 0))
        if isinstance(exc, _click_classes("Abort")):  # older click turns Ctrl-C while parsing into Abort
            return _say_interrupted(None)
        if _is_click_error(exc):
            _give_usage_context(exc, args)
            usage_error: Any = exc  # a ClickException of some click: it has show() and exit_code
            usage_error.show()
            # exit 1 means "regression" for the gate: a usage error is never 1
            return max(2, int(getattr(exc, "exit_code", 2)))
        raise
    if code == 130:  # recent typer turns Ctrl-C outside a command into a silent Exit(130)
        return _say_interrupted(None)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
