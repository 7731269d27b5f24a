"""A small GRPO trainer with the controls ProRL (arXiv 2505.24864) relies on.

Implemented:

* group-relative advantages: reward minus the group mean, divided by the group std (``scale_std``;
  off gives Dr. GRPO's unscaled advantage, arXiv 2503.20783);
* the clipped importance ratio with decoupled bounds ``1 - eps_low`` / ``1 + eps_high`` (DAPO's
  clip-higher, arXiv 2503.14476; ProRL uses 0.2 / 0.4), over ``epochs`` optimisation passes per rollout
  batch so that the ratio moves away from 1;
* a KL penalty to a frozen reference policy with the k3 estimator ``exp(r) - r - 1``, r = ref - policy
  log-probs, weighted by ``beta``;
* reference reset: every ``reset_every`` steps the reference becomes a copy of the current policy and
  the optimizer state is discarded (ProRL's hard reset);
* dynamic sampling: groups whose rewards are all equal carry no signal and are dropped, and more
  prompts are drawn until the batch is full or ``max_rounds`` is reached;
* token-level loss aggregation (all completion tokens of the batch weigh the same); completions cut at
  ``max_tokens`` are masked out of the loss (``mask_truncated``) or kept with their reward;
* gradient-norm clipping, AdamW with a linear learning-rate warm-up at the start and after every
  optimizer reset (Adam's first steps move every weight by about the full learning rate), bf16
  autocast on CUDA.

Rewards come from the task's verifier, the same function evaluation uses (``passed`` as 0/1, or the
continuous ``score``). Rollouts use evalkit's own decoder (:mod:`evalkit.sampling.decode`).

Not implemented yet (see the GRPO issue): resets triggered by a stalled validation metric, resume after
a crash from optimizer and RNG state, periodic checkpoints, held-out pass@k during training,
TensorBoard logs, multi-GPU.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.decode import decode
from evalkit.sampling.hf import load_model_and_tokenizer
from evalkit.tasks import TaskSpec, get_family, make_problems
from evalkit.tinymodel import save_checkpoint
from evalkit.types import Problem

GRPO_SEED_OFFSET = 2_000_003  # RL prompts come from their own seed stream, apart from SFT's and evaluation's


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
    reward: str = "passed"
    grad_clip: float = 1.0
    seed: int = 0
    time_limit_s: float | None = None


def group_advantages(rewards: torch.Tensor, scale_std: bool, eps: float = 1e-4) -> torch.Tensor:
    """Advantages for rewards of shape (groups, G): centred per group, optionally scaled by its std."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if scale_std:
        return centred / (rewards.std(dim=1, keepdim=True, unbiased=True) + eps)
    return centred


