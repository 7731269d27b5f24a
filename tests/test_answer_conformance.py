"""The answer conformance table: hand-labelled (reference, completion, verdict) rows, one reason each.

``tests/data/answer_conformance.jsonl`` holds one row per line: ``id``, ``kind`` (think, truncation,
multibox, span, magnitude, format, percent, units, sets, minus, thousands, choice, text, empty, strict,
plain, matrix, grouped, time, money, gsm8k, aime, interval, degenerate, restated, equiv, code), ``reference``,
``completion``, optionally ``prompt`` (the question, for restated answers), ``finish_reason`` (default
``stop``; also ``length`` and ``unknown``), ``think`` (default ``strip``) and ``strict`` (default false),
the expected ``passed`` and ``status`` (default ``ok``), and the ``reason`` a grader would give. Every row
is judged as a run judges it: the final-answer verdict, then the finish reason
(:func:`evalkit.verify.with_finish_reason`). Rows of kind ``code`` hold an ``entry_point`` and ``tests``
(asserts) instead: the program :func:`evalkit.grading.programs.extract_program` reads must pass them
exactly when ``passed`` (run here directly: the rows are this table's own text, not model output).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evalkit.grading.answers import answer_verdict
from evalkit.grading.programs import extract_program
from evalkit.verify.stage import with_finish_reason

TABLE = Path(__file__).parent / "data" / "answer_conformance.jsonl"
ROWS: list[dict[str, Any]] = [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines()]
KINDS = {"think", "truncation", "multibox", "span", "magnitude", "format", "percent", "units", "sets", "minus"}
KINDS |= {"thousands", "choice", "text", "empty", "strict", "plain"}
KINDS |= {"matrix", "grouped", "time", "money", "gsm8k", "aime", "interval", "degenerate", "restated", "equiv"}
KINDS |= {"code"}


def test_the_table_is_large_labelled_and_covers_every_kind() -> None:
    assert len(ROWS) >= 300
    assert len({row["id"] for row in ROWS}) == len(ROWS)
    assert all(row["reason"].strip() and isinstance(row["passed"], bool) for row in ROWS)
    counts = Counter(row["kind"] for row in ROWS)
    assert set(counts) == KINDS and min(counts.values()) >= 5, counts
    assert sum(row["passed"] for row in ROWS) >= len(ROWS) // 3  # both verdicts well represented
    assert sum(not row["passed"] for row in ROWS) >= len(ROWS) // 3


def code_passes(program: str, tests: list[str]) -> bool:
    """Whether the program and every assert run without an exception (the rows are the table's own text)."""
    namespace: dict[str, Any] = {}
    try:
        exec(compile(program, "<program>", "exec"), namespace)
        for test in tests:
            exec(test, namespace)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_conformance_row(row: dict[str, Any]) -> None:
    if row["kind"] == "code":
        program = extract_program(row["completion"], row["entry_point"])
        assert code_passes(program, row["tests"]) is row["passed"], f"{row['reason']}: {program!r}"
        return
    verdict = answer_verdict(
        row["reference"],
        row["completion"],
        think=row.get("think", "strip"),
        strict=row.get("strict", False),
        prompt=row.get("prompt", ""),
    )
    verdict = with_finish_reason(verdict, row.get("finish_reason", "stop"))
    expected = (row["passed"], row.get("status", "ok"))
    assert (verdict.passed, verdict.status) == expected, f"{row['reason']}: {verdict.detail}"
