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

Real checkpoints:

* log-probabilities are those of the sampling distribution: logits are divided by the rollout
  ``temperature`` before the log-softmax in every log-prob pass (as TRL does), so the ratio, the clip,
  the KL and the entropy describe the policy that produced the rollouts; the first optimisation pass has
  a ratio of exactly 1 (logged as ``ratio_max_dev``);
* dropout is off in every pass: rollouts, the reference and old-policy log-probs and the training pass
  itself run with the model in eval mode (gradients flow the same; only dropout and similar
  train-mode layers are disabled), so the ratio measures the policy change alone;
* checkpoints without a pad token (GPT-2 and many base models) pad with their end-of-sequence id
  (padding is masked out); rollouts stop at every end-of-sequence id the checkpoint declares
  (:func:`evalkit.sampling.hf.eos_token_ids`);
* ``group_size`` must be at least 2 (a group of one has no spread to learn from and an undefined std),
  and a step whose groups all have zero reward spread logs a warning that it has no learning signal.

Rewards come from the task's verifier, the same function evaluation uses (``passed`` as 0/1, or the
continuous ``score``), run in the same confined verifier workers (:class:`evalkit.verify.Verifier`).
Rollouts use evalkit's own decoder (:mod:`evalkit.sampling.decode`).

* resets also triggered when held-out pass@1 has not improved for ``reset_patience`` evaluations;
* held-out evaluation every ``eval_every`` steps (pass@1 and pass@n over ``eval_n`` samples per
  problem), logged to ``eval_log.jsonl``, with an HF checkpoint per evaluation under
  ``checkpoints/step-NNNNNN`` so the frontier can be followed across training;
* crash safety: the full training state (policy, reference, optimizer, RNG streams, counters) is saved
  atomically every ``save_every`` steps; rerunning the same command after a kill continues from it and
  refuses a changed configuration.

Not implemented: PPO-style value functions (GRPO has none), TensorBoard output, multiple GPUs or
sequence packing, a learning-rate schedule beyond the warm-up, entropy bonuses, overlong-length reward
shaping (DAPO), and KL on anything but the sampled tokens.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig, sample_seed
from evalkit.sampling.decode import Workspace, completion_text, decode
from evalkit.sampling.hf import eos_token_ids, load_model_and_tokenizer, pad_token_id
from evalkit.stats import pass_at_k
from evalkit.tasks.registry import TaskSpec, get_family, make_problems
from evalkit.train.grpo_config import GRPOConfig, _Counters
from evalkit.train.objective import clipped_objective, group_advantages, k3_kl, reset_reference, token_logprobs
from evalkit.train.rollouts import Rollout, _batch, _rollouts
from evalkit.train.sft import LOG_EVERY_S
from evalkit.train.tinymodel import save_checkpoint
from evalkit.types import Problem
from evalkit.verify.stage import Verifier

__all__ = [
    "GRPO_SEED_OFFSET",
    "GRPOConfig",
    "GRPOTrainer",
    "Rollout",
    "clipped_objective",
    "group_advantages",
    "k3_kl",
    "reset_reference",
    "token_logprobs",
    "train_grpo",
]

GRPO_SEED_OFFSET = 2_000_003  # RL prompts come from their own seed stream, apart from SFT's and evaluation's


VAL_SEED = 3_000_017  # validation problems: apart from training prompts and from evaluation's small seeds


