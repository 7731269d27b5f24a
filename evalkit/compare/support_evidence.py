"""The ``support`` parts of a comparison beside the perplexity distributions (:mod:`evalkit.compare.support`):
``dynamics`` (SRR, NDR, SDS, NSCR at epsilon), ``entropy`` (token- and answer-level) and ``winner_take_all``.

Definitions, papers and where evalkit differs: :mod:`evalkit.compare.support_metrics` and docs/support.md. This
module reads the runs and the likelihood file and hands plain arrays to those functions:

- **dynamics**: the problems both runs hold with verified samples, each cut to its common count m (as the
  comparison does), overall and per task; expected counts at each power-of-two k up to the smallest m.
- **entropy**: token-level from the log-probabilities recorded while sampling (``logprob_sampler``,
  ``logprob_tokens``; the hf backend records them; null for a run without them), over every recorded sample of
  the compared problems' first m; answer-level from the verifier's dedup key of each problem's first
  min(m, :data:`ENTROPY_SAMPLES`) samples (the text with whitespace collapsed for a task without one; "NA" for a
  sample cut at the token limit), per problem, then the mean over problems, with the paired RL - base
  difference and its interval over problems.
- **winner_take_all**: from ``RL_RUN/likelihood/under-<base hash>.jsonl`` (``evalkit likelihood BASE RL_RUN``):
  per problem RL solved with scored correct texts, the base's per-token log-likelihood of those texts pooled
  over RL's correct samples (sum of count x logprob over sum of count x tokens; ``-inf`` when one has a token
  the base sampler cannot draw), against RL's gain c_rl/m - c_base/m.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np

from evalkit.compare.support_metrics import (
    ZETA,
    answer_entropy,
    support_dynamics,
    token_entropy,
    winner_take_all,
)
from evalkit.stats import powers_of_two, problem_mean_ci

#: The answer key of a sample cut at the token limit (the paper's "NA" for incomplete outputs).
UNFINISHED = "NA"
#: Answer-level entropy reads the first min(m, this) samples of each problem: the same number for both models
#: (the plug-in entropy grows with it), near the paper's 32, and a bounded cost (an answer key takes about
#: 10-40 microseconds per text; a million-sample run would otherwise add a minute or more to compare).
ENTROPY_SAMPLES = 128


def _shared(base: Any, rl: Any) -> tuple[list[Any], dict[str, int]]:
    rl_ids = {p.id for p in rl.problems if rl.n(p.id)}
    problems = [p for p in base.problems if p.id in rl_ids and base.n(p.id)]
    return problems, {p.id: min(base.n(p.id), rl.n(p.id)) for p in problems}


def dynamics_block(base: Any, rl: Any, problems: list[Any], upto: dict[str, int], zeta: float = ZETA) -> dict:
    """Support dynamics overall and per task (see the module docstring)."""

    def one(probs: list[Any]) -> dict[str, Any]:
        m = np.array([upto[p.id] for p in probs])
        cb = np.array([base.c(p.id, upto[p.id]) for p in probs])
        cr = np.array([rl.c(p.id, upto[p.id]) for p in probs])
        return support_dynamics(m, cb, cr, powers_of_two(int(m.min())), zeta)

    by_task: dict[str, list[Any]] = defaultdict(list)
    for p in problems:
        by_task[p.task].append(p)
    return {"overall": one(problems), "tasks": {t: one(ps) for t, ps in sorted(by_task.items())}}


def _first_samples(run: Any, upto: dict[str, int]) -> Iterator[tuple[str, int, str, str]]:
    """(problem id, sample index, finish reason, text) of each problem's first ``upto[pid]`` samples. A Parquet
    store (format 2) is read column by column and filtered before any text becomes a Python string; a JSON-lines
    store through its completions."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from evalkit.store import RunStore, parquet

    store = RunStore.open(run.root)
    if store.format != 2:
        for c in store.iter_completions(problem_ids=set(upto)):
            if c.sample_idx < upto.get(c.problem_id, 0):
                yield c.problem_id, c.sample_idx, c.finish_reason, c.text
        return
    columns = ["problem_id", "sample_idx", "finish_reason", "text", "text_surrogatepass"]
    limit = pa.array(list(upto.values()), pa.int64())
    ids = pa.array(list(upto), pa.string())
    for shard in store.shards("completions"):
        table = parquet.read_table(shard, parquet.COMPLETION_SCHEMA, columns, set(upto))
        bound = pc.take(limit, pc.index_in(table.column("problem_id"), value_set=ids))
        table = table.filter(pc.less(pc.cast(table.column("sample_idx"), pa.int64()), bound))
        yield from zip(
            table.column("problem_id").to_pylist(),
            table.column("sample_idx").to_pylist(),
            table.column("finish_reason").to_pylist(),
            parquet.texts(table),
            strict=True,
        )


def _answer_counts(run: Any, upto: dict[str, int]) -> dict[str, Counter[str]]:
    """Problem id -> answer key -> samples among its first m (module docstring)."""
    from evalkit.likelihood.run import _answer_key

    problems = {p.id: p for p in run.problems if p.id in upto}
    families: dict[str, Any] = {}
    counts: dict[str, Counter[str]] = {pid: Counter() for pid in problems}
    # the key of a text repeated within a problem is computed once (shards hold a problem's samples together,
    # so the cache is dropped when the problem changes and holds one problem's distinct texts at most)
    cached_for: str | None = None
    cache: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()  # a sample stored twice (a resumed run) counts once, as in the verdicts
    for pid, idx, finish, text in _first_samples(run, {pid: upto[pid] for pid in problems}):
        if (pid, idx) in seen:
            continue
        seen.add((pid, idx))
        if finish == "length":
            counts[pid][UNFINISHED] += 1
            continue
        if pid != cached_for:
            cached_for, cache = pid, {}
        key = cache.get(text)
        if key is None:
            key = cache[text] = _answer_key(families, problems[pid], text)
        counts[pid][key] += 1
    return counts


