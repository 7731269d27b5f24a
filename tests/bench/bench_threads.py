"""OpenMP's wait policy on a shared CPU: 40 SFT steps of the demo model, timed, weights hashed.

Run it with the cores busy (e.g. two ``python3 -c "while True: pass"`` processes) and without, and compare
``--passive`` (``OMP_WAIT_POLICY=PASSIVE``, what evalkit sets) with the default spinning policy:

    python tests/bench/bench_threads.py --threads 2
    python tests/bench/bench_threads.py --threads 2 --passive

The environment is set here before torch is imported; the weights' hash shows the numbers do not change.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE")
    args = parser.parse_args()
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE" if args.passive else "ACTIVE"
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
    os.environ.setdefault("MKL_CBWR", "AVX2,STRICT")
    import torch

    from evalkit.tasks import TaskSpec
    from evalkit.train.sft import SFTConfig, train_sft

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        out = train_sft([TaskSpec.parse("add@digits=3,min_digits=1")], Path(tmp) / "m", SFTConfig(steps=args.steps),
                        log=lambda _m: None)  # fmt: skip
        seconds = time.monotonic() - start
        digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()[:16]
    policy = "passive" if args.passive else "spinning"
    print(f"RESULT threads={args.threads} policy={policy} steps={args.steps} seconds={seconds:.1f} weights={digest}")


if __name__ == "__main__":
    main()
