"""pass@k forecasts beyond n: the fitted model against independent computations, coverage in a small
simulation, the backtest's refusal, and ``evalkit forecast`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, stats
from test_compare_gate import make_run

from evalkit.cli import main
from evalkit.stats.adaptive import AdaptiveRule
from evalkit.stats.forecast import (
    BetaBinomialFit,
    _neg_log_likelihood,
    adaptive_low_max,
    backtest,
    backtest_counts,
    fit_beta_binomial,
    forecast_pass_at_k,
)
from evalkit.stats.forecast_model import _log_likelihoods, low_cap


def test_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(4, 60, 50)
    c = np.where(rng.random(50) < 0.3, 0, rng.binomial(n, rng.beta(0.5, 2.0, 50)))
    w = rng.random(50) + 0.5
    for theta in (np.array([-1.0, 0.3, 0.5]), np.array([2.0, -1.5, 2.0]), np.array([-6.0, 1.0, -0.5])):
        numeric = optimize.approx_fprime(theta, lambda t: _neg_log_likelihood(t, n, c, w)[0], 1e-6)
        np.testing.assert_allclose(_neg_log_likelihood(theta, n, c, w)[1], numeric, rtol=1e-4, atol=1e-4)


def test_likelihood_matches_scipy_betabinom() -> None:
    """The zero-inflated likelihood against scipy's beta-binomial pmf (the binomial coefficient added back)."""
    fit = BetaBinomialFit(0.2, 0.7, 3.0, 0.0)
    n, c = np.array([10, 10, 25, 3]), np.array([0, 4, 25, 1])
    theta = np.array([np.log(0.2 / 0.8), np.log(0.7), np.log(3.0)])
    got = -_neg_log_likelihood(theta, n, c, np.ones(4))[0]
    pmf = stats.betabinom.pmf(c, n, fit.a, fit.b)
    want_terms = np.where(c == 0, fit.pi0 + (1 - fit.pi0) * pmf, (1 - fit.pi0) * pmf)
    coef = np.array([stats.binom.pmf(ci, ni, 0.5) / 0.5**ni for ni, ci in zip(n, c, strict=True)])
    assert got == pytest.approx(float(np.log(want_terms / coef).sum()), rel=1e-9)


def test_posterior_pass_at_k_matches_numerical_integration() -> None:
    fit = BetaBinomialFit(0.3, 0.4, 5.0, 0.0)
    n, c, k = np.array([32, 32, 32]), np.array([0, 1, 9]), 256
    got = fit.expected_pass_at_k(n, c, k)
    for i in range(3):
        a, b = fit.a + c[i], fit.b + n[i] - c[i]
        mean_nonzero = integrate.quad(lambda p, a=a, b=b: (1 - (1 - p) ** k) * stats.beta.pdf(p, a, b), 0, 1)[0]
        # P(rate = 0 | c) by Bayes' rule, directly
        like_zero = 1.0 if c[i] == 0 else 0.0
        like_beta = stats.betabinom.pmf(c[i], n[i], fit.a, fit.b)
        p_zero = fit.pi0 * like_zero / (fit.pi0 * like_zero + (1 - fit.pi0) * like_beta)
        assert got[i] == pytest.approx((1 - p_zero) * mean_nonzero, rel=1e-6)


def test_fit_recovers_the_parameters() -> None:
    rng = np.random.default_rng(0)
    size, n = 4000, 64
    rates = np.where(rng.random(size) < 0.25, 0.0, rng.beta(0.6, 4.0, size))
    fit = fit_beta_binomial(np.full(size, n), rng.binomial(n, rates))
    assert fit.pi0 == pytest.approx(0.25, abs=0.05)
    assert fit.a == pytest.approx(0.6, rel=0.2) and fit.b == pytest.approx(4.0, rel=0.25)


def test_fit_refuses_bad_counts() -> None:
    with pytest.raises(ValueError):
        fit_beta_binomial([4, 4], [5, 1])
    with pytest.raises(ValueError):
        fit_beta_binomial([], [])
    with pytest.raises(ValueError):
        forecast_pass_at_k([4], [1], [0])


