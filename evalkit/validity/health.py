"""Health of a run, per problem and per run: cut, looping and empty completions, fallback passes, tokens.

The per-completion signals are those of :mod:`evalkit.grading.health`; this module reads them from a run
store and aggregates them. Only short columns are read (keys, finish reason, token count, verdict status,
passed and detail); completion *text* is read only for the loop check, and by default
(``loop_texts="suspect"``) only for completions cut at the token limit or of unknown finish reason: a model
that loops runs into its limit, so a completion that stopped by itself is not read. ``"all"`` reads every
text, ``"none"`` skips the loop check (its counts are then None).

A problem is **flagged** when, in this run (thresholds stated, not tuned per run):

* at least :data:`DEGENERATE_FLAG` (half) of its verified samples were cut at the token limit (``truncated``),
  end in a loop (``loops``) or are empty (``empty``), each counted apart: pass@k there measures the length
  limit or a degenerate mode, not the model's reasoning;
* at least :data:`FALLBACK_FLAG` (half) of its passes, and at least one, were read by a fallback rule
  (``fallback``): the grader chose what the answer was.

An unknown finish reason (an import without one) never flags a problem: it is stated for the run, and
truncation is then unknown, never 0. Token counts of 0 are unknown (imports without ``n_tokens``); the token
figures are None when any verified sample's count is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evalkit.errors import EvalkitError
from evalkit.grading.health import FALLBACK_RULES, loops, rule_of
from evalkit.store import RunStore
from evalkit.store.parquet import texts

DEGENERATE_FLAG = 0.5  # share of a problem's samples truncated, looping or empty (each apart) that flags it
FALLBACK_FLAG = 0.5  # share of a problem's passes read by a fallback rule that flags it
RUN_WARN = 0.05  # a run-level share above this is said as a warning
LoopTexts = Literal["suspect", "all", "none"]
SIGNALS = ("truncated", "finish_unknown", "loops", "empty", "fallback")


@dataclass
class RunSignals:
    """One row per verified completion of a run (sorted by problem id, then sample_idx).

    Attributes:
        frame: Columns ``problem_id``, ``sample_idx``, ``passed``, ``n_tokens`` (0: unknown), ``truncated``,
            ``finish_unknown``, ``empty``, ``loops`` (False where not read), ``rule`` (None where not a
            final-answer pass), ``fallback``.
        loop_check: Which texts the loop check read: ``suspect``, ``all`` or ``none``.
        texts_read: How many texts it read.
    """

    frame: pd.DataFrame
    loop_check: str
    texts_read: int

    @property
    def tokens_known(self) -> bool:
        """Every verified completion has a token count (none imported without one)."""
        return bool(len(self.frame)) and bool((self.frame["n_tokens"] > 0).all())


def _concat(batches: list[pa.Table]) -> pd.DataFrame:
    return pa.concat_tables(batches).to_pandas() if batches else pd.DataFrame()


def read_signals(root: Path, loop_texts: LoopTexts = "suspect") -> RunSignals:
    """Read the per-completion health signals of the run at ``root`` (see the module docstring).

    Raises:
        EvalkitError: for a missing run or an unreadable shard (naming the file), or an unknown ``loop_texts``.
    """
    if loop_texts not in ("suspect", "all", "none"):
        raise EvalkitError(f"loop check: {loop_texts!r} is not one of suspect, all, none")
    store = RunStore.open(root)
    keys = ["problem_id", "sample_idx"]
    comps = _concat(list(store.completion_batches([*keys, "finish_reason", "n_tokens"])))
    verds = _concat(list(store.verdict_batches([*keys, "passed", "status", "detail"])))
    if comps.empty or verds.empty:
        empty = pd.DataFrame({k: pd.Series(dtype=object) for k in (*keys, "passed", "n_tokens", *SIGNALS, "rule")})
        return RunSignals(empty, loop_texts, 0)
    comps = comps.drop_duplicates(keys, keep="last")
    verds = verds.drop_duplicates(keys, keep="last")  # a later verdict of a key overrides (rescoring)
    frame = comps.merge(verds, on=keys, how="inner").sort_values(keys, kind="stable").reset_index(drop=True)
    frame["truncated"] = frame["finish_reason"] == "length"
    frame["finish_unknown"] = frame["finish_reason"] == "unknown"
    frame["empty"] = frame["status"] == "empty"
    frame["rule"] = None
    passed = frame["passed"].to_numpy(dtype=bool)
    if passed.any():
        frame.loc[passed, "rule"] = [rule_of(d) for d in frame.loc[passed, "detail"]]
    frame["fallback"] = frame["rule"].isin(FALLBACK_RULES) & frame["passed"]
    frame["loops"] = False
    read = 0
    if loop_texts != "none":
        suspect = frame["truncated"] | frame["finish_unknown"]
        if loop_texts == "all":
            suspect[:] = True
        suspect &= ~frame["empty"]
        if suspect.any():
            looping, read = _looping(store, frame.loc[suspect, keys], bool((suspect | frame["empty"]).all()))
            frame["loops"] = pd.MultiIndex.from_frame(frame[keys]).isin(looping)
    frame = frame.drop(columns=["finish_reason", "status", "detail"])
    return RunSignals(frame, loop_texts, read)


def _looping(store: RunStore, wanted: pd.DataFrame, every: bool) -> tuple[set[tuple[str, int]], int]:
    """The (problem_id, sample_idx) of ``wanted`` whose text ends in a loop, and how many texts were read."""
    key_table = pa.table(
        {
            "problem_id": pa.array(wanted["problem_id"].tolist(), pa.string()),
            "sample_idx": pa.array(wanted["sample_idx"].to_numpy(dtype=np.int32), pa.int32()),
        }
    )
    pids = None if every else set(wanted["problem_id"])
    found: set[tuple[str, int]] = set()
    read = 0
    for table in store.completion_batches(["problem_id", "sample_idx", "text", "text_surrogatepass"], pids):
        if not every:
            table = table.join(key_table, keys=["problem_id", "sample_idx"], join_type="inner")
        read += table.num_rows
        ids = table.column("problem_id").to_pylist()
        idx = pc.cast(table.column("sample_idx"), pa.int64()).to_pylist()
        for pid, i, text in zip(ids, idx, texts(table), strict=True):
            if loops(text):
                found.add((pid, i))
    return found, read


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _tokens(values: np.ndarray) -> dict[str, float] | None:
    if values.size == 0 or (values <= 0).any():
        return None  # some counts unknown (imported without n_tokens): no figure rather than a wrong one
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "p95": float(np.quantile(values, 0.95)),
        "max": float(values.max()),
    }


def problem_health(signals: RunSignals) -> dict[str, dict[str, Any]]:
    """Per problem: samples, counts of each signal, passes, fallback passes, mean tokens, and its flags."""
    frame = signals.frame
    if frame.empty:
        return {}
    grouped = frame.groupby("problem_id", sort=True)
    counts = grouped[["truncated", "finish_unknown", "loops", "empty", "fallback", "passed"]].sum()
    sizes = grouped.size()
    tokens = grouped["n_tokens"].agg(["mean", "min"])
    out: dict[str, dict[str, Any]] = {}
    for pid, row in counts.iterrows():
        n = int(sizes[pid])
        passes = int(row["passed"])
        flags = [s for s in ("truncated", "loops", "empty") if int(row[s]) >= DEGENERATE_FLAG * n]
        if signals.loop_check == "none" and "loops" in flags:
            flags.remove("loops")
        if passes and int(row["fallback"]) >= FALLBACK_FLAG * passes:
            flags.append("fallback")
        out[str(pid)] = {
            "n": n,
            **{s: int(row[s]) for s in ("truncated", "finish_unknown", "loops", "empty")},
            "passes": passes,
            "fallback_passes": int(row["fallback"]),
            "tokens_mean": float(tokens.loc[pid, "mean"]) if tokens.loc[pid, "min"] > 0 else None,
            "flags": flags,
        }
    return out


def flag_rule() -> str:
    """The per-problem flag rule, in words (thresholds included)."""
    return (
        f"a problem is flagged when at least {DEGENERATE_FLAG:.0%} of its samples were cut at the token limit, "
        f"end in a loop, or are empty (each counted apart), or when at least {FALLBACK_FLAG:.0%} of its passes "
        f"(and at least one) were read by a fallback rule ({', '.join(FALLBACK_RULES)})"
    )


def run_health(signals: RunSignals, problems: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run-level shares of each signal, passes by rule, tokens per completion, and the flagged problems.

    Returns:
        ``{"completions", "rates": {signal: share}, "passes", "fallback_passes", "passes_by_rule",
        "tokens", "loop_check", "texts_read", "flagged": {problem_id: [flags]}, "flag_rule", "warnings"}``.
        A share is None where it cannot be known (``truncated`` when every finish reason is unknown,
        ``loops`` when the loop check did not run).
    """
    frame = signals.frame
    problems = problem_health(signals) if problems is None else problems
    total = len(frame)
    passes = int(frame["passed"].sum()) if total else 0
    unknown = int(frame["finish_unknown"].sum()) if total else 0
    rates: dict[str, float | None] = {
        s: _share(int(frame[s].sum()), total) for s in ("truncated", "finish_unknown", "loops", "empty")
    }
    if total and unknown == total:
        rates["truncated"] = None  # not 0: nothing says whether they were cut
    if signals.loop_check == "none":
        rates["loops"] = None
    by_rule = frame.loc[frame["passed"].astype(bool), "rule"].fillna("(other verdicts)").value_counts() if total else {}
    fallback = int(frame["fallback"].sum()) if total else 0
    warnings = []
    for key in ("truncated", "loops", "empty"):
        value = rates[key]
        if value is not None and value > RUN_WARN:
            warnings.append(f"{value:.1%} of completions {_SAID[key]}")
    if passes and fallback / passes > RUN_WARN:
        warnings.append(f"{fallback / passes:.1%} of passes were read by a fallback rule ({', '.join(FALLBACK_RULES)})")
    if total and unknown:
        warnings.append(f"finish reason unknown for {unknown / total:.1%} of completions (imported): cuts unknown")
    return {
        "completions": total,
        "rates": rates,
        "passes": passes,
        "fallback_passes": fallback,
        "fallback_share": _share(fallback, passes),
        "passes_by_rule": {str(k): int(v) for k, v in dict(by_rule).items()},
        "tokens": _tokens(frame["n_tokens"].to_numpy(dtype=np.int64)) if total else None,
        "loop_check": signals.loop_check,
        "texts_read": signals.texts_read,
        "flagged": {pid: row["flags"] for pid, row in problems.items() if row["flags"]},
        "flag_rule": flag_rule(),
        "warnings": warnings,
    }


_SAID = {"truncated": "were cut at the token limit", "loops": "end in a loop", "empty": "are empty"}


def health_of(root: Path, loop_texts: LoopTexts = "suspect") -> dict[str, Any]:
    """:func:`run_health` of the run at ``root``, with its per-problem rows under ``problems``."""
    signals = read_signals(root, loop_texts)
    problems = problem_health(signals)
    return {**run_health(signals, problems), "problems": problems}
