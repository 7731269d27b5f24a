"""GPU benchmark: the hf backend at n=1024 on CUDA with a ~113M-parameter model, likelihood scoring of its
completions, and GRPO steps on CUDA.

Meant for a machine with one NVIDIA GPU and torch + transformers (+ numpy, scipy, typer, rich for the
GRPO part). From the repository root::

    python -m pip install --no-deps --no-build-isolation -q . && python tests/bench/bench_gpu.py

Parts (each prints one JSON line starting with ``RESULT``):

1. ``sampler``: random weights (Llama shape: 768 wide, 12 layers, 12 heads, MLP 3072; the character
   tokenizer, so ~113M parameters), bf16. ``HFBackend``'s decoder (shared prefill, per-sample seeds,
   finished rows dropped, preallocated key/value buffers) samples 1024 completions of 256 tokens for
   each of 2 prompts, in batches of 1024; plain ``generate(num_return_sequences=1024)`` does the same
   work. The end-of-sequence id is one the model never samples, so every row runs to 256 tokens on both
   sides. Reports tokens/s of each and the ratio, and peak GPU memory.
2. ``likelihood``: the same model and shape; ``decode`` samples 1024 completions of 256 tokens for each
   prompt, then :class:`evalkit.likelihood.Scorer` scores exactly those completions by teacher forcing under
   the same sampler. Reports tokens/s of each and scoring / sampling per token (the goal: at least 3).
3. ``grpo``: ``evalkit train grpo``'s trainer on 1-3 digit addition with a demo-size model (trained for
   a few seconds here) for 6 steps on CUDA (bf16 autocast), seconds per step and the logged metrics.

``--device cpu --quick`` runs a small version of both parts on the CPU (a smoke test of this script).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_sampler import generate_side  # this folder: the same baseline as on the CPU

from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.decode import Workspace, decode
from evalkit.train.tinymodel import TinyConfig, build_model, build_tokenizer

BIG = TinyConfig(hidden_size=768, layers=12, heads=12, intermediate_size=3072, max_positions=512)
SMALL = TinyConfig(hidden_size=128, layers=2, heads=2, intermediate_size=256, max_positions=128)


def workload(device: str, quick: bool) -> tuple[int, int, list[str], torch.dtype, Any, Any]:
    """The sampler and likelihood parts' shared workload: (n, max_tokens, prompts, dtype, tokenizer, model), the
    model with random weights (BIG, or SMALL with ``quick``), bf16 on CUDA."""
    n, max_tokens, prompts = (64, 16, ["12+34=", "rev:abc="]) if quick else (1024, 256, ["12+345=", "sort:53921="])
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    tok = build_tokenizer()
    model = build_model(tok, SMALL if quick else BIG, seed=0).to(device=device, dtype=dtype).eval()
    return n, max_tokens, prompts, dtype, tok, model


def sampler(device: str, quick: bool) -> dict[str, Any]:
    n, max_tokens, prompts, dtype, tok, model = workload(device, quick)
    params = sum(p.numel() for p in model.parameters())
    never = len(tok) + 10
    sampling = SamplingConfig(temperature=1.0, max_tokens=max_tokens)
    workspace = Workspace()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def ours() -> int:
        total = 0
        for i, prompt in enumerate(prompts):
            ids = tok(prompt)["input_ids"]
            seeds = list(range(i * n, (i + 1) * n))
            outs = decode(model, [ids] * n, seeds, sampling, never, tok.pad_token_id, workspace=workspace)
            total += sum(len(o.token_ids) for o in outs)
        sync()
        return total

    def plain() -> int:
        total = generate_side(model, tok, prompts, n, max_tokens, never)
        sync()
        return total

    rates = {}
    for name, fn in (("evalkit", ours), ("generate", plain)):
        fn()  # warm up
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        count = fn()
        rates[name] = count / (time.perf_counter() - t0)
        if device.startswith("cuda"):
            rates[name + "_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return {
        "part": "sampler",
        "params": params,
        "dtype": str(dtype),
        "workload": f"{len(prompts)} prompts x n={n} x {max_tokens} tokens",
        "evalkit_tokens_per_s": round(rates["evalkit"]),
        "generate_tokens_per_s": round(rates["generate"]),
        "ratio": round(rates["evalkit"] / rates["generate"], 2),
        **{k: round(v, 2) for k, v in rates.items() if k.endswith("_gib")},
    }


def likelihood(device: str, quick: bool) -> dict[str, Any]:
    from evalkit.likelihood import Scorer

    n, max_tokens, prompts, dtype, tok, model = workload(device, quick)
    never = len(tok) + 10  # an end id the model never samples: every row runs to max_tokens
    sampling = SamplingConfig(temperature=1.0, max_tokens=max_tokens)
    scorer = Scorer(model, tok, max_batch_tokens=1 << 16 if device.startswith("cuda") else 8192)
    prompt_ids = [list(tok(p)["input_ids"]) for p in prompts]

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def sample() -> tuple[int, list[list[list[int]]]]:
        rows = []
        for i, ids in enumerate(prompt_ids):
            outs = decode(model, [ids] * n, list(range(i * n, (i + 1) * n)), sampling, never, tok.pad_token_id)
            rows.append([o.token_ids for o in outs])
        sync()
        return sum(len(t) for r in rows for t in r), rows

    def score(rows: list[list[list[int]]]) -> int:
        total = 0
        for ids, targets in zip(prompt_ids, rows, strict=True):
            total += sum(s.n_tokens for s in scorer.score(ids, targets, sampling))
        sync()
        return total

    sample()  # warm up
    t0 = time.perf_counter()
    sampled, rows = sample()
    sample_rate = sampled / (time.perf_counter() - t0)
    score(rows)  # warm up
    t0 = time.perf_counter()
    scored = score(rows)
    score_rate = scored / (time.perf_counter() - t0)
    return {
        "part": "likelihood",
        "dtype": str(dtype),
        "workload": f"{len(prompts)} prompts x n={n} x {max_tokens} tokens",
        "sampling_tokens_per_s": round(sample_rate),
        "scoring_tokens_per_s": round(score_rate),
        "ratio": round(score_rate / sample_rate, 2),
    }


def grpo(device: str, quick: bool) -> dict[str, Any]:
    from evalkit.tasks import TaskSpec
    from evalkit.train.grpo import GRPOConfig, GRPOTrainer
    from evalkit.train.sft import SFTConfig, train_sft

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        specs = [TaskSpec.parse("add@digits=3,min_digits=1")]
        train_sft(specs, base, SFTConfig(steps=60, batch_size=64, seed=0), TinyConfig(), log=lambda _m: None)
        steps = 2 if quick else 6
        cfg = GRPOConfig(steps=steps, prompts_per_step=8 if quick else 32, group_size=8 if quick else 16, seed=0)
        trainer = GRPOTrainer(str(base), specs, Path(tmp) / "rl", cfg, log=lambda _m: None, device=device)
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
        lines = (Path(tmp) / "rl" / "train_log.jsonl").read_text().splitlines()
        last = json.loads(lines[-1]) if lines else {}
    return {
        "part": "grpo",
        "steps": steps,
        "seconds_per_step": round(seconds / steps, 3),
        "last_step": {k: last[k] for k in list(last)[:12]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small shapes (a smoke test, e.g. on CPU)")
    parser.add_argument("--parts", default="sampler,likelihood,grpo")
    args = parser.parse_args()
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"device: {name}; torch {torch.__version__}", flush=True)
    for part in args.parts.split(","):
        result = {"sampler": sampler, "likelihood": likelihood, "grpo": grpo}[part](args.device, args.quick)
        print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
