"""``evalkit.load_run`` DataFrames and ``evalkit summary --csv``, checked against counts and pass@k computed
here from the raw shards (exact binomial fractions, not evalkit's estimator)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from fractions import Fraction
from math import comb
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import evalkit
from evalkit.compare.common_n import one_n_per_task
from evalkit.compare.results import load_run as load_results
from evalkit.compare.results import summarize
from evalkit.errors import EvalkitError
from evalkit.sampling.runner import import_samples
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, make_problems
from evalkit.types import Completion

SPEC = TaskSpec.parse("add")
# per problem: its completions ("R" right answer, "x" wrong, "e" empty); counts differ so that n differs
PLAN = ["RxR", "xexxx", "RRRRRR", "xRxeRxx", "RxRx"]


def exact_pass_at_k(n: int, c: int, k: int) -> float:
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def raw_rows(run: Path, kind: str) -> list[dict[str, Any]]:
    """The shard records, read with pyarrow (format 2) or json (format 1) rather than through evalkit."""
    rows: list[dict[str, Any]] = []
    suffix = ".parquet" if json.loads((run / "manifest.json").read_text())["format"] == 2 else ".jsonl"
    for shard in sorted((run / kind).glob(f"*{suffix}"), key=lambda p: int(p.stem)):
        if suffix == ".parquet":
            rows.extend(pq.read_table(shard).to_pylist())
        else:
            rows.extend(json.loads(line) for line in shard.read_text().splitlines() if line.strip())
    return rows


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    problems = make_problems(SPEC, 0, len(PLAN))
    lines = []
    for p, plan in zip(problems, PLAN, strict=True):
        for i, ch in enumerate(plan):
            text = {"R": p.reference, "x": "x", "e": ""}[ch]
            lines.append(json.dumps({"problem_id": p.id, "completion": text, "sample_idx": i}))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    import_samples(samples, [SPEC], run, quiet=True)
    # one more completion, never verified: it is a row of samples() but is counted nowhere
    store = RunStore.open(run)
    store.append_completions([Completion(problems[4].id, len(PLAN[4]), problems[4].reference, 3, "length", 77)])
    return run


def test_samples_frame_matches_the_raw_shards(run_dir: Path) -> None:
    frame = evalkit.load_run(run_dir).samples()
    assert list(frame.columns) == [
        "problem_id",
        "task",
        "sample_idx",
        "passed",
        "score",
        "status",
        "n_tokens",
        "finish_reason",
        "seed",
        "logprob_sampler",
        "logprob_raw",
        "logprob_tokens",
    ]
    # imported samples carry no log-probabilities: not recorded, never filled in
    assert frame["logprob_sampler"].isna().all() and frame["logprob_raw"].isna().all()
    assert frame["logprob_tokens"].isna().all() and frame["logprob_sampler"].dtype == "float64"
    completions = raw_rows(run_dir, "completions")
    verdicts = {(v["problem_id"], v["sample_idx"]): v for v in raw_rows(run_dir, "verdicts")}
    assert len(frame) == len(completions) == sum(map(len, PLAN)) + 1
    by_key = {(r.problem_id, r.sample_idx): r for r in frame.itertuples(index=False)}
    for c in completions:
        row = by_key[(c["problem_id"], c["sample_idx"])]
        assert (row.n_tokens, row.finish_reason, row.seed, row.task) == (
            c["n_tokens"],
            c["finish_reason"],
            c["seed"],
            "add",
        )
        v = verdicts.get((c["problem_id"], c["sample_idx"]))
        if v is None:
            assert row.passed is pd.NA and np.isnan(row.score) and row.status is None
        else:
            assert (bool(row.passed), row.score, row.status) == (v["passed"], v["score"], v["status"])
    assert {"ok", "empty"} <= set(frame["status"].dropna())
    # run order: problems as in problems.jsonl, then sample_idx
    order = [p["problem_id"] for p in map(json.loads, (run_dir / "problems.jsonl").read_text().splitlines())]
    assert list(frame["problem_id"]) == sorted(frame["problem_id"], key=order.index)
    assert frame["passed"].dtype == "boolean" and frame["sample_idx"].dtype == "int64"


def test_problems_frame_counts_and_pass_at_k(run_dir: Path) -> None:
    table = evalkit.load_run(run_dir).problems()
    verdicts = raw_rows(run_dir, "verdicts")
    ids = [p["problem_id"] for p in map(json.loads, (run_dir / "problems.jsonl").read_text().splitlines())]
    assert list(table["problem_id"]) == ids
    n_max = max(len(p) for p in PLAN)
    assert [c for c in table.columns if c.startswith("pass@")] == ["pass@1", "pass@2", "pass@4", f"pass@{n_max}"]
    for row in table.to_dict("records"):
        mine = [v for v in verdicts if v["problem_id"] == row["problem_id"]]
        n, c = len(mine), sum(v["passed"] for v in mine)
        assert (row["n"], row["c"]) == (n, c)
        for k in (1, 2, 4, n_max):
            got = row[f"pass@{k}"]
            if k > n:
                assert np.isnan(got)
            else:
                assert got == pytest.approx(exact_pass_at_k(n, c, k), abs=1e-12)
    # the same counts evalkit's summary uses
    results = load_results(run_dir)
    assert list(table["n"]) == [results.n(pid) for pid in ids]
    assert list(table["c"]) == [results.c(pid) for pid in ids]


def test_load_run_is_lazy_and_refuses_a_non_run(tmp_path: Path) -> None:
    code = "import sys, evalkit; assert 'pandas' not in sys.modules; evalkit.Run; assert 'pandas' in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    with pytest.raises(EvalkitError, match="not an evalkit run directory"):
        evalkit.load_run(tmp_path)
    with pytest.raises(AttributeError):
        _ = evalkit.no_such_name


def test_summary_csv(run_dir: Path) -> None:
    def summary_csv(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "evalkit", "summary", str(run_dir), "--csv", *extra]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    refused = summary_csv()  # the run holds a completion with no verdict: partial input is refused
    assert refused.returncode == 2 and "--allow-partial" in refused.stderr and not refused.stdout
    # the problems hold 3 to 7 samples: one n per task is needed, refused without --truncate-n
    uneven = summary_csv("--allow-partial")
    assert uneven.returncode == 2 and "--truncate-n" in uneven.stderr and not uneven.stdout
    out = summary_csv("--allow-partial", "--truncate-n")
    assert out.returncode == 0, out.stderr
    assert "partial input (--allow-partial)" in out.stderr and "truncated (--truncate-n)" in out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["task", "k", "pass_at_k", "ci_low", "ci_high", "confidence", "n_problems", "n_min"]
    verdicts = raw_rows(run_dir, "verdicts")
    n_min = min(len(plan) for plan in PLAN)
    counts = [  # every problem's first n_min samples (by sample_idx)
        (n_min, sum(v["passed"] for v in vs if v["sample_idx"] < n_min))
        for vs in ([v for v in verdicts if v["problem_id"] == pid] for pid in {v["problem_id"] for v in verdicts})
    ]
    assert [r["k"] for r in rows] == ["1", "2", str(n_min)]  # powers of two up to the smallest n, and n
    for r in rows:
        k = int(r["k"])
        expected = sum(exact_pass_at_k(n, c, k) for n, c in counts) / len(counts)
        assert (r["task"], int(r["n_problems"]), int(r["n_min"])) == ("add", len(PLAN), n_min)
        assert float(r["pass_at_k"]) == pytest.approx(expected, abs=1e-12)
        assert float(r["ci_low"]) <= float(r["pass_at_k"]) <= float(r["ci_high"])
    (cut,), _record = one_n_per_task([("run", load_results(run_dir))], allow_truncate=True)
    summary = summarize(cut)
    assert float(rows[0]["ci_low"]) == summary["tasks"]["add"]["pass_at_k_ci"]["1"][0]
    both = subprocess.run(
        [sys.executable, "-m", "evalkit", "summary", str(run_dir), "--csv", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert both.returncode == 2 and "choose one" in both.stderr
