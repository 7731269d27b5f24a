"""The estimator and stopping rule of ``evalkit sample --adaptive`` (inverse binomial sampling with a cap)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.stats.adaptive import AdaptiveRule, adaptive_pass_at_k, adaptive_table


def _reference(t: int, s: int, reached: bool, r: int, n: int, k: int) -> Fraction:
    """pass@k from binomial coefficients, as fractions: the Rao-Blackwell of "first k all fail"."""
    if reached:
        if k >= t:
            return Fraction(1)
        return 1 - Fraction(math.comb(t - 1 - k, r - 1), math.comb(t - 1, r - 1))
    return 1 - Fraction(math.comb(n - k, s), math.comb(n, s))


@pytest.mark.parametrize(("n", "r"), [(1, 1), (6, 1), (7, 2), (8, 3), (9, 9), (10, 4)])
def test_unbiased_by_enumerating_every_path(n: int, r: int) -> None:
    """E[estimate] = 1 - (1 - p)^k exactly for every k <= n, summing over all 2^n outcome sequences."""
    rule = AdaptiveRule.make(r, n, first=1)
    ks = list(range(1, n + 1))
    probs = [Fraction(1, 13), Fraction(1, 2), Fraction(9, 10)]
    expect = {p: [Fraction(0)] * n for p in probs}
    for seq in itertools.product((False, True), repeat=n):
        d = rule.decide(np.array(seq))
        assert d.done
        # the stopping time is the position of the R-th success, or n
        hits = [i for i, x in enumerate(seq) if x]
        assert d.used == (hits[r - 1] + 1 if len(hits) >= r else n)
        est = [_reference(d.used, d.successes, d.reached, r, n, k) for k in ks]
        got = adaptive_pass_at_k(d.used, d.successes, d.reached, r, np.array(ks))
        np.testing.assert_allclose(got, [float(e) for e in est], rtol=0, atol=1e-12)
        c = sum(seq)
        for p in probs:
            w = p**c * (1 - p) ** (n - c)
            for j in range(n):
                expect[p][j] += w * est[j]
    for p in probs:
        assert expect[p] == [1 - (1 - p) ** k for k in ks]  # exact, in fractions


def test_stage_schedule_does_not_change_the_estimate() -> None:
    """Any first stage gives the same (T, S) on the same sequence: only the samples drawn differ."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, r = int(rng.integers(1, 300)), int(rng.integers(1, 20))
        seq = rng.random(n) < rng.uniform(0.001, 0.6)
        a = AdaptiveRule.make(r, n, first=1).decide(seq)
        b = AdaptiveRule.make(r, n).decide(seq)
        assert (a.used, a.successes, a.reached) == (b.used, b.successes, b.reached)
        assert b.used <= b.target <= n
        assert a.target >= a.used


def test_random_inputs_match_reference() -> None:
    rng = np.random.default_rng(2)
    for _ in range(300):
        n, r = int(rng.integers(1, 200)), int(rng.integers(1, 12))
        reached = bool(rng.random() < 0.6) and r <= n
        if reached:
            t, s = int(rng.integers(r, n + 1)), r
        else:
            t, s = n, int(rng.integers(0, min(r, n + 1)))
            if s >= r:
                continue
        k = int(rng.integers(1, n + 1))
        got = float(adaptive_pass_at_k(t, s, reached, r, k))
        assert got == pytest.approx(float(_reference(t, s, reached, r, n, k)), abs=1e-12)
        assert 0.0 <= got <= 1.0


def test_unbiased_in_simulation_with_stages() -> None:
    """Monte Carlo through the staged rule (first stage 2R, growth): the mean estimate matches the truth."""
    rng = np.random.default_rng(3)
    n, r, p, reps = 256, 4, 0.03, 4000
    rule = AdaptiveRule.make(r, n)
    ks = [1, 4, 16, 64, 256]
    done = [rule.decide(rng.random(n) < p) for _ in range(reps)]
    table = adaptive_table(rule, done, ks)
    truth = 1 - (1 - p) ** np.array(ks)
    se = table.std(axis=0) / np.sqrt(reps)
    assert np.all(np.abs(table.mean(axis=0) - truth) < 4 * np.maximum(se, 5e-4))  # floor: pass@256 is ~1
    drawn = np.mean([d.target for d in done])
    assert drawn < n  # the stopping saves samples at this rate


def test_pass_at_n_is_the_solved_indicator_and_never_solved_problems_use_n() -> None:
    rule = AdaptiveRule.make(3, 64)
    zero = rule.decide(np.zeros(64, dtype=bool))
    assert zero.done and zero.used == 64 and zero.target == 64 and not zero.reached
    assert float(adaptive_pass_at_k(zero.used, 0, False, 3, 64)) == 0.0
    one = np.zeros(64, dtype=bool)
    one[50] = True
    d = rule.decide(one)
    assert d.done and not d.reached and float(adaptive_pass_at_k(d.used, d.successes, False, 3, 64)) == 1.0
    dense = rule.decide(np.ones(64, dtype=bool))
    assert dense.used == 3 and dense.target == rule.first == 6
    assert float(adaptive_pass_at_k(dense.used, 3, True, 3, 64)) == 1.0


def test_not_done_asks_for_the_next_stage() -> None:
    rule = AdaptiveRule.make(4, 100)
    d = rule.decide(np.zeros(3, dtype=bool))
    assert not d.done and d.target == 8
    d = rule.decide(np.zeros(8, dtype=bool))
    assert not d.done and d.target == 32  # no success: four times as many
    seq = np.zeros(32, dtype=bool)
    seq[[3, 20]] = True
    assert rule.decide(seq).target == math.ceil(1.1 * 32 * 4 / 2)  # about R / s times as many


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        adaptive_pass_at_k(5, 2, True, 3, 1)  # reached R = 3 with 2 successes
    with pytest.raises(ValueError):
        adaptive_pass_at_k(5, 1, True, 1, 0)
    with pytest.raises(EvalkitError):
        AdaptiveRule.make(0, 10)
    with pytest.raises(EvalkitError, match=r"identity\.adaptive"):
        AdaptiveRule.from_json({"rule": "other"})
    rule = AdaptiveRule.make(2, 10)
    assert AdaptiveRule.from_json(rule.to_json()) == rule
    with pytest.raises(ValueError):
        adaptive_table(rule, [rule.decide(np.zeros(1, dtype=bool))], [1])