def test_forecast_covers_the_truth_in_a_small_simulation() -> None:
    """Forecast pass@256 from 32 samples per problem; the truth is the mean of 1 - (1 - p)^256 over the
    problems' true rates (a mixture of betas with exact zeros). Seeded: the same 40 data sets every run."""
    rng = np.random.default_rng(11)
    covered, runs = 0, 40
    for r in range(runs):
        size = 80
        rates = np.where(
            rng.random(size) < 0.2, 0.0, np.where(rng.random(size) < 0.5, rng.beta(0.3, 6, size), rng.beta(2, 2, size))
        )
        counts = rng.binomial(32, rates)
        fc = forecast_pass_at_k(np.full(size, 32), counts, [256], replicates=200, seed=r)
        truth = float((1 - (1 - rates) ** 256).mean())
        covered += fc.ci_low[0] <= truth <= fc.ci_high[0]
    assert covered / runs >= 0.85


def test_backtest_accepts_iid_samples_and_refuses_a_drifting_sampler() -> None:
    rng = np.random.default_rng(5)
    rates = rng.beta(0.5, 3, 60)
    iid = list(rng.random((60, 64)) < rates[:, None])
    assert backtest(iid, replicates=100).ok
    # samples that never pass early and often pass late: the first quarter says nothing about the rest
    drift = [np.concatenate([np.zeros(16, bool), rng.random(48) < 0.5]) for _ in range(60)]
    check = backtest(drift, replicates=100)
    assert not check.ok and check.observed > check.forecast.ci_high[0]
    with pytest.raises(ValueError, match="at least 8"):
        backtest([np.zeros(4, bool)] * 3)


# -- through the CLI ------------------------------------------------------------------------------------


def _rows(rates: list[float], n: int, seed: int) -> list[list[bool]]:
    rng = np.random.default_rng(seed)
    return [list(rng.random(n) < p) for p in rates]


def test_cli_forecast_json_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rates = [0.0] * 6 + [0.02, 0.05, 0.1, 0.3, 0.5, 0.8] * 3
    run = make_run(tmp_path, "base", _rows(rates, 16, 0))
    assert main(["forecast", str(run), "--k", "8", "--k", "64", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["task"], r["k"]) for r in rows] == [("add", 8), ("add", 64)]
    observed, forecast = rows
    assert observed["method"] == "observed" and observed["n"] == 16
    for row in rows:
        assert set(row) >= {"task", "k", "estimate", "ci_low", "ci_high"}
    if forecast["fit_ok"]:
        assert forecast["ci_low"] <= forecast["estimate"] <= forecast["ci_high"]
        assert forecast["estimate"] >= observed["estimate"]  # pass@k grows with k
    else:
        assert forecast["estimate"] is None and "poor fit" in forecast["refused"]