def k3_kl(ref_logp: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(policy || ref): exp(r) - r - 1 with r = ref_logp - logp (>= 0)."""
    r = ref_logp - logp
    return torch.exp(r) - r - 1


def clipped_objective(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, eps_low: float, eps_high: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token PPO surrogate to maximise, min(ratio * A, clip(ratio, 1-eps_low, 1+eps_high) * A),
    and masks of tokens clipped at the low and at the high bound."""
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    objective = torch.minimum(ratio * adv, clipped * adv)
    low = (ratio < 1 - eps_low) & (adv < 0)
    high = (ratio > 1 + eps_high) & (adv > 0)
    return objective, low, high


def token_logprobs(model: Any, ids: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """Log-probability of each token given the ones before it; shape (rows, len - 1)."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)


def reset_reference(policy: torch.nn.Module, reference: torch.nn.Module) -> None:
    """ProRL's hard reset, reference half: the reference becomes an exact copy of the current policy.
    The caller also replaces the optimizer, so that Adam's moments start fresh."""
    reference.load_state_dict(policy.state_dict())


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
    reward_of: Callable[[Problem, str], float],
) -> list[list[Rollout]]:
    prompts = [tokenizer(p.prompt)["input_ids"] for p in problems]
    rows = [i for i in range(len(problems)) for _ in range(cfg.group_size)]
    seeds = [rng.getrandbits(63) for _ in rows]
    sampling = SamplingConfig(temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    outs = decode(model, [prompts[i] for i in rows], seeds, sampling, tokenizer.eos_token_id, tokenizer.pad_token_id)
    groups: list[list[Rollout]] = [[] for _ in problems]
    for i, out in zip(rows, outs, strict=True):
        text = tokenizer.decode(out.token_ids, skip_special_tokens=True)
        groups[i].append(
            Rollout(problems[i], prompts[i], out.token_ids, out.finish_reason, reward_of(problems[i], text))
        )
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


def train_grpo(
    model_path: str,
    specs: Sequence[TaskSpec],
    out: Path,
    cfg: GRPOConfig,
    log: Callable[[str], None] = print,
    device: str = "auto",
) -> Path:
    """Train with GRPO from ``model_path`` on problems of ``specs``; save an HF checkpoint to ``out``
    with ``train_log.jsonl`` (one JSON object per step) inside it."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    policy, tokenizer, device = load_model_and_tokenizer(model_path, device, "float32")
    reference = copy.deepcopy(policy).eval()
    for p in reference.parameters():
        p.requires_grad_(False)

    def new_optimizer() -> torch.optim.Optimizer:
        return torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))

    opt = new_optimizer()
    since_reset = 0
    families = {s.name: get_family(s.name) for s in specs}

    def reward_of(problem: Problem, text: str) -> float:
        verdict = families[problem.task].verify(problem, text)
        return float(verdict.passed) if cfg.reward == "passed" else float(verdict.score)

    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.startswith("cuda")
        else torch.autocast("cpu", enabled=False)
    )
    logs: list[dict[str, Any]] = []
    drawn = 0
    start = time.monotonic()
    for step in range(cfg.steps):
        t0 = time.monotonic()
        policy.eval()
        kept: list[list[Rollout]] = []
        all_rewards: list[float] = []
        zero_std = total_groups = rounds = 0
        while len(kept) < cfg.prompts_per_step and rounds < (cfg.max_rounds if cfg.dynamic_sampling else 1):
            need = cfg.prompts_per_step - len(kept)
            problems = []
            for _ in range(need):
                spec = specs[rng.randrange(len(specs))]
                problems.append(make_problems(spec, GRPO_SEED_OFFSET + cfg.seed, 1, start=drawn)[0])
                drawn += 1
            for group in _rollouts(policy, tokenizer, problems, cfg, rng, reward_of):
                rewards = [r.reward for r in group]
                all_rewards.extend(rewards)
                total_groups += 1
                flat = max(rewards) == min(rewards)
                zero_std += flat
                if not (cfg.dynamic_sampling and flat):
                    kept.append(group)
            rounds += 1
        t_gen = time.monotonic() - t0
        row: dict[str, Any] = {
            "step": step,
            "reward_mean": sum(all_rewards) / len(all_rewards),
            "reward_std": float(torch.tensor(all_rewards).std()) if len(all_rewards) > 1 else 0.0,
            "zero_std_frac": zero_std / max(1, total_groups),
            "sampling_rounds": rounds,
            "groups_used": len(kept),
        }
        if cfg.reset_every and step > 0 and step % cfg.reset_every == 0:
            reset_reference(policy, reference)
            opt = new_optimizer()
            since_reset = 0
            row["reset"] = True
        for param_group in opt.param_groups:
            param_group["lr"] = cfg.lr * min(1.0, (since_reset + 1) / max(1, cfg.warmup_steps))
        row["lr"] = opt.param_groups[0]["lr"]
        since_reset += 1
        if kept:
            policy.train()
            ids, attn, mask = _batch(kept, tokenizer.pad_token_id, device, cfg.mask_truncated)
            rewards_t = torch.tensor([[r.reward for r in g] for g in kept], dtype=torch.float32)
            adv = group_advantages(rewards_t, cfg.scale_std).reshape(-1, 1).to(device)
            with torch.no_grad(), autocast:
                old_logp = token_logprobs(policy, ids, attn)
                ref_logp = token_logprobs(reference, ids, attn) if cfg.beta else old_logp
            n_tok = mask.sum().clamp(min=1)
            for _ in range(cfg.epochs):
                with autocast:
                    logp = token_logprobs(policy, ids, attn)
                objective, low, high = clipped_objective(logp, old_logp, adv, cfg.eps_low, cfg.eps_high)
                kl = k3_kl(ref_logp, logp)
                loss = ((-objective + cfg.beta * kl) * mask).sum() / n_tok
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
                opt.step()
            lengths = [len(r.token_ids) for g in kept for r in g]
            row.update(
                {
                    "loss": float(loss.detach()),
                    "kl": float((kl.detach() * mask).sum() / n_tok),
                    "entropy_proxy": float((-old_logp * mask).sum() / n_tok),
                    "clip_low_frac": float((low.float() * mask).sum() / n_tok),
                    "clip_high_frac": float((high.float() * mask).sum() / n_tok),
                    "grad_norm": float(grad_norm),
                    "mean_length": sum(lengths) / len(lengths),
                    "truncated_frac": sum(r.finish_reason == "length" for g in kept for r in g) / len(lengths),
                    "tokens_per_s": sum(lengths) / max(t_gen, 1e-9),
                }
            )
        row["seconds_generation"] = round(t_gen, 3)
        row["seconds_update"] = round(time.monotonic() - t0 - t_gen, 3)
        logs.append(row)
        if step % 10 == 0 or step == cfg.steps - 1:
            log(
                f"grpo step {step:4d}  reward {row['reward_mean']:.3f}  kl {row.get('kl', 0):.4f}  "
                f"zero-std {row['zero_std_frac']:.2f}  {time.monotonic() - start:6.1f}s"
            )
        if cfg.time_limit_s is not None and time.monotonic() - start > cfg.time_limit_s:
            log(f"grpo: time limit {cfg.time_limit_s:.0f}s reached after step {step}")
            break
    policy.eval()
    extra = {
        "kind": "grpo",
        "base": model_path,
        "tasks": [s.to_json() for s in specs],
        "config": asdict(cfg),
        "steps_done": len(logs),
        "seconds": round(time.monotonic() - start, 1),
    }
    text = "".join(json.dumps(r) + "\n" for r in logs)
    return save_checkpoint(policy, tokenizer, out, extra, files={"train_log.jsonl": text})
