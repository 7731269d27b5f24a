"""``evalkit sample --adaptive`` against fixed n = 1024: samples drawn, frontier claims, interval coverage.

Each data set is a simulated suite of paired base/RL problems with known per-sample rates and 1,024 stored
outcomes per problem and model (what ``--backend replay`` serves from a samples file). The adaptive run is the
rule the CLI runs (:meth:`evalkit.stats.adaptive.AdaptiveRule.decide`, the same stage targets) on those
outcomes, and both runs are summarised by :func:`evalkit.compare.results.summarize` (the code of ``evalkit
summary``) on in-memory runs. ``--cli`` also replays one suite through ``evalkit sample --adaptive --backend
replay`` and checks that the run it writes holds exactly the samples the in-memory rule drew.

Reported per setting (dense or sparse rates x problems):

* drawn: samples the adaptive run draws (both models) as a fraction of the fixed-n run's (problems x 1024 x 2);
* floor: samples up to each problem's first success, or n where there is none (what any rule that keeps the
  solved / never-solved classes must draw), as the same fraction;
* frontier claims equal: data sets whose frontier claims are identical to the fixed-n run's: the RL-only and
  base-only counts (``frontier_counts``), the ``rl_only_bounded`` bound and its problem count, and the exact
  McNemar decisions at 5% (:func:`evalkit.compare.frontier.frontier_statements`, the chance test aside: see
  ``--compare``);
* k=1 delta decision equal: data sets where the two-sided paired sign-flip decision on RL - base pass@1 at 5%
  (one cell, no Holm) is the same with the adaptive estimates as with the fixed-n ones (not a frontier claim;
  it shows what the estimator's extra variance costs);
* coverage: how often the summary's 95% interval of mean pass@k covers the suite's true mean of
  1 - (1 - p)^k (suite), and the mean over the rate distribution the problems were drawn from (population: the
  interval's own target, the stricter check), over both models, every data set and k in {1, 4, 16, 64, 256,
  1024}, with the smallest coverage of any one k in brackets; the fixed-n run's beside it.

With ``--compare``, a second table: the claims of :func:`evalkit.compare.summary.compare_runs` (the code of
``evalkit compare``) on the adaptive pair against those on the fixed-n pair of the same samples: all claims,
the frontier claims, the delta claims (kind and k) and ``base_only_excess`` (made or not, and how often each
pair makes it).

    python tests/bench/bench_adaptive.py [--sets 40] [--problems 30 100 500] [--suites dense sparse]
        [--successes 16] [--cli] [--compare]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.compare.frontier import frontier_statements
from evalkit.compare.results import RunResults, summarize
from evalkit.compare.summary import _two_sided_p, compare_runs
from evalkit.stats.adaptive import AdaptiveRule
from evalkit.types import Problem

N = 1024
KS = (1, 4, 16, 64, 256, 1024)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(q / (1 - q))


def rates(kind: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem (base, RL) rates. RL sharpens (logit + 1) where the base has a rate; 5% of the problems are
    RL-only gains (base 0, RL 0.002-0.05) and 3% base-only losses (RL 0)."""
    if kind == "dense":
        base = rng.beta(0.8, 0.8, size)
        base[rng.random(size) < 0.05] = 0.0
    else:  # sparse: 40% never solved, the rest mostly rare
        base = rng.beta(0.15, 3.0, size)
        base[rng.random(size) < 0.4] = 0.0
    rl = np.where(base > 0, 1 / (1 + np.exp(-(_logit(base) + 1.0))), 0.0)
    u = rng.random(size)
    gain, loss = u < 0.05, (u >= 0.05) & (u < 0.08)
    base[gain], rl[gain] = 0.0, rng.uniform(0.002, 0.05, int(gain.sum()))
    rl[loss] = 0.0
    base[loss] = np.maximum(base[loss], 0.002)
    return base, rl


