"""GRPO pieces against hand-computed values, the reset, and a short run on a tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from evalkit.tasks import TaskSpec
from evalkit.train.grpo import (
    GRPOConfig,
    clipped_objective,
    group_advantages,
    k3_kl,
    reset_reference,
    train_grpo,
)


def test_group_advantages_scaled_and_unscaled() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    unscaled = group_advantages(rewards, scale_std=False)
    assert unscaled.tolist() == [[0.5, -0.5, -0.5, 0.5], [0.0, 0.0, 0.0, 0.0]]
    scaled = group_advantages(rewards, scale_std=True, eps=0.0)
    std = math.sqrt((4 * 0.25) / 3)  # unbiased std of [1, 0, 0, 1]
    assert scaled[0].tolist() == pytest.approx([0.5 / std, -0.5 / std, -0.5 / std, 0.5 / std])
    # an all-equal group has zero advantage (eps keeps it finite)
    assert group_advantages(rewards, scale_std=True)[1].abs().max() == 0


def test_k3_kl_values() -> None:
    logp = torch.tensor([math.log(0.5), math.log(0.2)])
    ref = torch.tensor([math.log(0.5), math.log(0.4)])
    kl = k3_kl(ref, logp)
    r = math.log(0.4) - math.log(0.2)
    assert kl.tolist() == pytest.approx([0.0, math.exp(r) - r - 1])
    assert (k3_kl(torch.randn(100), torch.randn(100)) >= 0).all()


def test_clipped_objective_decoupled_bounds() -> None:
    old = torch.zeros(4)
    # ratios 1.5, 1.5, 0.5, 0.5 with advantages +1, -1, +1, -1
    logp = torch.log(torch.tensor([1.5, 1.5, 0.5, 0.5]))
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    obj, low, high = clipped_objective(logp, old, adv, eps_low=0.2, eps_high=0.4)
    # +A above 1+eps_high is capped at 1.4; -A keeps the worse (unclipped) 1.5 * -1;
    # +A below 1-eps_low keeps 0.5; -A below 1-eps_low is capped at 0.8 * -1
    assert obj.tolist() == pytest.approx([1.4, -1.5, 0.5, -0.8])
    assert high.tolist() == [True, False, False, False]
    assert low.tolist() == [False, False, False, True]


def test_ratio_of_one_is_plain_policy_gradient() -> None:
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    obj, _, _ = clipped_objective(logp, logp.detach(), torch.tensor([2.0, -1.0]), 0.2, 0.4)
    obj.sum().backward()
    assert logp.grad is not None and logp.grad.tolist() == pytest.approx([2.0, -1.0])


def test_reset_makes_reference_equal_policy() -> None:
    torch.manual_seed(0)
    policy, reference = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    assert not torch.equal(policy.weight, reference.weight)
    reset_reference(policy, reference)
    for a, b in zip(policy.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


def test_short_run_writes_loadable_checkpoint_and_log(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "rl"
    cfg = GRPOConfig(steps=4, group_size=4, prompts_per_step=4, max_tokens=6, reset_every=2, seed=1)
    train_grpo(str(tiny_ckpt), [TaskSpec.parse("add@digits=2")], out, cfg, log=lambda _m: None)
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert rows[2].get("reset") is True
    for key in ("reward_mean", "zero_std_frac", "sampling_rounds", "seconds_generation"):
        assert key in rows[0]
    from evalkit.sampling.hf import load_model_and_tokenizer

    model, _tok, _dev = load_model_and_tokenizer(str(out), "cpu", "float32")
    assert sum(p.numel() for p in model.parameters()) > 0
