"""Random-guess baselines for tasks with a small, known answer space (Dragoi et al. 2025, "Beyond Pass@k:
Breadth-Depth Metrics for Reasoning Boundaries", arXiv 2510.08325: at large k, pass@k on such tasks is
reached by guessing).

Two guessing models, both exact:

- ``uniform`` (the default, the one the audit tests against): each of the k samples is an independent
  uniform draw from the ``A`` answers, so ``P(some guess is right) = 1 - (1 - 1/A)^k``. This is the pass@k of
  a "model" whose samples are i.i.d. with per-sample success rate ``g = 1/A``, which is exactly what Chen et
  al.'s pass@k estimates for a real model: a model's pass@k lies above the guesser's at every k if and only if
  its per-sample success rate lies above ``g``, because ``1 - (1 - p)^k`` increases with ``p``.
- ``distinct``: the k guesses are k different answers (drawn without replacement), so
  ``P = min(k, A) / A``, the most a guesser with no knowledge can reach.

:func:`above_guess_pvalues` is the one-sided exact binomial test of "per-sample success rate <= 1/A" from a
problem's ``c`` correct of ``n`` samples: ``P(X >= c)`` for ``X ~ Binomial(n, 1/A)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.stats as sps

from evalkit.stats._common import ArrayLike, FloatArray, _as_counts, _as_k

GuessModel = Literal["uniform", "distinct"]


def _check_answers(answers: ArrayLike) -> np.ndarray:
    a = np.asarray(answers, dtype=np.int64)
    if np.any(a < 1):
        raise ValueError("guess: the answer space must hold at least 1 answer")
    return a


def guess_pass_at_k(answers: ArrayLike, k: ArrayLike, model: GuessModel = "uniform") -> FloatArray:
    """Exact pass@k of random guessing from ``answers`` equally likely answers, broadcast over both.

    Args:
        answers: Size of the answer space ``A`` (e.g. 1000 for AIME's 0-999), >= 1.
        k: Number of guesses, >= 1.
        model: ``uniform``: ``1 - (1 - 1/A)^k`` (independent uniform guesses); ``distinct``: ``min(k, A)/A``
            (k different answers).

    Returns:
        The probability that at least one guess is the reference answer, as float64.

    Raises:
        ValueError: on ``A < 1``, ``k < 1`` or an unknown model.
    """
    a = _check_answers(answers).astype(np.float64)
    k_a = _as_k("guess_pass_at_k", k).astype(np.float64)
    if model == "uniform":
        # -expm1(k log1p(-1/A)) keeps precision for large A and small k (1 - (1 - 1/A)^k underflows to k/A)
        with np.errstate(divide="ignore"):
            return np.asarray(-np.expm1(k_a * np.log1p(-1.0 / a)), dtype=np.float64)
    if model == "distinct":
        return np.asarray(np.minimum(k_a, a) / a, dtype=np.float64)
    raise ValueError(f"guess_pass_at_k: model must be 'uniform' or 'distinct', got {model!r}")


def above_guess_pvalues(n: ArrayLike, c: ArrayLike, answers: ArrayLike) -> FloatArray:
    """One-sided exact binomial p-values of "per-sample success rate <= 1/A", per problem.

    Args:
        n: Samples per problem.
        c: Correct samples per problem (``0 <= c <= n``).
        answers: Size of the answer space ``A``.

    Returns:
        ``P(X >= c)`` for ``X ~ Binomial(n, 1/A)``: small when the problem is solved more often than guessing
        would solve it (1 when ``c = 0``).
    """
    n_a, c_a = _as_counts("above_guess_pvalues", n, c)
    a = _check_answers(answers)
    return np.asarray(sps.binom.sf(c_a - 1, n_a, 1.0 / a), dtype=np.float64)
