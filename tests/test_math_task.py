"""The ``math`` task: loader validation (BAD_INPUTS 2-4), math-verify equivalence, adversarial LaTeX
through the verifier pool (BAD_INPUTS 11), seeded subsets."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import EvalkitError
from evalkit.tasks import TaskSpec, get_family, make_problems
from evalkit.types import Problem
from evalkit.verify.stage import verify_items

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def load(path: Path, **params: str) -> list[Problem]:
    extra = "".join(f",{k}={v}" for k, v in params.items())
    return make_problems(TaskSpec.parse(f"math@path={path}{extra}"), 0, 1000)


GOOD = [
    {"problem_id": "a", "prompt": "1+1?", "answer": "2"},
    {"problem_id": 7, "question": "half?", "answer": "\\frac{1}{2}", "level": 3},
    {"problem_id": "c", "prompt": "3*3?", "answer": 9},
]


# -- loading ------------------------------------------------------------------------------------------


def test_good_file_loads_with_prefixed_ids_and_extra_fields(tmp_path: Path) -> None:
    problems = {p.id: p for p in load(write(tmp_path / "algebra.jsonl", GOOD))}
    assert set(problems) == {"math:algebra:a", "math:algebra:7", "math:algebra:c"}
    half = problems["math:algebra:7"]
    assert half.prompt == "half?" and half.reference == "\\frac{1}{2}" and half.task == "math"
    assert half.meta["extra"] == {"level": 3} and half.meta["source"].endswith("algebra.jsonl:2")
    assert problems["math:algebra:c"].reference == "9"


def test_bundled_sample_loads_and_is_package_data() -> None:
    problems = make_problems(TaskSpec.parse("math"), 0, 1000)
    assert len(problems) == 24 and all(p.id.startswith("math:math_sample:") for p in problems)
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "evalkit_tasks.data" in setuptools["packages"]
    assert "*.jsonl" in setuptools["package-data"]["evalkit_tasks.data"]
    assert (ROOT / "tasks" / "data" / "math_sample.jsonl").is_file()


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.jsonl", [*GOOD, {"problem_id": "a", "prompt": "again", "answer": "1"}])
    with pytest.raises(EvalkitError, match=r"dup\.jsonl:4: duplicate problem_id 'a' \(first at .*dup\.jsonl:1\)"):
        load(path)


def test_missing_answer_names_line_id_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [GOOD[0], {"problem_id": "b", "prompt": "x"}])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:2: problem 'b': missing field 'answer'"):
        load(path)


def test_missing_prompt_names_both_accepted_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [{"problem_id": "b", "answer": "1"}])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:1: problem 'b': missing field 'prompt' or 'question'"):
        load(path)


def test_missing_problem_id(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [GOOD[0], "", {"prompt": "x", "answer": "1"}])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:3: missing field 'problem_id'"):
        load(path)


def test_mistyped_answer(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [{"problem_id": "b", "prompt": "x", "answer": [1, 2]}])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:1: problem 'b': field 'answer' must be a string or a number"):
        load(path)


def test_mistyped_prompt(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [{"problem_id": "b", "prompt": 3, "answer": "1"}])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:1: problem 'b': field 'prompt' must be a string, got int"):
        load(path)


def test_mistyped_problem_id(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [{"problem_id": True, "prompt": "x", "answer": "1"}])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:1: field 'problem_id' must be a string or an integer"):
        load(path)


def test_empty_answer(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [{"problem_id": "b", "prompt": "x", "answer": "  "}])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:1: problem 'b': field 'answer' is empty"):
        load(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(EvalkitError, match=r"empty\.jsonl: empty task file"):
        load(path)


def test_bad_json_line(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", [GOOD[0], '{"problem_id": "b", "prompt": '])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:2: not valid JSON"):
        load(path)


def test_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", ["[1, 2]"])
    with pytest.raises(EvalkitError, match=r"f\.jsonl:1: expected a JSON object, got list"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match="no such file"):
        load(tmp_path / "nope.jsonl")


def test_hub_id_without_local_file_is_a_clear_error() -> None:
    # Without the optional `datasets` package (or offline) a dataset id fails with a message saying what to do.
    with pytest.raises(EvalkitError, match="not a local file"):
        make_problems(TaskSpec.parse("math@path=someorg/some-math-set"), 0, 5)


def test_hub_dataset_through_the_datasets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for the optional `datasets` package (not a dependency; the real one needs the network).
    calls = []

    def load_dataset(name: str, split: str) -> list[dict[str, Any]]:
        calls.append((name, split))
        return [{"unique_id": "u1", "problem": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": 4}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    problems = {p.id: p for p in make_problems(TaskSpec.parse("math@path=someorg/set,split=train"), 0, 10)}
    assert calls == [("someorg/set", "train")]
    assert set(problems) == {"math:someorg/set:u1", "math:someorg/set:1"}
    assert problems["math:someorg/set:u1"].prompt == "1+1?" and problems["math:someorg/set:1"].reference == "4"
    assert TaskSpec.parse("math@path=someorg/set,split=train").to_json()["data"] == "hf:someorg/set:train"


def test_bad_answer_format_is_refused() -> None:
    with pytest.raises(EvalkitError, match="answer_format must be one of"):
        TaskSpec.parse("math@answer_format=first_line")


def test_errors_come_before_any_model_loads(tmp_path: Path) -> None:
    # A hub id that does not exist: it would fail only when loaded, so exit 2 here proves the order.
    path = write(tmp_path / "f.jsonl", [{"problem_id": "b", "prompt": "x"}])
    args = ["sample", "no-such-org/no-such-model", "--task", f"math@path={path}", "--out", str(tmp_path / "run")]
    out = subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "f.jsonl:1: problem 'b': missing field 'answer'" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()


# -- subsets ------------------------------------------------------------------------------------------


def test_seeded_subset_is_stable_random_and_nested(tmp_path: Path) -> None:
    rows = [{"problem_id": f"p{i:03d}", "prompt": f"{i}+0?", "answer": str(i)} for i in range(100)]
    path = write(tmp_path / "many.jsonl", rows)
    spec = TaskSpec.parse(f"math@path={path}")
    first = make_problems(spec, 0, 10)
    assert first == make_problems(spec, 0, 10)  # same seed, same subset
    assert [p.id for p in first] != [f"math:many:p{i:03d}" for i in range(10)]  # not the first n
    assert sorted(p.id for p in first) != [f"math:many:p{i:03d}" for i in range(10)]
    assert {p.id for p in make_problems(spec, 1, 10)} != {p.id for p in first}  # seed picks the subset
    assert make_problems(spec, 0, 20)[:10] == first  # a larger limit extends a smaller one
    assert make_problems(spec, 0, 5, start=5) == first[5:]
    # the subset depends on the ids and the seed only, not on the order of the file
    random.Random(0).shuffle(rows)
    write(path, rows)
    assert [p.id for p in make_problems(TaskSpec.parse(f"math@path={path}"), 0, 10)] == [p.id for p in first]


def test_start_past_the_end_selects_nothing_and_is_an_error() -> None:
    with pytest.raises(EvalkitError, match="nothing selected"):
        make_problems(TaskSpec.parse("math"), 0, 5, start=24)


def test_data_hash_is_part_of_the_run_identity(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", GOOD)
    before = TaskSpec.parse(f"math@path={path}").to_json()
    write(path, [*GOOD, {"problem_id": "d", "prompt": "?", "answer": "1"}])
    after = TaskSpec.parse(f"math@path={path}").to_json()
    assert before["params"] == after["params"] and before["data"] != after["data"]


# -- verification -------------------------------------------------------------------------------------


def problem(reference: str, answer_format: str = "auto") -> Problem:
    return Problem("math:t:1", "math", "q", reference, {"answer_format": answer_format})


@pytest.mark.parametrize(
    ("reference", "completion"),
    [
        ("\\frac{1}{2}", "so \\boxed{0.5}"),
        ("0.5", "The answer is $\\frac{1}{2}$."),
        ("2\\sqrt{3}", "\\boxed{\\sqrt{12}}"),
        ("\\{-3, 3\\}", "\\boxed{\\{3, -3\\}}"),
        ("(1, 3]", "\\boxed{(1,3]}"),
        ("12", "after all that, 12"),
        ("123456000", "\\boxed{123,456,000}"),
    ],
)
def test_equivalent_answers_pass(reference: str, completion: str) -> None:
    verdict = get_family("math").verify(problem(reference), completion)
    assert verdict.passed and verdict.score == 1.0 and verdict.status == "ok", verdict


@pytest.mark.parametrize(
    ("reference", "completion"),
    [("\\frac{1}{2}", "\\boxed{0.25}"), ("(1, 3]", "\\boxed{[1, 3]}"), ("5", "no idea"), ("5", "\\boxed{}")],
)
def test_wrong_answers_fail(reference: str, completion: str) -> None:
    verdict = get_family("math").verify(problem(reference), completion)
    assert not verdict.passed and verdict.score == 0.0


def test_answer_format_is_honoured() -> None:
    text = "\\boxed{3} but the last number is 4"
    math = get_family("math")
    assert math.verify(problem("3", "boxed"), text).passed
    assert not math.verify(problem("3", "last_number"), text).passed
    assert math.verify(problem("4", "last_number"), text).passed


def test_adversarial_latex_times_out_in_the_pool_and_never_passes() -> None:
    # BAD_INPUTS row 11: math-verify's own timeouts are off; the pool's SIGKILL ends the hang.
    ref = problem("3")
    items = [
        (ref, "\\boxed{5^{5^{5^{5^5}}}}", "stop"),
        (ref, "\\boxed{24!\\times 24!}", "stop"),
        (ref, "\\boxed{(24!)^{24!}}", "stop"),
        (ref, "\\boxed{3}", "stop"),
    ]
    verdicts = verify_items(items, workers=2, timeout_s=2.0)
    assert verdicts[0].status == "timeout" and not verdicts[0].passed
    assert not verdicts[1].passed and verdicts[1].status in ("ok", "timeout")  # sympy evaluates this one fast
    assert not verdicts[2].passed and verdicts[2].status in ("ok", "timeout")  # evalf at 60 digits may be quick
    assert verdicts[3].passed and verdicts[3].status == "ok"


def test_workers_verify_from_the_stored_problem_alone() -> None:
    # What `evalkit score` does later: problems read back from problems.jsonl, verified in spawned workers.
    problems = make_problems(TaskSpec.parse("math"), 3, 24)
    stored = [
        Problem(r["problem_id"], r["task"], r["prompt"], r["reference"], r["meta"])
        for r in (json.loads(json.dumps(p.to_json())) for p in problems)
    ]
    math = get_family("math")
    items = [(p, math.reference_completion(p), "stop") for p in stored] + [(stored[0], "\\boxed{nope}", "stop")]
    verdicts = verify_items(items, workers=2, timeout_s=20.0)
    assert all(v.passed for v in verdicts[:-1]), [v for v in verdicts if not v.passed]
    assert not verdicts[-1].passed


def test_final_answers_after_reasoning_and_cut_off_boxes_through_the_pool() -> None:
    # BAD_INPUTS row 32: judged on the final answer; a truncated answer never rescued by a retracted one.
    p72, p5 = problem("72"), Problem("math:t:5", "math", "q", "5", {"answer_format": "auto"})
    p17 = Problem("math:t:17", "math", "q", "17", {"answer_format": "auto"})
    reasoning = "<think>Maybe 8+9 gives \\boxed{17}? No, multiply: 8*9 = 72.</think>\nThe answer is 72."
    cut = "First guess: \\boxed{5}. Hmm, wrong rule; redoing it, the result is \\boxed{7"
    items = [
        (p72, reasoning, "stop"),
        (p17, reasoning, "stop"),
        (p72, "8*9 = 72, not \\boxed{17}.</think>\n\\boxed{72}", "stop"),  # no opening tag
        (p72, "<think>8*9 is \\boxed{72} and", "length"),  # cut inside the reasoning
        (p5, cut, "length"),
        (p5, cut, "stop"),
    ]
    verdicts = verify_items(items, workers=2, timeout_s=20.0)
    assert [(v.passed, v.status) for v in verdicts] == [
        (True, "ok"),
        (False, "ok"),
        (True, "ok"),
        (False, "truncated"),
        (False, "truncated"),
        (False, "ok"),
    ]
    assert verdicts[0].detail == "answer is after </think>: 72 (equal as text)"
    assert verdicts[4].detail == "boxed[unclosed]: 7 (not equal as numbers)"  # read as 7, never as the retracted 5
