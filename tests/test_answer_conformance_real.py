"""The real-output conformance table: published model completions, each labelled by reading it.

``tests/data/answer_conformance_real.jsonl`` (and ``answer_conformance_real_heldout.jsonl``, whole problems
kept apart from the main table, split by question) hold one row per line: ``id``, ``kind``, ``family``
(``math-cot``: Qwen2.5-Math-7B-Instruct on MATH, 8 samples per problem; ``gsm8k-tora``: ToRA-70B and
ToRA-Code-34B with tool output; ``gsm8k-gpt3``: the GPT-3 6B/175B solutions published with GSM8K;
``gsm8k-r1zero``: Qwen2.5-Math-1.5B with an r1-zero prompt, annotated by its publisher; ``gsm8k-zscot``
and ``aqua-zscot``: GPT-3 (text-davinci-002) zero-shot chain of thought, "the answer (arabic numerals) is";
``humaneval``:
CodeLlama-34B-Instruct, GPT-3.5 and GPT-4 runs; ``math-minerva``: Minerva 540B on MATH, the samples its
authors published with their own correct / incorrect marks (points, intervals, matrices, vectors, root
lists, grouped digits); in the held-back file also ``bug-report``: the pairs of
public bug reports of other graders, boxed as a model would write them, and ``math-tora``:
a GPT-4 trajectory of the ToRA corpus examples with a polar-coordinate answer), ``source``
(``owner/repo@commit:path#where``, or the bug report's address), ``reference``, ``completion``, ``prompt``
(the question), ``finish_reason`` (``unknown``: no source records one), the expected ``passed`` and the
``reason`` a careful grader gives. Code rows hold ``entry_point``, ``tests`` (HumanEval's ``check``) and
``source_verdict`` (what the publishing harness recorded). A row with ``known_miss`` is one where evalkit's
verdict is not the label; it is kept, with the reason, and expected to fail (strict: a fix shows).

The answer rows are judged as a run judges them (:func:`evalkit.grading.answers.answer_verdict` with the
question, then :func:`evalkit.verify.with_finish_reason`); a sample of them also goes through
``evalkit import``: the stored verdicts and ``summary --json`` (finish reasons unknown). The code rows run in
evalkit's sandbox.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evalkit.grading.answers import answer_verdict
from evalkit.grading.extraction import last_new_number
from evalkit.grading.programs import extract_program
from evalkit.grading.sandbox import run_tests
from evalkit.grading.spans import number_from_words, sum_result, two_units
from evalkit.store import RunStore
from evalkit.verify.stage import with_finish_reason

DATA = Path(__file__).parent / "data"


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


MAIN = load("answer_conformance_real.jsonl")
HELD = load("answer_conformance_real_heldout.jsonl")
ROWS = MAIN + HELD
ANSWER_ROWS = [row for row in ROWS if row["family"] != "humaneval"]
CODE_ROWS = [row for row in ROWS if row["family"] == "humaneval"]
SOURCE_RE = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{12}:\S+#\S+$|^https://github\.com/[\w.-]+/[\w.-]+/issues/\d+$")
RULES = ("boxed[last]", "boxed[unclosed]", "boxed[final", "answer is", "last number", "last new number")


def param(row: dict[str, Any]) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=row["known_miss"])] if row.get("known_miss") else []
    return pytest.param(row, id=row["id"], marks=marks)


def test_the_tables_are_large_sourced_and_labelled() -> None:
    assert len(MAIN) >= 300 and len(HELD) >= 50
    assert sum(row["family"] == "bug-report" for row in HELD) >= 20
    assert len({row["id"] for row in ROWS}) == len(ROWS)
    assert all(SOURCE_RE.match(row["source"]) and row["reason"].strip() for row in ROWS)
    assert all(isinstance(row["passed"], bool) and row["finish_reason"] == "unknown" for row in ROWS)
    families = Counter(row["family"] for row in MAIN)
    assert len(families) == 8 and min(families.values()) >= 10, families
    assert len(MAIN) // 3 <= sum(row["passed"] for row in MAIN) <= 2 * len(MAIN) // 3
    # held-back rows are whole problems the main table does not have
    main_problems = {row["prompt"] for row in MAIN}
    assert not any(row["prompt"] in main_problems for row in HELD)


@pytest.mark.parametrize("row", [param(row) for row in ANSWER_ROWS])
def test_real_answer_row(row: dict[str, Any]) -> None:
    verdict = answer_verdict(row["reference"], row["completion"], prompt=row["prompt"])
    verdict = with_finish_reason(verdict, row["finish_reason"])
    assert verdict.detail.startswith(RULES) or verdict.detail.startswith("no answer"), verdict.detail
    assert verdict.passed is row["passed"], f"{row['reason']}: {verdict.detail}"


@pytest.mark.parametrize("row", [param(row) for row in CODE_ROWS])
def test_real_code_row(row: dict[str, Any]) -> None:
    program = extract_program(row["completion"], row["entry_point"])
    result = run_tests(program, row["tests"], row["entry_point"], prompt=row["prompt"])
    assert result.confirmed is row["passed"], f"{row['reason']}: {result.status} {result.stderr[-300:]}"


def test_a_last_number_that_restates_a_given_gives_way_to_the_new_one() -> None:
    question = "Jean has 30 lollipops and eats 2. She packs 2 lollipops in one bag. How many bags can she fill?"
    assert last_new_number("So Jean can fill 14 bags with 2 lollipops in each bag.", question) == "14"
    assert last_new_number("Three trucks carry the 80 stones.", "How many trucks carry 80 stones?") == "3"
    assert last_new_number("So she has 14 bags.", question) is None  # the last number is new: it stands
    assert last_new_number("She eats 2.", question) is None  # every number restates the question
    assert last_new_number("She eats 2, then 5.\nShe packs 2 in one bag.", question) is None  # one sentence only


def test_answer_spans_in_words_sums_and_two_units() -> None:
    assert number_from_words("two hundred fifty-five.") == "255"
    assert number_from_words("One hundred and eighty") == "180"
    assert number_from_words("one hundred thirty thousand people") == "130000"
    assert number_from_words('"nine."') == "9" and number_from_words("fifty-two") == "52"
    assert number_from_words("one of the roots is 4") is None  # words before the number, and a digit
    assert number_from_words("twice fifty") is None
    assert sum_result("$2200 - $1980 = $220.") == "220" and sum_result("76,000 + 53,200 = 129,200") == "129200"
    assert sum_result("3 + 2x = 21") is None and sum_result("x = 5") is None
    assert two_units(" hours and 30 minutes.") and not two_units(" apples and pears")
    verdict = answer_verdict(
        "255", "So he pays that.\nTherefore, the answer (arabic numerals) is two hundred fifty-five."
    )
    assert verdict.passed and verdict.detail == "answer is: two hundred fifty-five (= 255) (equal as text)"
    assert not answer_verdict("4", "Therefore, the answer (arabic numerals) is 4 hours and 30 minutes.").passed
    assert not answer_verdict("A", "Therefore, among A through E, the answer is A, B, C, D, or E.").passed
    worked = "Therefore, the answer (arabic numerals) is \n\n50 + 30 = 80 \n\n80/2 = 40 \n\nHe saw 40 birds a day."
    # the working after the phrase concludes
    assert answer_verdict("40", worked).detail == "last number: 40 (equal as text)"


@pytest.mark.slow
def test_imported_real_completions_store_the_careful_verdicts(tmp_path: Path) -> None:
    """A sample of answer rows through ``evalkit import`` (no finish reason: recorded as unknown)."""
    sample = [row for row in ANSWER_ROWS if not row.get("known_miss")][::12][:30]
    assert {row["passed"] for row in sample} == {True, False}
    folder = tmp_path / "tasks"
    folder.mkdir()
    records = [{"problem_id": f"p{i}", "prompt": r["prompt"], "answer": r["reference"]} for i, r in enumerate(sample)]
    (folder / "real.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    samples = tmp_path / "samples.jsonl"
    lines = [{"problem_id": f"real:p{i}", "completion": r["completion"]} for i, r in enumerate(sample)]
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "evalkit", "import", str(samples), "-t", "real", "--tasks-dir", str(folder)]
    result = subprocess.run([*cmd, "--out", str(run)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    stored = RunStore.open(run).verdicts()
    for i, row in enumerate(sample):
        verdict = stored[(f"real:p{i}", 0)]
        assert verdict.passed is row["passed"], f"{row['id']}: {row['reason']}: {verdict.detail}"
    summary = subprocess.run(
        [sys.executable, "-m", "evalkit", "summary", str(run), "--json"], capture_output=True, text=True, timeout=300
    )
    assert summary.returncode == 0, summary.stderr
    report = json.loads(summary.stdout)
    assert report["rates"]["finish_unknown"] == 1.0  # no finish reason in the file: unknown, never "stop"
    solved = {problem["problem_id"]: problem["c"] for problem in report["problems"]}
    assert solved == {f"real:p{i}": int(row["passed"]) for i, row in enumerate(sample)}
    assert report["tasks"]["real"]["pass_at_k"]["1"] == pytest.approx(sum(r["passed"] for r in sample) / len(sample))
