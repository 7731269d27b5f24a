"""What each problem's samples answered, read back from the verdicts: distinct answers, their counts and rules.

A verdict's detail names the rule that decided it and the answer it read (:mod:`evalkit.grading.answers`:
``boxed[last] after </think>: 72 (equal as numbers)``, ``answer is: 12``, ``last number: 7``, an exact-answer task's
``first line: 861`` (:func:`evalkit.tasks.exact_answer_verdict`), ``no answer: the last \\boxed{} is cut off``,
``empty completion``; a suffix ``(restated question: ...)`` or ``(not counted: ...)`` says why
a reading did not count; the comparison that decided, ``(equal as numbers)``, comes before it, and is absent
from details stored before comparisons were named, which read the same). :func:`read_detail` parses one
detail; a detail in any other form (a code task's
"3/5 tests passed", a verifier timeout, a run stored before exact-answer details named their rule) is kept as
recorded, with no answer and no rule.

:func:`problem_answers` tallies, for each problem, the distinct answers of the same samples the comparison
counted (the first ``n`` verified samples in ``sample_idx`` order, ``n`` the problem's common sample count),
each with how many samples gave it, whether it passed and the rules that read it. :func:`attach_answers`
puts these tallies on every problem row of a comparison summary (``problems[].answers``) and, for at most
:data:`DETAIL_CAP` problems, one correct and one wrong completion with the answer's place in the text
(``problems[].samples``): what a reader needs to check a verdict from the report. A detail of another form
is marked where the text holds it verbatim.

Only the verdicts' ``problem_id``, ``sample_idx``, ``passed``, ``status`` and ``detail`` columns are read
(``detail`` and ``status`` are dictionary-encoded in format 2 stores), plus the texts of the chosen samples.
Not implemented: re-reading the answer from the text (the stored detail is what decided the verdict, and it
quotes at most 80 characters of the answer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from evalkit.compare.results import RunResults
from evalkit.store import RunStore, by_problem

#: Problems that get sample texts in the summary (and a detail block in the report).
DETAIL_CAP = 200
#: Distinct answers kept per problem and model (most frequent first); the rest are counted together.
MAX_DISTINCT = 20
#: Characters of a chosen completion kept in the summary: the whole text when shorter, else the window
#: ending :data:`AFTER_MARK` characters after the answer (the text's end when no answer was found).
SAMPLE_CHARS = 2000
AFTER_MARK = 400

_RULE_RE = re.compile(
    r"(?P<rule>boxed\[(?:last|unclosed|final \d+)\]|answer is|last number|first line|no answer)"
    r"(?: (?P<region>after </think(?:ing)?>))?: (?P<rest>.*)",
    re.DOTALL | re.IGNORECASE,
)
_NOTE_RE = re.compile(r" \((?P<note>(?:restated question|not counted): [^()]*)\)$")
#: The comparison a detail ends with (:meth:`evalkit.grading.equivalence.Comparison.describe`); details
#: stored before comparisons were named end without one.
_COMPARED_RE = re.compile(r" \((?P<compared>(?:not )?equal(?: as [a-z ]+|: division by zero))\)$")


@dataclass(frozen=True)
class DetailReading:
    """One verdict detail, parsed.

    Attributes:
        answer: The answer the rule read (at most 80 characters of it, as the detail quotes it), or None.
        rule: ``boxed[last]``, ``boxed[unclosed]``, ``boxed[final N]``, ``answer is``, ``last number``,
            ``first line`` (exact-answer tasks), ``no answer``, ``empty``, or "" when the detail has another form.
        region: ``after </think>`` (or ``</thinking>``) or "".
        note: Why a reading did not count (``restated question: ...``, ``not counted: ...``), or why there is
            no answer (rule ``no answer``), or the whole detail as recorded (rule ""), else "".
        compared: The comparison that decided (``equal as numbers``, ``not equal as vectors``), or "" for a
            detail that names none (stored before comparisons were named, or no comparison was made).
    """

    answer: str | None
    rule: str
    region: str = ""
    note: str = ""
    compared: str = ""

    @property
    def label(self) -> str:
        """The rule with its region, as the verdict named it (``boxed[last] after </think>``); "as recorded"
        for a detail of another form."""
        if not self.rule:
            return "as recorded"
        return f"{self.rule} {self.region}" if self.region else self.rule


def read_detail(detail: str) -> DetailReading:
    """Parse a verdict detail written by :func:`evalkit.grading.answers.answer_verdict` (see the module
    docstring); any other detail comes back as ``DetailReading(None, "", note=detail)``.

    Examples:
        ``read_detail("boxed[last] after </think>: 72 (equal as numbers)")`` -> answer ``72``, rule
        ``boxed[last]``, region ``after </think>``, compared ``equal as numbers`` (a detail stored without the
        comparison reads the same, with compared "");
        ``read_detail("no answer: the last \\\\boxed{} is cut off")`` -> answer None, rule
        ``no answer``, note ``the last \\boxed{} is cut off``.
    """
    if detail == "empty completion":
        return DetailReading(None, "empty")
    match = _RULE_RE.fullmatch(detail)
    if match is None:
        return DetailReading(None, "", note=detail)
    rule, region, rest = match.group("rule"), match.group("region") or "", match.group("rest")
    if rule.lower() == "no answer":
        return DetailReading(None, "no answer", region, rest)
    note = _NOTE_RE.search(rest)
    note_text = ""
    if note is not None:
        rest, note_text = rest[: note.start()], note.group("note")
    compared = _COMPARED_RE.search(rest)
    if compared is not None:
        return DetailReading(rest[: compared.start()], rule, region, note_text, compared.group("compared"))
    return DetailReading(rest, rule, region, note_text)


@dataclass
class _Outcomes:
    """Per problem: the verdict code of each sample slot (-1: no verdict), and the code -> (detail, status,
    passed) table shared by all problems of a run."""

    codes: dict[str, np.ndarray]
    kinds: list[tuple[str, str, bool]]
    _readings: list[DetailReading] | None = None
    _passed: np.ndarray | None = None

    @property
    def readings(self) -> list[DetailReading]:
        """:func:`read_detail` of each kind's detail (parsed once per distinct detail)."""
        if self._readings is None or len(self._readings) != len(self.kinds):
            self._readings = [read_detail(detail) for detail, _status, _passed in self.kinds]
        return self._readings

    @property
    def passed(self) -> np.ndarray:
        """Whether each kind passed, as a bool array indexed by code."""
        if self._passed is None or self._passed.size != len(self.kinds):
            self._passed = np.array([p for _d, _s, p in self.kinds], dtype=bool)
        return self._passed

    def used(self, pid: str, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """(sample indices, codes) of the first ``upto`` verified samples, in sample_idx order."""
        row = self.codes.get(pid)
        if row is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        idx = np.flatnonzero(row >= 0)[:upto]
        return idx, row[idx]


def _read_outcomes(store: RunStore, wanted: Mapping[str, int]) -> _Outcomes:
    """The verdict codes of the problems in ``wanted`` (a later row of a key overrides, as in ``load_run``)."""
    kinds: list[tuple[str, str, bool]] = []
    index: dict[tuple[str, str, bool], int] = {}
    codes: dict[str, np.ndarray] = {}
    for table in store.verdict_batches(("problem_id", "sample_idx", "passed", "status", "detail")):
        if table.num_rows == 0:
            continue
        detail = pc.dictionary_encode(table.column("detail").combine_chunks())
        status = pc.dictionary_encode(table.column("status").combine_chunks())
        d_idx = detail.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        s_idx = status.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        passed = table.column("passed").to_numpy(zero_copy_only=False).astype(np.int64)
        n_status = max(len(status.dictionary), 1)
        local = (d_idx * n_status + s_idx) * 2 + passed
        uniq, inverse = np.unique(local, return_inverse=True)
        details, statuses = detail.dictionary.to_pylist(), status.dictionary.to_pylist()
        glob = np.empty(len(uniq), np.int64)
        for j, value in enumerate(uniq.tolist()):
            rest, p = divmod(value, 2)
            d, s = divmod(rest, n_status)
            kind = (str(details[d]), str(statuses[s]), bool(p))
            if kind not in index:
                index[kind] = len(kinds)
                kinds.append(kind)
            glob[j] = index[kind]
        code = glob[inverse.reshape(-1)]
        sample_idx = table.column("sample_idx").to_numpy(zero_copy_only=False)
        for pid, rows in by_problem(table.column("problem_id")):
            if pid not in wanted:
                continue
            top = int(sample_idx[rows].max())
            row = codes.get(pid)
            if row is None or row.size <= top:
                grown = np.full(max(top + 1, 2 * (row.size if row is not None else 0)), -1, np.int64)
                if row is not None:
                    grown[: row.size] = row
                row = codes[pid] = grown
            row[sample_idx[rows]] = code[rows]
    return _Outcomes(codes, kinds)


def _tally(outcomes: _Outcomes, codes: np.ndarray) -> dict[str, Any]:
    """The distinct answers of one problem's samples: ``rows`` (most frequent first, at most MAX_DISTINCT)
    and what was left out (``more``: distinct answers and samples)."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    uniq, counts = np.unique(codes, return_counts=True)
    for code, count in zip(uniq.tolist(), counts.tolist(), strict=True):
        _detail, status, passed = outcomes.kinds[code]
        reading = outcomes.readings[code]
        label = reading.label + (f", {reading.compared}" if reading.compared else "")
        label += "" if status == "ok" else f" [{status}]"
        if reading.note and reading.answer is not None:
            label += f" ({reading.note})"
        key: tuple[Any, ...] = (
            (reading.answer, passed) if reading.answer is not None else (None, passed, reading.rule, reading.note)
        )
        group = groups.setdefault(key, {"answer": reading.answer, "passed": passed, "count": 0, "rules": {}})
        if reading.answer is None:
            group["detail"] = reading.note or None  # why there is no answer, or the detail as recorded
        group["count"] += count
        group["rules"][label] = group["rules"].get(label, 0) + count
    rows = sorted(groups.values(), key=lambda g: (-g["count"], not g["passed"], str(g["answer"] or g.get("detail"))))
    for g in rows:
        g["rules"] = dict(sorted(g["rules"].items(), key=lambda kv: -kv[1]))
    kept, rest = rows[:MAX_DISTINCT], rows[MAX_DISTINCT:]
    return {
        "samples": int(codes.size),
        "distinct": len(rows),
        "rows": kept,
        "more": {"distinct": len(rest), "samples": sum(g["count"] for g in rest)},
    }


def problem_answers(results: RunResults, upto: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """For each problem id in ``upto``: the tally of its first ``upto[pid]`` verified samples (see the module
    docstring): ``samples``, ``distinct``, ``rows`` (``answer``, ``detail``, ``passed``, ``count``, ``rules``
    {rule: count}) and ``more``. A run whose directory is not a run store (a summary built in memory) gives {}.

    Raises:
        EvalkitError: a verdict shard is unreadable (naming it).
    """
    if not (Path(results.root) / "manifest.json").is_file():
        return {}
    outcomes = _read_outcomes(RunStore.open(results.root), upto)
    return {pid: _tally(outcomes, outcomes.used(pid, m)[1]) for pid, m in upto.items()}


def detail_problems(rows: Sequence[Mapping[str, Any]], cap: int = DETAIL_CAP) -> list[str]:
    """The ids of at most ``cap`` problems for the detail view: every RL-only and base-only problem first,
    then the others, each in summary order."""
    frontier = [r["problem_id"] for r in rows if r.get("class") in ("rl_only", "base_only")]
    rest = [r["problem_id"] for r in rows if r.get("class") not in ("rl_only", "base_only")]
    return (frontier + rest)[:cap]


def mark_of(text: str, answer: str | None, region: str = "", first: bool = False) -> tuple[int, int] | None:
    """Where ``answer`` stands in ``text``: its last occurrence (after the last ``</think>`` when the rule
    read only that region; its first with ``first``, for the ``first line`` rule of exact-answer tasks), or
    None when the text does not hold it verbatim (a normalised number, a group of boxes)."""
    if not answer:
        return None
    start = 0
    if region:
        closes = list(re.finditer(r"</think(?:ing)?>", text, re.IGNORECASE))
        start = closes[-1].end() if closes else 0
    at = text.find(answer, start) if first else text.rfind(answer, start)
    return None if at < 0 else (at, at + len(answer))


def excerpt(text: str, mark: tuple[int, int] | None) -> dict[str, Any]:
    """At most SAMPLE_CHARS characters of ``text`` around ``mark`` (see :data:`SAMPLE_CHARS`): ``text``,
    ``offset`` (characters before it), ``chars`` (the whole text's length) and ``mark`` relative to it."""
    if len(text) <= SAMPLE_CHARS:
        start, stop = 0, len(text)
    else:
        stop = min(len(text), mark[1] + AFTER_MARK) if mark else len(text)
        stop = max(stop, min(len(text), SAMPLE_CHARS))
        start = stop - SAMPLE_CHARS
    rel = None
    if mark is not None and mark[0] >= start and mark[1] <= stop:
        rel = [mark[0] - start, mark[1] - start]
    return {"text": text[start:stop], "offset": start, "chars": len(text), "mark": rel}


def _choose(outcomes: _Outcomes, pid: str, upto: int, want_pass: bool) -> tuple[int, int] | None:
    """(sample_idx, code) of a sample to show: the first correct one, or the first one giving the most
    frequent wrong answer (an extracted answer before none; on a tie, the one given first), preferring a
    sample whose verifier ran to the end over one it timed out or failed on."""
    idx, codes = outcomes.used(pid, upto)
    sel = np.flatnonzero(outcomes.passed[codes] == want_pass) if codes.size else codes
    if sel.size == 0:
        return None
    if want_pass:
        return int(idx[sel[0]]), int(codes[sel[0]])
    uniq, first, counts = np.unique(codes[sel], return_index=True, return_counts=True)
    # answer -> [samples, first position among sel, first position of a sample the verifier ran to the end]
    by_answer: dict[str | None, list[int]] = {}
    for code, at, count in zip(uniq.tolist(), first.tolist(), counts.tolist(), strict=True):
        entry = by_answer.setdefault(outcomes.readings[code].answer, [0, at, len(sel)])
        entry[0] += count
        entry[1] = min(entry[1], at)
        if outcomes.kinds[code][1] in ("ok", "truncated"):  # not a verifier timeout or error
            entry[2] = min(entry[2], at)
    _answer, (_count, at, ran) = max(by_answer.items(), key=lambda kv: (kv[0] is not None, kv[1][0], -kv[1][1]))
    j = int(sel[ran if ran < len(sel) else at])
    return int(idx[j]), int(codes[j])


def _chosen_samples(
    stores: Mapping[str, RunStore],
    outcomes: Mapping[str, _Outcomes],
    rows: Sequence[Mapping[str, Any]],
    ids: Sequence[str],
) -> dict[str, list[dict[str, Any]]]:
    """For each problem in ``ids``: one correct completion (of the model that solves it more often, RL on a
    tie) and one wrong one (of the other model when it has one), each with the answer marked."""
    by_id = {r["problem_id"]: r for r in rows}
    picks: dict[str, list[tuple[str, bool, int, int]]] = {}
    for pid in ids:
        upto, cb, cr = int(by_id[pid]["n"]), int(by_id[pid]["c_base"]), int(by_id[pid]["c_rl"])
        solver = "rl" if cr >= cb and cr > 0 else "base" if cb > 0 else None
        chosen = []
        if solver is not None:
            got = _choose(outcomes[solver], pid, upto, True)
            if got is not None:
                chosen.append((solver, True, *got))
        for model in ("base", "rl") if solver == "rl" else ("rl", "base"):
            got = _choose(outcomes[model], pid, upto, False)
            if got is not None:
                chosen.append((model, False, *got))
                break
        picks[pid] = chosen
    texts: dict[tuple[str, bool], dict[str, str]] = {}
    for model, store in stores.items():
        for passed in (True, False):
            want = {pid: idx for pid, ch in picks.items() for m, p, idx, _c in ch if m == model and p == passed}
            texts[(model, passed)] = store.texts_of(want) if want else {}
    out: dict[str, list[dict[str, Any]]] = {}
    for pid, chosen in picks.items():
        samples = []
        for model, passed, idx, code in chosen:
            text = texts[(model, passed)].get(pid)
            if text is None:
                continue
            detail, status, _p = outcomes[model].kinds[code]
            reading = outcomes[model].readings[code]
            mark = mark_of(text, reading.answer, reading.region, first=reading.rule == "first line")
            if reading.answer is None and not reading.rule and detail and (at := text.find(detail)) >= 0:
                mark = (at, at + len(detail))  # e.g. an exact-answer task's detail: the text's first line
            samples.append({"model": model, "sample_idx": idx, "passed": passed, "status": status, "detail": detail,
                            "answer": reading.answer, "rule": reading.label, **excerpt(text, mark)})  # fmt: skip
        out[pid] = samples
    return out


def attach_answers(summary: dict[str, Any], base: RunResults, rl: RunResults, cap: int = DETAIL_CAP) -> None:
    """Add ``answers`` ({"base": tally, "rl": tally}, see :func:`problem_answers`) to every problem row of
    ``summary``, ``samples`` (see the module docstring) to the rows of :func:`detail_problems`, and
    ``summary["answers"]`` saying what was kept. A summary whose runs are not run stores on disk is left
    unchanged.

    Raises:
        EvalkitError: a shard is unreadable (naming it).
    """
    rows = [r for r in summary.get("problems", []) if isinstance(r, dict)]
    runs = {"base": base, "rl": rl}
    if not rows or not all((Path(r.root) / "manifest.json").is_file() for r in runs.values()):
        return
    upto = {r["problem_id"]: int(r["n"]) for r in rows}
    stores = {m: RunStore.open(r.root) for m, r in runs.items()}
    outcomes = {m: _read_outcomes(store, upto) for m, store in stores.items()}
    ids = detail_problems(rows, cap)
    samples = _chosen_samples(stores, outcomes, rows, ids)
    for r in rows:
        pid = r["problem_id"]
        r["answers"] = {m: _tally(outcomes[m], outcomes[m].used(pid, upto[pid])[1]) for m in runs}
        if pid in samples:
            r["samples"] = samples[pid]
    summary["answers"] = {
        "detail_problems": len(ids),
        "detail_cap": cap,
        "problems": len(rows),
        "max_distinct": MAX_DISTINCT,
        "sample_chars": SAMPLE_CHARS,
        "source": "verdict details (the rule and the answer the verifier recorded) of the samples counted",
    }


__all__ = [
    "DETAIL_CAP",
    "DetailReading",
    "attach_answers",
    "detail_problems",
    "excerpt",
    "mark_of",
    "problem_answers",
    "read_detail",
]
