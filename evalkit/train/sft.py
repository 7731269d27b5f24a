"""Supervised training of a tiny base model on procedural tasks.

Each step draws a fresh batch of problems from the task generators (seeded, so training is
reproducible), and trains on ``<bos> prompt answer <eos>`` with the loss on the answer and ``<eos>``
tokens only. AdamW with linear warm-up and cosine decay. This is how evalkit makes its own base
checkpoints offline; it is not a general fine-tuning tool.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalkit.tasks.registry import TaskSpec, make_problems
from evalkit.train.tinymodel import TinyConfig, build_model, build_tokenizer, save_checkpoint

LOG_EVERY_S = 10.0  # a progress line at least this often, however slow the machine
TRAIN_SEED_OFFSET = 1_000_003  # training problems never use the small seeds evaluation defaults to


@dataclass(frozen=True)
class SFTConfig:
    steps: int = 1000
    batch_size: int = 128
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.01
    seed: int = 0
    time_limit_s: float | None = None


def encode_pair(tokenizer: Any, prompt: str, answer: str) -> tuple[list[int], int]:
    """Token ids of ``<bos> prompt answer <eos>`` and the index where the answer starts."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return [*prompt_ids, *answer_ids, tokenizer.eos_token_id], len(prompt_ids)


def train_sft(
    specs: Sequence[TaskSpec],
    out: Path,
    config: SFTConfig,
    model_config: TinyConfig | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Train a tiny model from scratch on ``specs`` and save it to ``out`` (an HF directory)."""
    import torch

    torch.manual_seed(config.seed)
    tokenizer = build_tokenizer()
    mcfg = model_config or TinyConfig()
    model = build_model(tokenizer, mcfg, seed=config.seed)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < config.warmup:
            return config.lr * (step + 1) / config.warmup
        progress = (step - config.warmup) / max(1, config.steps - config.warmup)
        return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    rng = random.Random(config.seed)
    model.train()
    start = last_log = time.monotonic()
    loss_value = float("nan")
    step = 0
    for step in range(config.steps):
        batch = []
        for j in range(config.batch_size):
            spec = specs[rng.randrange(len(specs))]
            problem = make_problems(spec, TRAIN_SEED_OFFSET + config.seed, 1, start=step * config.batch_size + j)[0]
            batch.append(encode_pair(tokenizer, problem.prompt, problem.reference))
        width = max(len(ids) for ids, _ in batch)
        if width > mcfg.max_positions:
            raise ValueError(f"a training sequence has {width} tokens; the model holds {mcfg.max_positions}")
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, answer_start) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, answer_start : len(ids)] = torch.tensor(ids[answer_start:])
            attn[i, : len(ids)] = 1
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = model(input_ids=input_ids, attention_mask=attn, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_value = float(loss.detach())
        now = time.monotonic()
        if step % 100 == 0 or step == config.steps - 1 or now - last_log >= LOG_EVERY_S:
            log(f"sft step {step:5d}/{config.steps}  loss {loss_value:.4f}  lr {lr_at(step):.2e}  {now - start:6.1f}s")
            last_log = now
        if config.time_limit_s is not None and time.monotonic() - start > config.time_limit_s:
            log(f"sft: time limit {config.time_limit_s:.0f}s reached at step {step}")
            break
    model.eval()
    extra = {
        "kind": "sft",
        "tasks": [s.to_json() for s in specs],
        "config": asdict(config),
        "model_config": asdict(mcfg),
        "parameters": n_params,
        "steps_done": step + 1,
        "final_loss": loss_value,
        "seconds": round(time.monotonic() - start, 1),
    }
    return save_checkpoint(model, tokenizer, out, extra)
