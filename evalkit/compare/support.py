"""Support evidence: how perplexing each model finds its own and the other model's responses.

After Yue et al. 2025, "Does Reinforcement Learning Really Incentivize Reasoning Capacity in LLMs Beyond the
Base Model?" (arXiv 2504.13837), Fig. 6: if the RL model's responses have, under the base model, the perplexity
the base model's own responses have, RL samples from inside the base's support; responses the base finds far
more perplexing than its own lie outside what it would sample.

Definitions:

- **Per-token perplexity** of a response y to prompt x under a model's sampler S:
  ``PPL = exp(-log p_S(y | x) / T)``, where ``log p_S`` is the sum of the natural-log probabilities of y's tokens
  under the distribution S draws from (temperature, top-k, top-p applied; :mod:`evalkit.likelihood`) and T the
  number of tokens summed, the end-of-sequence token included when the response stopped on one. A response
  with a token S cannot draw (outside its top-k / top-p set) has infinite perplexity: *unreachable*.
- **base under base** (``base_under_base``; ``rl_under_rl`` likewise): the base run's own samples, from the
  log-probabilities recorded while sampling (``logprob_sampler``, ``logprob_tokens``; the hf backend records
  them), one value per sample. ``base_under_base_raw`` is the same under the raw model (temperature 1, no
  truncation: ``logprob_raw``), the quantity of the paper's figure.
- **RL under base** (``rl_under_base``): the RL run's responses scored by ``evalkit likelihood BASE RL_RUN``
  (``RL_RUN/likelihood/under-<base hash>.jsonl``), each distinct scored text weighted by the number of samples
  that produced it. **base under RL** (``base_under_rl``) the other way round. Such a file holds the correct
  texts only unless it was made with ``--all``, and at most ``--max-per-problem`` distinct texts per problem.
- Each source gives two **populations**: ``all`` (every sample; a likelihood file only when made with
  ``--all``) and ``correct`` (samples the verifier passed). A population without samples is null; a source
  that is missing altogether says why (``missing``, ``all_missing``).
- **Quantiles** 5, 25, 50, 75, 95 of the sample-weighted distribution, by the inverted empirical CDF: the
  smallest value whose cumulative weight reaches q percent of the total (no interpolation, so infinite values
  are ordered, not averaged); a quantile that falls on an unreachable response is null, and the weight of such
  responses is reported as ``unreachable``.

All problems of each run count (not only the problems both runs share). The figures describe the scored texts:
a low perplexity says the model readily samples text like this, not that it would solve the problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

QUANTILES = (5, 25, 50, 75, 95)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float] = QUANTILES) -> list[float]:
    """Quantiles (percent) of a weighted sample by the inverted empirical CDF.

    Args:
        values: (m,) values; ``inf`` allowed.
        weights: (m,) positive weights (sample counts).
        qs: Percentages in (0, 100].

    Returns:
        For each q, the smallest value v such that the weight of values <= v is at least q% of the total.

    Raises:
        ValueError: for an empty sample.
    """
    if values.size == 0:
        raise ValueError("weighted_quantiles: no values")
    order = np.argsort(values, kind="stable")
    v, cum = values[order], np.cumsum(weights[order].astype(np.float64))
    total = cum[-1]
    return [float(v[min(int(np.searchsorted(cum, q / 100.0 * total, side="left")), v.size - 1)]) for q in qs]


def distribution(logprobs: np.ndarray, tokens: np.ndarray, weights: np.ndarray) -> dict[str, Any] | None:
    """The per-token perplexity distribution of responses with total log-probabilities ``logprobs`` (``-inf`` or
    NaN: unreachable) over ``tokens`` tokens each, weighted by ``weights`` samples each; None when empty.

    Returns:
        ``{"samples", "texts", "unreachable", "quantiles": {"5": ppl or None, ...}}``.
    """
    keep = (tokens > 0) & (weights > 0)
    logprobs, tokens, weights = logprobs[keep], tokens[keep], weights[keep]
    if not logprobs.size:
        return None
    lp = np.where(np.isnan(logprobs), -np.inf, logprobs)
    with np.errstate(over="ignore"):
        ppl = np.exp(-lp / tokens)
    quantiles = weighted_quantiles(ppl, weights)
    return {
        "samples": int(weights.sum()),
        "texts": int(weights.size),
        "unreachable": int(weights[np.isinf(ppl)].sum()),
        "quantiles": {str(q): (v if math.isfinite(v) else None) for q, v in zip(QUANTILES, quantiles, strict=True)},
    }


def samples_frame(run: Any, frames: dict[str, Any] | None = None) -> Any:
    """The run's per-sample frame (:meth:`evalkit.store.frame.Run.samples`), read once per ``frames`` cache."""
    from evalkit.store.frame import load_run

    key = str(run.root)
    if frames is None:
        return load_run(run.root).samples()
    if key not in frames:
        frames[key] = load_run(run.root).samples()
    return frames[key]


