"""``support.perplexity`` of a comparison (evalkit.compare.support) on hand-made runs and likelihood files,
against a direct computation: every sample's per-token perplexity expanded into a plain list and numpy's
inverted-CDF quantile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalkit.compare.results import load_run
from evalkit.compare.support import QUANTILES, attach_support, support_perplexity, weighted_quantiles
from evalkit.likelihood import results_path
from evalkit.store import RunStore
from evalkit.types import Completion, Problem, Verdict

PROBLEMS = [Problem(f"p{i}", "add", f"{i}+1=", str(i + 1)) for i in range(5)]
SAMPLING = {"temperature": 0.7, "top_p": 1.0, "top_k": 0, "max_tokens": 8}
N = 6


def make_run(root: Path, model_hash: str, rng: np.random.Generator, recorded: bool) -> tuple[Path, list[Any]]:
    """A run of PROBLEMS x N with random log-probabilities (when ``recorded``) and verdicts; returns the root and
    its samples as (logprob_sampler, logprob_raw, tokens, passed)."""
    identity = {"model": model_hash, "model_hash": model_hash, "sampling": SAMPLING}
    store, _ = RunStore.create_or_resume(root, identity, {"n": N}, PROBLEMS)
    comps, verdicts, rows = [], [], []
    for p in PROBLEMS:
        for i in range(N):
            tokens = int(rng.integers(1, 30))
            lp, raw = -float(rng.exponential(2.0)) * tokens, -float(rng.exponential(3.0)) * tokens
            passed = bool(rng.random() < 0.4)
            if recorded:
                comps.append(Completion(p.id, i, f"t{i}", tokens, "stop", i, lp, raw, tokens))
            else:
                comps.append(Completion(p.id, i, f"t{i}", tokens, "stop", i))
            verdicts.append((p.id, i, Verdict(passed, float(passed), "ok")))
            rows.append((lp, raw, tokens, passed))
    store.append_completions(comps)
    store.append_verdicts(verdicts)
    store.unlock()
    return root, rows


def write_likelihood(scored: Path, model_hash: str, rows: list[dict[str, Any]], texts: str | None) -> None:
    fingerprint = RunStore.open(scored).manifest()["fingerprint"]
    header = {"kind": "header", "model_hash": model_hash, "run_fingerprint": fingerprint, "sampling": SAMPLING}
    if texts is not None:
        header["texts"] = texts
    by_problem: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_problem.setdefault(r.pop("problem_id"), []).append(r)
    lines = [json.dumps(header)] + [json.dumps({"problem_id": pid, "scored": rs}) for pid, rs in by_problem.items()]
    path = results_path(scored, model_hash)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def direct(values: list[float]) -> dict[str, float | None]:
    """Quantiles of a plain list of per-sample perplexities (numpy's inverted CDF; inf -> None)."""
    got = np.quantile(np.array(values), [q / 100 for q in QUANTILES], method="inverted_cdf")
    return {str(q): (float(v) if np.isfinite(v) else None) for q, v in zip(QUANTILES, got, strict=True)}


def check(dist: dict[str, Any] | None, values: list[float]) -> None:
    assert dist is not None and dist["samples"] == len(values)
    assert dist["unreachable"] == sum(1 for v in values if not np.isfinite(v))
    want = direct(values)
    for q in want:
        if want[q] is None:
            assert dist["quantiles"][q] is None
        else:
            assert dist["quantiles"][q] == pytest.approx(want[q], rel=1e-12)


def test_weighted_quantiles_equal_the_expanded_sample() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(1, 12))
        values = rng.normal(size=m)
        values[rng.random(m) < 0.2] = np.inf
        weights = rng.integers(1, 5, size=m)
        expanded = np.repeat(values, weights)
        want = np.quantile(expanded, [q / 100 for q in QUANTILES], method="inverted_cdf")
        assert weighted_quantiles(values, weights.astype(float)) == pytest.approx(list(want))


def test_support_perplexity_against_a_direct_computation(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    base_root, base_rows = make_run(tmp_path / "base", "hb", rng, recorded=True)
    rl_root, _ = make_run(tmp_path / "rl", "hr", rng, recorded=False)  # another backend: nothing recorded
    # RL's texts under the base, made with --all: distinct texts with counts, one unreachable, one skipped
    scored = []
    for p in PROBLEMS:
        for j in range(3):
            tokens = int(rng.integers(1, 20))
            unreachable = p.id == "p1" and j == 0
            scored.append({
                "problem_id": p.id, "sample_idx": j, "count": int(rng.integers(1, 4)), "n_tokens": tokens,
                "logprob": None if unreachable else -float(rng.exponential(2.5)) * tokens, "passed": j == 0,
            })  # fmt: skip
    scored.append({"problem_id": "p2", "sample_idx": 5, "count": 1, "skipped": "too long", "passed": True})
    write_likelihood(rl_root, "hb", [dict(r) for r in scored], "all")

    block = support_perplexity(load_run(base_root), load_run(rl_root))

    def ppl(lp: float | None, tokens: int) -> float:
        return float("inf") if lp is None else float(np.exp(-lp / tokens))

    check(block["base_under_base"]["all"], [ppl(lp, t) for lp, _raw, t, _ok in base_rows])
    check(block["base_under_base"]["correct"], [ppl(lp, t) for lp, _raw, t, ok in base_rows if ok])
    check(block["base_under_base_raw"]["all"], [ppl(raw, t) for _lp, raw, t, _ok in base_rows])
    real = [r for r in scored if "skipped" not in r]
    check(block["rl_under_base"]["all"], [ppl(r["logprob"], r["n_tokens"]) for r in real for _ in range(r["count"])])
    check(
        block["rl_under_base"]["correct"],
        [ppl(r["logprob"], r["n_tokens"]) for r in real if r["passed"] for _ in range(r["count"])],
    )
    assert block["rl_under_base"]["texts"] == "all" and block["rl_under_base"]["all"]["unreachable"] > 0
    assert block["rl_under_rl"]["all"] is None and "recorded while sampling" in block["rl_under_rl"]["missing"]
    assert block["base_under_rl"]["all"] is None and "--all" in block["base_under_rl"]["missing"]
    json.dumps(block, allow_nan=False)  # the report writes it as strict JSON


def test_a_correct_only_likelihood_file_gives_the_correct_population_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base_root, _ = make_run(tmp_path / "base", "hb", rng, recorded=True)
    rl_root, _ = make_run(tmp_path / "rl", "hr", rng, recorded=True)
    rows = [
        {"problem_id": "p0", "sample_idx": 0, "count": 2, "n_tokens": 4, "logprob": -2.0},  # made before --all
        {"problem_id": "p3", "sample_idx": 1, "count": 1, "n_tokens": 10, "logprob": -30.0},
    ]
    write_likelihood(base_root, "hr", rows, None)
    summary: dict[str, Any] = {}
    attach_support(summary, load_run(base_root), load_run(rl_root))
    under_rl = summary["support"]["perplexity"]["base_under_rl"]
    assert under_rl["all"] is None and "correct texts only" in under_rl["all_missing"]
    check(under_rl["correct"], [np.exp(0.5), np.exp(0.5), np.exp(3.0)])
    assert summary["support"]["perplexity"]["rl_under_rl"]["all"]["samples"] == len(PROBLEMS) * N
