"""Benchmark: evalkit's transformers backend vs plain ``generate(num_return_sequences=n)``.

Same model (the demo's tiny shape, random weights, so every sequence runs to max_tokens and both sides
do identical work), same prompts, n=1024 samples each, max_tokens=16, CPU. Reports tokens/s for each
and the ratio. Run with ``nox -s bench``.
"""

from __future__ import annotations

import platform
import time

import torch

from evalkit.sampling.base import SamplingConfig
from evalkit.sampling.decode import decode
from evalkit.tinymodel import TinyConfig, build_model, build_tokenizer

PROMPTS = ["12+345=", "9+9=", "rev:abcdef=", "sort:53921=", "100+200=", "7+70=", "rev:xy=", "sort:11="]
N, MAX_TOKENS, BATCH = 1024, 16, 1024


def main() -> None:
    torch.manual_seed(0)
    tok = build_tokenizer()
    model = build_model(tok, TinyConfig(), seed=0).eval()
    sampling = SamplingConfig(temperature=1.0, max_tokens=MAX_TOKENS)
    no_eos = len(tok) + 10  # random weights: count every row to max_tokens on both sides

    def ours() -> int:
        total = 0
        for i, prompt in enumerate(PROMPTS):
            ids = tok(prompt)["input_ids"]
            for start in range(0, N, BATCH):
                outs = decode(
                    model,
                    [ids] * BATCH,
                    list(range(i * N + start, i * N + start + BATCH)),
                    sampling,
                    no_eos,
                    tok.pad_token_id,
                )
                total += sum(len(o.token_ids) for o in outs)
        return total

    @torch.no_grad()
    def plain() -> int:
        total = 0
        for prompt in PROMPTS:
            ids = torch.tensor([tok(prompt)["input_ids"]])
            out = model.generate(
                ids,
                do_sample=True,
                num_return_sequences=N,
                max_new_tokens=MAX_TOKENS,
                min_new_tokens=MAX_TOKENS,
                top_k=0,
                pad_token_id=tok.pad_token_id,
            )
            total += (out.shape[1] - ids.shape[1]) * out.shape[0]
        return total

    ours(), plain()  # warm up
    rates = {}
    for name, fn in (("evalkit hf backend", ours), ("transformers generate", plain)):
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            tokens = fn()
            best = max(best, tokens / (time.perf_counter() - t0))
        rates[name] = best
        print(f"{name:24s} {best:10.0f} tokens/s")
    ratio = rates["evalkit hf backend"] / rates["transformers generate"]
    print(f"machine: {platform.machine()} threads {torch.get_num_threads()} torch {torch.__version__}")
    print(f"workload: {len(PROMPTS)} prompts x n={N}, max_tokens={MAX_TOKENS}; ratio evalkit/generate = {ratio:.2f}")


if __name__ == "__main__":
    main()