def _from_samples(run: Any, column: str, frames: dict[str, Any] | None = None) -> dict[str, Any]:
    """Both populations of a run's own samples from a recorded column (``logprob_sampler`` or ``logprob_raw``)."""
    frame = samples_frame(run, frames)
    recorded = frame[frame[column].notna() & frame["logprob_tokens"].notna()]
    if recorded.empty:
        why = "the run holds no log-probabilities recorded while sampling (sample it with the hf backend)"
        return {"all": None, "correct": None, "missing": why}
    out: dict[str, Any] = {"source": "sampling", "recorded": len(recorded), "samples_in_run": len(frame)}
    for name, rows in (("all", recorded), ("correct", recorded[recorded["passed"].fillna(False).astype(bool)])):
        out[name] = distribution(
            rows[column].to_numpy(np.float64),
            rows["logprob_tokens"].to_numpy(np.float64),
            np.ones(len(rows)),
        )
    return out


def _from_likelihood(scored_run: Any, model_run: Any, notes: list[str]) -> dict[str, Any]:
    """Both populations of ``scored_run``'s texts under ``model_run``'s model, from the likelihood file."""
    from evalkit.compare.evidence import _usable
    from evalkit.likelihood import results_path

    model_hash = model_run.manifest.get("identity", {}).get("model_hash")
    path = results_path(scored_run.root, str(model_hash)) if model_hash else None
    header, records = _usable(path, scored_run, model_run, notes)
    if header is None or not records:
        why = f"no likelihood file {path} (run `evalkit likelihood {model_run.label()} {scored_run.root} --all`)"
        return {"all": None, "correct": None, "missing": why}
    rows = [r for rec in records.values() for r in rec.get("scored", []) if "skipped" not in r]
    lp = np.array([np.nan if r.get("logprob") is None else r["logprob"] for r in rows], dtype=np.float64)
    tokens = np.array([r.get("n_tokens", 0) for r in rows], dtype=np.float64)
    counts = np.array([r.get("count", 1) for r in rows], dtype=np.float64)
    passed = np.array([bool(r.get("passed", True)) for r in rows], dtype=bool)  # older files: correct texts only
    texts = header.get("texts", "correct")
    out: dict[str, Any] = {"source": str(path), "texts": texts, "sampling": header.get("sampling")}
    out["all"] = distribution(lp, tokens, counts) if texts == "all" else None
    if texts != "all":
        out["all_missing"] = "the likelihood file holds correct texts only (make it with `evalkit likelihood --all`)"
    out["correct"] = distribution(lp[passed], tokens[passed], counts[passed])
    return out


def support_perplexity(
    base: Any, rl: Any, notes: list[str] | None = None, frames: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``support.perplexity`` block of a comparison (see the module docstring).

    Args:
        base: The base run (:class:`evalkit.compare.results.RunResults`).
        rl: The RL run.
        notes: Where to say that a likelihood file was ignored (see :mod:`evalkit.compare.evidence`).

    Returns:
        ``{"definition", "quantiles", "base_under_base", "base_under_base_raw", "rl_under_rl",
        "rl_under_base", "base_under_rl"}``; each source ``{"all": dist or None, "correct": dist or None, ...}``
        with ``missing`` saying why a source has nothing (dist as :func:`distribution`).
    """
    notes = notes if notes is not None else []
    return {
        "definition": "per-token perplexity exp(-logprob / tokens) under the model's sampler (Yue et al. 2025, "
        "arXiv 2504.13837, Fig. 6); quantiles of the sample-weighted distribution (inverted CDF); null: unreachable",
        "quantiles": list(QUANTILES),
        "base_under_base": _from_samples(base, "logprob_sampler", frames),
        "base_under_base_raw": _from_samples(base, "logprob_raw", frames),
        "rl_under_rl": _from_samples(rl, "logprob_sampler", frames),
        "rl_under_base": _from_likelihood(rl, base, notes),
        "base_under_rl": _from_likelihood(base, rl, notes),
    }


def attach_support(summary: dict[str, Any], base: Any, rl: Any) -> None:
    """Add ``support.perplexity`` (:func:`support_perplexity`) and ``support.dynamics`` / ``entropy`` /
    ``winner_take_all`` (:func:`evalkit.compare.support_evidence.support_evidence`) to a comparison summary, in
    place; the notes on likelihood files ignored go to ``support.notes``."""
    from evalkit.compare.support_evidence import support_evidence

    if base.rule is not None or rl.rule is not None:  # rates per problem over m samples: not what --adaptive drew
        why = (
            "not computed: support rates, entropy and winner-take-all read every problem's m samples of both runs, "
            "and a run sampled with --adaptive stops each problem at R successes"
        )
        summary.setdefault("support", {}).update({"skipped": why, "notes": [why]})
        return
    notes: list[str] = []
    frames: dict[str, Any] = {}  # each run's sample frame is read once
    summary.setdefault("support", {})["perplexity"] = support_perplexity(base, rl, notes, frames)
    # SRR / NDR / SDS / NSCR, token- and answer-level entropy, winner-take-all (evalkit.compare.support_evidence)
    summary["support"].update(support_evidence(base, rl, notes=[], frames=frames))
    if notes:
        summary["support"]["notes"] = notes
