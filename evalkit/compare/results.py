"""What a run says, read back from its store: per-problem counts, pass@k per task, status rates.

Only the store is read (never live objects), so a summary can be rebuilt from a run directory alone.
A completion without a verdict is not counted; :func:`load_run` says how many there are.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from evalkit.compare.selection import Selection
from evalkit.errors import EvalkitError
from evalkit.stats import pass_at_k, powers_of_two, problem_mean_ci
from evalkit.stats.adaptive import AdaptiveRule, adaptive_pass_at_k, rule_of
from evalkit.store import RunStore, by_problem
from evalkit.types import STATUSES, Problem


@dataclass
class RunResults:
    """Per-problem outcomes of one run.

    Attributes:
        passed: For each problem id, the verdicts' ``passed`` in sample_idx order.
        example: For each problem id, one correct completion (the lowest sample_idx), if any (read from the
            store on first use).
        unverified: Completions stored without a verdict (not counted anywhere).
        stored: For each problem id with completions, how many are stored (verified or not).
        unverified_problems: Problems with at least one completion without a verdict.
        prefix: For each problem id, how many of the first samples (0, 1, ...) have a verdict with no gap:
            ``passed[pid][:prefix[pid]]`` are samples 0 .. prefix - 1 (what an ``--adaptive`` rule reads).
        rates: Fraction of verified completions per status, plus "truncated" (finish reason "length") and
            "finish_unknown" (no finish reason recorded: imported without one) from finish reasons.
    """

    root: Path
    manifest: dict[str, Any]
    problems: list[Problem]
    passed: dict[str, np.ndarray]
    example: Mapping[str, str]
    unverified: int
    rates: dict[str, float] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    unverified_problems: int = 0
    prefix: dict[str, int] = field(default_factory=dict)  # verified samples 0 .. prefix - 1 (no gap), per problem

    @functools.cached_property
    def rule(self) -> AdaptiveRule | None:
        """The ``--adaptive`` stopping rule the manifest records, or None for a fixed-n run."""
        return rule_of(self.manifest, str(self.root / "manifest.json"))

    def budget(self, pid: str) -> int:
        """The samples per problem the run stands for: drawn samples for a fixed-n run, the rule's cap n for an
        ``--adaptive`` run (whatever it drew: a problem stopped early is solved within n, one never solved was
        drawn to n). A comparison cuts both runs to the smaller budget of each problem."""
        rule = self.rule
        return self.n(pid) if rule is None else rule.n

    def outcome(self, pid: str, m: int) -> tuple[int, int, bool]:
        """What the estimators read of a problem's first ``m`` samples: (T, S, reached).

        Fixed-n run: (m, successes among the first m, False). ``--adaptive`` run: the rule "stop at R successes
        or at m samples" replayed on its verified samples 0, 1, ...: (T, R, True) when the R-th success is
        sample T <= m, else (m, successes among the first m, False). The samples after T that a stage drew are
        not read, so (T, S) is exactly the capped inverse-binomial statistic of
        :mod:`evalkit.stats.adaptive` (with cap m <= the rule's n), whatever the stage sizes.

        Raises:
            EvalkitError: when an adaptive problem has neither R successes nor m verified samples in a row.
        """
        rule = self.rule
        arr = self.passed.get(pid, np.zeros(0, dtype=bool))
        if rule is None:
            return m, int(arr[:m].sum()), False
        seen = arr[: min(self.prefix.get(pid, 0), m)]
        hits = np.flatnonzero(seen)
        if hits.size >= rule.successes:
            return int(hits[rule.successes - 1]) + 1, rule.successes, True
        if seen.size < m:
            raise EvalkitError(
                f"{self.root}: problem {pid} is still being sampled under --adaptive ({seen.size} of {m} samples, "
                f"{hits.size} of R = {rule.successes} correct); rerun the same `evalkit sample` command to finish"
            )
        return m, int(hits.size), False

    def hits(self, pid: str, m: int) -> int:
        """Successes the estimators read among the first ``m`` samples (S of :meth:`outcome`); >= 1 exactly when
        the problem is solved within m samples."""
        return self.outcome(pid, m)[1]

    def trials(self, pid: str, m: int) -> int:
        """Samples the estimators read among the first ``m`` (T of :meth:`outcome`: m for a fixed-n run)."""
        return self.outcome(pid, m)[0]

    def n(self, pid: str) -> int:
        return int(self.passed[pid].size) if pid in self.passed else 0

    def c(self, pid: str, upto: int | None = None) -> int:
        arr = self.passed.get(pid, np.zeros(0, dtype=bool))
        return int(arr[:upto].sum()) if upto is not None else int(arr.sum())

    def label(self) -> str:
        return str(self.manifest.get("identity", {}).get("model", self.root))


_NO_VERDICT = 255
_PASS_BIT = 0x80  # a verdict's code: its status's index in STATUSES, plus this bit when it passed
_FINISH_UNKNOWN = 2  # a completion's finish flag: 0 stop, 1 length, 2 unknown


class Examples(Mapping[str, str]):
    """Problem id -> the text of its correct completion with the lowest sample_idx, read on first use.

    Only the texts shown are read: one pass over the completions of the solved problems (in format 2, the
    row groups holding none of them are skipped), the first time an entry is asked for.
    """

    def __init__(self, store: RunStore, first: dict[str, int]) -> None:
        self._store = store
        self._first = first
        self._texts: dict[str, str] | None = None

    def _load(self) -> dict[str, str]:
        if self._texts is None:
            self._texts = self._store.texts_of(self._first)
        return self._texts

    def __getitem__(self, pid: str) -> str:
        return self._load()[pid]

    def __contains__(self, pid: object) -> bool:
        return pid in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def load_run(root: Path, selection: Selection | None = None, adaptive_ok: bool = False) -> RunResults:
    """Read a run directory into per-problem arrays.

    A run sampled with ``--adaptive`` (samples per problem set by a stopping rule) is refused unless
    ``adaptive_ok``: its counts are not n samples per problem, and only :func:`summarize` (through
    :mod:`evalkit.compare.adaptive_summary`) reads them with the estimator that applies.

    Only the columns a summary needs are read (verdicts: problem_id, sample_idx, passed, status;
    completions: problem_id, sample_idx, finish_reason), one shard at a time, grouped by problem with
    Arrow and numpy (one Python step per problem and shard, none per sample). Completion text is read
    only when :attr:`RunResults.example` is first used. Memory holds three bytes per sample slot
    (verdict code, stored flag, truncation flag) plus the per-problem ``passed`` arrays: about 40 MiB for
    10M samples, and nothing per Python object.

    With a ``selection`` (``--task``, ``--problem``; :mod:`evalkit.compare.selection`) the result holds only
    the selected problems, and its counts and rates are theirs.

    Raises:
        EvalkitError: for a missing run or an unreadable shard (naming the file), or a selected task or
            problem the run does not hold.
    """
    store = RunStore.open(root)
    manifest = store.manifest()
    if not adaptive_ok and manifest.get("identity", {}).get("adaptive") is not None:
        raise EvalkitError(
            f"{root}: sampled with --adaptive (samples per problem set by a stopping rule); this command reads "
            "fixed-n runs only (`evalkit summary` reads both); sample a fixed-n run for it"
        )
    problems = scoped_problems(manifest, store.problems())
    kept = None
    if selection:
        problems = selection.apply(Path(root), problems)
        kept = {p.id for p in problems}
    status_code = {s: i for i, s in enumerate(STATUSES)}
    codes: dict[str, np.ndarray] = {}
    for table in store.verdict_batches(("problem_id", "sample_idx", "passed", "status")):
        idx = table.column("sample_idx").to_numpy()
        status = pc.dictionary_encode(table.column("status").combine_chunks())
        lookup = np.array([status_code[s] for s in status.dictionary.to_pylist()], dtype=np.uint8)
        code = lookup[status.indices.to_numpy(zero_copy_only=False)] if len(lookup) else np.zeros(0, np.uint8)
        code |= np.where(table.column("passed").to_numpy(zero_copy_only=False), _PASS_BIT, 0).astype(np.uint8)
        for pid, rows in by_problem(table.column("problem_id")):
            _grow(codes, pid, int(idx[rows].max()), _NO_VERDICT)[idx[rows]] = code[rows]  # later rows win
    stored: dict[str, np.ndarray] = {}
    cut: dict[str, np.ndarray] = {}
    for table in store.completion_batches(("problem_id", "sample_idx", "finish_reason")):
        idx = table.column("sample_idx").to_numpy()
        finish = table.column("finish_reason")
        length = pc.equal(finish, "length").to_numpy(zero_copy_only=False).astype(np.uint8)
        length[pc.equal(finish, "unknown").to_numpy(zero_copy_only=False)] = _FINISH_UNKNOWN
        for pid, rows in by_problem(table.column("problem_id")):
            top = int(idx[rows].max())
            _grow(stored, pid, top, 0)[idx[rows]] = 1
            _grow(cut, pid, top, 0)[idx[rows]] = length[rows]  # 0 stop, 1 length, _FINISH_UNKNOWN unknown
    passed: dict[str, np.ndarray] = {}
    first: dict[str, int] = {}
    status_counts = np.zeros(len(STATUSES), dtype=np.int64)
    unverified = truncated = finish_unknown = unverified_problems = 0
    stored_n: dict[str, int] = {}
    prefix: dict[str, int] = {}
    for pid, flags in stored.items():
        if kept is not None and pid not in kept:
            continue
        pid_codes = codes.get(pid, np.zeros(0, dtype=np.uint8))
        aligned = np.full(flags.size, _NO_VERDICT, dtype=np.uint8)
        aligned[: min(flags.size, pid_codes.size)] = pid_codes[: flags.size]
        has = (flags == 1) & (aligned != _NO_VERDICT)
        stored_n[pid] = int(np.count_nonzero(flags == 1))
        missing = stored_n[pid] - int(np.count_nonzero(has))
        unverified += missing
        unverified_problems += missing > 0
        indices = np.flatnonzero(has)
        if indices.size == 0:
            continue
        outcome = aligned[indices]
        passed[pid] = (outcome & _PASS_BIT) != 0
        gaps = np.flatnonzero(indices != np.arange(indices.size))
        prefix[pid] = int(gaps[0]) if gaps.size else int(indices.size)
        truncated += int(np.count_nonzero(cut[pid][indices] == 1))
        finish_unknown += int(np.count_nonzero(cut[pid][indices] == _FINISH_UNKNOWN))
        status_counts += np.bincount(outcome & (_PASS_BIT - 1), minlength=len(STATUSES))[: len(STATUSES)]
        if passed[pid].any():
            first[pid] = int(indices[np.argmax(passed[pid])])
    total = sum(a.size for a in passed.values())
    counts = dict(zip(STATUSES, (int(x) for x in status_counts), strict=True))
    rates = {s: (counts[s] / total if total else 0.0) for s in ("empty", "timeout", "error")}
    rates["truncated"] = truncated / total if total else 0.0
    rates["finish_unknown"] = finish_unknown / total if total else 0.0
    return RunResults(
        Path(root),
        manifest,
        problems,
        passed,
        Examples(store, first),
        unverified,
        rates,
        stored_n,
        unverified_problems,
        prefix,
    )


def pass_table(results: RunResults, problems: list[Problem], ks: list[int], upto: Mapping[str, int]) -> np.ndarray:
    """Unbiased per-problem pass@k, shape (problems, ks), each problem read to its sample count ``upto[pid]``.

    A fixed-n run gives Chen et al.'s estimator on its first ``upto`` samples; an ``--adaptive`` run gives the
    estimator of its rule capped at ``upto`` (:func:`evalkit.stats.adaptive.adaptive_pass_at_k` on
    :meth:`RunResults.outcome`), unbiased for every k <= upto and in [0, 1], so intervals and paired tests over
    problems apply to both alike. Entries with k > upto are NaN (fixed n) or as the estimator says.

    Raises:
        EvalkitError: when an adaptive problem is still being sampled.
    """
    rule = results.rule
    outcomes = np.array([results.outcome(p.id, upto[p.id]) for p in problems], dtype=np.int64).reshape(-1, 3)
    k = np.array(ks)[None, :]
    if rule is None:
        return pass_at_k(outcomes[:, 0:1], outcomes[:, 1:2], k)
    return adaptive_pass_at_k(outcomes[:, 0:1], outcomes[:, 1:2], outcomes[:, 2:3].astype(bool), rule.successes, k)


def _value_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def scoped_problems(manifest: Mapping[str, Any], problems: list[Problem]) -> list[Problem]:
    """``problems`` with ``task`` set to their scope: the task name, or, for a task the run holds in more
    than one configuration, its spec with the parameters that tell them apart (``add@digits=2``,
    ``add@digits=4``), so that every summary row, comparison row and gate check covers one configuration.

    A generated problem's id carries its configuration's hash (``add-<hash>-s0-00000``), which is matched
    against the configurations the manifest lists.
    """
    from evalkit.tasks.registry import config_hash

    tasks = manifest.get("identity", {}).get("tasks") or []
    configs: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for entry in tasks:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("params"), dict):
            configs[entry["name"]][json.dumps(entry["params"], sort_keys=True)] = entry["params"]
    prefixes: dict[str, str] = {}
    for name, distinct in configs.items():
        if len(distinct) < 2:
            continue
        keys = sorted({k for params in distinct.values() for k in params})
        differing = [k for k in keys if len({json.dumps(p.get(k), sort_keys=True) for p in distinct.values()}) > 1]
        for params in distinct.values():
            label = name + "@" + ",".join(f"{k}={_value_text(params.get(k))}" for k in differing)
            prefixes[f"{name}-{config_hash(name, params)}-"] = label
    if not prefixes:
        return problems
    out = []
    for problem in problems:
        scope = next((label for prefix, label in prefixes.items() if problem.id.startswith(prefix)), None)
        out.append(problem if scope is None else dataclasses.replace(problem, task=scope))
    return out


def _evalkit_command(recorded: str) -> str:
    """The recorded command line with its program as the user types it (``/venv/bin/evalkit sample ...`` or
    ``.../evalkit/__main__.py sample ...`` -> ``evalkit sample ...``); empty when it was not an evalkit command."""
    program, _, rest = recorded.strip().partition(" ")
    if Path(program).name == "evalkit" or program.endswith(("evalkit/__main__.py", "evalkit")):
        return f"evalkit {rest}".strip()
    return ""


def incompleteness(results: RunResults) -> dict[str, Any] | None:
    """What a run lacks, or None when it is complete: problems without samples, problems with fewer
    samples than the run's n, completions without a verdict, and the command that finishes them.

    The returned dict (JSON-ready) has ``run``, ``problems``, ``unsampled``, ``short``, ``unverified``,
    ``unverified_problems``, ``n`` (the run's samples per problem, None when not recorded), ``fix`` (the
    command to run) and ``message`` (one sentence saying all of it).
    """
    n = results.manifest.get("info", {}).get("n")
    n = int(n) if isinstance(n, int) and n > 0 else None
    if results.manifest.get("identity", {}).get("backend") == "replay":
        n = None  # an import holds as many samples of each problem as its file did
    counts = [results.stored.get(p.id, 0) for p in results.problems]
    unsampled = sum(1 for c in counts if c == 0)
    short = sum(1 for c in counts if c > 0 and n is not None and c < n)
    rule = results.rule
    if rule is not None:  # --adaptive: short = not yet stopped by the rule (R successes or n samples)
        empty = np.zeros(0, dtype=bool)
        short = sum(
            1
            for p, c in zip(results.problems, counts, strict=True)
            if c > 0 and not rule.decide(results.passed.get(p.id, empty)[: results.prefix.get(p.id, 0)]).done
        )
    if not (unsampled or short or results.unverified):
        return None
    command = _evalkit_command(str(results.manifest.get("info", {}).get("command") or ""))
    made = f"the `evalkit sample` command that made {results.root}"
    rerun = f"`{command}`" if command.startswith("evalkit ") else made
    fixes = []
    if unsampled or short:
        fixes.append(f"rerun {rerun} (it resumes)")
    if results.unverified:
        fixes.append(f"run `evalkit score {results.root}`")
    lacks = []
    total = len(results.problems)
    if unsampled:
        lacks.append(f"{unsampled} of {total} problems have no samples")
    if short:
        lacks.append(
            f"{short} of {total} problems have fewer than n = {n} samples"
            if rule is None
            else f"{short} of {total} problems are still being sampled under --adaptive"
        )
    if results.unverified:
        lacks.append(f"{results.unverified} completions of {results.unverified_problems} problems have no verdict")
    fix = " then ".join(fixes)
    return {
        "run": str(results.root),
        "problems": total,
        "unsampled": unsampled,
        "short": short,
        "unverified": results.unverified,
        "unverified_problems": results.unverified_problems,
        "n": n,
        "fix": fix,
        "message": f"{results.root} is not finished: {'; '.join(lacks)}. To finish it, {fix}.",
    }


def _grow(table: dict[str, np.ndarray], pid: str, idx: int, fill: int) -> np.ndarray:
    """``table[pid]`` (uint8), created or extended (with ``fill``) so that ``idx`` is a valid index."""
    row = table.get(pid)
    if row is None:
        row = table[pid] = np.full(max(idx + 1, 1024), fill, dtype=np.uint8)
    elif idx >= row.size:
        grown = np.full(max(idx + 1, 2 * row.size), fill, dtype=np.uint8)
        grown[: row.size] = row
        row = table[pid] = grown
    return row


def _bucket(problem: Problem) -> str | None:
    bucket = problem.meta.get("bucket") if isinstance(problem.meta, dict) else None
    return str(bucket) if bucket is not None else None


def task_table(
    results: RunResults, problems: list[Problem], ks: list[int], upto: int | None = None
) -> dict[str, float | None]:
    """Mean pass@k over ``problems`` for each k (None where some problem has fewer than k samples)."""
    if not problems:
        raise EvalkitError(f"{results.root}: no problems selected")
    n = np.array([min(results.n(p.id), upto) if upto else results.n(p.id) for p in problems])
    c = np.array([results.c(p.id, upto) for p in problems])
    table: dict[str, float | None] = {}
    for k in ks:
        if n.min() < max(k, 1):
            table[str(k)] = None
        else:
            table[str(k)] = float(np.mean(pass_at_k(n, c, k)))
    return table


def _task_intervals(
    results: RunResults, problems: list[Problem], ks: list[int], confidence: float
) -> dict[str, list[float] | None]:
    """Interval over problems of mean pass@k, per k (None with fewer than two problems), by
    :func:`evalkit.stats.problem_mean_ci` (exact where every value is 0 or 1, betting with few problems, the
    studentized bootstrap otherwise)."""
    if len(problems) < 2:
        return {str(k): None for k in ks}
    n = np.array([results.n(p.id) for p in problems])
    c = np.array([results.c(p.id) for p in problems])
    table = pass_at_k(n[:, None], c[:, None], np.array(ks)[None, :])
    cis = problem_mean_ci(table, confidence, seed=0)
    return {str(k): [float(lo), float(hi)] for k, (_e, lo, hi, _m) in zip(ks, cis, strict=True)}


def _task_methods(results: RunResults, problems: list[Problem], ks: list[int]) -> dict[str, str | None]:
    """The method of each interval of :func:`_task_intervals`."""
    if len(problems) < 2:
        return {str(k): None for k in ks}
    n = np.array([results.n(p.id) for p in problems])
    c = np.array([results.c(p.id) for p in problems])
    cis = problem_mean_ci(pass_at_k(n[:, None], c[:, None], np.array(ks)[None, :]))
    return {str(k): m for k, (*_v, m) in zip(ks, cis, strict=True)}


def summarize(results: RunResults, confidence: float = 0.95, allow_partial: bool = False) -> dict[str, Any]:
    """The JSON of ``evalkit summary``: pass@k per task and k with bootstrap intervals over problems, and
    per-problem (n, c). Each task row has ``samples_drawn`` (verified samples of its problems); a run sampled
    with ``--adaptive`` is summarised by :func:`evalkit.compare.adaptive_summary.summarize_adaptive`.

    Raises:
        EvalkitError: when a problem has no verified sample, unless ``allow_partial`` (then such problems are
            left out, and a task with none left is left out).
    """
    if results.manifest.get("identity", {}).get("adaptive") is not None:
        from evalkit.compare.adaptive_summary import summarize_adaptive

        return summarize_adaptive(results, confidence)
    by_task: dict[str, list[Problem]] = defaultdict(list)
    for p in results.problems:
        if allow_partial and results.n(p.id) == 0:
            continue
        by_task[p.task].append(p)
    tasks = {}
    for task, probs in sorted(by_task.items()):
        ns = [results.n(p.id) for p in probs]
        if min(ns) == 0:
            missing = sum(1 for x in ns if x == 0)
            raise EvalkitError(
                f"{results.root}: {missing} problem(s) of task {task} have no verified samples; "
                "rerun the same `evalkit sample` command to finish, or `evalkit score`. Or pass --allow-partial "
                "to summarise the problems it finished."
            )
        ks = powers_of_two(min(ns))
        tasks[task] = {
            "n_problems": len(probs),
            "n_min": min(ns),
            "n_max": max(ns),
            "samples_drawn": sum(ns),
            "pass_at_k": task_table(results, probs, ks),
            "pass_at_k_ci": _task_intervals(results, probs, ks, confidence),
            "pass_at_k_ci_method": _task_methods(results, probs, ks),
            "confidence": confidence,
        }
    return {
        "run": str(results.root),
        "model": results.label(),
        "fingerprint": results.manifest.get("fingerprint"),
        **_settings(results.manifest.get("identity", {})),
        "unverified": results.unverified,
        "rates": results.rates,
        "tasks": tasks,
        "problems": [
            {"problem_id": p.id, "task": p.task, "n": results.n(p.id), "c": results.c(p.id)} for p in results.problems
        ],
    }


def _settings(identity: Mapping[str, Any]) -> dict[str, Any]:
    """How the run's completions were made, as its manifest records them: ``sampling``, ``seed``,
    ``prompt_format`` (null where an import did not state them) and ``unknown_settings`` (their names)."""
    from evalkit.sampling.provenance import manifest_unknown

    return {
        "sampling": identity.get("sampling"),
        "seed": identity.get("seed"),
        "prompt_format": identity.get("prompt_format", "raw"),
        "unknown_settings": manifest_unknown(identity),
    }
