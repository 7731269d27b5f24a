"""Paired tests (sign-flip, Holm), paired trajectory regimes and the split-half gain correlation, against
independent references: scipy's permutation_test (full enumeration of sign vectors), scipy's exact
binomial test, a loop over Holm's step-down procedure, and simulation under the null."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from evalkit.stats import holm, paired_regime, pass_at_k, sign_flip_test, split_half_gain_inputs


def _enumerated_p(d: np.ndarray, margin: float) -> float:
    res = sps.permutation_test((d + margin,), np.sum, permutation_type="samples", alternative="less", n_resamples=10**6)
    return float(res.pvalue)


def test_exact_ternary_path_matches_enumeration_and_the_sign_test() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        size = int(rng.integers(2, 13))
        d = rng.choice([-1.0, 0.0, 1.0], size=size, p=[0.3, 0.4, 0.3])
        margin = float(rng.choice([0.0, 0.02, 0.1, 0.3]))
        res = sign_flip_test(d, margin=margin)
        assert bool(res.exact)
        assert float(res.p_value) == pytest.approx(_enumerated_p(d, margin), abs=1e-9)
        gained, lost = int(np.sum(d == 1)), int(np.sum(d == -1))
        if margin == 0 and gained + lost:
            ref = sps.binomtest(lost, gained + lost, 0.5, alternative="greater").pvalue
            assert float(res.p_value) == pytest.approx(ref, abs=1e-12)
    # "2 problems lost, 0 gained" of 20: p = 0.25, never a regression at 95%
    two = np.array([-1.0, -1.0] + [0.0] * 18)
    assert float(sign_flip_test(two, margin=0.02).p_value) == pytest.approx(0.25)


def test_random_flips_match_enumeration_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(1)
    for trial in range(8):
        size = int(rng.integers(3, 13))
        d = rng.normal(-0.1, 0.3, size=size)
        res = sign_flip_test(d, margin=0.02, n_flip=100_000, seed=trial)
        ref = _enumerated_p(d, 0.02)
        assert not bool(res.exact)
        assert float(res.p_value) == pytest.approx(ref, abs=4 * np.sqrt(ref * (1 - ref) / 100_000) + 2e-5)


def test_bound_inverts_the_test_and_p_grows_with_the_margin() -> None:
    rng = np.random.default_rng(2)
    for trial in range(30):
        size = int(rng.integers(2, 60))
        if trial % 2:
            d = rng.choice([-1.0, 0.0, 1.0], size=size, p=[0.35, 0.4, 0.25])
        else:
            d = rng.binomial(16, 0.3, size) / 16 - rng.binomial(16, 0.35, size) / 16
        margins = np.array([0.0, 0.01, 0.05, 0.2])
        res = sign_flip_test(np.repeat(d[:, None], 4, axis=1), margin=margins, n_flip=4000, seed=trial)
        assert np.all(np.diff(res.p_value) >= -1e-12)  # a larger tolerance never makes a check fail
        for j, m in enumerate(margins):
            if abs(float(res.upper[j]) + m) > 1e-6:  # away from the boundary the two must agree
                assert (res.p_value[j] <= 0.05) == (res.upper[j] < -m), (d, m, res)
        assert np.all(res.upper >= res.estimate)


def test_upper_bound_coverage_and_null_rejection_by_simulation() -> None:
    # identical models, 20 problems, n = 16: the 95% bound covers 0 in >= 95% (exact test; up to MC error)
    hits = 0
    reps = 300
    for r in range(reps):
        rng = np.random.default_rng([5, r])
        p = rng.beta(0.3, 2.0, size=20)
        d = np.stack([rng.binomial(16, p) / 16 - rng.binomial(16, p) / 16, (rng.binomial(16, p) > 0) * 1.0], axis=1)
        d[:, 1] -= (rng.binomial(16, p) > 0) * 1.0
        res = sign_flip_test(d, n_flip=2000, seed=r)
        hits += int(np.all(res.upper >= 0))
    assert hits / reps >= 0.95 - 2 * np.sqrt(0.05 * 0.95 / reps) - 0.05  # two bounds, each >= 95%


def test_holm_matches_step_down_loop() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=int(rng.integers(1, 12)))
        p[rng.random(p.size) < 0.2] = 0.01  # ties
        adj = holm(p)
        for alpha in (0.01, 0.05, 0.1):
            order = np.argsort(p, kind="stable")
            rejected = np.zeros(p.size, dtype=bool)
            for i, j in enumerate(order):  # reference: reject p_(i) while p_(i) <= alpha / (M - i)
                if p[j] <= alpha / (p.size - i):
                    rejected[j] = True
                else:
                    break
            assert np.array_equal(adj <= alpha + 1e-15, rejected)
        assert np.all(adj >= p) and np.all(adj <= 1)
    with pytest.raises(ValueError):
        holm([0.1, np.nan])


def test_paired_regimes_use_the_pairing() -> None:
    problems = 40
    base1 = np.full(problems, 0.1)
    # six problems newly solved at k = n, none lost: pass@n rose by 0.15 (paired), pass@1 rose too
    basek = np.r_[np.ones(20), np.zeros(20)]
    midk = basek.copy()
    finalk = basek.copy()
    finalk[20:26] = 1.0
    out = paired_regime([base1, base1 + 0.05, base1 + 0.1], [basek, midk, finalk])
    assert out["regime"] == "sustained" and "lower bound above zero" in out["sentence"]
    assert out["evidence"]["passk_final_minus_base"][0] == pytest.approx(0.15)
    # the same gain with an unpaired half-width model used to read as "diminish"; paired it never does
    assert paired_regime([base1, base1 + 0.05, base1 + 0.1], [basek, finalk, finalk])["regime"] != "diminish"
    # diminish: pass@1 up on every problem, pass@n lost on 6 problems and gained on none
    lostk = basek.copy()
    lostk[:6] = 0.0
    dim = paired_regime([base1, base1 + 0.1, base1 + 0.2], [basek, basek, lostk])
    assert dim["regime"] == "diminish" and dim["evidence"]["passk_final_minus_base"][2] <= 0
    # no evidence either way: inconclusive, and the sentence says what was shown
    flat = paired_regime([base1, base1, base1], [basek, basek, basek])
    assert flat["regime"] == "inconclusive" and flat["sentence"].startswith("No regime is shown at 95%")
    # plateau: a real rise, then a last segment shown within +-0.02 (many problems, tiny changes)
    many = 400
    b1 = np.full(many, 0.2)
    bk = np.r_[np.ones(200), np.zeros(200)]
    risen = bk.copy()
    risen[200:260] = 1.0
    plat = paired_regime([b1, b1 + 0.05, b1 + 0.05], [bk, risen, risen])
    assert plat["regime"] == "plateau"


# Hand-labelled trajectories: 60 problems, 4 checkpoints (base, two intermediate, final). pass@k values are
# per-problem pass@k_max; 40 of 60 problems are solved by the base.
P60 = 60
B1 = np.linspace(0.05, 0.6, P60)  # base pass@1
BK = np.r_[np.ones(40), np.zeros(20)]  # base pass@k: 40 solved


def _solved(*extra: int, lost: tuple[int, ...] = ()) -> np.ndarray:
    out = BK.copy()
    out[list(extra)] = 1.0
    out[list(lost)] = 0.0
    return out


RISEN = _solved(*range(40, 50))  # 10 problems newly solved
P1_UP = [B1, B1 + 0.03, B1 + 0.06, B1 + 0.08]
# pass@k below 1 on 20 problems, then small per-problem changes (continuous pass@k at k < n)
CONT = np.r_[np.full(40, 0.97), np.full(20, 0.3)]
CONT_RISEN = CONT + np.r_[np.zeros(40), np.full(20, 0.3)]
JITTER = np.tile([0.006, -0.004, 0.003, -0.005, 0.001, 0.0], 10)  # mean 0.0001667, |change| <= 0.006

HAND_LABELLED = [
    # pass@1 up on every problem; pass@k: 6 problems lost, none gained (sign test p = 1/64)
    ("diminish", P1_UP, [BK, BK, BK, _solved(lost=tuple(range(6)))]),
    # pass@1 up, pass@k unchanged on every problem: its exact upper bound is 0 up to the test's 1e-9 tie
    # tolerance (+9.99989e-10), but nothing shows that pass@k did not rise (sign test p = 1)
    ("inconclusive", P1_UP, [BK, BK, BK, BK]),
    # pass@1 up, pass@k: 1 problem lost, none gained: upper bound 0 again, sign test p = 0.5
    ("inconclusive", P1_UP, [BK, BK, BK, _solved(lost=(0,))]),
    # pass@1 up, pass@k: 3 lost, none gained: p = 1/8, not shown
    ("inconclusive", P1_UP, [BK, BK, BK, _solved(lost=(0, 1, 2))]),
    # pass@1 up, pass@k: 5 lost, none gained: p = 1/32, shown
    ("diminish", P1_UP, [BK, BK, BK, _solved(lost=tuple(range(5)))]),
    # pass@k: +4, +2, then +6 problems in the last segment, none lost
    (
        "sustained",
        P1_UP,
        [BK, _solved(40, 41, 42, 43), _solved(*range(40, 46)), _solved(*range(40, 52))],
    ),
    # +10 problems by checkpoint 1, then the same problems solved: last segment exactly 0
    ("plateau", P1_UP, [BK, RISEN, RISEN, RISEN]),
    # a rise, then a last segment of small changes of both signs, shown within +-0.02
    ("plateau", P1_UP, [CONT, CONT_RISEN, CONT_RISEN, CONT_RISEN + JITTER]),
    # a rise, then a last-segment rise that is shown but tiny (+0.001 on every problem): flat, not sustained
    ("plateau", P1_UP, [CONT, CONT_RISEN, CONT_RISEN, CONT_RISEN + 0.001]),
    # a rise, then a last segment that differs from the previous checkpoint by round-off only
    ("plateau", P1_UP, [BK, RISEN, RISEN, (RISEN + 0.1) - 0.1 + 1e-16]),
    # a rise, then 2 problems gained and 2 lost in the last segment: not shown flat at 60 problems
    ("inconclusive", P1_UP, [BK, RISEN, RISEN, _solved(*range(40, 52), lost=(0, 1))]),
    # one more problem solved in the last segment: the upper bound (about 0.04) exceeds the margin
    ("inconclusive", P1_UP, [BK, RISEN, RISEN, _solved(*range(40, 51))]),
    # a rise, then 5 of the new problems lost again: still above the base, falling
    ("inconclusive", P1_UP, [BK, RISEN, RISEN, _solved(*range(45, 50))]),
    # nothing moved
    ("inconclusive", [B1] * 4, [BK] * 4),
    # pass@k: 6 problems lost, but pass@1 rose on 2 problems only (not shown): not "diminish"
    ("inconclusive", [B1, B1, B1, B1 + np.r_[0.05, 0.05, np.zeros(58)]], [BK, BK, BK, _solved(lost=tuple(range(6)))]),
]


@pytest.mark.parametrize("index", range(len(HAND_LABELLED)))
def test_paired_regime_hand_labelled(index: int) -> None:
    label, pass1, passk = HAND_LABELLED[index]
    out = paired_regime(pass1, passk)
    assert out["regime"] == label, out["sentence"]
    ev = out["evidence"]
    seg_est, seg_lo, seg_hi = ev["passk_last_segment"]
    if label == "diminish":
        assert ev["pass1_final_minus_base"][1] > 0 and ev["passk_final_minus_base"][2] <= 0
        assert ev["passk_fell_p_value"] <= 0.05
    elif label == "sustained":
        assert seg_lo > 1e-9 and seg_hi > 0.02
    elif label == "plateau":
        assert -0.02 <= seg_lo <= seg_est <= seg_hi <= 0.02 + 1e-9
        assert "last segment stayed within +-0.02" in out["sentence"]
    else:
        assert out["sentence"].startswith("No regime is shown at 95%")


def test_paired_regime_plateau_needs_a_shown_rise_first() -> None:
    # a flat last segment alone is not a plateau: pass@k never rose above the base
    out = paired_regime(P1_UP, [CONT, CONT, CONT, CONT + JITTER])
    assert out["regime"] == "inconclusive"
    # a wider margin admits a last segment the default one does not
    one_more = [BK, RISEN, RISEN, _solved(*range(40, 51))]
    assert paired_regime(P1_UP, one_more, flat_margin=0.05)["regime"] == "plateau"


def test_split_half_gain_correlation_has_a_valid_null() -> None:
    # no RL effect (final = base model), tasks of unequal size: the naive correlation is biased negative, the
    # split-half one is not
    from evalkit.compare.calibration import gain_correlation_null

    row = gain_correlation_null(reps=150, seed=4)
    assert row["naive_reject"] > 0.1
    assert row["split_reject"] <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 150)
    assert row["flip_reject"] <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 150)  # the sign-flip reference evalkit reports
    assert abs(row["split_mean_rho"]) < 0.1 < -row["naive_mean_rho"]


def test_split_half_inputs_against_a_direct_computation() -> None:
    rng = np.random.default_rng(6)
    base = [rng.random(9) < 0.3 for _ in range(5)]
    final = [rng.random(9) < 0.5 for _ in range(5)]
    x, gain, h = split_half_gain_inputs(base, final)
    assert h == 4
    want_x = np.mean([pass_at_k(4, int(b[[0, 2, 4, 6]].sum()), 4) for b in base])
    want_gain = np.mean([pass_at_k(4, int(f[[1, 3, 5, 7]].sum()), 4) for f in final]) - np.mean(
        [pass_at_k(4, int(b[[1, 3, 5, 7]].sum()), 4) for b in base]
    )
    assert (x, gain) == pytest.approx((want_x, want_gain), abs=1e-12)


def test_gain_correlation_test_against_a_direct_computation() -> None:
    from evalkit.stats import gain_correlation_test

    rng = np.random.default_rng(11)
    sizes, n = (4, 9, 15, 6, 12), 8
    bases = [[rng.random(n) < 0.1 * (t + 1) for _ in range(s)] for t, s in enumerate(sizes)]
    finals = [[rng.random(n) < 0.6 for _ in range(s)] for s in sizes]  # larger gains on the weaker tasks
    out = gain_correlation_test(bases, finals, n_flip=300, seed=3)
    split = [split_half_gain_inputs(b, f) for b, f in zip(bases, finals, strict=True)]
    assert out["x"] == [s[0] for s in split] and np.allclose(out["gain"], [s[1] for s in split])
    rho = sps.spearmanr(out["x"], out["gain"]).statistic
    assert out["rho"] == pytest.approx(rho)
    # the reference, one flip at a time: the same sign draws (per task, n_flip x problems), Spearman of each
    draws = np.random.default_rng(3)
    signs = [np.where(draws.random((300, s)) < 0.5, -1.0, 1.0) for s in sizes]
    h = n // 2
    d = [
        np.array([float(f[1 : 2 * h : 2].any()) - float(b[1 : 2 * h : 2].any()) for b, f in zip(bt, ft, strict=True)])
        for bt, ft in zip(bases, finals, strict=True)
    ]
    hits = 0
    for i in range(300):
        g = [float(np.mean(sg[i] * dt)) for sg, dt in zip(signs, d, strict=True)]
        r = sps.spearmanr(out["x"], g).statistic
        hits += bool(np.isnan(r) or abs(r) >= abs(rho) - 1e-12)
    assert out["p_value"] == pytest.approx((1 + hits) / 301)
    assert rho < 0 < out["p_value"] <= 1