def _run(
    name: str, problems: list[Problem], outcomes: np.ndarray, drawn: list[int] | None, rule: AdaptiveRule
) -> RunResults:
    """An in-memory run: the fixed-n run (``drawn`` None) or the adaptive one (its first ``drawn`` samples)."""
    identity: dict[str, Any] = {"model": name}
    if drawn is not None:
        identity["adaptive"] = rule.to_json()
    m = [N] * len(problems) if drawn is None else drawn
    passed = {p.id: outcomes[i, : m[i]].copy() for i, p in enumerate(problems)}
    manifest = {"identity": identity, "info": {"n": N}, "fingerprint": name}
    results = RunResults(Path(name), manifest, problems, passed, {}, 0, {})
    results.prefix = {p.id: m[i] for i, p in enumerate(problems)}
    return results


def _claims(c_base: np.ndarray, c_rl: np.ndarray) -> tuple[Any, ...]:
    """The frontier claims compared: counts, the rl_only_bounded bound, McNemar decisions at 5%."""
    out = frontier_statements(c_base, c_rl, np.full(c_base.size, N), {"p_rl_only_exact": 1.0})
    bound = out["simultaneous"]
    return (
        out["rl_only"],
        out["base_only"],
        None if bound is None else (round(bound["base_rate_below"], 12), bound["problems"]),
        out["mcnemar"]["p_rl_solves_more"] <= 0.05,
        out["mcnemar"]["p_base_solves_more"] <= 0.05,
    )


def _delta_decision(tb: np.ndarray, tr: np.ndarray) -> int:
    diff = tr - tb
    p = float(_two_sided_p(diff[:, None])[0])
    return 0 if p > 0.05 else int(np.sign(diff.mean()))


_POPULATION: dict[str, dict[str, np.ndarray]] = {}


def population_truth(kind: str) -> dict[str, np.ndarray]:
    """Mean pass@k over the rate distribution itself (2 million draws): the target of the summary's interval,
    which treats the problems as a sample of a population."""
    if kind not in _POPULATION:
        base, rl = rates(kind, 2_000_000, np.random.default_rng(99))
        _POPULATION[kind] = {
            m: np.array([np.mean(1 - (1 - p) ** k) for k in KS]) for m, p in (("base", base), ("rl", rl))
        }
    return _POPULATION[kind]


#: Claim kinds that are not delta claims: the frontier's, and the figures `evalkit compare` adds (likelihood, gate).
NOT_DELTA = ("frontier_counts", "rl_only_bounded", "base_only_excess", "likelihood_figures", "gate")


def _claim_keys(summary: dict[str, Any]) -> dict[str, Any]:
    """What `evalkit compare --json` claims, by kind: frontier (counts, the rl_only_bounded bound, McNemar
    decisions at 5%), base_only_excess (made or not), the delta claims (kind and k) and the gate's verdict (None
    where the comparison has no gate)."""
    claims = summary["claims"]
    counts = next(c for c in claims if c["kind"] == "frontier_counts")
    bounded = next((c for c in claims if c["kind"] == "rl_only_bounded"), None)
    return {
        "frontier": (
            counts["rl_only"],
            counts["base_only"],
            None if bounded is None else (round(bounded["base_rate_below"], 12), bounded["problems"]),
            counts["p_rl_solves_more"] <= 0.05,
            counts["p_base_solves_more"] <= 0.05,
        ),
        "excess": any(c["kind"] == "base_only_excess" for c in claims),
        "delta": sorted((c["kind"], c["k"]) for c in claims if c["kind"] not in NOT_DELTA),
        "gate": next((c["verdict"] for c in claims if c["kind"] == "gate"), None),
    }


def _compare_claims(runs_of: dict[str, dict[str, RunResults]]) -> dict[str, Any]:
    """Claims of :func:`evalkit.compare.summary.compare_runs` (the code of `evalkit compare`) on the fixed-n
    pair and on the adaptive pair, and which kinds agree."""
    keys = {label: _claim_keys(compare_runs(pair["base"], pair["rl"])) for label, pair in runs_of.items()}
    fixed, adaptive = keys["fixed"], keys["adaptive"]
    return {
        "cmp_frontier": fixed["frontier"] == adaptive["frontier"],
        "cmp_excess": fixed["excess"] == adaptive["excess"],
        "cmp_excess_fixed": fixed["excess"],
        "cmp_excess_adaptive": adaptive["excess"],
        "cmp_delta": fixed["delta"] == adaptive["delta"],
        "cmp_all": fixed == adaptive,
    }


