"""The forecast on real per-problem counts: Qwen2.5-7B and its SimpleRL-Zoo RL model on MATH-500, 128 samples
per problem (tests/data/real_counts/README.md). A held-back check in miniature: forecast pass@128 from 16
samples per problem and compare with what the 128 showed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evalkit.compare.forecast import forecast_run
from evalkit.compare.results import RunResults
from evalkit.stats import pass_at_k
from evalkit.stats.forecast import backtest, forecast_pass_at_k
from evalkit.types import Problem

COUNTS = Path(__file__).parent / "data" / "real_counts" / "math500_qwen25_7b.json"
DATA = json.loads(COUNTS.read_text())
N = int(DATA["n"])
MODELS = sorted(DATA["models"])


def _counts(model: str) -> np.ndarray:
    return np.asarray(DATA["models"][model]["correct"], dtype=np.int64)


def _first_samples(counts: np.ndarray, m: int, seed: int) -> np.ndarray:
    """Each problem's outcomes in a random order, first m kept: shape (problems, m)."""
    rng = np.random.default_rng(seed)
    dealt = rng.permuted(np.arange(N)[None, :] < counts[:, None], axis=1)
    return dealt[:, :m]


@pytest.mark.parametrize("model", MODELS)
def test_the_counts_match_the_source_totals(model: str) -> None:
    counts, totals = _counts(model), DATA["source_totals"][model]
    assert counts.size == 500 and counts.min() >= 0 and counts.max() <= N
    assert int(counts.sum()) == totals["correct_generations"]
    assert int(np.count_nonzero(counts)) == totals["solved_at_128"]
    # evalkit's unbiased estimator reproduces the source's own pooled pass@1 and pass@128
    assert float(pass_at_k(N, counts, 1).mean()) == pytest.approx(totals["pooled_pass_at_1"], abs=1e-12)
    assert float(pass_at_k(N, counts, N).mean()) == pytest.approx(totals["pooled_pass_at_128"], abs=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_pass_at_128_forecast_from_16_samples_covers_what_128_showed(model: str) -> None:
    counts = _counts(model)
    seen = _first_samples(counts, 16, seed=0)
    observed = float(np.mean(counts > 0))  # the held-back truth: solved at least once in all 128
    fc = forecast_pass_at_k(np.full(counts.size, 16), seen.sum(axis=1), [N], seed=0)
    assert fc.ci_low[0] <= observed <= fc.ci_high[0]
    # more than the 16 samples showed, less than certain
    assert float(np.mean(seen.any(axis=1))) < fc.estimate[0] < 1.0
    # the posterior predictive of the same step (what the backtest computes) covers it too
    dealt = np.concatenate([seen, _rest(counts, seen)], axis=1)
    assert backtest(list(dealt), ratio=N // 16, seed=0).ok


def _rest(counts: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The held-back 112 outcomes of each problem (its remaining successes, in any order)."""
    left = counts - seen.sum(axis=1)
    return np.arange(N - seen.shape[1])[None, :] < left[:, None]


def test_forecast_rows_at_k_up_to_n_are_the_unbiased_estimate() -> None:
    counts = _counts("base")
    seen = _first_samples(counts, 16, seed=1)
    problems = [Problem(f"p{i}", "math500", "", "") for i in range(counts.size)]
    run = RunResults(
        root=COUNTS.parent,
        manifest={},
        problems=problems,
        passed={p.id: row for p, row in zip(problems, seen, strict=True)},
        example={},
        unverified=0,
    )
    rows = {row["k"]: row for row in forecast_run(run, [1, 4, 16, 128])}
    c16 = seen.sum(axis=1)
    for k in (1, 4, 16):
        assert rows[k]["method"] == "observed"
        assert rows[k]["estimate"] == pytest.approx(float(pass_at_k(16, c16, k).mean()), abs=1e-12)
    assert rows[128]["method"] != "observed" and rows[128]["backtest"]["fitted_on"] == 4
