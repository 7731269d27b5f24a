"""``evalkit train sft``, ``evalkit train grpo`` and ``evalkit demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evalkit.cli.common import TaskOpt, _Command, _specs, app, check_writable, train_app


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
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Stop after this many seconds.", show_default="none")
    ] = None,
) -> None:
    """Train a tiny character-level Llama from scratch on procedural tasks (a base checkpoint)."""
    check_writable(out)
    from evalkit.train.sft import SFTConfig, train_sft
    from evalkit.train.tinymodel import TinyConfig

    path = train_sft(
        _specs(task),
        out,
        SFTConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, time_limit_s=time_limit),
        TinyConfig(hidden_size=hidden_size, layers=layers),
        log=lambda m: typer.echo(m, err=True),
    )
    typer.echo(str(path))


def _grpo_default(field: str) -> str:
    """GRPOConfig's default for ``field``, as the help page shows it (an option left out takes it, unless
    --config sets it)."""
    from dataclasses import MISSING, fields

    from evalkit.train.grpo_config import GRPOConfig

    (found,) = [f for f in fields(GRPOConfig) if f.name == field]
    value = found.default if found.default is not MISSING else None
    return "none" if value is None else str(value)


def _grpo_flag(field: str, on: str, off: str) -> str:
    return on if _grpo_default(field) == "True" else off


@train_app.command("grpo", cls=_Command)
def train_grpo_cmd(
    model: Annotated[str, typer.Option(help="Starting checkpoint.")],
    out: Annotated[Path, typer.Option(help="Output folder (final checkpoint, logs, state); rerun to resume.")],
    task: TaskOpt = [],  # noqa: B006
    eval_task: Annotated[list[str], typer.Option("--eval-task", help="Validation task spec (default: --task).")] = [],  # noqa: B006
    config: Annotated[
        Path | None,
        typer.Option(help="JSON file of GRPOConfig fields; flags override it.", show_default="none"),
    ] = None,
    steps: Annotated[int | None, typer.Option(show_default=_grpo_default("steps"))] = None,
    group_size: Annotated[
        int | None,
        typer.Option("--group-size", help="Samples per prompt (G).", show_default=_grpo_default("group_size")),
    ] = None,
    prompts_per_step: Annotated[
        int | None, typer.Option("--prompts-per-step", show_default=_grpo_default("prompts_per_step"))
    ] = None,
    temperature: Annotated[float | None, typer.Option(show_default=_grpo_default("temperature"))] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", show_default=_grpo_default("max_tokens"))] = None,
    lr: Annotated[float | None, typer.Option(show_default=_grpo_default("lr"))] = None,
    warmup_steps: Annotated[
        int | None, typer.Option("--warmup-steps", show_default=_grpo_default("warmup_steps"))
    ] = None,
    beta: Annotated[
        float | None, typer.Option(help="KL coefficient (k3 estimator).", show_default=_grpo_default("beta"))
    ] = None,
    eps_low: Annotated[float | None, typer.Option("--eps-low", show_default=_grpo_default("eps_low"))] = None,
    eps_high: Annotated[float | None, typer.Option("--eps-high", show_default=_grpo_default("eps_high"))] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Optimisation passes per rollout batch.", show_default=_grpo_default("epochs"))
    ] = None,
    scale_std: Annotated[
        bool | None,
        typer.Option(
            "--scale-std/--no-scale-std", show_default=_grpo_flag("scale_std", "--scale-std", "--no-scale-std")
        ),
    ] = None,
    dynamic_sampling: Annotated[
        bool | None,
        typer.Option(
            "--dynamic-sampling/--no-dynamic-sampling",
            show_default=_grpo_flag("dynamic_sampling", "--dynamic-sampling", "--no-dynamic-sampling"),
        ),
    ] = None,
    reset_every: Annotated[
        int | None,
        typer.Option(
            "--reset-every", help="Reset period in steps (0: never).", show_default=_grpo_default("reset_every")
        ),
    ] = None,
    reset_patience: Annotated[
        int | None,
        typer.Option(
            "--reset-patience", help="Reset after N stale evals.", show_default=_grpo_default("reset_patience")
        ),
    ] = None,
    mask_truncated: Annotated[
        bool | None,
        typer.Option(
            "--mask-truncated/--keep-truncated",
            show_default=_grpo_flag("mask_truncated", "--mask-truncated", "--keep-truncated"),
        ),
    ] = None,
    reward: Annotated[
        str | None, typer.Option(help="passed (0/1) or score (continuous).", show_default=_grpo_default("reward"))
    ] = None,
    eval_every: Annotated[
        int | None,
        typer.Option("--eval-every", help="Held-out eval period (0: never).", show_default=_grpo_default("eval_every")),
    ] = None,
    eval_n: Annotated[
        int | None,
        typer.Option("--eval-n", help="Samples per validation problem.", show_default=_grpo_default("eval_n")),
    ] = None,
    save_every: Annotated[
        int | None,
        typer.Option("--save-every", help="State save period in steps.", show_default=_grpo_default("save_every")),
    ] = None,
    seed: Annotated[int | None, typer.Option(show_default=_grpo_default("seed"))] = None,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", help="Stop after this many seconds.", show_default=_grpo_default("time_limit_s")),
    ] = None,
) -> None:
    """Train with GRPO and ProRL's controls: clip-higher, KL to a reference, resets, dynamic sampling."""
    check_writable(out)
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
    check_writable(out)
    from evalkit.determinism import pin_cpu_numerics_env

    pin_cpu_numerics_env()  # before anything imports torch
    from evalkit.cli.demo import run_demo

    run_demo(out, quick=quick, fresh=fresh)
