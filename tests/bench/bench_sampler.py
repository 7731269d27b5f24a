"""Benchmark: evalkit's transformers backend vs plain ``generate(num_return_sequences=n)``.

Both sides sample n=1024 completions per prompt from the same model on the CPU, one prompt at a time
(the way each samples a problem), and count generated tokens (end-of-sequence included, padding not).
Two workloads:

* ``demo``: the demo's shape and task. A demo-size model (0.9 M parameters) is trained for about 60 s
  on 1-3 digit addition (``evalkit train sft``), then both sides sample the demo's held-out problems
  (``add@digits=4``) with the demo's ``max_tokens`` 8. Rows finish at different lengths, as in real use.
* ``full-length``: random weights and an end-of-sequence id that never occurs, so every row runs to
  ``max_tokens`` on both sides (16 and 48): no early stopping, the worst case for evalkit's
  dropping of finished rows, and a test of the key/value cache as sequences grow.

evalkit's side is ``HFBackend.generate`` (prefill once per prompt, seeded per-sample noise, finished rows
dropped, preallocated key/value buffers, text decoding included). Reports tokens/s of each side (best of
3) and the ratio. Run with ``nox -s bench`` or ``python tests/bench/bench_sampler.py``.
"""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.hf import HFBackend
from evalkit.tasks import TaskSpec, make_problems
from evalkit.train.sft import SFTConfig, train_sft
from evalkit.train.tinymodel import TinyConfig, build_model, save_checkpoint
from evalkit.types import Problem

N = 1024


def evalkit_side(backend: HFBackend, problems: list[Problem], max_tokens: int) -> int:
    sampling = SamplingConfig(temperature=1.0, max_tokens=max_tokens)
    total = 0
    for chunk in backend.generate([(p, range(N)) for p in problems], sampling, run_seed=0):
        total += sum(c.n_tokens for c in chunk)
    return total


@torch.no_grad()
def generate_side(model: Any, tok: Any, prompts: list[str], n: int, max_tokens: int, eos_id: int) -> int:
    """The baseline: plain ``generate(num_return_sequences=n)``, one prompt at a time, on the model's device.
    Counts generated tokens up to and including the first end-of-sequence token (generate pads after it)."""
    device = next(model.parameters()).device
    total = 0
    for prompt in prompts:
        ids = torch.tensor([tok(prompt)["input_ids"]], device=device)
        out = model.generate(
            ids,
            do_sample=True,
            num_return_sequences=n,
            max_new_tokens=max_tokens,
            top_k=0,
            eos_token_id=eos_id,
            pad_token_id=tok.pad_token_id,
        )
        generated = out[:, ids.shape[1] :]
        ended = (generated == eos_id).int().cumsum(dim=1)
        total += int(((ended == 0) | ((ended == 1) & (generated == eos_id))).sum())
    return total


def best_rate(fn: Callable[[], int], repeats: int = 3) -> float:
    fn()  # warm up
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        tokens = fn()
        best = max(best, tokens / (time.perf_counter() - t0))
    return best


def compare(label: str, backend: HFBackend, problems: list[Problem], max_tokens: int, eos_id: int) -> float:
    ours = best_rate(lambda: evalkit_side(backend, problems, max_tokens))
    prompts = [p.prompt for p in problems]
    theirs = best_rate(lambda: generate_side(backend.model, backend.tokenizer, prompts, N, max_tokens, eos_id))
    ratio = ours / theirs
    print(
        f"{label:28s} evalkit {ours:9.0f} tokens/s   generate {theirs:9.0f} tokens/s   ratio {ratio:.2f}",
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
            SFTConfig(steps=800, batch_size=128, lr=3e-3, seed=0, time_limit_s=60),
            TinyConfig(),
            log=lambda _msg: None,
        )
        backend: Any = HFBackend(str(trained), device="cpu", batch_size=N)
        demo_problems = make_problems(TaskSpec.parse("add@digits=4,min_digits=1"), 0, 8)
        compare("demo (trained, max 8)", backend, demo_problems, 8, backend.tokenizer.eos_token_id)

        random_dir = Path(tmp) / "random"
        save_checkpoint(build_model(backend.tokenizer, TinyConfig(), seed=0), backend.tokenizer, random_dir)
        rnd: Any = HFBackend(str(random_dir), device="cpu", batch_size=N)
        never = len(rnd.tokenizer) + 10  # an id no row ever samples: every row runs to max_tokens
        for max_tokens in (16, 48):
            compare(f"full-length (random, {max_tokens})", _NoStop(rnd, never), demo_problems[:4], max_tokens, never)


class _NoStop(HFBackend):
    """The backend with another end-of-sequence id (one that is never sampled), so rows run to the end."""

    def __init__(self, inner: HFBackend, eos_id: int) -> None:
        self.__dict__.update(inner.__dict__)
        self.tokenizer = _TokenizerWithEos(inner.tokenizer, eos_id)


class _TokenizerWithEos:
    def __init__(self, inner: Any, eos_id: int) -> None:
        self._inner, self.eos_token_id = inner, eos_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner(*args, **kwargs)


if __name__ == "__main__":
    main()