def test_cli_forecast_two_runs_gives_the_crossover(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", _rows([0.01, 0.02, 0.05, 0.1, 0.2, 0.4] * 4, 16, 1))
    rl = make_run(tmp_path, "rl", _rows([0.0, 0.3, 0.5, 0.6, 0.8, 0.9] * 4, 16, 2))
    assert main(["forecast", str(base), str(rl), "--json", "--allow-poor-fit"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"base", "rl", "crossover"} and "add" in out["crossover"]
    assert "text" in out["crossover"]["add"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--k", "0"], "at least 1"), (["--task", "nosuch"], "no task 'nosuch'")],
)
def test_cli_forecast_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run = make_run(tmp_path, "base", _rows([0.1, 0.5] * 5, 16, 3))
    assert main(["forecast", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_forecast_refuses_too_few_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "base", _rows([0.1, 0.5] * 5, 4, 4))
    assert main(["forecast", str(run)]) == 2
    assert "at least 8" in capsys.readouterr().err


def test_compare_adds_forecast_curves_and_the_crossover(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", _rows([0.01, 0.02, 0.05, 0.1, 0.2, 0.4] * 4, 16, 1))
    rl = make_run(tmp_path, "rl", _rows([0.0, 0.3, 0.5, 0.6, 0.8, 0.9] * 4, 16, 2))
    assert main(["compare", str(base), str(rl), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "cmp" / "report.json").read_text())
    fc = summary["forecast"]
    assert set(fc) == {"base", "rl", "crossover"}
    assert f"forecast   add: {fc['crossover']['add']['text']}" in out
    section = summary["tasks"]["add"]
    for model in ("base", "rl"):
        ks = [int(k) for k in section["forecast"][model]]
        assert all(k > 16 for k in ks)
        for k, (low, high) in section["forecast_ci"][model].items():
            assert low <= section["forecast"][model][k] <= high
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "forecast" in html  # the dotted curves' legend
    # the report states each scope's crossover (escaped as the template writes it) and what the bands are about
    text = fc["crossover"]["add"]["text"].replace("'", "&#39;")
    assert f"Forecast, add: {text}" in html
    assert "Dotted beyond n: the forecast" in html
    for label in ("base", "rl"):
        rows = [r for r in fc[label] if r["k"] > 16]
        assert rows and all(r["interval_of"].startswith("mean pass@k over these problems") for r in rows)
        assert all(r["interval_of"].startswith("mean pass@k over problems like") for r in fc[label] if r["k"] <= 16)


def test_crossover_reads_the_bands() -> None:
    from evalkit.compare.forecast import crossover

    def rows(points: list[tuple[int, float, float, float]]) -> list[dict[str, object]]:
        return [{"task": "t", "k": k, "estimate": e, "ci_low": lo, "ci_high": hi} for k, e, lo, hi in points]

    rl = rows([(32, 0.6, 0.55, 0.65), (64, 0.62, 0.57, 0.67), (128, 0.63, 0.58, 0.68), (256, 0.64, 0.59, 0.69)])
    never = crossover(
        rows([(32, 0.3, 0.25, 0.35), (64, 0.35, 0.3, 0.4), (128, 0.4, 0.35, 0.45), (256, 0.45, 0.4, 0.5)]), rl
    )
    assert never["t"]["k_low"] is None and "no crossover below k = 256" in never["t"]["text"]
    catch = crossover(
        rows([(32, 0.4, 0.35, 0.45), (64, 0.58, 0.5, 0.66), (128, 0.7, 0.65, 0.75), (256, 0.8, 0.75, 0.85)]), rl
    )
    assert (catch["t"]["k"], catch["t"]["k_low"], catch["t"]["k_high"]) == (128, 64, 256)


def test_truncated_likelihood_matches_scipy_conditional_pmf() -> None:
    """The low-region likelihood: each count's zero-inflated beta-binomial pmf given a count of at most
    ``low_cap(n)`` (scipy's pmf, normalised over 0..cap by hand)."""
    pi0, a, b = 0.3, 0.4, 20.0
    n, c = np.array([128, 128, 128, 64, 64]), np.array([0, 1, 4, 0, 2])
    theta = np.array([[np.log(pi0 / (1 - pi0)), np.log(a), np.log(b)]])
    got = float(_log_likelihoods(theta, n, c, np.ones(5), cap=True)[0])

    def pmf(ci: np.ndarray, ni: int) -> np.ndarray:
        return (ci == 0) * pi0 + (1 - pi0) * stats.betabinom.pmf(ci, ni, a, b)

    want = 0.0
    for ni, ci in zip(n, c, strict=True):
        below = pmf(np.arange(low_cap(int(ni)) + 1), int(ni)).sum()
        coef = stats.binom.pmf(ci, ni, 0.5) / 0.5**ni  # the likelihood leaves out the binomial coefficient
        want += float(np.log(pmf(np.array(ci), int(ni)) / below / coef))
    assert got == pytest.approx(want, rel=1e-9)
    assert low_cap(128) == 4 and low_cap(32) == 2 and low_cap(1024) == 32


def test_well_solved_problems_forecast_from_their_own_posterior() -> None:
    """Problems above the low region do not enter the fit: with none in it, the forecast is the mean of their
    Jeffreys posterior pass@k, and a solved-often problem's pass@k is essentially 1."""
    n, c = np.full(4, 64), np.array([10, 20, 40, 64])
    fc = forecast_pass_at_k(n, c, [512], replicates=100)
    assert fc.estimate[0] == pytest.approx(1.0, abs=1e-6)
    assert fc.ci_low[0] > 0.999


def test_forecast_covers_a_band_of_rates_near_one_over_n() -> None:
    """Rates in a band around 1/n next to a solved bulk (the shape one beta fitted to all counts misses):
    pass@1024 from 128 samples. Seeded: the same 12 data sets every run."""
    rng = np.random.default_rng(8)
    covered, runs, size = 0, 12, 150
    for r in range(runs):
        rates = np.where(rng.random(size) < 0.4, rng.uniform(0.0005, 0.005, size), rng.beta(2, 2, size))
        counts = rng.binomial(128, rates)
        fc = forecast_pass_at_k(np.full(size, 128), counts, [1024], replicates=200, seed=r)
        truth = float((1 - (1 - rates) ** 1024).mean())
        covered += fc.ci_low[0] <= truth <= fc.ci_high[0]
    assert covered / runs >= 0.75


def _adaptive_counts(outcomes: np.ndarray, successes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, S, reached) per problem under "stop at R successes or n", from each problem's fixed-n outcomes."""
    rule = AdaptiveRule.make(successes, outcomes.shape[1])
    done = [rule.decide(row) for row in outcomes]
    return (
        np.array([d.used for d in done]),
        np.array([d.successes for d in done]),
        np.array([d.reached for d in done]),
    )


def test_adaptive_low_region_is_the_fixed_runs_below_r() -> None:
    """Under "stop at R or n" the problems drawn to n with at most min(low_cap(n), R - 1) correct samples are
    exactly those whose full count is that low; the cap is the low_cap of a fixed run when R exceeds it."""
    rng = np.random.default_rng(4)
    rates = np.where(rng.random(400) < 0.5, rng.beta(0.3, 30, 400), rng.beta(1, 2, 400))
    outcomes = rng.random((400, 1024)) < rates[:, None]
    trials, hits, reached = _adaptive_counts(outcomes, 16)
    low_max = adaptive_low_max(1024, 16)
    assert low_max == 15 and adaptive_low_max(128, 16) == low_cap(128) and adaptive_low_max(1024, 1) == 0
    full = outcomes.sum(axis=1)
    np.testing.assert_array_equal((hits <= low_max) & ~reached, full <= low_max)
    np.testing.assert_array_equal(trials[full <= low_max], 1024)
    np.testing.assert_array_equal(hits[full <= low_max], full[full <= low_max])
    # with the default cap passed explicitly, the forecast is the default one, to the last bit
    n = np.full(400, 1024)
    default = forecast_pass_at_k(n, full, [4096], replicates=50, seed=2)
    explicit = forecast_pass_at_k(n, full, [4096], replicates=50, seed=2, low_max=low_cap(1024))
    assert (default.estimate, default.ci_low, default.ci_high) == (explicit.estimate, explicit.ci_low, explicit.ci_high)


def test_adaptive_forecast_matches_the_fixed_run_of_the_same_samples() -> None:
    """pass@8192 from an adaptive run (R = 16, n = 1024) and from the fixed-n run of the same samples: the same
    answer up to the information the stopped problems leave out, and both cover the truth (seeded)."""
    rng = np.random.default_rng(21)
    size = 300
    rates = np.where(
        rng.random(size) < 0.2, 0.0, np.where(rng.random(size) < 0.5, rng.beta(0.3, 60, size), rng.beta(2, 2, size))
    )
    outcomes = rng.random((size, 1024)) < rates[:, None]
    trials, hits, _reached = _adaptive_counts(outcomes, 16)
    assert trials.sum() < 0.7 * outcomes.size  # the rule stopped most solved problems early
    fixed = forecast_pass_at_k(np.full(size, 1024), outcomes.sum(axis=1), [8192], replicates=300, seed=1)
    adaptive = forecast_pass_at_k(trials, hits, [8192], replicates=300, seed=1, low_max=adaptive_low_max(1024, 16))
    truth = float((1 - (1 - rates) ** 8192).mean())
    width = fixed.ci_high[0] - fixed.ci_low[0]
    assert abs(adaptive.estimate[0] - fixed.estimate[0]) < 0.25 * width
    assert adaptive.ci_high[0] - adaptive.ci_low[0] < 1.5 * width
    for fc in (fixed, adaptive):
        assert fc.ci_low[0] <= truth <= fc.ci_high[0]


def test_backtest_counts_equals_the_backtest_of_fixed_samples() -> None:
    rng = np.random.default_rng(6)
    rates = np.where(rng.random(120) < 0.3, 0.0, rng.beta(0.4, 4, 120))
    passed = [rng.random(128) < p for p in rates]
    whole = backtest(passed, replicates=100, seed=3)
    c_m = np.array([int(p[:32].sum()) for p in passed])
    solved = np.array([bool(p.any()) for p in passed])
    counts = backtest_counts(np.full(120, 32), c_m, solved, 128, replicates=100, seed=3)
    assert (whole.m, whole.n, whole.observed, whole.ok) == (counts.m, counts.n, counts.observed, counts.ok)
    assert whole.forecast.ci_low == counts.forecast.ci_low and whole.forecast.ci_high == counts.forecast.ci_high
    with pytest.raises(ValueError, match="m < n"):
        backtest_counts(np.full(120, 128), c_m, solved, 128)
