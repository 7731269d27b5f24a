"""GRPO on a standard architecture without a pad token: a GPT-2-style checkpoint built here (random weights,
dropout on, a character-level tokenizer made with ``tokenizers``, no pad token), trained at T != 1."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.tasks import TaskSpec
from evalkit.train.grpo import GRPOConfig, GRPOTrainer, Rollout, token_logprobs, train_grpo

EOS = "<|endoftext|>"
CHARS = "0123456789+="  # what 1-digit addition prompts and answers are made of


def build_gpt2_checkpoint(out: Path, seed: int = 0, dropout: float = 0.1) -> Path:
    """A 2-layer, 32-wide ``GPT2LMHeadModel`` with random weights and a char-level tokenizer whose only
    special token is ``<|endoftext|>`` (bos = eos = unk, no pad token: as GPT-2's own tokenizer)."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([EOS, *CHARS])}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=EOS))
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=EOS, eos_token=EOS, unk_token=EOS)
    assert tokenizer.pad_token_id is None
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=32,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
    )
    GPT2LMHeadModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def gpt2_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gpt2_checkpoint(tmp_path_factory.mktemp("gpt2") / "ckpt")


TASK = [TaskSpec.parse("add@digits=1")]


def _groups(trainer: GRPOTrainer, rewards: list[float]) -> list[list[Rollout]]:
    """Two groups of real rollouts (sampled at the trainer's temperature) with the given rewards."""
    from evalkit.tasks import make_problems
    from evalkit.train.grpo import _rollouts

    problems = make_problems(TASK[0], 0, 2)
    it = iter(rewards)
    return _rollouts(
        trainer.policy,
        trainer.tokenizer,
        problems,
        trainer.cfg,
        trainer.rng,
        lambda items: [next(it) for _ in items],
        trainer.eos_ids,
        trainer.pad_id,
    )


@pytest.mark.parametrize("temperature", [0.6, 1.0, 1.3])
def test_first_pass_ratio_is_exactly_one_and_log_probs_are_at_the_rollout_temperature(
    gpt2_ckpt: Path, tmp_path: Path, temperature: float
) -> None:
    cfg = GRPOConfig(group_size=4, temperature=temperature, max_tokens=3, epochs=2, beta=0.05, seed=1)
    trainer = GRPOTrainer(str(gpt2_ckpt), TASK, tmp_path / "rl", cfg, log=lambda _m: None, device="cpu")
    assert trainer.pad_id == trainer.tokenizer.eos_token_id == 0  # the fallback: no pad token
    groups = _groups(trainer, [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    # rows of different lengths: padding (with the eos id) really happens
    assert len({len(r.prompt_ids) + len(r.token_ids) for g in groups for r in g}) > 1

    from evalkit.train.grpo import _batch

    ids, attn, mask = _batch(groups, trainer.pad_id, "cpu", cfg.mask_truncated)
    with torch.no_grad():
        trainer.policy.eval()
        logits = trainer.policy(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
        expected = torch.log_softmax(logits / temperature, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        got = token_logprobs(trainer.policy, ids, attn, temperature)
        assert torch.allclose(got, expected, atol=1e-6)
        if temperature != 1.0:
            assert not torch.allclose(got, token_logprobs(trainer.policy, ids, attn), atol=1e-3)
        # the model does have dropout: in train mode two passes differ
        trainer.policy.train()
        a, b = (token_logprobs(trainer.policy, ids, attn, temperature) for _ in range(2))
        assert not torch.equal(a, b)
        trainer.policy.eval()
    expected_entropy = float((-expected * mask).sum() / mask.sum())
    before = [p.detach().clone() for p in trainer.policy.parameters()]

    row = trainer.update(groups)

    assert row["ratio_max_dev"] == 0.0  # exactly 1: same temperature, dropout off, same weights
    assert row["entropy"] == pytest.approx(expected_entropy, rel=1e-5)  # the old log-probs are at T
    assert all(math.isfinite(v) for v in row.values())
    assert not trainer.policy.training
    changed = any(not torch.equal(p, q) for p, q in zip(before, trainer.policy.parameters(), strict=True))
    assert changed and all(bool(torch.isfinite(p).all()) for p in trainer.policy.parameters())


def test_gpt2_without_pad_token_trains_at_temperature_1_3(gpt2_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "rl"
    cfg = GRPOConfig(
        steps=3,
        group_size=8,
        prompts_per_step=4,
        temperature=1.3,
        max_tokens=1,
        mask_truncated=False,  # one-token answers are all cut at max_tokens; keep them in the loss
        dynamic_sampling=False,
        lr=1e-3,
        epochs=2,
        eval_every=3,
        eval_problems=4,
        eval_n=4,
        seed=0,
    )
    train_grpo(str(gpt2_ckpt), TASK, out, cfg, log=lambda _m: None, device="cpu")
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert any(r["reward_std"] > 0 for r in rows)  # random one-digit answers are sometimes right
    for r in rows:
        assert all(math.isfinite(v) for v in r.values() if isinstance(v, float)), r
        assert r["ratio_max_dev"] == 0.0
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(gpt2_ckpt)
    trained = AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).pad_token_id is None  # the checkpoint's tokenizer is unchanged
    weights = list(trained.parameters())
    assert all(bool(torch.isfinite(p).all()) for p in weights)
    assert any(not torch.equal(p, q) for p, q in zip(base.parameters(), weights, strict=True))


def test_a_step_without_learning_signal_is_warned_about(gpt2_ckpt: Path, tmp_path: Path) -> None:
    cfg = GRPOConfig(steps=2, group_size=2, prompts_per_step=2, max_tokens=2, dynamic_sampling=False, max_rounds=1)
    lines: list[str] = []
    trainer = GRPOTrainer(str(gpt2_ckpt), TASK, tmp_path / "rl", cfg, log=lines.append, device="cpu")
    trainer.rewards_of = lambda items: [0.0] * len(items)  # type: ignore[method-assign]
    trainer.train()
    warnings = [line for line in lines if "no learning signal" in line]
    assert len(warnings) == 1 and "step 0" in warnings[0], lines  # said once for a run of such steps
    rows = [json.loads(line) for line in (tmp_path / "rl" / "train_log.jsonl").read_text().splitlines()]
    assert [r.get("no_signal") for r in rows] == [True, True]


def test_group_size_one_is_refused(gpt2_ckpt: Path, tmp_path: Path) -> None:
    cfg = GRPOConfig(steps=1, group_size=1, dynamic_sampling=False)
    with pytest.raises(EvalkitError, match="group-size must be at least 2"):
        train_grpo(str(gpt2_ckpt), TASK, tmp_path / "rl", cfg, log=lambda _m: None)
    out = tmp_path / "cli"
    args = ["train", "grpo", "--model", str(gpt2_ckpt), "--task", "add@digits=1", "--out", str(out)]
    args += ["--group-size", "1", "--no-dynamic-sampling", "--steps", "1"]
    done = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "group-size must be at least 2" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
