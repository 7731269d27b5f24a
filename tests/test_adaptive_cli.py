"""``evalkit sample --adaptive`` end to end through the replay backend: stages, summary, refusals, resume."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kill_helpers import coverage, kill_at_random_points
from test_compare_gate import write_samples

from evalkit import cli, load_run
from evalkit.compare.results import load_run as results_of
from evalkit.compare.results import summarize
from evalkit.stats import pass_at_k, powers_of_two
from evalkit.stats.adaptive import AdaptiveRule, adaptive_pass_at_k
from evalkit.store import RunStore

N, R, LIMIT = 128, 4, 16
RATES = [0.0, 0.0, 0.02, 0.05, 0.1, 0.3, 0.6, 1.0] * 2


def _outcomes(seed: int = 5) -> list[list[bool]]:
    rng = np.random.default_rng(seed)
    return [list(rng.random(N) < p) for p in RATES]


def _args(samples: Path, out: Path, *extra: str) -> list[str]:
    base = ["sample", str(samples), "--backend", "replay", "--task", "add", "--limit", str(LIMIT), "--n", str(N)]
    return [*base, "--out", str(out), *extra]


def _expected(outcomes: list[list[bool]]) -> tuple[list[int], np.ndarray]:
    """Samples drawn per problem and pass@k per problem, straight from the outcomes (no store involved)."""
    rule = AdaptiveRule.make(R, N)
    ks = powers_of_two(N)
    drawn, rows = [], []
    for row in outcomes:
        d = rule.decide(np.array(row))
        drawn.append(d.target)
        rows.append(adaptive_pass_at_k(d.used, d.successes, d.reached, R, np.array(ks)))
    return drawn, np.array(rows)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, list[list[bool]]]:
    tmp = tmp_path_factory.mktemp("adaptive")
    outcomes = _outcomes()
    samples = write_samples(tmp / "s.jsonl", outcomes, LIMIT)
    assert cli.main(_args(samples, tmp / "ad", "--adaptive", "--adaptive-successes", str(R))) == 0
    assert cli.main(_args(samples, tmp / "fixed")) == 0
    return samples, tmp / "ad", tmp / "fixed", outcomes


def test_adaptive_run_draws_what_the_rule_asks_and_summarises_with_its_estimator(
    runs: tuple[Path, Path, Path, list[list[bool]]], capsys: pytest.CaptureFixture[str]
) -> None:
    _samples, ad, fixed, outcomes = runs
    drawn, table = _expected(outcomes)
    manifest = json.loads((ad / "manifest.json").read_text())
    assert manifest["identity"]["adaptive"] == AdaptiveRule.make(R, N).to_json()
    # the stored samples of each problem are exactly its first `drawn` ones (a prefix of the fixed-n run's)
    keys = coverage(ad)
    ids = [p.id for p in RunStore.open(ad).problems()]
    assert set(keys) == {(pid, i) for pid, m in zip(ids, drawn, strict=True) for i in range(m)}
    assert sum(drawn) < LIMIT * N
    capsys.readouterr()
    assert cli.main(["summary", str(ad), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    task = summary["tasks"]["add"]
    assert task["samples_drawn"] == sum(drawn) and task["samples_fixed"] == LIMIT * N
    assert [p["samples_drawn"] for p in summary["problems"]] == drawn
    ks = powers_of_two(N)
    np.testing.assert_allclose([task["pass_at_k"][str(k)] for k in ks], table.mean(axis=0), rtol=1e-12)
    assert all(lo <= task["pass_at_k"][k] <= hi for k, (lo, hi) in task["pass_at_k_ci"].items())
    frame = load_run(ad).problems()
    assert list(frame["samples_drawn"]) == drawn
    np.testing.assert_allclose(frame[[f"pass@{k}" for k in ks]].to_numpy(), table, rtol=1e-12)
    # pass@n and the solved classes are exactly those of the fixed-n run
    full = load_run(fixed).problems()
    assert list(frame["c"] > 0) == list(full["c"] > 0)
    np.testing.assert_array_equal(frame[f"pass@{N}"], full[f"pass@{N}"])
    fixed_summary = _summary(fixed)
    assert fixed_summary["tasks"]["add"]["samples_drawn"] == LIMIT * N
    np.testing.assert_allclose(full["pass@1"], pass_at_k(N, full["c"], 1))


def _summary(run: Path) -> dict[str, Any]:
    """What `evalkit summary --json` prints (in process)."""
    return summarize(results_of(run, adaptive_ok=True))


@pytest.mark.parametrize(
    "argv",
    [["compare", "{fixed}", "{fixed}", "--mid", "{ad}", "--out", "{tmp}/rep"]],
)  # compare, gate and forecast read adaptive runs (tests/test_adaptive_compare.py, below); a trajectory does not
def test_commands_that_need_fixed_n_refuse_adaptive_runs(
    runs: tuple[Path, Path, Path, list[list[bool]]], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _samples, ad, fixed, _ = runs
    capsys.readouterr()
    code = cli.main([a.format(ad=ad, fixed=fixed, tmp=ad.parent) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "sampled with --adaptive" in err


def test_forecast_reads_an_adaptive_run_as_its_rule_read_it(
    runs: tuple[Path, Path, Path, list[list[bool]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """`evalkit forecast` on an adaptive run: rows up to n are the rule's unbiased estimates (the summary's),
    the fit reads the problems drawn to n with fewer than R correct samples, and the rows name the rule."""
    _samples, ad, _fixed, outcomes = runs
    _drawn, table = _expected(outcomes)
    capsys.readouterr()
    assert cli.main(["forecast", str(ad), "--json", "--k", "1", "--k", "16", "--k", str(N), "--k", str(8 * N)]) == 0
    rows = {row["k"]: row for row in json.loads(capsys.readouterr().out)}
    ks = powers_of_two(N)
    for k in (1, 16, N):
        assert rows[k]["method"] == "observed"
        assert rows[k]["estimate"] == pytest.approx(table[:, ks.index(k)].mean(), rel=1e-12)
        assert rows[k]["ci_low"] <= rows[k]["estimate"] <= rows[k]["ci_high"]
    beyond = rows[8 * N]
    assert beyond["adaptive"] == {"successes": R, "n": N}
    assert beyond["fit"]["fitted_to_counts_up_to"] == min(R - 1, max(2, N // 32))
    full = np.array(outcomes).sum(axis=1)
    assert beyond["fit"]["problems_fitted"] == int(np.count_nonzero(full <= R - 1))
    if beyond["estimate"] is not None:  # the backtest may refuse 16 problems; then the reason is given
        assert rows[N]["estimate"] <= beyond["ci_high"] and beyond["ci_low"] <= beyond["estimate"]
    else:
        assert beyond["refused"].startswith("poor fit")


def test_usage_errors(runs: tuple[Path, Path, Path, list[list[bool]]], capsys: pytest.CaptureFixture[str]) -> None:
    samples, ad, _fixed, _ = runs
    assert cli.main(_args(samples, ad.parent / "x", "--adaptive-successes", "3")) == 2  # needs --adaptive
    assert cli.main(_args(samples, ad.parent / "y", "--adaptive", "--adaptive-successes", "0")) == 2
    assert not (ad.parent / "y").exists()
    # a resume with another rule is refused, naming the change
    capsys.readouterr()
    assert cli.main(_args(samples, ad, "--adaptive", "--adaptive-successes", "5")) == 2
    assert "adaptive" in capsys.readouterr().err


def test_resume_after_losing_the_last_stage_gives_the_same_run(
    runs: tuple[Path, Path, Path, list[list[bool]]], tmp_path: Path
) -> None:
    samples, ad, _fixed, _ = runs
    copy = tmp_path / "ad"
    shutil.copytree(ad, copy)
    for kind in ("completions", "verdicts"):  # a crash after the first stage's shards
        for shard in sorted((copy / kind).iterdir())[1:]:
            shard.unlink()
    assert len(coverage(copy)) < len(coverage(ad))
    assert cli.main(_args(samples, copy, "--adaptive", "--adaptive-successes", str(R))) == 0
    assert coverage(copy) == coverage(ad)
    assert _summary(copy)["tasks"] == _summary(ad)["tasks"]


@pytest.mark.slow
def test_kill_9_during_adaptive_sampling_then_resume(
    runs: tuple[Path, Path, Path, list[list[bool]]], tmp_path: Path
) -> None:
    samples, ad, _fixed, _ = runs
    run = tmp_path / "killed"
    args = _args(samples, run, "--adaptive", "--adaptive-successes", str(R))
    expected = len(coverage(ad))
    kill_at_random_points(args, run, expected, points=3, rng=random.Random(7), max_extra_s=0.05)
    final = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert coverage(run) == coverage(ad)
    assert _summary(run)["tasks"] == _summary(ad)["tasks"]


@pytest.mark.slow
def test_hf_adaptive_samples_do_not_depend_on_batch_size_and_are_the_fixed_runs(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    """The hf backend: the same samples with batch sizes 16 and 5, and each one the fixed-n run's sample."""
    from test_cli_e2e import sample_args

    runs = {}
    for name, batch in (("a", "16"), ("b", "5")):
        args = [*sample_args(tiny_ckpt, tmp_path / name, 16, 2)[:-2], "--batch-size", batch]
        assert cli.main([*args, "--adaptive", "--adaptive-successes", "2"]) == 0
        runs[name] = {(c.problem_id, c.sample_idx): c.text for c in RunStore.open(tmp_path / name).iter_completions()}
    assert runs["a"] == runs["b"]
    assert cli.main(sample_args(tiny_ckpt, tmp_path / "fixed", 16, 2)) == 0
    full = {(c.problem_id, c.sample_idx): c.text for c in RunStore.open(tmp_path / "fixed").iter_completions()}
    assert runs["a"].items() <= full.items()
    assert _summary(tmp_path / "a")["tasks"]


def test_a_replayed_file_without_the_samples_the_rule_needs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The stage that gets nothing ends the sampling; the summary refuses the unfinished run in one line."""
    samples = write_samples(tmp_path / "short.jsonl", [row[:8] for row in _outcomes()], LIMIT)
    code = cli.main(_args(samples, tmp_path / "short", "--adaptive", "--adaptive-successes", str(R)))
    err = capsys.readouterr().err
    assert code == 2
    assert "returned none of the" in err
    assert err.strip().splitlines()[-1].startswith("error: ") and "still being sampled under --adaptive" in err
    assert len(coverage(tmp_path / "short")) == 8 * LIMIT  # what the file held is kept
