"""Benchmark: seconds per GRPO optimizer step, evalkit's GRPO trainer vs TRL's ``GRPOTrainer``.

Both trainers start from the same tiny base checkpoint (the demo's shape, SFT on ``add@digits=2`` for 150
steps, built here unless ``--base DIR`` names one), on the same prompts in the same order (evalkit's RL
prompt stream; TRL reads it as a dataset with shuffling off), with the same reward (evalkit's verifier,
``passed`` as 0/1) and the same step: 16 prompts x 8 completions, max 6 new tokens, temperature 1.0, lr 1e-4
constant, AdamW betas (0.9, 0.99), gradient clipping at 1.0, one optimisation pass per rollout batch,
group-std-scaled advantages, token-level loss, clip bounds 0.2 / 0.4, k3 KL to a frozen reference with
beta 0.04, truncated completions kept. CPU, fp32, no gradient checkpointing (TRL turns it on by default;
evalkit has none), no logging or saving inside the timed steps.

A step is timed from the end of the previous optimizer step to the end of this one (generation, rewards,
reference and policy forwards, backward, optimizer step and whatever bookkeeping each trainer does per
step), after ``--warmup`` steps that are not counted. Each pair (evalkit, then TRL) runs ``--repeats``
times in this process. Prints seconds/step for each, the ratio TRL/evalkit (> 1: evalkit is faster; the
goal is >= 1), and the completion tokens generated per step on each side, to show the work matched. The
"generation phase" is evalkit's ``collect`` (sampling and rewards) and TRL's
``_generate_and_score_completions`` (sampling, rewards and the reference model's forward).

The headline ratio compares the median step over all repeats (the machine may be shared: a burst of load
stretches some steps by an order of magnitude when torch's threads compete with other processes;
``--threads 1`` makes both sides far less sensitive to that). ``--trl-micro-batch 16`` runs TRL the usual way,
8 accumulated micro-batches per step, instead of one batch of 128 like evalkit.

TRL is not an evalkit dependency: ``nox -s bench`` installs it into the bench session only. Run by hand
with ``python tests/bench/bench_grpo.py [--base DIR] [--steps 30] [--warmup 3] [--repeats 2] [--threads N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from evalkit.tasks import TaskSpec, get_family, make_problems
from evalkit.train.grpo import GRPO_SEED_OFFSET, GRPOConfig, GRPOTrainer
from evalkit.train.sft import SFTConfig, train_sft
from evalkit.train.tinymodel import TinyConfig
from evalkit.types import Problem

TASK = "add@digits=2"
BASE_SFT_STEPS = 150
GROUP, PROMPTS, MAX_TOKENS, TEMPERATURE, LR, BETA = 8, 16, 6, 1.0, 1e-4, 0.04
EPS_LOW, EPS_HIGH, ADAM_BETAS, GRAD_CLIP, SEED = 0.2, 0.4, (0.9, 0.99), 1.0, 0


@dataclass
class Run:
    """Timestamps at the end of every optimizer step, and per-step facts of the counted steps."""

    name: str
    ends: list[float] = field(default_factory=list)
    begins: list[float] = field(default_factory=list)  # TRL only: on_step_begin
    tokens: list[int] = field(default_factory=list)  # completion tokens generated per step (EOS included)
    gen_seconds: list[float] = field(default_factory=list)  # each trainer's own "generation" phase, per step
    rewards: list[float] = field(default_factory=list)

    def step_seconds(self, warmup: int) -> list[float]:
        """Durations of the steps after the warm-up ones: end of step i-1 to end of step i."""
        return [b - a for a, b in zip(self.ends[warmup - 1 : -1], self.ends[warmup:], strict=True)]


def build_base(out: Path) -> Path:
    spec = TaskSpec.parse(TASK)
    return train_sft([spec], out, SFTConfig(steps=BASE_SFT_STEPS, seed=SEED), TinyConfig(), log=lambda _: None)


# -- evalkit ---------------------------------------------------------------------------------------------
def run_evalkit(base: Path, steps: int, workdir: Path) -> Run:
    run = Run("evalkit")

    class Timed(GRPOTrainer):
        def _append(self, name: str, row: dict[str, Any]) -> None:
            super()._append(name, row)
            if name == "train_log.jsonl":  # written once per step, right after the optimizer step
                run.ends.append(time.perf_counter())
                run.tokens.append(round(row["mean_length"] * GROUP * row["groups_used"]))
                run.gen_seconds.append(row["seconds_generation"])
                run.rewards.append(row["reward_mean"])

    cfg = GRPOConfig(
        steps=steps,
        group_size=GROUP,
        prompts_per_step=PROMPTS,
        temperature=TEMPERATURE,
        max_tokens=MAX_TOKENS,
        lr=LR,
        warmup_steps=0,  # constant learning rate, like TRL's lr_scheduler_type="constant"
        beta=BETA,
        eps_low=EPS_LOW,
        eps_high=EPS_HIGH,
        epochs=1,
        scale_std=True,
        dynamic_sampling=False,
        mask_truncated=False,
        reward="passed",
        grad_clip=GRAD_CLIP,
        eval_every=0,
        save_every=10**9,  # the full-state save happens only after the last step, outside the timed window
        seed=SEED,
    )
    Timed(str(base), [TaskSpec.parse(TASK)], workdir / "evalkit", cfg, log=lambda _: None, device="cpu").train()
    return run


# -- TRL -------------------------------------------------------------------------------------------------
def run_trl(base: Path, steps: int, workdir: Path, micro_batch: int) -> Run:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer as TRLTrainer

    run = Run("trl")
    spec = TaskSpec.parse(TASK)
    family = get_family(spec.name)
    # evalkit draws problem i of its RL stream as make_problems(spec, GRPO_SEED_OFFSET + seed, 1, start=i)
    problems = make_problems(spec, GRPO_SEED_OFFSET + SEED, PROMPTS * steps)
    by_id: dict[str, Problem] = {p.id: p for p in problems}
    dataset = Dataset.from_dict({"prompt": [p.prompt for p in problems], "problem_id": [p.id for p in problems]})

    def add_verifier(completions: list[str], problem_id: list[str], **_: Any) -> list[float]:
        pairs = zip(completions, problem_id, strict=True)
        return [float(family.verify(by_id[pid], text).passed) for text, pid in pairs]

    class Stamps(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            run.begins.append(time.perf_counter())

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            run.ends.append(time.perf_counter())

    class Timed(TRLTrainer):
        def _generate_and_score_completions(self, inputs: Any) -> Any:
            t0 = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            run.gen_seconds.append(time.perf_counter() - t0)
            run.tokens.append(int(out["completion_mask"].sum()))
            return out

        def _calculate_rewards(self, *args: Any, **kwargs: Any) -> Any:
            rewards = super()._calculate_rewards(*args, **kwargs)
            run.rewards.append(float(rewards.mean()))
            return rewards

    rows_per_step = PROMPTS * GROUP
    if rows_per_step % micro_batch:
        raise SystemExit(f"--trl-micro-batch must divide {rows_per_step}")
    args = TRLConfig(
        output_dir=str(workdir / "trl"),
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        seed=SEED,
        max_steps=steps,
        # one optimizer step = 16 prompts x 8 completions; per_device_train_batch_size counts completions
        per_device_train_batch_size=micro_batch,
        gradient_accumulation_steps=rows_per_step // micro_batch,
        num_generations=GROUP,
        max_completion_length=MAX_TOKENS,
        temperature=TEMPERATURE,
        top_p=1.0,
        top_k=0,
        learning_rate=LR,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        adam_beta1=ADAM_BETAS[0],
        adam_beta2=ADAM_BETAS[1],
        optim="adamw_torch",  # torch.optim.AdamW as evalkit uses (TRL defaults to the fused variant)
        max_grad_norm=GRAD_CLIP,
        beta=BETA,
        num_iterations=1,
        epsilon=EPS_LOW,
        epsilon_high=EPS_HIGH,
        loss_type="dapo",  # token-level aggregation over the whole batch, like evalkit
        scale_rewards="group",
        mask_truncated_completions=False,
        use_bias_correction_kl=False,  # evalkit's KL term is the plain k3 estimate, not ratio-weighted
        shuffle_dataset=False,  # the same prompts in the same order as evalkit's stream
        use_vllm=False,
        report_to="none",
        logging_strategy="no",
        save_strategy="no",
        eval_strategy="no",
        disable_tqdm=True,
        log_level="error",
        dataloader_num_workers=0,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(base), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    trainer = Timed(
        model=model,
        reward_funcs=add_verifier,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[Stamps()],
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints a metrics dict when it finishes
        trainer.train()
    return run


# -- report ----------------------------------------------------------------------------------------------
def summarise(run: Run, warmup: int) -> dict[str, Any]:
    secs = run.step_seconds(warmup)
    inside = [e - b for b, e in zip(run.begins[warmup:], run.ends[warmup:], strict=True)] if run.begins else []
    return {
        "steps": secs,
        "mean": sum(secs) / len(secs),
        "inside": sum(inside) / len(inside) if inside else float("nan"),
        "median": statistics.median(secs),
        "gen": sum(run.gen_seconds[warmup:]) / len(secs),
        "tokens": sum(run.tokens[warmup:]) / len(secs),
        "reward": sum(run.rewards[warmup:]) / len(secs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="an existing base checkpoint (default: train one, ~1 minute)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each run")
    parser.add_argument("--repeats", type=int, default=2, help="evalkit/TRL pairs to run")
    parser.add_argument("--threads", type=int, help="torch CPU threads for both trainers (default: torch's own)")
    parser.add_argument("--trl-micro-batch", type=int, default=PROMPTS * GROUP, help="TRL completions per forward")
    opts = parser.parse_args()
    if opts.warmup < 1 or opts.steps < 1:
        raise SystemExit("--warmup and --steps must be >= 1")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        import transformers
        import trl
    except ImportError as exc:
        raise SystemExit(f"bench_grpo needs TRL ({exc}); `nox -s bench` installs it, or `pip install trl`") from None
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    hf_logging.disable_progress_bar()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus {os.cpu_count()} "
        f"torch threads {torch.get_num_threads()}; python {platform.python_version()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"versions: torch {torch.__version__}  transformers {transformers.__version__}  trl {trl.__version__}")
    with tempfile.TemporaryDirectory(prefix="bench_grpo_") as tmp:
        workdir = Path(tmp)
        if opts.base is None:
            t0 = time.perf_counter()
            base = build_base(workdir / "base")
            print(f"base: SFT {BASE_SFT_STEPS} steps on {TASK}, TinyConfig() in {time.perf_counter() - t0:.0f}s")
        else:
            base = opts.base
            print(f"base: {base}")
        total = opts.warmup + opts.steps
        print(
            f"workload: {TASK}, {PROMPTS} prompts x G={GROUP} per step, max_tokens {MAX_TOKENS}, T={TEMPERATURE}, "
            f"lr {LR}, beta {BETA}, 1 pass per batch; {opts.warmup} warm-up + {opts.steps} timed steps, "
            f"TRL micro-batch {opts.trl_micro_batch} x accumulation {PROMPTS * GROUP // opts.trl_micro_batch}"
        )
        results: dict[str, list[dict[str, Any]]] = {"evalkit": [], "trl": []}
        for rep in range(opts.repeats):
            for name in ("evalkit", "trl"):
                out = workdir / f"rep{rep}"
                out.mkdir(exist_ok=True)
                run = (
                    run_evalkit(base, total, out)
                    if name == "evalkit"
                    else run_trl(base, total, out, opts.trl_micro_batch)
                )
                if len(run.ends) != total:
                    raise SystemExit(f"{name}: recorded {len(run.ends)} steps, expected {total}")
                s = summarise(run, opts.warmup)
                results[name].append(s)
                inside = f", step_begin->end {s['inside']:.3f}" if name == "trl" else ""
                print(
                    f"rep {rep} {name:8s} {s['mean']:7.3f} s/step (median {s['median']:.3f}{inside})  "
                    f"generation phase {s['gen']:.3f} s  tokens/step {s['tokens']:6.1f}  reward {s['reward']:.3f}"
                )
            ek, tr = results["evalkit"][-1], results["trl"][-1]
            ratio, ratio_median = tr["mean"] / ek["mean"], tr["median"] / ek["median"]
            print(f"rep {rep} ratio TRL/evalkit = {ratio:.2f} (medians {ratio_median:.2f})")
    # the machine may be shared: the median step over all repeats, and the best run, resist bursts of load
    pooled = {name: statistics.median(x for r in runs for x in r["steps"]) for name, runs in results.items()}
    best = {name: min(r["mean"] for r in runs) for name, runs in results.items()}
    tokens = {name: statistics.fmean(r["tokens"] for r in runs) for name, runs in results.items()}
    for name in ("evalkit", "trl"):
        print(
            f"{name:8s} median {pooled[name]:.3f} s/step, best run mean {best[name]:.3f} s/step "
            f"({tokens[name]:.0f} completion tokens/step)"
        )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"ratio TRL/evalkit = {pooled['trl'] / pooled['evalkit']:.2f} (median steps; best runs: "
        f"{best['trl'] / best['evalkit']:.2f}); > 1: evalkit faster; goal >= 1"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
