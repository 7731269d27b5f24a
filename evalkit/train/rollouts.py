"""GRPO rollouts: a group of sampled completions per prompt with their rewards, and the padded batch the
update trains on (completion tokens masked in, optionally not those cut at the token limit)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.decode import Workspace, completion_text, decode
from evalkit.types import Problem

if TYPE_CHECKING:
    from evalkit.train.grpo_config import GRPOConfig


@dataclass
class Rollout:
    problem: Problem
    prompt_ids: list[int]
    token_ids: list[int]
    finish_reason: str
    reward: float


def _rollouts(
    model: Any,
    tokenizer: Any,
    problems: Sequence[Problem],
    cfg: GRPOConfig,
    rng: random.Random,
    rewards_of: Callable[[Sequence[tuple[Problem, str, str]]], list[float]],
    eos_ids: Sequence[int],
    pad_id: int,
    workspace: Workspace | None = None,
) -> list[list[Rollout]]:
    prompts = [tokenizer(p.prompt)["input_ids"] for p in problems]
    rows = [i for i in range(len(problems)) for _ in range(cfg.group_size)]
    seeds = [rng.getrandbits(63) for _ in rows]
    sampling = SamplingConfig(temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    outs = decode(
        model,
        [prompts[i] for i in rows],
        seeds,
        sampling,
        eos_ids,
        pad_id,
        workspace=workspace,
    )
    texts = [completion_text(tokenizer, out.token_ids, eos_ids) for out in outs]
    rewards = rewards_of([(problems[i], t, out.finish_reason) for i, t, out in zip(rows, texts, outs, strict=True)])
    groups: list[list[Rollout]] = [[] for _ in problems]
    for i, out, reward in zip(rows, outs, rewards, strict=True):
        groups[i].append(Rollout(problems[i], prompts[i], out.token_ids, out.finish_reason, reward))
    return groups


def _batch(
    groups: list[list[Rollout]], pad_id: int, device: str, mask_truncated: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    flat = [r for g in groups for r in g]
    width = max(len(r.prompt_ids) + len(r.token_ids) for r in flat)
    ids = torch.full((len(flat), width), pad_id, dtype=torch.long)
    attn = torch.zeros_like(ids)
    mask = torch.zeros((len(flat), width - 1))
    for i, r in enumerate(flat):
        seq = r.prompt_ids + r.token_ids
        ids[i, : len(seq)] = torch.tensor(seq)
        attn[i, : len(seq)] = 1
        if not (mask_truncated and r.finish_reason == "length"):
            mask[i, len(r.prompt_ids) - 1 : len(seq) - 1] = 1.0  # positions that predict generated tokens
    return ids.to(device), attn.to(device), mask.to(device)
