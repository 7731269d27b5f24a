"""``evalkit compare`` and ``evalkit gate`` on runs sampled with ``--adaptive``, against the fixed-n runs of the
same samples (through the replay backend), and the statistics they rest on: the capped estimator is unbiased
(exact enumeration), the Clopper-Pearson bounds hold under inverse sampling (exact path probabilities) and the
chance test on the successes the rule read is conservative (simulation under the null)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_compare_gate import write_samples

from evalkit import cli
from evalkit.compare.results import RunResults, pass_table
from evalkit.stats import clopper_pearson, frontier_class_test
from evalkit.stats.adaptive import AdaptiveRule
from evalkit.types import Problem

N, R, LIMIT = 128, 4, 24
# base never solves the first 8 problems; RL solves them at 0.3: RL-only on a clear margin
BASE = [0.0] * 8 + [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0] + [0.0] * 2 + [0.4] * 6
RL = [0.3] * 8 + [0.3, 0.4, 0.5, 0.6, 0.8, 0.9, 1.0, 1.0] + [0.0] * 2 + [0.7] * 6


def _args(samples: Path, out: Path, *extra: str) -> list[str]:
    base = ["sample", str(samples), "--backend", "replay", "--task", "add", "--limit", str(LIMIT), "--n", str(N)]
    return [*base, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """base/rl, each as a fixed-n run (``*_fx``) and an adaptive run (``*_ad``) of the same stored samples."""
    tmp = tmp_path_factory.mktemp("adaptive_compare")
    rng = np.random.default_rng(11)
    for name, rates in (("base", BASE), ("rl", RL)):
        samples = write_samples(tmp / f"{name}.jsonl", [list(rng.random(N) < p) for p in rates], LIMIT)
        assert cli.main(_args(samples, tmp / f"{name}_ad", "--adaptive", "--adaptive-successes", str(R))) == 0
        assert cli.main(_args(samples, tmp / f"{name}_fx")) == 0
    return tmp


def _compare(tmp: Path, base: str, rl: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert cli.main(["compare", str(tmp / base), str(tmp / rl), "--out", str(tmp / f"c_{base}_{rl}"), "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def _claims(summary: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["kind"], json.dumps(c.get("problem_ids"))) for c in summary["claims"]}


@pytest.mark.parametrize("pair", [("base_ad", "rl_fx"), ("base_fx", "rl_ad"), ("base_ad", "rl_ad")])
def test_compare_of_adaptive_runs_makes_the_claims_of_the_fixed_n_runs(
    runs: Path, pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fixed = _compare(runs, "base_fx", "rl_fx", capsys)
    got = _compare(runs, *pair, capsys)
    # classes come from "solved within n", which an adaptive run knows exactly: equal problem by problem
    assert [r["class"] for r in got["problems"]] == [r["class"] for r in fixed["problems"]]
    assert got["tasks"]["add"]["classes"] == fixed["tasks"]["add"]["classes"]
    assert got["tasks"]["add"]["classes"]["rl_only"] == 8
    assert _claims(got) == _claims(fixed)
    assert "rl_only_bounded" in {kind for kind, _ in _claims(got)}
    # pass@n is the solved indicator in both designs: identical; pass@1 differs only by sampling error
    sec, ref = got["tasks"]["add"], fixed["tasks"]["add"]
    for model in ("base", "rl"):
        assert sec["pass_at_k"][model][str(N)] == pytest.approx(ref["pass_at_k"][model][str(N)])
        assert sec["pass_at_k"][model]["1"] == pytest.approx(ref["pass_at_k"][model]["1"], abs=0.05)
    assert sec["frontier_test"]["method"].startswith("exact conditional test on the successes the --adaptive rule")
    # forecasts beyond n read the adaptive run as its rule read it: rows up to n are the section's estimates
    assert "skipped" not in got["forecast"] and set(got["forecast"]) == {"base", "rl", "crossover"}
    for model in ("base", "rl"):
        observed = [r for r in got["forecast"][model] if r["method"] == "observed" and r["task"] == "add"]
        for r in observed:
            assert r["estimate"] == pytest.approx(sec["pass_at_k"][model][str(r["k"])], rel=1e-9)
    # an adaptive RL run's interval on an RL-only problem is Clopper-Pearson on the rule's (R, T)
    for row in got["problems"]:
        assert 1 <= row["n_rl"] <= row["n"] and 1 <= row["n_base"] <= row["n"]
        if row["class"] == "rl_only":
            assert row["rl_rate_ci_95"] == pytest.approx([float(v) for v in clopper_pearson(row["c_rl"], row["n_rl"])])
            assert row["n_base"] == N  # never solved: drawn to n in either design
    if pair[1] == "rl_ad":
        assert any(r["n_rl"] < N and r["c_rl"] == R for r in got["problems"])


def test_gate_on_adaptive_runs_agrees_with_the_fixed_n_gate(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for base, rl, code in (("base_fx", "rl_fx", 0), ("base_ad", "rl_ad", 0), ("rl_fx", "base_fx", 1)):
        capsys.readouterr()
        assert cli.main(["gate", str(runs / base), str(runs / rl), "--json"]) == code
    for base, rl in (("rl_ad", "base_fx"), ("rl_fx", "base_ad"), ("rl_ad", "base_ad")):
        capsys.readouterr()
        assert cli.main(["gate", str(runs / base), str(runs / rl), "--json"]) == 1  # RL -> base: a clear drop
        out = json.loads(capsys.readouterr().out)
        assert out["passed"] is False and all(c["regression"] for c in out["checks"])


def test_adaptive_runs_refused_where_they_are_not_read(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    argv = ["compare", str(runs / "base_fx"), str(runs / "rl_ad"), "--mid", str(runs / "base_ad")]
    assert cli.main([*argv, "--out", str(runs / "mid")]) == 2
    assert "sampled with --adaptive" in capsys.readouterr().err


def _results(rule: AdaptiveRule | None, streams: list[np.ndarray]) -> RunResults:
    """A run of the given sample streams (every sample verified), adaptive when ``rule`` is given."""
    identity = {} if rule is None else {"adaptive": rule.to_json()}
    problems = [Problem(id=f"p{i}", task="t", prompt="", reference="") for i in range(len(streams))]
    passed = {p.id: s.astype(bool) for p, s in zip(problems, streams, strict=True)}
    return RunResults(
        Path("/nowhere"), {"identity": identity}, problems, passed, {}, 0, prefix={p: s.size for p, s in passed.items()}
    )


@pytest.mark.parametrize(("n", "r", "m"), [(6, 2, 6), (6, 2, 4), (7, 3, 5), (5, 1, 3)])
def test_capped_estimator_is_unbiased_by_enumeration(n: int, r: int, m: int) -> None:
    """Every stream of n samples, weighted by its probability: the mean of the estimate at cap m (a fixed-n
    partner with fewer samples) is 1 - (1 - p)^k for every k <= m, and the class "solved within m" is exact."""
    rule = AdaptiveRule.make(r, n)
    streams = [np.array(bits, dtype=bool) for bits in itertools.product([False, True], repeat=n)]
    run = _results(rule, streams)
    ks = list(range(1, m + 1))
    table = pass_table(run, run.problems, ks, dict.fromkeys(run.passed, m))
    solved = np.array([run.hits(p.id, m) > 0 for p in run.problems])
    assert np.array_equal(solved, np.array([s[:m].any() for s in streams]))
    assert np.all((table >= 0) & (table <= 1))
    for p in (0.05, 0.3, 0.7):
        weights = np.array([p ** s.sum() * (1 - p) ** (n - s.sum()) for s in streams])
        np.testing.assert_allclose(weights @ table, [1 - (1 - p) ** k for k in ks], rtol=1e-10, atol=1e-12)


def _prob(t: int, s: int, reached: bool, p: float) -> float:
    if reached:
        return math.comb(t - 1, s - 1) * p**s * (1 - p) ** (t - s)
    return math.comb(t, s) * p**s * (1 - p) ** (t - s)


@pytest.mark.parametrize(("n", "r"), [(40, 3), (64, 8), (30, 1)])
def test_clopper_pearson_on_the_rules_counts_covers_under_inverse_sampling(n: int, r: int) -> None:
    """Exact coverage over every path: the one-sided 95% lower and upper bounds on (S, T) hold with
    probability >= 0.95 at every p (the lower bound is exact under the stopping rule, the upper conservative)."""
    outcomes = [(t, r, True) for t in range(r, n + 1)] + [(n, s, False) for s in range(r)]
    lows = [float(clopper_pearson(s, t, 0.95, "greater")[0]) for t, s, _ in outcomes]
    highs = [float(clopper_pearson(s, t, 0.95, "less")[1]) for t, s, _ in outcomes]
    for p in np.linspace(0.002, 0.998, 250):
        probs = np.array([_prob(t, s, hit, float(p)) for t, s, hit in outcomes])
        assert probs.sum() == pytest.approx(1.0)
        assert probs @ (np.array(lows) <= p) >= 0.95 - 1e-9
        assert probs @ (np.array(highs) >= p) >= 0.95 - 1e-9


def test_chance_test_on_the_rules_successes_is_conservative_and_keeps_its_level() -> None:
    """Equal rates on every problem, both runs sampled under the rule: the chance test on the successes the rule
    read never gives a smaller p-value than the exact test on the full counts of the same samples, and rejects
    in at most 5% of data sets (plus simulation noise)."""
    rng = np.random.default_rng(3)
    n, r, size, reps = 32, 2, 40, 300
    rule = AdaptiveRule.make(r, n)
    rejected = 0
    for _ in range(reps):
        rates = np.where(rng.random(size) < 0.3, 0.0, rng.uniform(0.0, 0.25, size))
        streams = [rng.random((size, n)) < rates[:, None] for _model in range(2)]
        full = [s.sum(axis=1) for s in streams]
        runs = [_results(rule, list(s)) for s in streams]
        read = [np.array([run.hits(p.id, n) for p in run.problems]) for run in runs]
        assert all(np.array_equal(a > 0, b > 0) for a, b in zip(read, full, strict=True))
        exact = frontier_class_test(full[0], full[1], n, n_perm=1)
        got = frontier_class_test(read[0], read[1], n, n_perm=1)
        for key in ("rl_only", "base_only"):
            assert got[key] == exact[key]
            assert got[f"p_{key}_exact"] >= exact[f"p_{key}_exact"] - 1e-12
        rejected += got["p_rl_only_exact"] <= 0.05
    assert rejected / reps <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)


def test_compare_with_a_fixed_run_of_smaller_n_reads_the_adaptive_run_to_that_n(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Base sampled at n = 64, RL adaptive at n = 128: each problem is read to 64 (the rule replayed with that
    cap), so the classes and pass@64 are those of the RL run's first 64 samples, as in a fixed-n compare at 64."""
    for name in ("base", "rl"):
        argv = ["sample", str(runs / f"{name}.jsonl"), "--backend", "replay", "--task", "add", "--limit", str(LIMIT)]
        assert cli.main([*argv, "--n", "64", "--out", str(runs / f"{name}_fx64")]) == 0
    fixed = _compare(runs, "base_fx64", "rl_fx64", capsys)
    got = _compare(runs, "base_fx64", "rl_ad", capsys)
    assert got["tasks"]["add"]["n"] == 64 and got["ks"][-1] == 64
    assert [r["class"] for r in got["problems"]] == [r["class"] for r in fixed["problems"]]
    assert all(r["n"] == 64 and r["n_rl"] <= 64 for r in got["problems"])
    assert got["tasks"]["add"]["pass_at_k"]["rl"]["64"] == pytest.approx(fixed["tasks"]["add"]["pass_at_k"]["rl"]["64"])
    assert _claims(got) == _claims(fixed)
