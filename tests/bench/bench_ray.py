"""Benchmark: ``--executor ray`` vs the plain hf backend, throughput per replica.

The same work on every side, 8 ``add@digits=2`` problems x n samples, batch size 512 (evalkit's default;
the Ray side's work units are the local backend's batches), two workloads:

* the tests' tiny checkpoint (2-layer, 64-wide Llama trained a few seconds on 1-2 digit addition), n = 4096,
  max_tokens 8: rows end at their answer, a unit is a few tens of milliseconds of compute (Ray's cost per
  unit shows);
* a demo-size model (0.9 M parameters) with random weights, n = 512, max_tokens 32: rows run long, a unit
  is about a second (closer to a real model, where a unit takes seconds to minutes).

Sides: ``local``, ``HFBackend.generate`` in this process with torch's default threads (the machine's
cores) and again with 1 thread (what each of 2 replicas gets on a 2-core machine); ``ray xN``,
:class:`~evalkit.sampling.ray_executor.RayExecutor` with N replicas on a local Ray cluster started here
(``ray.init(num_cpus=cores)``), the results gathered in the driver as a run would write them. Tokens/s
(best of 3) two ways: *sampling* from the moment every replica has its model (``RayExecutor.loaded_at``) to
the last result, the steady state of a long run; *end to end* also starting the actors and loading the
model in each (not the cluster start, done once). Per replica: Ray's tokens/s / N over the local backend's
with the same threads per model (cores / N); goal >= 0.9. Also shown: all replicas together over one local
process on every core. The samples are checked identical on every side. Run with ``nox -s bench`` or
``python tests/bench/bench_ray.py [--n 4096] [--n-random 512]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evalkit.determinism import share_cpus_env

share_cpus_env()  # OMP_WAIT_POLICY=PASSIVE before torch loads, as every evalkit command (and each actor) does

import ray  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from evalkit.sampling.base import SamplingConfig  # noqa: E402
from evalkit.sampling.hf import HFBackend  # noqa: E402
from evalkit.sampling.ray_executor import RayExecutor  # noqa: E402
from evalkit.tasks import TaskSpec, problems_for  # noqa: E402
from evalkit.train.tinymodel import TinyConfig, build_model, save_checkpoint  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_helpers import TINY_TASK, train_tiny  # noqa: E402

SAMPLING = SamplingConfig(max_tokens=8)  # set per workload
BATCH = 512
REPEATS = 3


def records(chunks: Any) -> dict[tuple[str, int], tuple[str, int]]:
    return {(c.problem_id, c.sample_idx): (c.text, c.n_tokens) for chunk in chunks for c in chunk}


def local_side(ckpt: Path, jobs: list[Any], threads: int) -> tuple[float, dict[Any, Any]]:
    torch.set_num_threads(threads)
    backend = HFBackend(str(ckpt), device="cpu", batch_size=BATCH)
    best, out = 0.0, {}
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = records(backend.generate(jobs, SAMPLING, 0))
        best = max(best, sum(n for _, n in out.values()) / (time.perf_counter() - start))
    return best, out


def ray_side(ckpt: Path, jobs: list[Any], replicas: int) -> tuple[float, float, dict[Any, Any]]:
    best_sampling = best_total = 0.0
    out: dict[Any, Any] = {}
    for _ in range(REPEATS):
        executor = RayExecutor("hf", str(ckpt), {"device": "cpu", "batch_size": BATCH}, replicas=replicas)
        start = time.monotonic()
        out = records(executor.generate(jobs, SAMPLING, 0))
        end = time.monotonic()
        tokens = sum(n for _, n in out.values())
        assert executor.loaded_at is not None
        best_sampling = max(best_sampling, tokens / (end - executor.loaded_at))
        best_total = max(best_total, tokens / (end - start))
    return best_sampling, best_total, out


def workload(label: str, ckpt: Path, n: int, max_tokens: int, default_threads: int) -> None:
    """Print the local and Ray throughputs of one checkpoint and sampling length."""
    global SAMPLING
    SAMPLING = SamplingConfig(max_tokens=max_tokens)
    jobs = [(p, range(n)) for p in problems_for([TaskSpec.parse(TINY_TASK)], 0, 8)]
    local = {t: local_side(ckpt, jobs, t) for t in sorted({default_threads, max(1, default_threads // 2)})}
    torch.set_num_threads(default_threads)
    print(f"workload {label}: 8 problems x n={n}, max_tokens {max_tokens}, batch size {BATCH}")
    for threads, (tps, _) in local.items():
        print(f"  local hf backend, {threads} thread(s): {tps:,.0f} tokens/s")
    reference = local[default_threads][1]
    for replicas in (1, 2):
        sampling, total, out = ray_side(ckpt, jobs, replicas)
        assert out == reference, f"ray x{replicas}: samples differ from the local backend's"
        threads = max(1, default_threads // replicas)
        base = local[threads][0] if threads in local else local[default_threads][0]
        machine = local[default_threads][0]
        print(
            f"  ray x{replicas} ({threads} thread(s) each): sampling {sampling:,.0f} tokens/s, "
            f"per replica {sampling / replicas / base:.2f} of local with {threads} thread(s), "
            f"all replicas {sampling / machine:.2f} of local with {default_threads}; "
            f"end to end {total:,.0f} tokens/s ({total / replicas / base:.2f} per replica)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="samples per problem, tiny model (8 problems)")
    parser.add_argument("--n-random", type=int, default=512, help="samples per problem, demo-size random model")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="ekbench") as tmp:
        ckpt = train_tiny(Path(tmp) / "tiny")
        tokenizer = AutoTokenizer.from_pretrained(str(ckpt))
        rnd = Path(tmp) / "random"
        save_checkpoint(build_model(tokenizer, TinyConfig(), seed=0), tokenizer, rnd)
        ray.init(num_cpus=cores, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False,
                 _temp_dir=tmp)  # fmt: skip
        try:
            print(f"{platform.machine()}, {cores} cores, torch {torch.__version__}, ray {ray.__version__}")
            workload("tiny (trained, rows end at their answer)", ckpt, args.n, 8, default_threads)
            workload("demo-size random weights (rows run long)", rnd, args.n_random, 32, default_threads)
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
