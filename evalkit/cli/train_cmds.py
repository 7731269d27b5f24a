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
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Stop after this many seconds.")] = None,
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
