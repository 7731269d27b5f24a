"""A run as pandas DataFrames: one row per sample, or one row per problem with its pass@k.

>>> import evalkit
>>> run = evalkit.load_run("runs/base")
>>> run.problems()[["problem_id", "n", "c", "pass@1"]]

Only the run store is read (manifest, ``problems.jsonl`` and the shards), through
:class:`~evalkit.store.RunStore`, so a frame can be rebuilt from a run directory alone. Completion text
is neither read (format 2 reads only the columns it needs) nor put in the frames: :meth:`Run.samples` holds
the per-sample metadata and verdict, and stays about 100 bytes a sample however long the completions are.

What is implemented: both run store formats (Parquet, JSON lines), the columns listed on each method, pass@k
by the unbiased estimator (:func:`evalkit.stats.pass_at_k`). What is not: completion text columns,
intervals (``evalkit summary --json`` has them), lazy or out-of-core frames.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from evalkit.stats import pass_at_k, powers_of_two
from evalkit.stats.adaptive import adaptive_pass_at_k, rule_of
from evalkit.store import parquet
from evalkit.store.run import RunStore

SAMPLE_COLUMNS = (
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
)

_LOGPROB_COLUMNS = ("logprob_sampler", "logprob_raw", "logprob_tokens")


class Run:
    """One run directory, read as DataFrames.

    Args:
        path: A run directory written by ``evalkit sample``, ``evalkit import`` or ``evalkit merge``.

    Raises:
        EvalkitError: when ``path`` is not a run directory, or a shard is corrupt (naming file and line).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._store = RunStore.open(self.path)
        self.manifest: dict[str, Any] = self._store.manifest()
        self._problems = self._store.problems()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, model={self.model!r}, problems={len(self._problems)})"

    @property
    def model(self) -> str:
        """The model the run sampled (a path, hub id, server model or samples file)."""
        return str(self.manifest.get("identity", {}).get("model", self.path))

    def samples(self) -> pd.DataFrame:
        """One row per stored completion, in the run's problem order, then by ``sample_idx``.

        Returns:
            A DataFrame of shape (completions, 12) with columns ``problem_id`` (str), ``task`` (str),
            ``sample_idx`` (int64, 0..n-1), ``passed`` (nullable boolean), ``score`` (float64 in [0, 1]),
            ``status`` (str: ok, empty, truncated, timeout, error), ``n_tokens`` (int64, generated tokens,
            0 when unknown), ``finish_reason`` (str: stop or length), ``seed`` (int64, the sample's own
            seed, -1 when unknown), ``logprob_sampler`` and ``logprob_raw`` (float64, natural log of the
            probability of the generated tokens under the sampler's distribution and under the raw model, recorded
            while sampling; NaN where not recorded: other backends, older runs) and ``logprob_tokens`` (nullable
            Int64, the tokens those sums run over; see :class:`evalkit.types.Completion`). A completion
            without a verdict yet has ``passed`` <NA>, ``score`` NaN
            and ``status`` None; where a key was verified twice, the later verdict counts.
        """
        comp_cols = ["problem_id", "sample_idx", "n_tokens", "finish_reason", "seed", *_LOGPROB_COLUMNS]
        comp = _concat(self._store.completion_batches(comp_cols), parquet.COMPLETION_SCHEMA, comp_cols)
        ver_cols = ["problem_id", "sample_idx", "passed", "score", "status"]
        ver = _concat(self._store.verdict_batches(ver_cols), parquet.VERDICT_SCHEMA, ver_cols)
        keys = ["problem_id", "sample_idx"]
        completions = pd.DataFrame(
            {
                "problem_id": pd.Series(comp["problem_id"].to_numpy(zero_copy_only=False), dtype=object),
                "sample_idx": pd.Series(comp["sample_idx"].to_numpy(), dtype="int64"),
                "n_tokens": pd.Series(comp["n_tokens"].to_numpy(), dtype="int64"),
                "finish_reason": pd.Series(comp["finish_reason"].to_numpy(zero_copy_only=False), dtype=object),
                "seed": pd.Series(comp["seed"].to_numpy(), dtype="int64"),
                "logprob_sampler": pd.Series(comp["logprob_sampler"].to_numpy(zero_copy_only=False), dtype="float64"),
                "logprob_raw": pd.Series(comp["logprob_raw"].to_numpy(zero_copy_only=False), dtype="float64"),
                "logprob_tokens": pd.Series(comp["logprob_tokens"].to_pylist(), dtype="Int64"),
            }
        ).drop_duplicates(keys, keep="first")
        verdicts = pd.DataFrame(
            {
                "problem_id": pd.Series(ver["problem_id"].to_numpy(zero_copy_only=False), dtype=object),
                "sample_idx": pd.Series(ver["sample_idx"].to_numpy(), dtype="int64"),
                "passed": pd.Series(ver["passed"].to_numpy(zero_copy_only=False), dtype="boolean"),
                "score": pd.Series(ver["score"].to_numpy(), dtype="float64"),
                "status": pd.Series(ver["status"].to_numpy(zero_copy_only=False), dtype=object),
            }
        ).drop_duplicates(keys, keep="last")
        frame = completions.merge(verdicts, on=keys, how="left", validate="one_to_one")
        task_of = {p.id: p.task for p in self._problems}
        order = {p.id: i for i, p in enumerate(self._problems)}
        frame["task"] = frame["problem_id"].map(task_of).astype(object)
        # problems not in problems.jsonl (a hand-edited run) sort last, by id
        frame["_order"] = frame["problem_id"].map(order).fillna(len(order)).astype("int64")
        frame = frame.sort_values(["_order", "problem_id", "sample_idx"], kind="stable")
        frame["status"] = frame["status"].astype(object).where(frame["status"].notna(), None)
        return frame.loc[:, list(SAMPLE_COLUMNS)].reset_index(drop=True)

    def problems(self, samples: pd.DataFrame | None = None) -> pd.DataFrame:
        """One row per problem of the run, in the run's order, with its counts and pass@k.

        Args:
            samples: The frame of :meth:`samples`, to reuse one already read (default: read it).

        Returns:
            A DataFrame of shape (problems, 4 + K) with columns ``problem_id``, ``task``, ``n`` (int64,
            verified samples), ``c`` (int64, passed samples) and ``pass@k`` (float64) for each k of
            :func:`evalkit.stats.powers_of_two` of the largest n (1, 2, 4, ... and that n itself). An entry is
            NaN where the problem has fewer than k verified samples (never 1.0). Unverified completions
            are not counted, as in ``evalkit summary``.

            A run sampled with ``--adaptive`` has three more columns, ``samples_drawn`` (int64, = ``n``),
            ``used`` (int64, the stopping time T its rule reads) and ``reached`` (bool, stopped at R correct), and
            its pass@k (every power of two up to the rule's n) is the unbiased estimator of the rule
            (:func:`evalkit.stats.adaptive.adaptive_pass_at_k`), NaN on a problem the rule has not stopped yet.
        """
        frame = self.samples() if samples is None else samples
        verified = frame[frame["passed"].notna()]
        grouped = verified.groupby("problem_id", sort=False)["passed"]
        n_of = grouped.size()
        c_of = grouped.sum()
        ids = [p.id for p in self._problems]
        n = np.array([int(n_of.get(pid, 0)) for pid in ids], dtype=np.int64)
        c = np.array([int(c_of.get(pid, 0)) for pid in ids], dtype=np.int64)
        out = pd.DataFrame(
            {"problem_id": pd.Series(ids, dtype=object), "task": [p.task for p in self._problems], "n": n, "c": c}
        )
        rule = rule_of(self.manifest, str(self.path / "manifest.json"))
        if rule is not None:
            return self._adaptive(out, verified, rule)
        ks = powers_of_two(int(n.max()) if n.size else 0)
        if ks:
            table = np.full((n.size, len(ks)), np.nan)
            has = n >= 1  # the estimator needs n >= 1; k > n comes back NaN
            if has.any():
                table[has] = pass_at_k(n[has, None], c[has, None], np.array(ks)[None, :])
            for j, k in enumerate(ks):
                out[f"pass@{k}"] = table[:, j]
        return out

    def _adaptive(self, out: pd.DataFrame, verified: pd.DataFrame, rule: Any) -> pd.DataFrame:
        """The adaptive columns and pass@k of :meth:`problems` (see there)."""
        prefixes: dict[str, np.ndarray] = {}
        for pid, rows in verified.groupby("problem_id", sort=False):
            idx = rows["sample_idx"].to_numpy()
            gaps = np.flatnonzero(idx != np.arange(idx.size))  # rows are sorted by sample_idx
            prefixes[str(pid)] = rows["passed"].to_numpy(dtype=bool)[: gaps[0] if gaps.size else idx.size]
        empty = np.zeros(0, dtype=bool)
        decisions = [rule.decide(prefixes.get(pid, empty)) for pid in out["problem_id"]]
        done = np.array([d.done for d in decisions], dtype=bool)
        out["samples_drawn"] = out["n"]
        out["used"] = np.array([d.used for d in decisions], dtype=np.int64)
        out["reached"] = np.array([d.reached for d in decisions], dtype=bool)
        ks = powers_of_two(rule.n)
        table = np.full((len(decisions), len(ks)), np.nan)
        if done.any():
            used = out["used"].to_numpy()[done, None]
            hits = np.array([d.successes for d in decisions])[done, None]
            table[done] = adaptive_pass_at_k(
                used, hits, out["reached"].to_numpy()[done, None], rule.successes, np.array(ks)[None, :]
            )
        for j, k in enumerate(ks):
            out[f"pass@{k}"] = table[:, j]
        return out