def one_set(
    kind: str, size: int, rule: AdaptiveRule, rng: np.random.Generator, compare: bool = False
) -> dict[str, Any]:
    problems = [Problem(f"p{i:04d}", "sim", "", "", {}) for i in range(size)]
    base_p, rl_p = rates(kind, size, rng)
    out: dict[str, Any] = {
        "drawn": 0,
        "floor": 0,
        "cover_adaptive": [],
        "cover_fixed": [],
        "pop_adaptive": [],
        "pop_fixed": [],
    }
    counts: dict[str, dict[str, np.ndarray]] = {}
    pass1: dict[str, dict[str, np.ndarray]] = {}
    runs_of: dict[str, dict[str, RunResults]] = {}
    for model, p in (("base", base_p), ("rl", rl_p)):
        outcomes = rng.random((size, N)) < p[:, None]
        drawn = [rule.decide(row).target for row in outcomes]
        out["drawn"] += sum(drawn)
        first = np.where(outcomes.any(axis=1), outcomes.argmax(axis=1) + 1, N)
        out["floor"] += int(first.sum())  # samples to the first success, or n: what the classes alone need
        runs = {
            "fixed": _run(model, problems, outcomes, None, rule),
            "adaptive": _run(model, problems, outcomes, drawn, rule),
        }
        for label, run in runs.items():
            runs_of.setdefault(label, {})[model] = run
        for label, run in runs.items():
            summary = summarize(run)
            task = summary["tasks"]["sim"]
            for j, k in enumerate(KS):
                truth = float(np.mean(1 - (1 - p) ** k))
                lo, hi = task["pass_at_k_ci"][str(k)]
                out[f"cover_{label}"].append(lo <= truth <= hi)
                out[f"pop_{label}"].append(lo <= population_truth(kind)[model][j] <= hi)
            counts.setdefault(label, {})[model] = np.array([run.c(pb.id) for pb in problems])
            pass1.setdefault(label, {})[model] = _pass1(summary, label)
    if compare:
        out.update(_compare_claims(runs_of))
    out["claims_equal"] = _claims(counts["fixed"]["base"], counts["fixed"]["rl"]) == _claims(
        counts["adaptive"]["base"], counts["adaptive"]["rl"]
    )
    out["delta_equal"] = _delta_decision(pass1["fixed"]["base"], pass1["fixed"]["rl"]) == _delta_decision(
        pass1["adaptive"]["base"], pass1["adaptive"]["rl"]
    )
    return out


def _pass1(summary: dict[str, Any], label: str) -> np.ndarray:
    """Per-problem pass@1 of a summary's runs (c / n fixed; (R - 1) / (T - 1) or s / n adaptive)."""
    rows = summary["problems"]
    if label == "fixed":
        return np.array([r["c"] / r["n"] for r in rows])
    r_ = summary["adaptive"]["successes"]
    return np.array(
        [
            (r_ - 1) / (r["used"] - 1) if r["reached"] and r["used"] > 1 else (1.0 if r["reached"] else r["c"] / r["n"])
            for r in rows
        ]
    )


