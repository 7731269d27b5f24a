"""``evalkit demo``: the whole question answered on a laptop CPU, offline, in about ten minutes.

1. Train a ~0.9M-parameter character-level Llama on reversed-answer addition with 1-3 digit operands
   (the base checkpoint).
2. Train it further with GRPO and ProRL's controls (KL to a reference that is reset on a schedule,
   decoupled clipping, dynamic sampling) on the same training distribution (the RL checkpoint).
3. Sample both up to n=1024 on held-out problems with 1-4 digit operands (4-digit is harder than
   anything either model trained on), and an intermediate GRPO checkpoint too, so the report can class
   the trajectory (ProRL's diminish / plateau / sustained); verify.
4. Score each run's completions (correct ones first, then the others) under the other model by teacher forcing
   (:mod:`evalkit.likelihood`): how likely the base is to produce RL's solutions and RL the base's, which sorts
   the problems into preservation / expansion / shrinkage / out-of-support, and the perplexity distributions of
   all responses; then compare (pass@k, the evidence beyond it: categories, answer diversity, pass@k area on
   log k, Cover@tau, the 2x2 at each k; support metrics, entropy, winner-take-all, checkpoint turnover), write
   the HTML report, run the gate.

Every stage runs a fixed number of steps (never a wall-clock budget), with fixed seeds and the CPU numerics
pinned (:mod:`evalkit.determinism`), so two runs print the same numbers on any machine with the same
package versions; a slow or busy machine only takes longer, and the demo says so. The demo ends with the
verdict in plain words (:mod:`evalkit.compare.verdict`, the report's verdict paragraph) and the gate's result.

Checkpoints are reused when present (``--fresh`` retrains) and sampling resumes, so rerunning after an
interruption finishes the job. ``--quick`` is a one-minute smoke version of the same pipeline.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from evalkit.compare.decision import attach_decision
from evalkit.compare.forecast import attach_forecasts
from evalkit.compare.gate import run_gate
from evalkit.compare.results import load_run
from evalkit.compare.support import attach_support
from evalkit.compare.trajectories import compare_with_trajectory
from evalkit.determinism import pin_cpu_numerics, pin_cpu_numerics_env
from evalkit.likelihood import LikelihoodRequest, score_run
from evalkit.report import write_report
from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.runner import SampleRequest, sample
from evalkit.tasks.registry import TaskSpec
from evalkit.train.grpo import GRPOConfig, train_grpo
from evalkit.train.sft import SFTConfig, train_sft
from evalkit.validity.threats import validity_section


@dataclass(frozen=True)
class DemoPlan:
    """Step counts of one demo run (fixed: the results never depend on the machine's speed).

    ``*_quiet_s`` are each stage's seconds on a quiet 2-core machine; a stage that takes much longer only
    prints a note."""

    sft_steps: int
    grpo_steps: int
    n: int
    limit: int
    prompts_per_step: int = 32
    group_size: int = 16
    reset_every: int = 100
    eval_every: int = 50
    sft_quiet_s: float = 90.0
    grpo_quiet_s: float = 190.0


FULL = DemoPlan(sft_steps=800, grpo_steps=250, n=1024, limit=80)
QUICK = DemoPlan(
    sft_steps=150,
    grpo_steps=8,
    n=64,
    limit=12,
    prompts_per_step=8,
    group_size=8,
    reset_every=4,
    eval_every=4,
    sft_quiet_s=15.0,
    grpo_quiet_s=15.0,
)

TRAIN_TASK = "add@digits=3,min_digits=1"
GATE_MAX_DROP = 0.02
EVAL_TASK = "add@digits=4,min_digits=1"


def _slow_note(echo: Callable[[str], None], stage: str, seconds: float, quiet_s: float) -> None:
    if seconds > 2 * quiet_s:
        echo(
            f"note: {stage} took {seconds:.0f}s (about {quiet_s:.0f}s on a quiet 2-core machine): this machine is "
            "slower or busy; the results do not depend on it"
        )


def run_demo(out: Path, quick: bool = False, fresh: bool = False) -> dict[str, object]:
    """Run the demo into ``out``; returns the comparison summary (with ``verdict``, ``gate`` and ``timings``).

    Raises:
        EvalkitError: on bad input (e.g. an unusable output folder).
    """
    pin_cpu_numerics_env()  # a no-op when torch is already imported (then pin_cpu_numerics says so)
    plan = QUICK if quick else FULL
    out.mkdir(parents=True, exist_ok=True)
    echo = lambda msg: typer.echo(msg, err=True)  # noqa: E731
    for note in pin_cpu_numerics():
        echo(f"note: {note}")
    t_start = time.monotonic()
    timings: dict[str, float] = {}
    train = [TaskSpec.parse(TRAIN_TASK)]
    base_ckpt, rl_ckpt = out / "checkpoints" / "base", out / "checkpoints" / "rl"

    t = time.monotonic()
    if fresh or not (base_ckpt / "config.json").is_file():
        echo(f"[1/6] supervised base model on {TRAIN_TASK}: {plan.sft_steps} steps")
        train_sft(train, base_ckpt, SFTConfig(steps=plan.sft_steps), log=echo)
        fresh = True  # a new base invalidates the RL checkpoint
        shutil.rmtree(rl_ckpt, ignore_errors=True)
        _slow_note(echo, "supervised training", time.monotonic() - t, plan.sft_quiet_s)
    else:
        echo(f"[1/6] reusing {base_ckpt}")
    timings["sft"] = time.monotonic() - t

    t = time.monotonic()
    if fresh or not (rl_ckpt / "config.json").is_file():
        echo(f"[2/6] GRPO with KL, reference resets, clip-higher, dynamic sampling: {plan.grpo_steps} steps")
        cfg = GRPOConfig(
            steps=plan.grpo_steps,
            prompts_per_step=plan.prompts_per_step,
            group_size=plan.group_size,
            lr=1e-4,
            beta=0.01,
            eps_low=0.2,
            eps_high=0.4,
            epochs=2,
            reset_every=plan.reset_every,
            dynamic_sampling=True,
            max_tokens=8,
            eval_every=plan.eval_every,
            eval_problems=24,
            eval_n=64,
        )
        # validation follows the held-out distribution (harder buckets included), on its own problems
        train_grpo(str(base_ckpt), train, rl_ckpt, cfg, log=echo, eval_specs=[TaskSpec.parse(EVAL_TASK)])
        _slow_note(echo, "GRPO", time.monotonic() - t, plan.grpo_quiet_s)
    else:
        echo(f"[2/6] reusing {rl_ckpt}")
    timings["grpo"] = time.monotonic() - t

    t = time.monotonic()
    evals = [TaskSpec.parse(EVAL_TASK)]
    sampling = SamplingConfig(temperature=1.0, max_tokens=8)
    runs = {}
    # an intermediate GRPO checkpoint (saved at each held-out evaluation) makes a three-point trajectory
    saved = sorted((rl_ckpt / "checkpoints").glob("step-*"))[1:-1]
    mid_ckpt = saved[len(saved) // 2] if saved else None
    checkpoints = [("base", base_ckpt), *([("mid", mid_ckpt)] if mid_ckpt else []), ("rl", rl_ckpt)]
    for label, ckpt in checkpoints:
        echo(f"[3/6] sampling {label}: {plan.limit} held-out problems x n={plan.n}")
        runs[label] = out / "runs" / label
        sample(
            SampleRequest(
                model=str(ckpt),
                specs=evals,
                n=plan.n,
                out=runs[label],
                sampling=sampling,
                limit=plan.limit,
                force=True,
                problem_seed=0,
                seed=0,
                quiet=quick,
            )
        )
    timings["sample_and_verify"] = time.monotonic() - t

    t = time.monotonic()
    echo("[4/6] scoring each run's completions under the other model (teacher forcing)")
    for model, run, model_run in ((base_ckpt, runs["rl"], runs["base"]), (rl_ckpt, runs["base"], runs["rl"])):
        # every text (not only the correct ones): the perplexity distributions of all responses under the other model
        score_run(LikelihoodRequest(model=str(model), run=run, model_run=model_run, device="cpu", quiet=quick,
                                    all_texts=True))  # fmt: skip
    timings["likelihood"] = time.monotonic() - t

    t = time.monotonic()
    echo("[5/6] comparing and writing the report")
    loaded = [load_run(runs[label]) for label, _ in checkpoints]
    base, rl = loaded[0], loaded[-1]
    summary = compare_with_trajectory(loaded, title="evalkit demo: does GRPO expand what a tiny model can add?")
    attach_support(summary, base, rl)  # perplexity, support dynamics, entropy, winner-take-all
    attach_forecasts(summary, base, rl)  # pass@k beyond n, and where the base would catch up
    ks = [1, plan.n]
    gate = run_gate(base, rl, ks, max_drop=GATE_MAX_DROP)
    gate_what = (
        f"RL checkpoint (candidate) vs base (baseline) on {EVAL_TASK}, pass@1 and pass@{plan.n}: fails when a drop "
        f"of more than {GATE_MAX_DROP} is shown at 95% over both checks together"
    )
    summary["validity"] = validity_section(base, rl, summary)  # health, budget parity, claims without flagged
    # the same decision recorded as compare records it (command, family, a gate claim, the verdict again)
    recorded = attach_decision(summary, base, rl, ks, GATE_MAX_DROP)
    recorded["lines"] = [f"gate: {gate_what}", *recorded["lines"]]
    timings["compare"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t_start
    summary["timings"] = {k: round(v, 1) for k, v in timings.items()}
    html = write_report(summary, out / "report.html")

    echo("[6/6] summary")
    _print_summary(summary, plan, gate.passed, [line for line in gate.lines if line.startswith("REGRESSION")])
    typer.echo(f"gate ({gate_what}): {'PASS' if gate.passed else 'FAIL'}")
    typer.echo(f"report: {html}  (total {timings['total']:.0f}s)")
    return summary


def _print_summary(summary: dict[str, Any], plan: DemoPlan, gate_passed: bool, regressions: list[str]) -> None:
    ov = summary["overall"]
    k_max = str(ov["n"])
    b, r = ov["pass_at_k"]["base"], ov["pass_at_k"]["rl"]
    typer.echo(f"held-out problems: {ov['n_problems']} ({EVAL_TASK}), samples per problem: {ov['n']}")
    typer.echo(f"pass@1      base {b['1']:.3f}   rl {r['1']:.3f}")
    typer.echo(f"pass@{k_max:<6s} base {b[k_max]:.3f}   rl {r[k_max]:.3f}")
    cls = ov["classes"]
    typer.echo(
        f"problems solved only by RL: {cls['rl_only']}, only by base: {cls['base_only']}, "
        f"by both: {cls['both']}, by neither: {cls['neither']}"
    )
    for name, bucket in summary["tasks"]["add"]["buckets"].items():
        bb, rr = bucket["pass_at_k"]["base"], bucket["pass_at_k"]["rl"]
        kk = str(bucket["n"])
        typer.echo(
            f"  {name:8s} ({bucket['n_problems']:2d} problems) pass@1 {bb['1']:.3f} -> {rr['1']:.3f}   "
            f"pass@{kk} {bb[kk]:.3f} -> {rr[kk]:.3f}"
        )
    _print_evidence(summary)
    from evalkit.cli.compare_cmds import _print_support

    _print_support(summary)  # support dynamics at epsilon, checkpoint turnover
    for scope, cross in (summary.get("forecast") or {}).get("crossover", {}).items():
        typer.echo(f"forecast beyond n ({scope}): {cross['text']}")
    typer.echo("verdict:")
    for sentence in summary["verdict"]:
        typer.echo(f"  {sentence}")
    for line in regressions:
        typer.echo(f"  {line}")


def _print_evidence(summary: dict[str, Any]) -> None:
    """Evidence beyond pass@k, a few lines: categories, pass@k area on log k, Cover@tau, answer entropy."""
    ev = summary.get("evidence", {}).get("overall", {})
    cats = ev.get("categories")
    if cats:
        names = ("preservation", "expansion", "out_of_support", "shrinkage", "neither")
        typer.echo("categories: " + ", ".join(f"{name} {cats[name]['count']}" for name in names))
    auc = ev.get("pass_at_k_auc")
    if auc:
        lo, hi = auc["delta_ci"]
        typer.echo(
            f"pass@k area on log k: base {auc['base']:.3f}   rl {auc['rl']:.3f}   "
            f"(RL - base {auc['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}])"
        )
    cover = ev.get("cover_at_tau")
    if cover and 0.5 in cover["tau"]:
        i = cover["tau"].index(0.5)
        typer.echo(f"Cover@0.5 (problems solved by at least half the samples): base {cover['base'][i]:.3f}   "
                   f"rl {cover['rl'][i]:.3f}")  # fmt: skip
    div = ev.get("diversity")
    if (
        div
        and div["base"]["mean_answer_entropy_bits"] is not None
        and div["rl"]["mean_answer_entropy_bits"] is not None
    ):
        typer.echo(
            f"answer entropy per problem (bits, all samples): base {div['base']['mean_answer_entropy_bits']:.2f}   "
            f"rl {div['rl']['mean_answer_entropy_bits']:.2f}"
        )
