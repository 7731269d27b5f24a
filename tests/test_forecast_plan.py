"""``evalkit plan --forecast-k K --within E``: the design it states gives the forecast interval it promises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_cli_inputs import run_main
from test_compare_gate import make_run

from evalkit.compare.forecast_plan import PROBABILITY, problems_for_width
from evalkit.compare.power import beta_rates
from evalkit.stats.forecast import forecast_pass_at_k


def test_planned_design_gives_half_widths_near_the_target() -> None:
    """Simulated here, independently of the planner (other problem sets, other seeds), the planned design's
    80% quantile of the half-width is within 15% of the predicted one and most intervals are within +-E.

    Tolerance: over 32 sets the half-widths spread by about 12% of their level, so the 80% quantile of 32 sets
    has a standard error of about 0.25 x 12% = 3% and the planner's (64 sets) about 2%: 15% is about four
    standard errors of the difference. With probability 0.8 stated, fewer than half of 32 sets within E is
    four standard errors away."""
    rates, k, within = beta_rates(0.5, 4.0), 32, 0.15
    # the search starts near its answer (about 40 problems) to keep the test short; the check is the same
    option = problems_for_width(rates, 16, k, within, max_problems=400, start=40)
    assert option is not None
    assert option.n == 16 and 2 <= option.problems <= 400 and option.completions == option.problems * 16
    assert option.median_half_width <= option.half_width <= 1.05 * within and option.simulated
    assert option.within_probability is not None and option.within_probability >= 0.75
    widths = []
    for seed in range(32):
        rng = np.random.default_rng(1000 + seed)
        p = rng.choice(rates, option.problems)
        fc = forecast_pass_at_k(np.full(option.problems, 16), rng.binomial(16, p), [k], seed=1000 + seed)
        widths.append((fc.ci_high[0] - fc.ci_low[0]) / 2)
    simulated = float(np.quantile(widths, PROBABILITY))
    assert abs(simulated - option.half_width) <= 0.15 * option.half_width, (simulated, option)
    assert np.mean(np.array(widths) <= within) >= 0.5


def test_plan_forecast_cli_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [[j < (i % 3) for j in range(8)] for i in range(30)]  # a third never solved, the rest 1-2 of 8
    pilot = make_run(tmp_path, "pilot", rows)
    args = ["plan", str(pilot), "--forecast-k", "64", "--within", "0.3", "--n-max", "8", "--max-problems", "200"]
    args += ["--tokens-per-completion", "100"]
    code, out, err = run_main([*args, "--json"], capsys)
    assert code == 0, err
    plan = json.loads(out)["plans"][0]
    assert plan["target"] == "forecast" and plan["k"] == 64 and plan["within"] == 0.3 and plan["models"] == 1
    assert plan["probability"] == 0.8 and "posterior" in plan["rates"] and plan["n_considered"] == [8]
    (best,) = plan["options"]
    assert best == plan["best"] and best["n"] == 8 and best["completions"] == best["problems"] * 8
    assert best["half_width"] <= 0.3 * 1.05 and best["tokens"] == best["completions"] * 100
    assert 0.5 <= best["within_probability"] <= 1
    from evalkit.cli.plan_cmd import _echo_forecast  # the text form of the same plan (one plan run is enough)

    _echo_forecast(plan)
    text = capsys.readouterr().out
    assert "forecast of pass@64 within +-0.3" in text and "probability 0.8" in text and "one model" in text
    assert f"problems {best['problems']}" in text and "<- cheapest" in text
    assert f"within +-0.3 in {best['within_probability']:.0%} of simulated sets" in text


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--forecast-k", "64", "--within", "0"], "--within must lie strictly between 0 and 1"),
        (["--forecast-k", "64", "--within", "1"], "--within must lie strictly between 0 and 1"),
        (["--forecast-k", "1", "--within", "0.1"], "--forecast-k must be at least 2"),
        (["--forecast-k", "8", "--within", "0.1"], "not above the smallest n a forecast fits (8)"),
        (["--forecast-k", "64", "--within", "0.1", "--n-max", "4"], "give --n-max >= 8"),
        (["--forecast-k", "64"], "both --forecast-k K and --within E"),
        (["--forecast-k", "64", "--within", "0.01", "--n-max", "8", "--max-problems", "3"], "no design"),
    ],
)
def test_plan_forecast_refuses_impossible_targets(
    extra: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_main(["plan", "--prior", "0.3,3", *extra], capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_posterior_rates_are_the_forecasts_draws() -> None:
    """The pilot population of a forecast plan: draws from the forecast's own posterior. Their mean pass@K
    over the problems falls inside the forecast's interval, solved problems draw rates near c/n, and never
    solved problems (here half of them, so the fit puts mass at zero) draw exact zeros."""
    from evalkit.stats.forecast import posterior_rates

    rng = np.random.default_rng(5)
    c = np.concatenate([np.zeros(40, dtype=np.int64), rng.binomial(16, rng.beta(0.5, 3.0, 40))])
    n = np.full(c.size, 16)
    drawn = posterior_rates(n, c, 200, seed=1)
    assert drawn.shape == (200, 80) and np.all((drawn >= 0) & (drawn <= 1))
    assert np.mean(drawn[:, :40] == 0) > 0.2 and np.all(drawn[:, c > 2] > 0)
    solved = c > 8
    assert np.allclose(drawn[:, solved].mean(axis=0), (c[solved] + 0.5) / 17, atol=0.06)
    fc = forecast_pass_at_k(n, c, [256])
    middle = float(np.median((1 - (1 - drawn) ** 256).mean(axis=1)))
    assert fc.ci_low[0] <= middle <= fc.ci_high[0]
