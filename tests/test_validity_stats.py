"""ROUGE-L and the word cut of the contamination audit against hand-computed cases; the random-guess pass@k
against its closed forms and a simulation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as sps

from evalkit.stats.guess import above_guess_pvalues, guess_pass_at_k
from evalkit.validity.overlap import cut_at_words, lcs_length, rouge_l, word_count


@pytest.mark.parametrize(
    ("a", "b", "lcs"),
    [
        ("", "a b", 0),
        ("a b c", "a b c", 3),
        ("a b c d", "a c d", 3),
        ("the cat sat on the mat", "the dog sat on a mat", 4),  # the sat on mat
        ("a b c", "c b a", 1),
        ("x y", "a b", 0),
        ("a a a", "a", 1),
        ("A b", "a b", 1),  # case is kept
    ],
)
def test_lcs_hand_cases(a: str, b: str, lcs: int) -> None:
    assert lcs_length(a.split(), b.split()) == lcs
    assert lcs_length(b.split(), a.split()) == lcs


def test_rouge_l_hand_cases() -> None:
    # candidate 6 tokens, reference 6, LCS 4: P = R = 4/6, F1 = 2/3
    cand, ref = ["the", "dog", "sat", "on", "a", "mat"], ["the", "cat", "sat", "on", "the", "mat"]
    r = rouge_l(cand, ref)
    assert (r.lcs, r.precision, r.recall, r.f1) == (4, pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3))
    # candidate 2 tokens all in the 4-token reference: P = 1, R = 1/2, F1 = 2/3
    r = rouge_l(["a", "c"], ["a", "b", "c", "d"])
    assert (r.precision, r.recall, r.f1) == (1.0, 0.5, pytest.approx(2 / 3))
    assert rouge_l([], ["a"]).f1 == 0.0
    assert rouge_l(["a"], []).f1 == 0.0
    assert rouge_l(["a", "b"], ["a", "b"]).f1 == 1.0


def test_lcs_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = list(rng.choice(list("abc"), size=rng.integers(0, 7)))
        b = list(rng.choice(list("abc"), size=rng.integers(0, 7)))
        best = 0
        for mask in range(1 << len(a)):  # every subsequence of a; is it one of b?
            sub = [x for i, x in enumerate(a) if mask >> i & 1]
            it = iter(b)
            if all(any(x == y for y in it) for x in sub):
                best = max(best, len(sub))
        assert lcs_length(a, b) == best


def test_cut_at_words() -> None:
    text = "Find the sum of all  positive integers n\nsuch that n divides 12."
    assert word_count(text) == 13
    prefix, rest = cut_at_words(text, 0.5)
    assert prefix == "Find the sum of all  positive integers"  # 6.5 words round up to 7
    assert rest == " n\nsuch that n divides 12."
    assert prefix + rest == text
    assert cut_at_words("  one two three four  ", 0.25) == ("one", " two three four")
    assert cut_at_words("one two", 0.1) == ("", "one two")
    assert cut_at_words("one two", 0.9)[1] == ""
    with pytest.raises(ValueError):
        cut_at_words("a b", 1.0)


def test_guess_pass_at_k_closed_forms() -> None:
    assert guess_pass_at_k(1000, 1) == pytest.approx(0.001)
    assert guess_pass_at_k(1000, 1024) == pytest.approx(1 - 0.999**1024)
    assert guess_pass_at_k(2, 3) == pytest.approx(0.875)
    assert guess_pass_at_k(4, [1, 2, 8], model="distinct") == pytest.approx([0.25, 0.5, 1.0])
    assert guess_pass_at_k(1, 5) == 1.0
    ks = np.arange(1, 50)
    assert np.all(guess_pass_at_k(10, ks, model="distinct") >= guess_pass_at_k(10, ks))  # distinct does better
    with pytest.raises(ValueError):
        guess_pass_at_k(0, 1)
    with pytest.raises(ValueError):
        guess_pass_at_k(10, 0)
    with pytest.raises(ValueError):
        guess_pass_at_k(10, 1, model="smart")  # type: ignore[arg-type]


def test_guess_pass_at_k_simulation() -> None:
    rng = np.random.default_rng(1)
    trials = 40_000
    for answers, k in ((5, 3), (26, 10), (1000, 256)):
        hits = (rng.integers(0, answers, size=(trials, k)) == 0).any(axis=1).mean()
        assert abs(hits - guess_pass_at_k(answers, k)) < 4 * np.sqrt(0.25 / trials)
        distinct = np.array([0 in rng.choice(answers, size=min(k, answers), replace=False) for _ in range(4000)])
        assert abs(distinct.mean() - guess_pass_at_k(answers, k, model="distinct")) < 4 * np.sqrt(0.25 / 4000)


def test_above_guess_pvalues() -> None:
    p = above_guess_pvalues([16, 16, 16], [0, 1, 5], 4)
    assert p[0] == 1.0
    assert p[1] == pytest.approx(1 - 0.75**16)
    assert p[2] == pytest.approx(sps.binomtest(5, 16, 0.25, alternative="greater").pvalue)
    with pytest.raises(ValueError):
        above_guess_pvalues(4, 5, 10)
