"""``load_run`` against a direct reading of the same store (Python objects per completion) on random runs."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from evalkit.compare.results import load_run
from evalkit.store import RunStore
from evalkit.types import STATUSES, Completion, Problem, Verdict


@pytest.mark.parametrize("seed", range(5))
def test_load_run_matches_a_direct_reading(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    problems = [Problem(f"p{i}", "add", f"{i}+1=", str(i + 1)) for i in range(rng.randint(1, 6))]
    store, _ = RunStore.create_or_resume(tmp_path / "run", {"model": "m"}, {"n": 3000}, problems)
    completions, verdicts = [], []
    for p in problems:
        # sparse and out-of-order indices, some beyond the default row size, some without a verdict
        for idx in rng.sample(range(3000), rng.randint(0, 40)):
            c = Completion(p.id, idx, f"text {idx}", 3, rng.choice(["stop", "length"]), idx)
            completions.append(c)
            if rng.random() < 0.8:
                status = rng.choice(STATUSES)
                passed = status == "ok" and rng.random() < 0.5
                verdicts.append((p.id, idx, Verdict(passed, float(passed), status)))
    rng.shuffle(completions)
    rng.shuffle(verdicts)
    for start in range(0, len(completions), 17):
        store.append_completions(completions[start : start + 17])
    for start in range(0, len(verdicts), 13):
        store.append_verdicts(verdicts[start : start + 13])

    results = load_run(tmp_path / "run")

    by_key = {(pid, idx): v for pid, idx, v in verdicts}
    verified = sorted((c for c in completions if (c.problem_id, c.sample_idx) in by_key), key=lambda c: c.sample_idx)
    assert results.unverified == len(completions) - len(verified)
    expected = {
        pid: np.array([by_key[(c.problem_id, c.sample_idx)].passed for c in verified if c.problem_id == pid])
        for pid in {c.problem_id for c in verified}
    }
    assert set(results.passed) == set(expected)
    for pid, arr in expected.items():
        assert results.passed[pid].tolist() == arr.tolist()
    total = len(verified)
    for status in ("empty", "timeout", "error"):
        share = sum(by_key[(c.problem_id, c.sample_idx)].status == status for c in verified) / total if total else 0
        assert results.rates[status] == pytest.approx(share)
    assert results.rates["truncated"] == pytest.approx(
        sum(c.finish_reason == "length" for c in verified) / total if total else 0
    )
    for pid in expected:
        first_pass = min(
            (c.sample_idx for c in verified if c.problem_id == pid and by_key[(pid, c.sample_idx)].passed), default=None
        )
        assert results.example.get(pid) == (None if first_pass is None else f"text {first_pass}")
