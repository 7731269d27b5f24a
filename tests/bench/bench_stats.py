"""Benchmark: evalkit's vectorised pass@k vs a per-problem, per-k loop of the product-form estimator.

Workload: every k = 1..1024 for 10,000 problems with n = 1024. The loop baseline is timed on a
subset and scaled (it is linear in problems x k). Prints the ratio; run with ``nox -s bench``.
"""

from __future__ import annotations

import platform
import time

import numpy as np

from evalkit.stats import pass_at_k


def loop_estimator(n: int, c: int, k: int) -> float:
    """The textbook estimator, one problem and one k at a time (the usual baseline)."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def main() -> None:
    rng = np.random.default_rng(0)
    problems, n = 10_000, 1024
    c = rng.binomial(n, rng.beta(0.3, 2.0, size=problems))
    ks = np.arange(1, n + 1)

    t0 = time.perf_counter()
    table = pass_at_k(n, c[:, None], ks[None, :])
    ours = time.perf_counter() - t0

    sub_p, sub_k = 200, 64
    sub_ks = rng.choice(ks, size=sub_k, replace=False)
    t0 = time.perf_counter()
    ref = np.array([[loop_estimator(n, int(ci), int(k)) for k in sub_ks] for ci in c[:sub_p]])
    loop = (time.perf_counter() - t0) * (problems / sub_p) * (len(ks) / sub_k)
    err = float(np.max(np.abs(ref - table[:sub_p, sub_ks - 1])))

    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(
        f"pass@k, every k=1..{n}, {problems} problems: evalkit {ours:.3f}s, loop (extrapolated) {loop:.1f}s, "
        f"ratio {loop / ours:.0f}x, max abs difference {err:.1e}"
    )


if __name__ == "__main__":
    main()