def _token_entropy(run: Any, upto: dict[str, int], frames: dict[str, Any] | None = None) -> dict[str, Any]:
    from evalkit.compare.support import samples_frame

    frame = samples_frame(run, frames)
    limit = frame["problem_id"].map(upto)
    frame = frame[limit.notna() & (frame["sample_idx"] < limit.fillna(0))]
    rec = frame[frame["logprob_sampler"].notna() & frame["logprob_tokens"].notna()]
    if rec.empty:
        return {"nats_per_token": None, "samples": 0, "missing": "no log-probabilities recorded while sampling"}
    value = token_entropy(rec["logprob_sampler"].to_numpy(np.float64), rec["logprob_tokens"].to_numpy(np.float64))
    return {"nats_per_token": value, "samples": len(rec), "tokens": int(rec["logprob_tokens"].sum())}


def entropy_block(
    base: Any, rl: Any, problems: list[Any], upto: dict[str, int], confidence: float,
    frames: dict[str, Any] | None = None,
) -> dict:  # fmt: skip
    """Token- and answer-level entropy of both runs (see the module docstring)."""
    first = {pid: min(m, ENTROPY_SAMPLES) for pid, m in upto.items()}
    answers = {"base": _answer_counts(base, first), "rl": _answer_counts(rl, first)}
    ids = [p.id for p in problems if answers["base"][p.id] and answers["rl"][p.id]]
    per = {side: np.array([answer_entropy(answers[side][pid]) for pid in ids]) for side in ("base", "rl")}
    out: dict[str, Any] = {
        "token": {"base": _token_entropy(base, upto, frames), "rl": _token_entropy(rl, upto, frames)},
        "answer": {
            "problems": len(ids),
            "samples_per_problem": max((first[pid] for pid in ids), default=None),
            "base": float(per["base"].mean()) if ids else None,
            "rl": float(per["rl"].mean()) if ids else None,
            "delta": float((per["rl"] - per["base"]).mean()) if ids else None,
            "delta_ci": None,
            "confidence": confidence,
            "per_problem": {pid: [float(b), float(r)] for pid, b, r in zip(ids, per["base"], per["rl"], strict=True)},
        },
        "unit": "nats",
    }
    if len(ids) >= 2:
        _e, lo, hi, method = problem_mean_ci((per["rl"] - per["base"])[:, None], confidence, paired=True, seed=0)[0]
        out["answer"]["delta_ci"], out["answer"]["delta_ci_method"] = [float(lo), float(hi)], method
    return out


def wta_block(base: Any, rl: Any, problems: list[Any], upto: dict[str, int], notes: list[str]) -> dict[str, Any]:
    """The winner-take-all view (see the module docstring); ``missing`` says why there is none."""
    from evalkit.compare.evidence import _usable
    from evalkit.likelihood import results_path

    base_hash = base.manifest.get("identity", {}).get("model_hash")
    path = results_path(rl.root, str(base_hash)) if base_hash else None
    _header, records = _usable(path, rl, base, notes)
    points = []
    for p in problems:
        m = upto[p.id]
        cb, cr = base.c(p.id, m), rl.c(p.id, m)
        rows = [r for r in (records.get(p.id) or {}).get("scored", []) if "skipped" not in r and r.get("passed", True)]
        if not cr or not rows:
            continue
        weight = np.array([r.get("count", 1) for r in rows], dtype=np.float64)
        tokens = np.array([r.get("n_tokens", 0) for r in rows], dtype=np.float64)
        if any(r.get("logprob") is None for r in rows):
            x = -math.inf
        elif float((weight * tokens).sum()) <= 0:
            continue
        else:
            lp = np.array([r["logprob"] for r in rows], dtype=np.float64)
            x = float((weight * lp).sum() / (weight * tokens).sum())
        points.append(
            {"problem_id": p.id, "task": p.task, "x": x, "gain": (cr - cb) / m, "c_base": cb, "c_rl": cr, "m": m}
        )
    if not points:
        why = f"no scored correct RL texts under the base ({path}; run `evalkit likelihood BASE RL_RUN`)"
        return {"points": [], "missing": why}
    corr = winner_take_all([pt["x"] for pt in points], [pt["gain"] for pt in points])
    return {
        **corr,
        "points": points,
        "x": "the base's log-likelihood per token of RL's correct samples (nats; -inf: a token the base sampler "
        "cannot draw)",
        "y": "RL's gain in per-sample success rate, c_rl/m - c_base/m",
        "note": "only problems RL solved; a positive rho says RL gained most where the base already found RL's "
        "solutions likely (winner-take-all)",
    }


def support_evidence(
    base: Any, rl: Any, confidence: float = 0.95, notes: list[str] | None = None,
    frames: dict[str, Any] | None = None,
) -> dict:  # fmt: skip
    """``{"dynamics", "entropy", "winner_take_all"}`` for the ``support`` key of a comparison; ``frames`` caches
    each run's sample frame across callers (:func:`evalkit.compare.support.samples_frame`)."""
    notes = notes if notes is not None else []
    problems, upto = _shared(base, rl)
    if not problems:
        return {"missing": "the runs share no problem with verified samples"}
    return {
        "dynamics": dynamics_block(base, rl, problems, upto),
        "entropy": entropy_block(base, rl, problems, upto, confidence, frames),
        "winner_take_all": wta_block(base, rl, problems, upto, notes),
    }
