"""Pinned CPU numerics, so that the demo gives the same numbers on any machine with the same package versions.

Floating-point sums depend on the order in which they are added, and that order depends on the machine:

* **Vector width.** PyTorch picks its CPU kernels by the widest vector unit it finds (AVX512 or AVX2 on
  x86-64); the two add in different orders. ``ATEN_CPU_CAPABILITY=avx2`` makes every x86-64 machine with
  AVX2 (anything since about 2015) run the same kernels. Measured: 60 SFT steps of the demo model give
  different weights under AVX512 and AVX2 kernels, and identical weights under AVX2 on the same machine.
* **Matrix products.** Intel MKL picks its code path by CPU too; ``MKL_CBWR=AVX2,STRICT`` (MKL's
  conditional numerical reproducibility, strict mode) pins the path and makes ``gemm`` independent of the
  thread count.
* **Threads.** Reductions split across threads add partial sums in a different order; the demo always
  uses :data:`DEMO_THREADS` threads, whatever the number of cores.

Not numerics but speed under load: OpenMP threads that spin while waiting collapse when the cores are
shared (40 SFT steps of the demo model with two threads on a 2-core machine whose cores were both busy:
187 s spinning, 12 s with ``OMP_WAIT_POLICY=PASSIVE``, identical weights), so evalkit asks for passive
waiting too (:data:`SHARED_CPU_ENV`; every ``evalkit`` command sets it).

The environment variables only act if they are set before PyTorch loads its kernels, so
:func:`pin_cpu_numerics_env` runs before the first ``import torch`` (``evalkit demo`` calls it first
thing); :func:`pin_cpu_numerics` then fixes the threads and asks PyTorch for deterministic algorithms,
and says when the kernels could not be pinned (torch already imported, or another architecture).

Not covered: other CPU architectures (an ARM machine gives its own, equally repeatable numbers), other
package versions, and GPUs.
"""

from __future__ import annotations

import os
import platform
import sys

DEMO_THREADS = 2
PINNED_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT"}
SHARED_CPU_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def share_cpus_env() -> None:
    """Set :data:`SHARED_CPU_ENV` where the user has not (before torch is imported; no effect on numbers)."""
    for key, value in SHARED_CPU_ENV.items():
        os.environ.setdefault(key, value)


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def pin_cpu_numerics_env() -> None:
    """Set :data:`PINNED_ENV` (on x86-64, where the user has not set them) before torch is imported."""
    share_cpus_env()
    if not _x86() or "torch" in sys.modules:
        return
    for key, value in PINNED_ENV.items():
        os.environ.setdefault(key, value)


def pin_cpu_numerics(threads: int = DEMO_THREADS) -> list[str]:
    """Fix the thread count and deterministic algorithms; return notes on what could not be pinned.

    Args:
        threads: Intra-op threads for PyTorch (the same on every machine, not the core count).

    Returns:
        Human-readable notes, empty when the numerics are pinned as the module docstring describes.
    """
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    notes = []
    capability = torch.backends.cpu.get_cpu_capability()
    if not _x86():
        notes.append(
            f"CPU architecture {platform.machine()}: numbers repeat on this kind of machine but may differ "
            "in the last digits from x86-64 machines"
        )
    elif capability.upper() not in ("AVX2", "DEFAULT"):
        notes.append(
            f"PyTorch runs its {capability} kernels (ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY')}):"
            " numbers may differ in the last digits from machines that run AVX2 kernels; set "
            "ATEN_CPU_CAPABILITY=avx2 before starting Python to match them"
        )
    return notes
