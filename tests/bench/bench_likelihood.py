"""Benchmark: teacher-forced likelihood scoring (:class:`evalkit.likelihood.Scorer`) vs sampling
(:class:`evalkit.sampling.hf.HFBackend`), tokens per second on the same completions and the same CPU.

The sampler draws n = 1024 completions per prompt; the scorer then scores exactly those completions (every
row, duplicates included: ``evalkit likelihood`` scores only distinct correct texts, so it does less) under
the same model and sampling settings, end-of-sequence included where a row stopped. Both count the tokens of
the completions (end included), best of 3 with the two sides interleaved. Workloads:

* ``demo``: a demo-size model (0.9 M parameters) trained for 300 steps on 1-3 digit addition, the demo's
  held-out ``add@digits=4`` problems, 8 prompts x 1024, max_tokens 8 (rows end at their own length).
* ``full-length``: random weights and an end-of-sequence id that is never sampled, 4 prompts x 1024 x 48
  tokens: every row runs to max_tokens.

The issue's target: scoring at least 3x faster per token than sampling. Run with
``python tests/bench/bench_likelihood.py`` (not part of the test suite).
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from evalkit.likelihood import Scorer
from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.hf import HFBackend
from evalkit.tasks import TaskSpec, make_problems
from evalkit.train.sft import SFTConfig, train_sft
from evalkit.train.tinymodel import TinyConfig, build_model, save_checkpoint
from evalkit.types import Completion, Problem

N = 1024


def run(label: str, backend: Any, problems: list[Problem], sampling: SamplingConfig) -> float:
    made: list[Completion] = []

    def sample() -> int:
        made.clear()
        for chunk in backend.generate([(p, range(N)) for p in problems], sampling, run_seed=0):
            made.extend(chunk)
        return sum(c.n_tokens for c in made)

    sampled_tokens = sample()  # warm-up, and the completions that are scored
    scorer = Scorer(backend.model, backend.tokenizer)
    scorer.end_ids = list(backend.eos_ids)  # the ids the sampler stopped on
    by_problem = {p.id: [c for c in made if c.problem_id == p.id] for p in problems}
    jobs = []
    for p in problems:
        prompt = backend.tokenizer(p.prompt)["input_ids"]
        targets = [scorer.target_ids(c.text, c.finish_reason == "stop") for c in by_problem[p.id]]
        jobs.append((prompt, targets))

    def score() -> int:
        total = 0
        for prompt, targets in jobs:
            total += sum(s.n_tokens for s in scorer.score(prompt, targets, sampling))
        return total

    scored_tokens = score()  # warm-up
    # best of 3, the two sides interleaved so that a change in the machine's load hits both
    sample_rate = score_rate = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        sample()
        sample_rate = max(sample_rate, sampled_tokens / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        score()
        score_rate = max(score_rate, scored_tokens / (time.perf_counter() - t0))
    ratio = score_rate / sample_rate
    print(
        f"{label:26s} sampling {sample_rate:9.0f} tokens/s ({sampled_tokens} tokens)   "
        f"scoring {score_rate:9.0f} tokens/s ({scored_tokens} tokens)   ratio {ratio:.1f}",
        flush=True,
    )
    # what `evalkit likelihood` does: each distinct text of a problem once (here all texts, correct or not)
    distinct = []
    for p in problems:
        seen = {(c.text, c.finish_reason == "stop") for c in by_problem[p.id]}
        prompt = backend.tokenizer(p.prompt)["input_ids"]
        distinct.append((prompt, [scorer.target_ids(text, stop) for text, stop in sorted(seen)]))
    best_s = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for prompt, targets in distinct:
            scorer.score(prompt, targets, sampling)
        best_s = min(best_s, time.perf_counter() - t0)
    n_distinct = sum(len(t) for _, t in distinct)
    print(
        f"{'':26s} distinct texts only ({n_distinct} of {len(made)}): {best_s:.3f} s, i.e. "
        f"{sampled_tokens / best_s:9.0f} sampled tokens/s, {sampled_tokens / best_s / sample_rate:.1f}x sampling",
        flush=True,
    )
    return ratio


def main() -> None:
    print(f"machine: {platform.machine()} threads {torch.get_num_threads()} torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        trained = Path(tmp) / "demo-size"
        train_sft(
            [TaskSpec.parse("add@digits=3,min_digits=1")],
            trained,
            SFTConfig(steps=300, batch_size=128, lr=3e-3, seed=0),  # fixed steps: the same model on any machine
            TinyConfig(),
            log=lambda _msg: None,
        )
        backend: Any = HFBackend(str(trained), device="cpu", batch_size=N)
        problems = make_problems(TaskSpec.parse("add@digits=4,min_digits=1"), 0, 8)
        run("demo (trained, max 8)", backend, problems, SamplingConfig(temperature=1.0, max_tokens=8))

        random_dir = Path(tmp) / "random"
        save_checkpoint(build_model(backend.tokenizer, TinyConfig(), seed=0), backend.tokenizer, random_dir)
        rnd: Any = HFBackend(str(random_dir), device="cpu", batch_size=N)
        rnd.eos_ids = [len(rnd.tokenizer) + 10]  # an id no row ever samples: every row runs to max_tokens
        run("full-length (random, 48)", rnd, problems[:4], SamplingConfig(max_tokens=48))


if __name__ == "__main__":
    main()
