"""Benchmark: the hf backend sampling with and without recording log-probabilities (``HFBackend(logprobs=...)``).

Recording adds, per decoding step, two log-sum-exps over the vocabulary and a gather (see
:func:`evalkit.sampling.decode.step_log_probs`); the drawn samples are the same either way. Both sides run on
one backend object (the same model, buffers and machine), back to back in alternating order, ``--repeats``
pairs, and count generated tokens (end-of-sequence included). Rates are per wall second and per CPU second of
this process (``time.process_time``: on a shared machine other processes' load inflates wall time but much less
CPU time); the figure to read is the median over pairs of the CPU-rate ratio.

Workloads, on a demo-size model (0.9 M parameters) trained for ``--train-s`` seconds on 1-3 digit addition,
``--prompts`` held-out ``add@digits=4`` prompts x ``--n``:

* ``T=1``: the demo's sampler (temperature 1, no truncation, max_tokens 8);
* ``T=0.7, top-k 20, top-p 0.9``: the truncating path (the sort that top-p needs is already paid);
* ``full-length``: random weights and an end id never drawn, so every row runs to 16 tokens.

Prints each side's best rates and the ratios (with / without). First, per decoding step and without the model:
:func:`per_step_bound`, the time of recording over the time of the token choice alone (a bound on the relative
cost, since sampling also pays the forward pass), for the tiny vocabulary and a 152k one. Run with
``python tests/bench/bench_logprobs.py [--n 1024 --prompts 4 --repeats 9 --train-s 20]``.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.decode import _choose, step_log_probs
from evalkit.sampling.hf import HFBackend
from evalkit.tasks import TaskSpec, make_problems
from evalkit.train.sft import SFTConfig, train_sft
from evalkit.train.tinymodel import TinyConfig, build_model, save_checkpoint
from evalkit.types import Problem


def run_once(
    backend: HFBackend, problems: list[Problem], n: int, sampling: SamplingConfig, record: bool
) -> tuple[float, float]:
    """(tokens per wall second, tokens per CPU second of this process) of one pass over ``problems`` x ``n``."""
    backend.logprobs = record
    wall, cpu = time.perf_counter(), time.process_time()
    tokens = 0
    for chunk in backend.generate([(p, range(n)) for p in problems], sampling, run_seed=0):
        tokens += sum(c.n_tokens for c in chunk)
        assert all((c.logprob_sampler is not None) == record for c in chunk)
    return tokens / (time.perf_counter() - wall), tokens / (time.process_time() - cpu)


def compare(
    label: str, backend: HFBackend, problems: list[Problem], n: int, sampling: SamplingConfig, repeats: int
) -> float:
    """Prints best wall and CPU rates of each side and returns the median of the per-repeat CPU-rate ratios."""
    run_once(backend, problems, n, sampling, True)  # warm up both paths and the buffers
    run_once(backend, problems, n, sampling, False)
    rates: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    pair_ratios = []
    for r in range(repeats):  # back to back, the order alternating: a slow spell of a shared machine hits both
        for record in (False, True) if r % 2 == 0 else (True, False):
            rates[record].append(run_once(backend, problems, n, sampling, record))
        pair_ratios.append(rates[True][-1][1] / rates[False][-1][1])
    best_wall = {k: max(w for w, _ in v) for k, v in rates.items()}
    best_cpu = {k: max(c for _, c in v) for k, v in rates.items()}
    ratio = float(sorted(pair_ratios)[len(pair_ratios) // 2])
    print(
        f"{label:34s} wall: with {best_wall[True]:8.0f} without {best_wall[False]:8.0f} tokens/s "
        f"(ratio {best_wall[True] / best_wall[False]:.3f}); CPU: with {best_cpu[True]:8.0f} without "
        f"{best_cpu[False]:8.0f} tokens/CPU-s (ratio of best {best_cpu[True] / best_cpu[False]:.3f}, "
        f"median of pairs {ratio:.3f})",
        flush=True,
    )
    return ratio


def per_step_bound(vocab: int, rows: int, sampling: SamplingConfig, repeats: int = 200) -> float:
    """An upper bound on the relative cost of recording that a shared machine's noise does not swamp: the fastest
    of ``repeats`` timings of one step's recording (:func:`step_log_probs` and the two sums) over the fastest of
    one step's token choice alone (the model's forward pass, which sampling pays as well, left out)."""

    def fastest(fn: Any) -> float:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best

    logits = torch.randn(rows, vocab)
    seeds, alive, end_t = torch.arange(rows, dtype=torch.int64), torch.arange(rows), torch.tensor([0])
    sums = torch.zeros(rows, dtype=torch.float64), torch.zeros(rows, dtype=torch.float64)
    tokens, scores = _choose(logits, seeds, 3, sampling)

    def record() -> None:
        step_sampler, step_raw = step_log_probs(logits, scores, tokens, tokens == end_t[0], end_t)
        sums[0][alive] += step_sampler
        sums[1][alive] += step_raw

    return fastest(record) / fastest(lambda: _choose(logits, seeds, 3, sampling))


class _NoStop(HFBackend):
    """The backend with an end-of-sequence id that is never drawn, so every row runs to max_tokens."""

    def __init__(self, inner: HFBackend, eos_id: int) -> None:
        self.__dict__.update(inner.__dict__)
        self.eos_ids = [eos_id]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="samples per prompt (also the batch size)")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--train-s", type=float, default=20.0, help="seconds of training for the demo-size model")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} threads {torch.get_num_threads()} torch {torch.__version__}")
    for sampling in (SamplingConfig(), SamplingConfig(temperature=0.7, top_k=20, top_p=0.9)):
        for vocab in (100, 151_936):  # the tiny models' characters; a Qwen-sized vocabulary
            big = vocab > 1000  # 64 rows of a large vocabulary: the tensors stay near 40 MB
            bound = per_step_bound(vocab, min(args.n, 64) if big else args.n, sampling, repeats=10 if big else 200)
            print(f"per step, vocab {vocab:6d}, {sampling.to_json()}: recording / token choice {bound:.2%}")
    problems = make_problems(TaskSpec.parse("add@digits=4,min_digits=1"), 0, args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        trained = Path(tmp) / "demo-size"
        train_sft(
            [TaskSpec.parse("add@digits=3,min_digits=1")],
            trained,
            SFTConfig(steps=800, batch_size=128, lr=3e-3, seed=0, time_limit_s=args.train_s),
            TinyConfig(),
            log=lambda _msg: None,
        )
        backend: Any = HFBackend(str(trained), device="cpu", batch_size=args.n)
        compare("T=1 (demo, max 8)", backend, problems, args.n, SamplingConfig(max_tokens=8), args.repeats)
        truncating = SamplingConfig(temperature=0.7, top_k=20, top_p=0.9, max_tokens=8)
        compare("T=0.7 top-k 20 top-p 0.9 (max 8)", backend, problems, args.n, truncating, args.repeats)
        random_dir = Path(tmp) / "random"
        save_checkpoint(build_model(backend.tokenizer, TinyConfig(), seed=0), backend.tokenizer, random_dir)
        rnd: Any = HFBackend(str(random_dir), device="cpu", batch_size=args.n)
        never = len(rnd.tokenizer) + 10
        full = SamplingConfig(max_tokens=16)
        compare("full-length (random, 16)", _NoStop(rnd, never), problems, args.n, full, args.repeats)


if __name__ == "__main__":
    main()