def cli_check(rule: AdaptiveRule, size: int, seed: int) -> dict[str, Any]:
    """Replay one dense suite's base model through ``evalkit sample --adaptive --backend replay`` and compare the
    run it writes with the in-memory rule's draws."""
    from evalkit.tasks import TaskSpec, make_problems

    rng = np.random.default_rng(seed)
    base_p, _ = rates("dense", size, rng)
    outcomes = rng.random((size, N)) < base_p[:, None]
    problems = make_problems(TaskSpec.parse("add"), 0, size)
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp) / "s.jsonl"
        with samples.open("w") as fh:
            for problem, row in zip(problems, outcomes, strict=True):
                for j, ok in enumerate(row):
                    text = problem.reference if ok else problem.reference + "0"
                    fh.write(json.dumps({"problem_id": problem.id, "sample_idx": j, "completion": text}) + "\n")
        argv = ["sample", str(samples), "--backend", "replay", "--task", "add", "--limit", str(size), "--n", str(N)]
        argv += ["--adaptive", "--adaptive-successes", str(rule.successes), "--out", str(Path(tmp) / "run")]
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "evalkit", *argv], capture_output=True, text=True, timeout=1800)
        wall = time.monotonic() - start
        if done.returncode:
            raise SystemExit(done.stderr[-2000:])
        summary = subprocess.run(
            [sys.executable, "-m", "evalkit", "summary", str(Path(tmp) / "run"), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
    drawn = [p["samples_drawn"] for p in json.loads(summary.stdout)["problems"]]
    expected = [rule.decide(row).target for row in outcomes]
    return {"problems": size, "equal": drawn == expected, "drawn": sum(drawn) / (size * N), "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", type=int, default=40, help="data sets per setting (halved at 500 problems)")
    parser.add_argument("--problems", type=int, nargs="+", default=[30, 100, 500])
    parser.add_argument("--suites", nargs="+", default=["dense", "sparse"], choices=["dense", "sparse"])
    parser.add_argument("--successes", type=int, default=16, help="R of the rule")
    parser.add_argument("--cli", action="store_true", help="also replay one 100-problem suite through the CLI")
    parser.add_argument(
        "--compare", action="store_true", help="also run the code of `evalkit compare` on both pairs (claims table)"
    )
    args = parser.parse_args()
    rule = AdaptiveRule.make(args.successes, N)
    print(f"# {platform.processor() or platform.machine()}, python {platform.python_version()}, rule {rule.to_json()}")
    print(
        "| suite | problems | data sets | drawn (of fixed n) | floor | frontier claims equal | "
        "k=1 delta decision equal | coverage adaptive: suite / population (min over k) | "
        "coverage fixed n: suite / population (min over k) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    cmp_rows: list[str] = []
    for kind in args.suites:
        for size in args.problems:
            sets = args.sets if size < 500 else max(1, args.sets // 2)
            rng = np.random.default_rng([size, 0 if kind == "dense" else 1])
            start = time.monotonic()
            rows = [one_set(kind, size, rule, rng, args.compare) for _ in range(sets)]
            drawn = sum(r["drawn"] for r in rows) / (sets * size * N * 2)
            floor = sum(r["floor"] for r in rows) / (sets * size * N * 2)
            claims = np.mean([r["claims_equal"] for r in rows])
            delta = np.mean([r["delta_equal"] for r in rows])
            cov = {}
            for label in ("adaptive", "fixed"):
                cells = []
                for key in ("cover", "pop"):
                    per_k = np.array([r[f"{key}_{label}"] for r in rows]).reshape(sets, 2, len(KS))
                    cells.append(f"{per_k.mean():.3f} ({per_k.mean(axis=(0, 1)).min():.3f})")
                cov[label] = " / ".join(cells)
            print(
                f"| {kind} | {size} | {sets} | {drawn:.3f} | {floor:.3f} | {claims:.3f} | {delta:.3f} | "
                f"{cov['adaptive']} | {cov['fixed']} |  <!-- {time.monotonic() - start:.0f} s -->",
                flush=True,
            )
            if args.compare:
                cmp_rows.append(
                    f"| {kind} | {size} | {sets} | "
                    + " | ".join(
                        f"{np.mean([r[key] for r in rows]):.3f}"
                        for key in (
                            "cmp_all", "cmp_frontier", "cmp_delta", "cmp_excess", "cmp_excess_fixed",
                            "cmp_excess_adaptive",
                        )
                    )
                    + " |"
                )  # fmt: skip
    if cmp_rows:
        print(
            "\n| suite | problems | data sets | all claims equal | frontier claims equal | delta claims equal | "
            "base_only_excess equal | base_only_excess made: fixed n | base_only_excess made: adaptive |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        print("\n".join(cmp_rows))
    if args.cli:
        print(json.dumps(cli_check(rule, 100, 11)))


if __name__ == "__main__":
    main()
