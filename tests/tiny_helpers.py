"""The small trained checkpoint that tests and benchmarks sample from: a 2-layer, 64-wide character-level
Llama trained on 1-2 digit addition (a few seconds of CPU). Imports evalkit's trainer only when called."""

from __future__ import annotations

from pathlib import Path

TINY_TASK = "add@digits=2"


def train_tiny(out: Path, *, steps: int = 120, max_positions: int = 48) -> Path:
    """Train the tiny model for ``steps`` steps with a context of ``max_positions`` tokens; save it in ``out``."""
    from evalkit.tasks import TaskSpec
    from evalkit.train.sft import SFTConfig, train_sft
    from evalkit.train.tinymodel import TinyConfig

    train_sft(
        [TaskSpec.parse(TINY_TASK)],
        out,
        SFTConfig(steps=steps, batch_size=64, lr=5e-3, warmup=10, seed=0),
        TinyConfig(hidden_size=64, layers=2, heads=2, intermediate_size=128, max_positions=max_positions),
        log=lambda _msg: None,
    )
    return out