def _concat(batches: Any, schema: pa.Schema, columns: list[str]) -> pa.Table:
    tables = list(batches)
    return pa.concat_tables(tables) if tables else schema.empty_table().select(columns)


def load_run(path: str | os.PathLike[str]) -> Run:
    """Open a run directory as a :class:`Run` (``.samples()`` and ``.problems()`` DataFrames).

    Raises:
        EvalkitError: when ``path`` is not a run directory.
    """
    return Run(path)


CSV_COLUMNS = ("task", "k", "pass_at_k", "ci_low", "ci_high", "confidence", "n_problems", "n_min")


def summary_csv(summary: dict[str, Any]) -> str:
    """The per-task pass@k of ``evalkit summary --csv``: one row per (task, k), a header first.

    Args:
        summary: What :func:`evalkit.compare.results.summarize` returns.

    Returns:
        CSV text (``\\n`` line ends): columns ``task, k, pass_at_k, ci_low, ci_high, confidence, n_problems,
        n_min``, with the bootstrap interval over problems empty where there is none (one problem).
        Numbers are written with Python's shortest round-trip repr.
    """
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for task, row in summary["tasks"].items():
        for k, value in row["pass_at_k"].items():
            ci = row.get("pass_at_k_ci", {}).get(k)
            writer.writerow(
                [
                    task,
                    k,
                    "" if value is None else repr(float(value)),
                    "" if ci is None else repr(float(ci[0])),
                    "" if ci is None else repr(float(ci[1])),
                    row.get("confidence", ""),
                    row["n_problems"],
                    row["n_min"],
                ]
            )
    return buf.getvalue()
