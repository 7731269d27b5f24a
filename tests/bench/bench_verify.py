"""Benchmarks of verification throughput: the dedup cache, the code sandbox, memory on large runs.

1. Dedup: 200 generated math problems (integer and fraction arithmetic) x 1024 samples each, with the
   duplication of real samples: per problem a few distinct answers from a skewed distribution (the right
   value in several LaTeX spellings, a handful of typical wrong values, a difficulty-dependent tail of
   one-off answers, some completions cut off before answering (their last number is extracted), a few
   empty), each wrapped in its own reasoning text (about 800 characters) and in varied ``\\boxed{}`` / "the
   answer is" forms, so almost every text is distinct. ``verify_items`` with
   the dedup cache (one verification per problem and extracted answer) vs ``dedup=False`` (one per
   completion; the same as the old text-level dedup here, since the texts are distinct). Reports
   completions verified per second for each, the ratio, and checks that both give the same verdicts.
2. Sandbox: ``evalkit.grading.sandbox.run_python("pass")`` runs per second, one at a time and from 2 threads, vs
   bare ``subprocess.run([sys.executable, "-c", "pass"])`` process starts per second measured the same way.
3. Peak memory: peak RSS (VmHWM) of a fresh process that verifies a run of 20k and of 200k completions,
   with ``verify_run`` (streams the run in blocks) and with one ``verify_items`` call on all items (the
   caller holds them all, so that one grows with the input). Verifier workers are a fixed number of
   processes that get items in chunks; their memory does not depend on the size of the run.

``--unconfined`` runs the verifier workers without :mod:`evalkit.verify.confine`, as the baseline of its cost.

Run with ``python tests/bench/bench_verify.py`` (about 5 minutes on 2 cores; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from evalkit.types import Completion, FinishReason, Problem
from evalkit.verify.pool import usable_cores

N_PROBLEMS, N_SAMPLES = 200, 1024

_STEPS = [
    "First, rewrite the expression.",
    "Let me compute this step by step.",
    "We simplify each term separately.",
    "Combining the terms carefully,",
    "Checking the arithmetic once more:",
    "Hmm, let me double-check the signs.",
    "Multiplying out gives an intermediate value.",
]


def _spellings(value: Fraction) -> list[str]:
    """Ways a model writes ``value``, the canonical one first (the reference)."""
    if value.denominator == 1:
        n = value.numerator
        out = [str(n), f"{n}.0", f"\\mathbf{{{n}}}"]
        if abs(n) >= 1000:
            out.append(f"{n:,}")
        return out
    p, q = value.numerator, value.denominator
    sign, p = ("-" if p < 0 else ""), abs(p)
    out = [f"{sign}\\frac{{{p}}}{{{q}}}", f"{sign}\\dfrac{{{p}}}{{{q}}}", f"{sign}{p}/{q}"]
    if sign:
        out.append(f"\\frac{{-{p}}}{{{q}}}")
    if 10**6 % q == 0:
        out.append(str(float(value)))
    return out


def make_problems(n_problems: int = N_PROBLEMS, seed: int = 0) -> list[Problem]:
    """Arithmetic problems with integer or fraction answers; ``meta["bench"]`` holds what sampling needs."""
    rng = random.Random(seed)
    problems = []
    for i in range(n_problems):
        if i % 2 == 0:
            a, b = rng.randint(-200, 999), rng.randint(2, 99)
            op = rng.choice(["+", "-", "\\times"])
            value = Fraction(a + b if op == "+" else a - b if op == "-" else a * b)
            prompt = f"Compute ${a} {op} {b}$."
        else:
            a, b, c, d = rng.randint(1, 9), rng.randint(2, 12), rng.randint(1, 9), rng.randint(2, 12)
            op = rng.choice(["+", "-"])
            value = Fraction(a, b) + Fraction(c, d) if op == "+" else Fraction(a, b) - Fraction(c, d)
            prompt = f"Compute $\\frac{{{a}}}{{{b}}} {op} \\frac{{{c}}}{{{d}}}$ in lowest terms."
        wrong = {value + 1, value - 1, -value, value * 2, value + Fraction(1, 2)}
        if value != 0:
            wrong.add(1 / value)
        wrong.discard(value)
        meta = {
            "answer_format": "auto",
            "bench": {"value": str(value), "wrong": sorted(str(w) for w in wrong), "difficulty": rng.random()},
        }
        prompt += " Put your final answer within \\boxed{}."
        problems.append(Problem(f"math:bench:{i:03d}", "math", prompt, _spellings(value)[0], meta))
    return problems


def _reasoning(rng: random.Random, sample: int) -> str:
    """Some lines of working: sentences and arithmetic (no box and no "answer is", so nothing is extracted
    from them but the last number), about 800 characters on average, different for every sample."""
    lines = []
    for _ in range(rng.randint(4, 30)):
        if rng.random() < 0.5:
            lines.append(rng.choice(_STEPS))
        else:
            x, y = rng.randint(2, 999), rng.randint(2, 99)
            lines.append(f"Then ${x} \\times {y} = {x * y}$, and adding {sample % 97} gives {x * y + sample % 97}.")
    return "\n".join(lines)


def _wrap(answer: str, rng: random.Random, sample: int) -> str:
    shape = rng.choices(
        [
            "$\\boxed{%s}$",
            "\\boxed{%s}",
            "\\boxed{ %s }",
            "The answer is $%s$.",
            "**Answer:** %s",
            "Final answer: $\\boxed{%s}$",
            "So the answer is \\(%s\\).",
        ],
        weights=[30, 25, 5, 15, 10, 10, 5],
    )[0]
    return _reasoning(rng, sample) + "\n\n" + shape % answer


def samples(problem: Problem, n: int, seed: int = 0) -> Iterator[tuple[str, FinishReason]]:
    """(text, finish_reason) of ``n`` synthetic completions of a problem made by :func:`make_problems`."""
    info = problem.meta["bench"]
    rng = random.Random(f"{seed}:{problem.id}")
    value = Fraction(info["value"])
    right = _spellings(value)
    wrong = [_spellings(Fraction(w))[0] for w in info["wrong"]]
    hard = float(info["difficulty"])
    p_right, p_tail, p_none, p_empty = 0.9 - 0.8 * hard, 0.01 + 0.1 * hard, 0.02, 0.005
    right_w = [1 / (k + 1) ** 1.5 for k in range(len(right))]  # the canonical spelling dominates
    wrong = wrong[: 2 + int(hard * (len(wrong) - 1))]
    wrong_w = [1 / (k + 1) ** 1.2 for k in range(len(wrong))]
    for sample in range(n):
        u = rng.random()
        if u < p_empty:
            yield "", "stop"
        elif u < p_empty + p_none:
            yield _reasoning(rng, sample), "length"  # ran out of tokens before answering: the last number counts
        elif u < p_empty + p_none + p_tail:
            yield _wrap(str(rng.randint(-(10**6), 10**6)), rng, sample), "stop"  # a one-off answer
        elif u < p_empty + p_none + p_tail + p_right:
            yield _wrap(rng.choices(right, right_w)[0], rng, sample), "stop"
        else:
            yield _wrap(rng.choices(wrong, wrong_w)[0], rng, sample), "length" if rng.random() < 0.1 else "stop"


def workload(n_problems: int, n_samples: int) -> list[tuple[Problem, str, str]]:
    return [(p, t, f) for p in make_problems(n_problems) for t, f in samples(p, n_samples)]


# -- 1. dedup --------------------------------------------------------------------------------------------


def bench_dedup(n_problems: int, n_samples: int, nodedup_problems: int, repeats: int) -> None:
    from evalkit.grading.answers import answer_key
    from evalkit.verify.stage import verify_items

    items = workload(n_problems, n_samples)
    keys = {(p.id, answer_key(t)) for p, t, _ in items}
    texts = {(p.id, t) for p, t, _ in items}
    print(
        f"workload: {n_problems} problems x {n_samples} samples = {len(items):,} completions; "
        f"{len(texts):,} distinct (problem, text); {len(keys):,} distinct (problem, extracted answer), "
        f"{len(keys) / n_problems:.0f} per problem"
    )
    subset = [it for it in items if int(it[0].id.rsplit(":", 1)[1]) < nodedup_problems]
    # Alternating runs, best of each: on a shared machine, load from other processes then weighs on both.
    dedup_s = plain_s = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        with_dedup = verify_items(items, timeout_s=30)
        dedup_s = min(dedup_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        without = verify_items(subset, timeout_s=30, dedup=False)
        plain_s = min(plain_s, time.perf_counter() - t0)
    same = without == with_dedup[: len(subset)]
    rate, plain_rate = len(items) / dedup_s, len(subset) / plain_s
    passed = sum(v.passed for v in with_dedup) / len(items)
    statuses = sorted({v.status for v in with_dedup})
    print(
        f"dedup (best of {repeats}): {len(items):,} completions in {dedup_s:.1f}s = {rate:,.0f} verifications/s "
        f"({len(keys):,} verifier calls); dedup=False: {len(subset):,} completions "
        f"({nodedup_problems} problems) in {plain_s:.1f}s = {plain_rate:,.0f}/s; ratio {rate / plain_rate:.1f}x; "
        f"same verdicts: {same}; pass rate {passed:.3f}; statuses {statuses}"
    )
    if not same:
        raise SystemExit("dedup changed verdicts")


# -- 2. sandbox ------------------------------------------------------------------------------------------


def _rates(fns: dict[str, Callable[[], object]], n: int, threads: int, rounds: int = 5) -> dict[str, float]:
    """Calls per second of each function, ``n`` calls each from ``threads`` threads, in interleaved rounds
    (so that load from other processes on a shared machine weighs on every side alike)."""
    spent = dict.fromkeys(fns, 0.0)
    per_round = max(1, n // rounds)
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        for _ in range(rounds):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                list(ex.map(lambda _, f=fn: f(), range(per_round)))
                spent[name] += time.perf_counter() - t0
    return {name: per_round * rounds / seconds for name, seconds in spent.items()}


def bench_sandbox(n: int) -> None:
    from evalkit.grading.sandbox import run_python

    first = run_python("pass")
    assert first.confirmed and first.status == "ok", first

    def sandboxed() -> None:
        result = run_python("pass")
        assert result.confirmed, result

    def bare() -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    def bare_no_site() -> None:
        subprocess.run([sys.executable, "-S", "-c", "pass"], check=True)

    fns: dict[str, Callable[[], object]] = {"sandbox": sandboxed, "bare": bare, "bare -S": bare_no_site}
    _rates(fns, 3, 1, rounds=1)  # warm up (page cache)
    print(f"sandbox isolation layers: {','.join(first.isolation)}")
    for threads in (1, 2):
        r = _rates(fns, n, threads)
        print(
            f"sandbox, {threads} thread(s), {n} runs each: run_python('pass') {r['sandbox']:.1f}/s; "
            f"`python -c pass` {r['bare']:.1f}/s (ratio {r['sandbox'] / r['bare']:.2f}); "
            f"`python -S -c pass` {r['bare -S']:.1f}/s (ratio {r['sandbox'] / r['bare -S']:.2f})"
        )


# -- 3. peak memory --------------------------------------------------------------------------------------


def _vm(field: str) -> int:
    """A /proc/self/status size field (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return -1


def _make_store(root: Path, n_completions: int) -> None:
    """A run of ``n_completions`` (200 problems x n/200 samples), written one problem per shard."""
    from evalkit.store import RunStore

    per_problem = n_completions // N_PROBLEMS
    problems = make_problems()
    store, _ = RunStore.create_or_resume(root, {"model": "bench", "n": per_problem}, {"n": per_problem}, problems)
    try:
        for p in problems:
            batch = [
                Completion(p.id, i, text, len(text) // 4, finish, i)
                for i, (text, finish) in enumerate(samples(p, per_problem))
            ]
            store.append_completions(batch)
    finally:
        store.unlock()


def _memory_child(mode: str, n_completions: int, root: str) -> None:
    """Runs in a fresh interpreter: verify, then print peak RSS figures as JSON."""
    import evalkit_tasks.math  # noqa: F401  (math-verify and sympy are loaded before the baseline)

    from evalkit.store import RunStore
    from evalkit.verify.stage import verify_items, verify_run

    baseline = _vm("VmHWM")
    t0 = time.perf_counter()
    if mode == "verify_run":
        done = verify_run(RunStore.open(Path(root)), rescore=True)
    else:
        items = workload(N_PROBLEMS, n_completions // N_PROBLEMS)
        done = len(verify_items(items))
    out = {"baseline": baseline, "peak": _vm("VmHWM"), "n": done}
    print(json.dumps({**out, "seconds": time.perf_counter() - t0}))


def bench_memory(sizes: list[int]) -> None:
    for mode in ("verify_run", "verify_items"):
        for n in sizes:
            with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
                if mode == "verify_run":
                    _make_store(Path(tmp) / "run", n)
                cmd = [sys.executable, __file__, "--memory-child", mode, str(n), str(Path(tmp) / "run")]
                out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            print(
                f"peak memory, {mode}, {out['n']:,} completions: parent peak RSS {out['peak']} MiB "
                f"(after imports {out['baseline']} MiB, +{out['peak'] - out['baseline']} MiB); {out['seconds']:.0f}s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workloads (smoke test)")
    parser.add_argument("--only", choices=["dedup", "sandbox", "memory"], action="append")
    parser.add_argument("--nodedup-problems", type=int, default=N_PROBLEMS, help="problems run with dedup=False")
    parser.add_argument("--repeats", type=int, default=2, help="alternating dedup / dedup=False runs (best kept)")
    parser.add_argument(
        "--unconfined",
        action="store_true",
        help="verifier workers without evalkit.verify.confine (the baseline of the confinement's cost)",
    )
    parser.add_argument("--memory-child", nargs=3, metavar=("MODE", "N", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        mode, n, root = args.memory_child
        _memory_child(mode, int(n), root)
        return
    only = set(args.only or ["dedup", "sandbox", "memory"])
    if args.unconfined:
        import evalkit.verify
        from evalkit.verify.pool import run_pool

        def unconfined(*a: Any, **k: Any) -> Any:
            return run_pool(*a, **{**k, "confine": False})

        evalkit.verify.stage.run_pool = unconfined
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {usable_cores()} usable cores, "
        f"{mem_gib:.0f} GiB, python {platform.python_version()}; {when}"
    )
    print(f"command: python tests/bench/bench_verify.py {' '.join(sys.argv[1:])}".rstrip())
    if "dedup" in only:
        if args.quick:
            bench_dedup(20, 128, 20, 1)
        else:
            bench_dedup(N_PROBLEMS, N_SAMPLES, min(args.nodedup_problems, N_PROBLEMS), args.repeats)
    if "sandbox" in only:
        bench_sandbox(10 if args.quick else 60)
    if "memory" in only:
        bench_memory([2_000, 20_000] if args.quick else [20_000, 200_000])


if __name__ == "__main__":
    main()