class GRPOTrainer:
    """One GRPO run writing into ``out``: the final HF checkpoint at the top of ``out``, plus
    ``train_log.jsonl``, ``eval_log.jsonl``, ``checkpoints/step-NNNNNN/`` and ``train_state/``."""

    def __init__(
        self,
        model_path: str,
        specs: Sequence[TaskSpec],
        out: Path,
        cfg: GRPOConfig,
        log: Callable[[str], None] = print,
        device: str = "auto",
        eval_specs: Sequence[TaskSpec] | None = None,
    ) -> None:
        if not specs:
            raise EvalkitError("train grpo: give at least one --task")
        if cfg.reward not in ("passed", "score"):
            raise EvalkitError(f"train grpo: reward must be 'passed' or 'score' (got {cfg.reward!r})")
        if cfg.group_size < 2:
            raise EvalkitError(
                f"train grpo: --group-size must be at least 2 (got {cfg.group_size}): advantages compare the "
                "samples of one prompt with each other, and a group of one has nothing to compare with"
            )
        if cfg.temperature <= 0:
            raise EvalkitError(
                f"train grpo: --temperature must be > 0 (got {cfg.temperature}); GRPO needs sampled rollouts"
            )
        self.cfg, self.specs, self.out, self.log = cfg, list(specs), Path(out), log
        self.eval_specs = list(eval_specs or specs)
        self.model_path = model_path
        self.policy, self.tokenizer, self.device = load_model_and_tokenizer(model_path, device, "float32")
        self.eos_ids = eos_token_ids(self.policy, self.tokenizer)
        if not self.eos_ids:
            raise EvalkitError(f"model {model_path!r}: it declares no end-of-sequence token to end rollouts")
        self.pad_id = pad_token_id(self.tokenizer, self.eos_ids)  # the eos id when there is no pad token
        self.reference = copy.deepcopy(self.policy).eval()
        self.workspace = Workspace()  # decode buffers reused across rollouts and evals
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.opt = self._new_optimizer()
        self.rng = random.Random(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.counters = _Counters()
        self.families = {s.name: get_family(s.name) for s in [*self.specs, *self.eval_specs]}
        self.verifier: Verifier | None = None
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if self.device.startswith("cuda")
            else torch.autocast("cpu", enabled=False)
        )

    # -- state ------------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        from evalkit.sampling.identity import model_identity

        cfg = {k: v for k, v in asdict(self.cfg).items() if k != "time_limit_s"}
        return {
            **model_identity("hf", self.model_path),
            "tasks": [s.to_json() for s in self.specs],
            "eval_tasks": [s.to_json() for s in self.eval_specs],
            "config": cfg,
        }

    def _new_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.policy.parameters(), lr=self.cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))

    def save_state(self) -> None:
        """Write the whole training state atomically (a crash leaves the previous state intact)."""
        folder = self.out / "train_state"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{os.getpid()}-state.pt"
        torch.save(
            {
                "policy": self.policy.state_dict(),
                "reference": self.reference.state_dict(),
                "optimizer": self.opt.state_dict(),
                "python_rng": self.rng.getstate(),
                "torch_rng": torch.get_rng_state(),
                "counters": asdict(self.counters),
            },
            tmp,
        )
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, folder / "state.pt")

    def try_resume(self) -> bool:
        """Continue from ``train_state/`` when it exists; refuse when the configuration changed."""
        from evalkit.store import describe_changes

        folder = self.out / "train_state"
        identity = self.identity()
        id_path = folder / "identity.json"
        if id_path.is_file():
            old = json.loads(id_path.read_text())
            if old != identity:
                changes = "; ".join(describe_changes(old, identity))
                raise EvalkitError(
                    f"{self.out}: refusing to resume a different GRPO run ({changes}); use another --out"
                )
        else:
            if self.out.exists() and any(self.out.iterdir()):
                raise EvalkitError(f"{self.out}: exists and is not a GRPO run directory; choose another --out")
            folder.mkdir(parents=True, exist_ok=True)
            id_path.write_text(json.dumps(identity, indent=1))
            return False
        state_path = folder / "state.pt"
        if not state_path.is_file():  # killed before the first save: start over, dropping partial logs
            self._truncate_log(self.out / "train_log.jsonl", lambda step: False)
            self._truncate_log(self.out / "eval_log.jsonl", lambda step: False)
            return False
        state = torch.load(state_path, weights_only=False)
        self.policy.load_state_dict(state["policy"])
        self.reference.load_state_dict(state["reference"])
        self.opt.load_state_dict(state["optimizer"])
        self.rng.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.counters = _Counters(**state["counters"])
        # drop log rows of steps that will be redone; an evaluation at the saved step was done before the save
        next_step = self.counters.step
        self._truncate_log(self.out / "train_log.jsonl", lambda step: step < next_step)
        self._truncate_log(self.out / "eval_log.jsonl", lambda step: step <= next_step)
        self.log(f"grpo: resuming {self.out} at step {self.counters.step}")
        return True

    @staticmethod
    def _truncate_log(path: Path, keep: Callable[[int], bool]) -> None:
        if not path.is_file():
            return
        kept: list[str] = []
        for line in path.read_text().splitlines():
            try:
                if keep(json.loads(line)["step"]):
                    kept.append(line + "\n")
            except (json.JSONDecodeError, KeyError, TypeError):
                break  # a torn last line
        tmp = path.with_name(f".tmp-{path.name}")
        tmp.write_text("".join(kept))
        os.replace(tmp, path)

    def _append(self, name: str, row: dict[str, Any]) -> None:
        with (self.out / name).open("a") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    # -- pieces of a step -------------------------------------------------------------------------
    def rewards_of(self, items: Sequence[tuple[Problem, str, str]]) -> list[float]:
        """Rewards of ``(problem, text, finish_reason)`` items, verified together in the confined workers."""
        if self.verifier is None:  # confined workers, started once (see evalkit.verify.Verifier)
            self.verifier = Verifier({type(f) for f in self.families.values()})
        verdicts = self.verifier.verify_many(items)
        return [float(v.passed) if self.cfg.reward == "passed" else float(v.score) for v in verdicts]

    def collect(self) -> tuple[list[list[Rollout]], dict[str, Any]]:
        """Rollouts for one step; with dynamic sampling, groups of equal rewards are replaced (bounded)."""
        cfg, c = self.cfg, self.counters
        kept: list[list[Rollout]] = []
        rewards: list[float] = []
        zero_std = total = rounds = 0
        while len(kept) < cfg.prompts_per_step and rounds < (cfg.max_rounds if cfg.dynamic_sampling else 1):
            problems = []
            for _ in range(cfg.prompts_per_step - len(kept)):
                spec = self.specs[self.rng.randrange(len(self.specs))]
                problems.append(make_problems(spec, GRPO_SEED_OFFSET + cfg.seed, 1, start=c.drawn)[0])
                c.drawn += 1
            for group in _rollouts(
                self.policy,
                self.tokenizer,
                problems,
                cfg,
                self.rng,
                self.rewards_of,
                self.eos_ids,
                self.pad_id,
                self.workspace,
            ):
                values = [r.reward for r in group]
                rewards.extend(values)
                total += 1
                flat = max(values) == min(values)
                zero_std += flat
                if not (cfg.dynamic_sampling and flat):
                    kept.append(group)
            rounds += 1
        stats = {
            "reward_mean": sum(rewards) / len(rewards),
            "reward_std": float(torch.tensor(rewards).std()) if len(rewards) > 1 else 0.0,
            "zero_std_frac": zero_std / max(1, total),
            "sampling_rounds": rounds,
            "groups_used": len(kept),
        }
        return kept, stats

    def update(self, groups: list[list[Rollout]]) -> dict[str, Any]:
        """Several clipped-ratio passes over one rollout batch; returns the step's metrics.

        Every log-prob pass runs at the rollout temperature with dropout off (the model in eval mode, the
        training pass included), so the first pass reproduces the old log-probs and its ratio is exactly
        1; ``ratio_max_dev`` records max |ratio - 1| over that pass's loss tokens.

        Raises:
            EvalkitError: when the loss is not finite (the weights are left as they were).
        """
        cfg = self.cfg
        temp = cfg.temperature
        self.policy.eval()  # dropout off: the ratio must measure the policy change, not dropout noise
        ids, attn, mask = _batch(groups, self.pad_id, self.device, cfg.mask_truncated)
        rewards = torch.tensor([[r.reward for r in g] for g in groups], dtype=torch.float32)
        adv = group_advantages(rewards, cfg.scale_std).reshape(-1, 1).to(self.device)
        with torch.no_grad(), self.autocast:
            ref_logp = token_logprobs(self.reference.eval(), ids, attn, temp) if cfg.beta else None
            # with several passes the rollout policy's log-probs are needed before the first update
            old_logp = token_logprobs(self.policy, ids, attn, temp) if cfg.epochs > 1 else None
        n_tok = mask.sum().clamp(min=1)
        ratio_max_dev = 0.0
        for epoch in range(cfg.epochs):
            with self.autocast:
                logp = token_logprobs(self.policy, ids, attn, temp)
            if old_logp is None:  # one pass: the current policy is the rollout policy, the ratio is exactly 1
                old_logp = logp.detach()
            if epoch == 0:
                dev = (torch.exp(logp.detach() - old_logp) - 1).abs() * mask
                ratio_max_dev = float(dev.max()) if dev.numel() else 0.0
            objective, low, high = clipped_objective(logp, old_logp, adv, cfg.eps_low, cfg.eps_high)
            kl = k3_kl(ref_logp, logp) if ref_logp is not None else torch.zeros_like(logp)
            loss = ((-objective + cfg.beta * kl) * mask).sum() / n_tok
            if not bool(torch.isfinite(loss)):
                raise EvalkitError(
                    f"train grpo: the loss is {float(loss)} at step {self.counters.step}; the weights were "
                    "not updated (lower --lr, or check the rewards)"
                )
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.grad_clip)
            self.opt.step()
        self.policy.eval()
        assert old_logp is not None  # set before or during the first pass
        flat = [r for g in groups for r in g]
        return {
            "loss": float(loss.detach()),
            "kl": float((kl.detach() * mask).sum() / n_tok),  # 0 when beta = 0 (no reference forward)
            "entropy": float((-old_logp * mask).sum() / n_tok),  # sampled tokens: an unbiased entropy estimate
            "clip_low_frac": float((low.float() * mask).sum() / n_tok),
            "clip_high_frac": float((high.float() * mask).sum() / n_tok),
            "grad_norm": float(grad_norm),
            "ratio_max_dev": ratio_max_dev,
            "mean_length": sum(len(r.token_ids) for r in flat) / len(flat),
            "truncated_frac": sum(r.finish_reason == "length" for r in flat) / len(flat),
        }

    def evaluate(self) -> dict[str, Any]:
        """pass@1 and pass@eval_n on held-out validation problems (seeded per sample)."""
        cfg = self.cfg
        problems = [p for spec in self.eval_specs for p in make_problems(spec, VAL_SEED, cfg.eval_problems)]
        sampling = SamplingConfig(temperature=cfg.temperature, max_tokens=cfg.max_tokens)
        counts = []
        for problem in problems:
            prompt = self.tokenizer(problem.prompt)["input_ids"]
            seeds = [sample_seed(cfg.seed, problem.id, i) for i in range(cfg.eval_n)]
            outs = decode(
                self.policy,
                [prompt] * cfg.eval_n,
                seeds,
                sampling,
                self.eos_ids,
                self.pad_id,
                workspace=self.workspace,
            )
            texts = [completion_text(self.tokenizer, o.token_ids, self.eos_ids) for o in outs]
            rewards = self.rewards_of([(problem, t, o.finish_reason) for t, o in zip(texts, outs, strict=True)])
            counts.append(sum(r >= 1.0 for r in rewards))
        c = torch.tensor(counts).numpy()
        return {
            "eval_problems": len(problems),
            "eval_n": cfg.eval_n,
            "pass@1": float(pass_at_k(cfg.eval_n, c, 1).mean()),
            f"pass@{cfg.eval_n}": float(pass_at_k(cfg.eval_n, c, cfg.eval_n).mean()),
        }

    def reset(self) -> None:
        """ProRL's hard reset: reference := policy, fresh optimizer, learning-rate warm-up again."""
        reset_reference(self.policy, self.reference)
        self.opt = self._new_optimizer()
        self.counters.since_reset = 0
        self.counters.reset_pending = False

    # -- the loop ---------------------------------------------------------------------------------
    def train(self) -> Path:
        try:
            return self._train()
        finally:
            if self.verifier is not None:
                self.verifier.close()
                self.verifier = None

    def _train(self) -> Path:
        self.try_resume()  # may replace self.counters: bind it afterwards
        cfg, c = self.cfg, self.counters
        done_marker = self.out / "train_state" / "done"
        if done_marker.is_file():
            self.log(f"grpo: {self.out} is already complete")
            return self.out
        start = last_log = time.monotonic()
        flat_steps = 0  # consecutive steps without a learning signal
        if c.step == 0 and cfg.eval_every:
            self._evaluate_and_checkpoint(step=0)
        while c.step < cfg.steps:
            step = c.step
            t0 = time.monotonic()
            self.policy.eval()
            groups, row = self.collect()
            t_gen = time.monotonic() - t0
            row = {"step": step, **row}
            scheduled = cfg.reset_every and step > 0 and step % cfg.reset_every == 0
            if scheduled or c.reset_pending:
                row["reset"] = "schedule" if scheduled else "plateau"
                self.reset()
            for param_group in self.opt.param_groups:
                param_group["lr"] = cfg.lr * min(1.0, (c.since_reset + 1) / max(1, cfg.warmup_steps))
            row["lr"] = self.opt.param_groups[0]["lr"]
            c.since_reset += 1
            if groups:
                row.update(self.update(groups))
                n_tokens = sum(len(r.token_ids) for g in groups for r in g)
                row["tokens_per_s"] = n_tokens / max(t_gen, 1e-9)
            if row["zero_std_frac"] >= 1.0:  # every group's rewards were equal: all advantages are zero
                row["no_signal"] = True
                flat_steps += 1
                if flat_steps == 1 or flat_steps % 10 == 0:
                    self.log(
                        f"grpo warning: step {step} has no learning signal: every group's rewards are equal "
                        f"(mean reward {row['reward_mean']:.3f}, {flat_steps} such step(s) in a row); the task "
                        "may be too hard or too easy for this model (try more --max-tokens, a larger "
                        "--group-size, or another task)"
                    )
            else:
                flat_steps = 0
            row["seconds_generation"] = round(t_gen, 3)
            row["seconds_update"] = round(time.monotonic() - t0 - t_gen, 3)
            self._append("train_log.jsonl", row)
            c.step += 1
            now = time.monotonic()
            if step % 10 == 0 or c.step == cfg.steps or now - last_log >= LOG_EVERY_S:
                self.log(
                    f"grpo step {step:4d}/{cfg.steps}  reward {row['reward_mean']:.3f}  kl {row.get('kl', 0):.4f}  "
                    f"zero-std {row['zero_std_frac']:.2f}  {now - start:6.1f}s"
                )
                last_log = now
            if cfg.eval_every and c.step % cfg.eval_every == 0:
                self._evaluate_and_checkpoint(step=c.step)
            if c.step % max(1, cfg.save_every) == 0:
                self.save_state()
            if cfg.time_limit_s is not None and time.monotonic() - start > cfg.time_limit_s:
                self.log(f"grpo: time limit {cfg.time_limit_s:.0f}s reached after step {step}")
                break
        self.save_state()
        self._save_final()
        done_marker.write_text(json.dumps({"steps_done": c.step}))
        return self.out

    def _evaluate_and_checkpoint(self, step: int) -> None:
        c = self.counters
        result = {"step": step, **self.evaluate()}
        improved = result["pass@1"] > c.best_eval + 1e-9
        c.best_eval = max(c.best_eval, result["pass@1"])
        c.stale_evals = 0 if improved else c.stale_evals + 1
        if self.cfg.reset_patience and c.stale_evals >= self.cfg.reset_patience:
            c.reset_pending, c.stale_evals = True, 0
        self._append("eval_log.jsonl", result)
        save_checkpoint(
            self.policy,
            self.tokenizer,
            self.out / "checkpoints" / f"step-{step:06d}",
            {"kind": "grpo", "step": step, "eval": result},
        )
        self.log(
            f"grpo eval at step {step}: pass@1 {result['pass@1']:.3f}  "
            f"pass@{self.cfg.eval_n} {result[f'pass@{self.cfg.eval_n}']:.3f}"
        )

    def _save_final(self) -> None:
        """The final policy as an HF checkpoint at the top of ``out`` (logs stay beside it)."""
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.policy.save_pretrained(self.out)
        self.tokenizer.save_pretrained(self.out)
        extra = {
            "kind": "grpo",
            "base": self.model_path,
            "tasks": [s.to_json() for s in self.specs],
            "config": asdict(self.cfg),
            "steps_done": self.counters.step,
            "fingerprint": hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16],
        }
        (self.out / "evalkit_training.json").write_text(json.dumps(extra, indent=1))


def train_grpo(
    model_path: str,
    specs: Sequence[TaskSpec],
    out: Path,
    cfg: GRPOConfig,
    log: Callable[[str], None] = print,
    device: str = "auto",
    eval_specs: Sequence[TaskSpec] | None = None,
) -> Path:
    """Train with GRPO from ``model_path`` on problems of ``specs`` into ``out`` (resumable); the final HF
    checkpoint is ``out`` itself, with ``train_log.jsonl`` (one JSON object per step) inside it."""
    return GRPOTrainer(model_path, specs, out, cfg, log, device, eval_specs).train()
