"""Cover@tau interval calibration (quick version of python -m evalkit.compare.calibration --cover)."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.compare.calibration import PAIRED_TRUTHS, Setting, acceptance_band
from evalkit.compare.cover_calibration import cover_coverage, plugin_cover_truth


def test_plugin_cover_truth_matches_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    n, taus = 16, np.array([1 / 16, 0.3, 0.5, 1.0])
    c = rng.binomial(n, rng.beta(0.5, 1.5, size=200_000))
    mc = np.array([np.mean(c / n >= t) for t in taus])
    assert np.allclose(plugin_cover_truth(0.5, 1.5, n, taus), mc, atol=0.004)


def test_plugin_cover_truth_is_one_at_tau_zero_and_falls_with_tau() -> None:
    truth = plugin_cover_truth(1.0, 1.0, 8, np.linspace(0.0, 1.0, 11))
    assert truth[0] == pytest.approx(1.0)
    assert np.all(np.diff(truth) <= 1e-12)
    assert truth[-1] == pytest.approx(1.0 / 9.0)  # uniform rates: c is uniform on 0..8


@pytest.mark.parametrize("setting", [PAIRED_TRUTHS[1], PAIRED_TRUTHS[2]], ids=lambda s: s.name)
def test_cover_interval_covers_under_a_true_effect_and_identical_models(setting: Setting) -> None:
    reps = 40
    rows = cover_coverage(setting, problems=60, n=16, reps=reps, seed=1)
    assert rows[0].tau == pytest.approx(1 / 16)
    low, _ = acceptance_band(reps)
    for r in rows:
        assert min(r.two_sided, r.upper, r.lower) >= low, r
        assert 0.0 < r.mean_width <= 2.0


def test_cover_coverage_needs_a_paired_setting() -> None:
    with pytest.raises(ValueError, match="paired"):
        cover_coverage(Setting("single", (1.0, 1.0)), problems=10, n=4, reps=1)
