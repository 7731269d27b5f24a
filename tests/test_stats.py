"""pass@k against an exact reference built from math.comb and fractions."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.stats import mean_pass_at_k, pass_at_k, powers_of_two, zero_success_upper_bound


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 1100).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_exact_fractions(nck: tuple[int, int, int]) -> None:
    n, c, k = nck
    got = float(pass_at_k(n, c, k))
    want = float(exact_pass_at_k(n, c, k))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_random_table_broadcast_against_reference() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 1025, size=200)
    c = (rng.random(200) * (n + 1)).astype(int).clip(0, n)
    ks = np.array([1, 2, 4, 16, 64, 256, 1024])
    table = pass_at_k(n[:, None], c[:, None], ks[None, :])
    assert table.shape == (200, 7)
    for i in range(200):
        for j, k in enumerate(ks):
            if k > n[i]:
                assert np.isnan(table[i, j])
            else:
                assert table[i, j] == pytest.approx(
                    float(exact_pass_at_k(int(n[i]), int(c[i]), int(k))), rel=1e-9, abs=1e-12
                )


def test_edge_cases() -> None:
    assert pass_at_k(1024, 0, 1024) == 0.0
    assert pass_at_k(1024, 1024, 1) == 1.0
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(1, 0, 1) == 0.0
    assert float(pass_at_k(1024, 1, 1)) == pytest.approx(1 / 1024)
    # tiny probabilities stay accurate (no 1 - (1 - x) cancellation)
    assert float(pass_at_k(1024, 1, 1)) == pytest.approx(float(exact_pass_at_k(1024, 1, 1)), rel=1e-12)


def test_k_greater_than_n_is_nan_never_one() -> None:
    assert np.isnan(pass_at_k(4, 4, 8))
    with pytest.raises(ValueError, match="pass@8 needs at least 8 samples"):
        mean_pass_at_k([4, 16], [4, 2], 8)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, -1, 1)
    with pytest.raises(ValueError):
        pass_at_k(0, 0, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 0)
    with pytest.raises(ValueError, match="no problems"):
        mean_pass_at_k([], [], 1)


def test_powers_of_two_and_zero_bound() -> None:
    assert powers_of_two(1024) == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    assert powers_of_two(12) == [1, 2, 4, 8, 12]
    assert powers_of_two(1) == [1]
    ub = zero_success_upper_bound(1024)
    assert ub == pytest.approx(1 - 0.05 ** (1 / 1024), rel=1e-9)
    assert 0.0029 < ub < 0.0030
