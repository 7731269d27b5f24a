"""User task folders (--tasks-dir): answer and code files load; bad inputs are clear errors naming the file,
line, problem id and field (BAD_INPUTS 2-4); spawned workers verify user tasks from the Problem alone."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import EvalkitError
from evalkit.tasks import TaskSpec, get_family, make_problems, registry, task_names
from evalkit.tasks.taskdir import AnswerFileTask, CodeFileTask, extract_program, register_tasks_dir
from evalkit.types import Problem
from evalkit.verify.stage import verify_items

ANSWERS = [
    {"problem_id": "q1", "prompt": "2+2?", "answer": "4"},
    {"problem_id": "q2", "question": "half of 1?", "answer": "\\frac{1}{2}"},
    {"problem_id": 3, "prompt": "capital of France?", "answer": "Paris"},
]
CODE = [
    {
        "problem_id": "inc",
        "prompt": "Write inc(x) that returns x + 1.",
        "tests": ["assert inc(1) == 2", "assert inc(-1) == 0"],
        "entry_point": "inc",
        "solution": "def inc(x):\n    return x + 1",
    },
    {
        "problem_id": "double",
        "prompt": "Write double(x).",
        "tests": "def check(candidate):\n    assert candidate(2) == 4\n",
        "entry_point": "double",
        "solution": "def double(x):\n    return 2 * x",
    },
]


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Iterator[Path]:
    """A task folder; every task it registers is forgotten afterwards."""
    before = set(registry._FACTORIES)
    yield tmp_path
    for name in set(registry._FACTORIES) - before:
        registry.unregister_factory(name)


def problems_of(folder: Path, name: str, spec: str = "") -> list[Problem]:
    register_tasks_dir(folder)
    return make_problems(TaskSpec.parse(name + spec), 0, 100)


# -- good files ---------------------------------------------------------------------------------------


def test_good_files_load(folder: Path) -> None:
    write(folder / "quiz.jsonl", ANSWERS)
    write(folder / "funcs.jsonl", CODE)
    (folder / "notes.txt").write_text("not a task")
    assert register_tasks_dir(folder) == ["funcs", "quiz"]
    assert {"funcs", "quiz"} <= set(task_names())
    assert isinstance(get_family("quiz"), AnswerFileTask) and isinstance(get_family("funcs"), CodeFileTask)
    quiz = {p.id: p for p in make_problems(TaskSpec.parse("quiz"), 0, 100)}
    assert set(quiz) == {"quiz:q1", "quiz:q2", "quiz:3"}
    assert quiz["quiz:q2"].prompt == "half of 1?" and quiz["quiz:q2"].task == "quiz"
    funcs = {p.id: p for p in make_problems(TaskSpec.parse("funcs"), 0, 100)}
    assert funcs["funcs:inc"].meta["tests"] == "assert inc(1) == 2\nassert inc(-1) == 0\n"
    assert funcs["funcs:inc"].meta["entry_point"] == "inc" and funcs["funcs:inc"].reference.startswith("def inc")


def test_reference_answers_verify(folder: Path) -> None:
    write(folder / "quiz.jsonl", ANSWERS)
    write(folder / "funcs.jsonl", CODE)
    for name in ("quiz", "funcs"):
        for p in problems_of(folder, name):
            family = get_family(name)
            verdict = family.verify(p, family.reference_completion(p))
            assert verdict.passed and verdict.score == 1.0 and verdict.status == "ok", (p.id, verdict)


def test_answer_task_checks_math_and_text(folder: Path) -> None:
    write(folder / "quiz.jsonl", ANSWERS)
    by_id = {p.id: p for p in problems_of(folder, "quiz")}
    fam = get_family("quiz")
    assert fam.verify(by_id["quiz:q2"], "so \\boxed{0.5}").passed
    assert fam.verify(by_id["quiz:3"], "The answer is Paris.").passed
    assert not fam.verify(by_id["quiz:3"], "The answer is London.").passed
    assert fam.verify(by_id["quiz:q1"], "\\boxed{4} but 5").passed
    assert not get_family("quiz").verify(by_id["quiz:q1"], "nothing").passed
    last_number = problems_of(folder, "quiz", "@answer_format=last_number")
    assert fam.verify(next(p for p in last_number if p.id == "quiz:q1"), "\\boxed{5} but 4").passed


def test_code_task_partial_credit_and_program_extraction(folder: Path) -> None:
    write(folder / "funcs.jsonl", CODE)
    inc = next(p for p in problems_of(folder, "funcs") if p.id == "funcs:inc")
    fam = get_family("funcs")
    half = fam.verify(inc, "```python\ndef inc(x):\n    return abs(x) + 1\n```")
    assert not half.passed and half.score == 0.5 and half.status == "ok" and "1/2" in half.detail
    assert fam.verify(inc, "Sure:\n```python\ndef inc(x):\n    return x + 1\n```\nDone.").passed
    assert fam.verify(inc, "   ").status == "empty"
    text = "```\nprint(1)\n```\n```python\ndef inc(x):\n    return x\n```\n```\nmore\n```"
    assert extract_program(text, "inc") == "def inc(x):\n    return x\n"
    assert extract_program("def inc(x): return 1", "inc") == "def inc(x): return 1"


# -- bad inputs -----------------------------------------------------------------------------------------


def test_duplicate_ids_name_both_lines(folder: Path) -> None:
    write(folder / "dup.jsonl", [*CODE, {**CODE[0]}])
    with pytest.raises(EvalkitError, match=r"dup\.jsonl:3: duplicate problem_id 'inc' \(first at .*dup\.jsonl:1\)"):
        problems_of(folder, "dup")


def test_missing_tests(folder: Path) -> None:
    write(folder / "c.jsonl", [CODE[0], {"problem_id": "x", "prompt": "p", "entry_point": "f"}])
    with pytest.raises(EvalkitError, match=r"c\.jsonl:2: problem 'x': missing field 'tests'"):
        problems_of(folder, "c")


def test_mistyped_tests(folder: Path) -> None:
    write(folder / "c.jsonl", [{**CODE[0], "tests": 5}])
    with pytest.raises(EvalkitError, match=r"c\.jsonl:1: problem 'inc': field 'tests' must be a list"):
        problems_of(folder, "c")


def test_tests_that_do_not_parse(folder: Path) -> None:
    write(folder / "c.jsonl", [{**CODE[0], "tests": ["assert inc(1) =="]}])
    with pytest.raises(EvalkitError, match=r"c\.jsonl:1: problem 'inc': field 'tests' does not parse"):
        problems_of(folder, "c")


def test_tests_without_asserts(folder: Path) -> None:
    write(folder / "c.jsonl", [{**CODE[0], "tests": ["print(inc(1))"]}])
    with pytest.raises(EvalkitError, match=r"c\.jsonl:1: problem 'inc': field 'tests' has no top-level assert"):
        problems_of(folder, "c")


def test_missing_entry_point(folder: Path) -> None:
    write(folder / "c.jsonl", [CODE[0], {k: v for k, v in CODE[1].items() if k != "entry_point"}])
    with pytest.raises(EvalkitError, match=r"c\.jsonl:2: problem 'double': missing field 'entry_point'"):
        problems_of(folder, "c")


def test_bad_entry_point(folder: Path) -> None:
    write(folder / "c.jsonl", [{**CODE[0], "entry_point": "inc()"}])
    with pytest.raises(EvalkitError, match=r"c\.jsonl:1: problem 'inc': field 'entry_point' must be a Python function"):
        problems_of(folder, "c")


def test_missing_prompt_in_code_file(folder: Path) -> None:
    write(folder / "c.jsonl", [{k: v for k, v in CODE[0].items() if k != "prompt"}])
    with pytest.raises(EvalkitError, match=r"c\.jsonl:1: problem 'inc': missing field 'prompt'"):
        problems_of(folder, "c")


def test_missing_answer(folder: Path) -> None:
    write(folder / "a.jsonl", [ANSWERS[0], {"problem_id": "q9", "prompt": "?"}])
    with pytest.raises(EvalkitError, match=r"a\.jsonl:2: problem 'q9': missing field 'answer'"):
        problems_of(folder, "a")


def test_empty_file(folder: Path) -> None:
    (folder / "empty.jsonl").write_text("")
    with pytest.raises(EvalkitError, match=r"empty\.jsonl: empty task file"):
        problems_of(folder, "empty")


def test_unknown_kind(folder: Path) -> None:
    write(folder / "k.jsonl", [{"problem_id": "x", "prompt": "?"}])
    with pytest.raises(EvalkitError, match=r"k\.jsonl:1: cannot tell the task kind"):
        problems_of(folder, "k")


def test_name_clash_with_builtin(folder: Path) -> None:
    write(folder / "add.jsonl", ANSWERS)
    with pytest.raises(EvalkitError, match="'add' is taken by a built-in task"):
        register_tasks_dir(folder)


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match="no such directory"):
        register_tasks_dir(tmp_path / "nope")
    with pytest.raises(EvalkitError, match=r"no \*\.jsonl task files"):
        register_tasks_dir(tmp_path)


# -- workers and the command line -----------------------------------------------------------------------


def test_workers_verify_user_tasks_without_the_folder(folder: Path) -> None:
    write(folder / "quiz.jsonl", ANSWERS)
    write(folder / "funcs.jsonl", CODE)
    problems = problems_of(folder, "quiz") + problems_of(folder, "funcs")
    items = [(p, get_family(p.task).reference_completion(p), "stop") for p in problems]
    # as in `evalkit score` on a later day: the folder is not registered, the stored problems are enough
    registry.unregister_factory("quiz")
    registry.unregister_factory("funcs")
    stored = [Problem(**{**p.__dict__, "meta": json.loads(json.dumps(p.meta))}) for p, _, _ in items]
    wrong = (stored[0], "\\boxed{nope}", "stop")
    verdicts = verify_items([(s, t, f) for s, (_, t, f) in zip(stored, items, strict=True)] + [wrong], workers=2)
    assert all(v.passed for v in verdicts[:-1]), verdicts
    assert not verdicts[-1].passed


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)


def test_cli_problems_tasks_import_and_score(tmp_path: Path) -> None:
    folder = tmp_path / "mytasks"
    folder.mkdir()
    write(folder / "quiz.jsonl", ANSWERS)
    listed = cli("tasks", "--tasks-dir", str(folder))
    assert listed.returncode == 0 and "quiz" in listed.stdout and "answer_format=auto" in listed.stdout
    out = cli("problems", "quiz", "--tasks-dir", str(folder), "--jsonl")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(r["problem_id"] for r in rows) == ["quiz:3", "quiz:q1", "quiz:q2"]
    samples = tmp_path / "samples.jsonl"
    write(samples, [{"problem_id": r["problem_id"], "completion": f"\\boxed{{{r['reference']}}}"} for r in rows])
    run = tmp_path / "run"
    imported = cli("import", str(samples), "--task", "quiz", "--tasks-dir", str(folder), "--out", str(run))
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(cli("summary", str(run), "--json").stdout)
    assert [(p["n"], p["c"]) for p in summary["problems"]] == [(1, 1)] * 3
    rescored = cli("score", str(run))  # no --tasks-dir: verified from the stored problems
    assert rescored.returncode == 0 and "verified 3 completions" in rescored.stderr


def test_cli_bad_file_is_one_line_error(tmp_path: Path) -> None:
    write(tmp_path / "quiz.jsonl", [ANSWERS[0], {"problem_id": "q1", "prompt": "again", "answer": "1"}])
    out = cli("problems", "quiz", "--tasks-dir", str(tmp_path), "--jsonl")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "quiz.jsonl:2: duplicate problem_id 'q1' (first at" in out.stderr
    unknown = cli("problems", "quiz", "--jsonl")  # forgot --tasks-dir
    assert unknown.returncode == 2 and "unknown task 'quiz'" in unknown.stderr
