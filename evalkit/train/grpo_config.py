"""GRPO's configuration (every control can be switched off) and the counters saved with its weights."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError


@dataclass(frozen=True)
class GRPOConfig:
    """Training configuration; every control can be switched off."""

    steps: int = 100
    group_size: int = 16
    prompts_per_step: int = 32
    temperature: float = 1.0
    max_tokens: int = 16
    lr: float = 1e-4
    warmup_steps: int = 10
    beta: float = 0.01
    eps_low: float = 0.2
    eps_high: float = 0.4
    epochs: int = 2
    scale_std: bool = True
    dynamic_sampling: bool = True
    max_rounds: int = 3
    reset_every: int = 0
    mask_truncated: bool = True
    reset_patience: int = 0
    reward: str = "passed"
    grad_clip: float = 1.0
    eval_every: int = 0
    eval_problems: int = 32
    eval_n: int = 64
    save_every: int = 10
    seed: int = 0
    time_limit_s: float | None = None

    @classmethod
    def from_file(cls, path: Path, **overrides: Any) -> GRPOConfig:
        """Load a JSON config file; keys must be field names. ``overrides`` (flags) win."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise EvalkitError(f"{path}: cannot read GRPO config ({exc})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise EvalkitError(
                f"{path}: unknown GRPO config key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return cls(**{**data, **overrides})


@dataclass
class _Counters:
    """Training progress that must survive a crash together with the weights."""

    step: int = 0  # the next step to run
    drawn: int = 0  # training prompts drawn so far (the prompt stream's position)
    since_reset: int = 0
    best_eval: float = -1.0
    stale_evals: int = 0
    reset_pending: bool = False
