"""Benchmarks of evalkit.stats.

1. pass@k: evalkit's vectorised estimator vs a per-problem, per-k loop of the product-form estimator.
   Workload: every k = 1..1024 for 10,000 problems with n = 1024. The loop baseline is timed on a
   subset and scaled (it is linear in problems x k). Prints the ratio.
2. Bootstrap intervals: 2,000 resamples over 1,000 problems for 11 k values (1, 2, 4, ..., 1024), for
   the mean pass@k of one run and for the paired delta of two runs (default studentized method).

Run with ``nox -s bench``.
"""

from __future__ import annotations

import platform
import time

import numpy as np

from evalkit.stats import bootstrap_ci, pass_at_k, pass_at_k_ci, powers_of_two


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
    bench_bootstrap(rng)


def bench_bootstrap(rng: np.random.Generator) -> None:
    problems, n, n_boot = 1000, 1024, 2000
    ks = np.array(powers_of_two(n))
    p_a = rng.beta(0.3, 2.0, size=problems)
    c_a = rng.binomial(n, p_a)
    c_b = rng.binomial(n, np.clip(p_a * 1.3, 0.0, 1.0))
    t0 = time.perf_counter()
    table_a = pass_at_k(n, c_a[:, None], ks[None, :])
    table_b = pass_at_k(n, c_b[:, None], ks[None, :])
    one = bootstrap_ci(table_a, n_boot=n_boot)
    one_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    paired = bootstrap_ci(table_b - table_a, n_boot=n_boot)
    assert np.all(paired[1] <= paired[0]) and np.all(paired[0] <= paired[2])
    paired_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    per_k = [pass_at_k_ci(np.full(problems, n), c_a, int(k), n_boot=n_boot) for k in ks]
    per_k_run = time.perf_counter() - t0
    assert np.allclose([r[1] for r in per_k], one[1])
    print(
        f"bootstrap CI, {n_boot} resamples x {problems} problems x {ks.size} k values: one run {one_run:.3f}s "
        f"(incl. pass@k tables), paired delta {paired_run:.3f}s, pass_at_k_ci called once per k {per_k_run:.3f}s"
    )


if __name__ == "__main__":
    main()
