"""Named benchmarks (math500, aime24, aime25, amc23, gsm8k, mbpp), per-task prompt and max-token defaults,
and ``--prompt-template``.

Local copies are written with the real ``datasets`` package (JSONL, Parquet, ``save_to_disk`` and the hub's
file layout) and read through the same code path a user's ``path=`` takes. The hub is never reached: offline
and unreachable cases check the one-line error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import EvalkitError
from evalkit.tasks import TaskSpec, default_max_tokens, get_family, make_problems, task_names
from evalkit.tasks.benchmark import Benchmark, bundled_sample, offline_spec
from evalkit.tasks.prompting import PromptTemplate, apply_template, placeholders, read_template, render

BENCHMARKS = ["math500", "aime24", "aime25", "amc23", "gsm8k", "mbpp"]

# Rows written for these tests in each data set's own field names (not rows of the data sets).
ROWS: dict[str, list[dict[str, Any]]] = {
    "math500": [
        {"problem": "What is $2+3$?", "solution": "$\\boxed{5}$", "answer": "5", "subject": "Algebra", "level": 1,
         "unique_id": "test/algebra/1.json"},
        {"problem": "What is $\\frac{1}{2}+\\frac{1}{4}$?", "solution": "...", "answer": "\\frac{3}{4}",
         "subject": "Prealgebra", "level": 2, "unique_id": "test/prealgebra/2.json"},
    ],
    "aime24": [
        {"id": 60, "problem": "Find $10^2$ modulo 1000.", "solution": "...", "answer": "100", "url": "u",
         "year": "2024"},
        {"id": 61, "problem": "Find $3 \\cdot 11$.", "solution": "...", "answer": "033", "url": "u",
         "year": "2024"},
    ],
    "aime25": [
        {"problem": "Find $7 \\cdot 8$.", "answer": "56", "id": "0"},
        {"problem": "Find $9^2$.", "answer": "81", "id": "1"},
    ],
    "amc23": [
        {"id": 0, "question": "What is $6 \\cdot 7$?", "answer": 42.0},
        {"id": 1, "question": "Half of 3?", "answer": 1.5},
    ],
    "gsm8k": [
        {"question": "Ann has 3 apples and buys 4. How many now?", "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
        {"question": "A shop sells 1,000 pens a day. How many in 3 days?", "answer": "1000 * 3 = 3000\n#### 3,000"},
    ],
    "mbpp": [
        {"source_file": "t", "task_id": 11, "prompt": "Write a function to double a number.",
         "code": "def double(x):\n    return 2 * x", "test_imports": [],
         "test_list": ["assert double(2) == 4", "assert double(0) == 0", "assert double(-3) == -6"]},
        {"source_file": "t", "task_id": 12, "prompt": "Write a function to return the square root of a number.",
         "code": "import math\ndef root(x):\n    return math.sqrt(x)", "test_imports": ["import math"],
         "test_list": ["assert math.isclose(root(4), 2.0)", "assert root(0) == 0"]},
    ],
}  # fmt: skip
IDS = {
    "math500": ["math500:test/algebra/1.json", "math500:test/prealgebra/2.json"],
    "aime24": ["aime24:60", "aime24:61"],
    "aime25": ["aime25:0", "aime25:1"],
    "amc23": ["amc23:0", "amc23:1"],
    "gsm8k": ["gsm8k:test-00000", "gsm8k:test-00001"],
    "mbpp": ["mbpp:11", "mbpp:12"],
}
REFERENCES = {
    "math500": ["5", "\\frac{3}{4}"],
    "aime24": ["100", "33"],
    "aime25": ["56", "81"],
    "amc23": ["42", "1.5"],
    "gsm8k": ["7", "3000"],
}


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ``datasets`` cache of this test (its Arrow files of local copies), not the user's."""
    import datasets

    cache = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


def all_problems(spec: str) -> list[Any]:
    return sorted(make_problems(TaskSpec.parse(spec), 0, 10**6), key=lambda p: p.id)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300, env=env
    )


# -- bundled samples and local copies ----------------------------------------------------------------------


@pytest.mark.parametrize("name", BENCHMARKS)
def test_bundled_sample_loads_with_the_data_sets_ids(name: str) -> None:
    family = get_family(name)
    problems = all_problems(f"{name}@sample=true")
    lines = bundled_sample(name).read_text().splitlines()
    assert len(problems) == len(lines) >= 15
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.id.startswith(f"{name}:") and p.task == name for p in problems)
    for p in problems:
        assert p.prompt == render(family.prompt_template, p.meta["prompt_fields"])
        assert p.meta["prompt_fields"]["prompt"] in p.prompt


@pytest.mark.parametrize("name", BENCHMARKS)
def test_local_jsonl_with_the_real_field_names(name: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / f"{name}.jsonl", ROWS[name])
    problems = all_problems(f"{name}@path={path}")
    assert sorted(p.id for p in problems) == IDS[name]
    if name in REFERENCES:
        assert [p.reference for p in problems] == REFERENCES[name]
    identity = TaskSpec.parse(f"{name}@path={path}").to_json()["data"]
    assert identity.startswith(f"{name}.jsonl sha256:") and "prompt template sha256:" in identity


def test_a_local_parquet_file_rewritten_with_its_old_mtime_is_read_again(tmp_path: Path) -> None:
    """The datasets cache keys local files by path and mtime; cp -p, rsync and tar keep the mtime."""
    import datasets

    parquet = tmp_path / "gsm8k.parquet"
    datasets.Dataset.from_list(ROWS["gsm8k"]).to_parquet(str(parquet))
    before = os.stat(parquet)
    assert [p.reference for p in all_problems(f"gsm8k@path={parquet}")] == REFERENCES["gsm8k"]
    changed = [{**row, "answer": row["answer"].rsplit("####", 1)[0] + "#### 12345"} for row in ROWS["gsm8k"]]
    datasets.Dataset.from_list(changed).to_parquet(str(parquet))
    os.utime(parquet, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert [p.reference for p in all_problems(f"gsm8k@path={parquet}")] == ["12345", "12345"]


def test_local_parquet_save_to_disk_and_hub_layout_through_datasets(tmp_path: Path) -> None:
    import datasets

    # a Parquet file, as the hub stores gsm8k (main/test-00000-of-00001.parquet)
    parquet = tmp_path / "gsm8k.parquet"
    datasets.Dataset.from_list(ROWS["gsm8k"]).to_parquet(str(parquet))
    assert [p.id for p in all_problems(f"gsm8k@path={parquet}")] == IDS["gsm8k"]
    # a directory written by save_to_disk (a DatasetDict: the benchmark's split is chosen)
    saved = tmp_path / "mbpp_saved"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS["mbpp"])}).save_to_disk(str(saved))
    mbpp = all_problems(f"mbpp@path={saved}")
    assert [p.id for p in mbpp] == IDS["mbpp"] and mbpp[1].meta["entry_point"] == "root"
    # a clone of the hub repository: MATH-500 keeps test.jsonl at its root
    clone = tmp_path / "MATH-500"
    clone.mkdir()
    write_jsonl(clone / "test.jsonl", ROWS["math500"])
    assert [p.id for p in all_problems(f"math500@path={clone}")] == IDS["math500"]
    # gsm8k's layout: the config's folder holds the split's Parquet file
    gsm_clone = tmp_path / "gsm8k_clone"
    (gsm_clone / "main").mkdir(parents=True)
    datasets.Dataset.from_list(ROWS["gsm8k"]).to_parquet(str(gsm_clone / "main" / "test-00000-of-00001.parquet"))
    assert [p.reference for p in all_problems(f"gsm8k@path={gsm_clone}")] == ["7", "3000"]
    # with the README of the hub repository, which declares the configs and their files
    (gsm_clone / "socratic").mkdir()
    datasets.Dataset.from_list(ROWS["gsm8k"][:1]).to_parquet(
        str(gsm_clone / "socratic" / "test-00000-of-00001.parquet")
    )
    (gsm_clone / "README.md").write_text(
        "---\nconfigs:\n- config_name: main\n  data_files:\n  - split: test\n    path: main/test-*\n"
        "- config_name: socratic\n  data_files:\n  - split: test\n    path: socratic/test-*\n---\n"
    )
    assert [p.id for p in all_problems(f"gsm8k@path={gsm_clone}")] == IDS["gsm8k"]


def test_local_copy_errors_name_the_row_and_field(tmp_path: Path) -> None:
    bad_aime = write_jsonl(tmp_path / "a.jsonl", [{"id": 1, "problem": "p", "answer": "1000"}])
    with pytest.raises(EvalkitError, match=r"a\.jsonl:1: problem '1': field 'answer' must be an integer 0-999"):
        all_problems(f"aime24@path={bad_aime}")
    no_marker = write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "the answer is 4"}])
    with pytest.raises(EvalkitError, match=r"g\.jsonl:1: problem 'test-00000': field 'answer' does not end in '####"):
        all_problems(f"gsm8k@path={no_marker}")
    missing = write_jsonl(tmp_path / "m.jsonl", [{"unique_id": "x", "answer": "1"}])
    with pytest.raises(EvalkitError, match=r"m\.jsonl:1: problem 'x': missing field 'problem'"):
        all_problems(f"math500@path={missing}")
    twice = write_jsonl(tmp_path / "d.jsonl", [ROWS["aime25"][0], ROWS["aime25"][0]])
    with pytest.raises(EvalkitError, match=r"d\.jsonl:2: duplicate id '0'"):
        all_problems(f"aime25@path={twice}")
    with pytest.raises(EvalkitError, match="no such file or directory"):
        all_problems(f"math500@path={tmp_path / 'nope.jsonl'}")
    with pytest.raises(EvalkitError, match="exclude each other"):
        TaskSpec.parse(f"math500@sample=true,path={twice}")
    with pytest.raises(EvalkitError, match="does not apply to sample=true"):
        TaskSpec.parse("math500@sample=true,revision=abc")


def test_revision_is_pinned_and_recorded() -> None:
    spec = TaskSpec.parse("math500")
    assert spec.full_params()["revision"] == "ff5b20257d8185524591543f8ff5993951537bb8"
    assert spec.to_json()["data"].startswith("hf:HuggingFaceH4/MATH-500@ff5b20257d8185524591543f8ff5993951537bb8:test")
    other = TaskSpec.parse("math500@revision=main").to_json()
    assert other["data"].startswith("hf:HuggingFaceH4/MATH-500@main:test") and other != spec.to_json()
    assert TaskSpec.parse("mbpp").to_json()["data"].startswith("hf:google-research-datasets/mbpp/sanitized@7bc94ee8")
    assert TaskSpec.parse("math500@sample=true").full_params()["revision"] == ""  # not a hub load


def hub_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    return {**env, "HF_HOME": str(tmp_path / "hf"), **extra}


@pytest.mark.parametrize(
    "where", [{"HF_DATASETS_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}]
)
def test_hub_data_set_not_cached_is_one_line_error(tmp_path: Path, where: dict[str, str]) -> None:
    result = cli("problems", "aime24", "--limit", "1", env=hub_env(tmp_path, **where))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "HuggingFaceH4/aime_2024@main:train is not in the local datasets cache" in lines[0]
    assert "aime24@sample=true" in lines[0] and "aime24@path=" in lines[0]
    assert "Retrying" not in result.stderr


def test_hub_data_set_from_the_datasets_cache_offline(tmp_path: Path) -> None:
    import datasets

    # The cache entry an earlier online load of HuggingFaceH4/MATH-500 leaves, built from a local copy:
    # <cache>/<org>___<name>/<config>/<version>/<hash>/<name>-<split>.arrow (the layout of datasets' cache).
    clone, cache = tmp_path / "math-500", tmp_path / "cache"
    clone.mkdir()
    write_jsonl(clone / "test.jsonl", ROWS["math500"])
    datasets.load_dataset(str(clone), split="test", cache_dir=str(cache))
    (cache / "math-500").rename(cache / "HuggingFaceH4___math-500")
    assert list((cache / "HuggingFaceH4___math-500").rglob("math-500-test.arrow"))
    for where in ({"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}):
        env = hub_env(tmp_path, HF_DATASETS_CACHE=str(cache), **where)
        result = cli("problems", "math500", "--limit", "5", "--jsonl", env=env)
        assert result.returncode == 0, result.stderr
        assert sorted(json.loads(line)["problem_id"] for line in result.stdout.splitlines()) == IDS["math500"]


# -- answer conventions -------------------------------------------------------------------------------------


def test_gsm8k_reference_is_the_number_after_the_marker() -> None:
    from evalkit_tasks.gsm8k import final_number

    assert final_number("Step one.\nStep two.\n#### 1,234") == "1234"
    assert final_number("#### -7\n") == "-7"
    assert final_number("so 1.5\n#### 1.5") == "1.5"
    assert final_number("the answer is 5") is None
    assert final_number("#### 5 apples") is None
    family = get_family("gsm8k")
    problem = next(p for p in all_problems("gsm8k@sample=true") if p.reference == "2160")
    assert family.verify(problem, "So she earns \\boxed{2,160}.").passed
    assert family.verify(problem, "The answer is 2160.").passed
    assert not family.verify(problem, "\\boxed{2,161}").passed


def test_aime_answers_are_read_as_integers() -> None:
    family = get_family("aime24")
    problem = next(p for p in all_problems("aime24@sample=true") if p.id == "aime24:9002")
    assert problem.reference == "1"  # "001" in the file
    assert family.verify(problem, "\\boxed{001}").passed and family.verify(problem, "\\boxed{1}").passed
    assert not family.verify(problem, "\\boxed{7}").passed


@pytest.mark.parametrize("answer", ["\u00b2", "\u0663", "1000", "-1", "1.0", ""])
def test_aime_answers_that_are_not_plain_integers_0_999_are_one_line_errors(answer: str) -> None:
    from evalkit_tasks.aime import aime_answer

    from evalkit.tasks.datafile import Row

    with pytest.raises(EvalkitError) as info:
        aime_answer(Row("data.jsonl:3", {"answer": answer}), "aime24:1")
    assert str(info.value).startswith("data.jsonl:3") and "\n" not in str(info.value)


def test_mbpp_programs_run_in_the_sandbox() -> None:
    family = get_family("mbpp")
    problems = {p.id: p for p in all_problems("mbpp@sample=true")}
    area = problems["mbpp:9004"]  # test_imports: import math
    assert area.meta["entry_point"] == "circle_area" and area.meta["tests"].startswith("import math\n")
    right = "Here it is:\n```python\nimport math\n\ndef circle_area(r):\n    return math.pi * r ** 2\n```\nDone."
    verdict = family.verify(area, right)
    assert verdict.passed and verdict.status == "ok"
    wrong = family.verify(area, "```python\ndef circle_area(r):\n    return 3.14 * r * r\n```")
    assert not wrong.passed and 0 < wrong.score < 1 and wrong.detail.startswith("1/3 tests passed")
    common = problems["mbpp:9006"]  # the first test calls set(common_elements(...)): the entry point is not `set`
    assert common.meta["entry_point"] == "common_elements"
    assert family.verify(common, "def common_elements(a, b):\n    return []\n").passed is False
    assert family.verify(common, "").status == "empty"
    assert "Your code should pass this test:\n\nassert set(common_elements(" in common.prompt


# -- the registry-wide contract -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", task_names())
def test_every_family_declares_prompt_and_max_tokens(name: str) -> None:
    family = get_family(name)
    spec = TaskSpec.parse(offline_spec(name))
    first, again = make_problems(spec, 0, 8), make_problems(spec, 0, 8)
    assert [p.id for p in first] == [p.id for p in again] and len({p.id for p in first}) == len(first)
    assert isinstance(family.default_max_tokens, int) and family.default_max_tokens > 0
    assert any(n == "prompt" for n, _ in placeholders(family.prompt_template)) or isinstance(family, Benchmark)
    for problem in first[:3]:
        verdict = family.verify(problem, family.reference_completion(problem))
        assert verdict.passed, (problem.id, verdict)
        fields = family.prompt_fields(problem)
        if fields is None:  # its verifier reads the prompt: no template may replace it
            assert not family.takes_prompt_template
            continue
        assert render(family.prompt_template, fields) == problem.prompt
        assert render("<<{prompt}>>", fields) == f"<<{fields['prompt']}>>"


def test_default_max_tokens_is_the_largest_of_the_tasks() -> None:
    assert default_max_tokens([TaskSpec.parse("add")]) == 32
    assert default_max_tokens([TaskSpec.parse("add"), TaskSpec.parse("math500@sample=true")]) == 4096
    assert default_max_tokens([TaskSpec.parse("aime24@sample=true"), TaskSpec.parse("mbpp@sample=true")]) == 16384


# -- prompt templates ---------------------------------------------------------------------------------------


def test_template_syntax_leaves_latex_alone() -> None:
    text = "Solve: {problem}\nAnswer in \\boxed{} like \\frac{1}{2}; {{problem}} is literal."
    assert [n for n, _ in placeholders(text)] == ["problem"]
    assert (
        render(text, {"problem": "1+1"}) == "Solve: 1+1\nAnswer in \\boxed{} like \\frac{1}{2}; {problem} is literal."
    )


def test_template_errors_name_the_file_and_line(tmp_path: Path) -> None:
    none = tmp_path / "none.txt"
    none.write_text("no placeholder here \\boxed{}")
    with pytest.raises(EvalkitError, match=r"none\.txt: the prompt template has no placeholder"):
        read_template(none)
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("Question:\n{question}\n")
    problems = all_problems("math500@sample=true")
    with pytest.raises(EvalkitError, match=r"unknown\.txt:2: task math500 has no prompt field \{question\}"):
        apply_template(problems, read_template(unknown))
    with pytest.raises(EvalkitError, match="task humaneval cannot take a prompt template"):
        apply_template(make_problems(TaskSpec.parse("humaneval"), 0, 1), PromptTemplate("{prompt}", "t.txt"))
    rendered = apply_template(problems, PromptTemplate("Q: {prompt}\nA:", "t.txt"))
    assert [p.id for p in rendered] == [p.id for p in problems]
    assert rendered[0].prompt == f"Q: {problems[0].meta['prompt_fields']['prompt']}\nA:"


def replay_file(path: Path, problem_ids: list[str]) -> Path:
    return write_jsonl(path, [{"problem_id": pid, "completion": "\\boxed{5}"} for pid in problem_ids])


def test_sample_records_the_template_and_refuses_another_on_resume(tmp_path: Path) -> None:
    ids = [p.id for p in all_problems("math500@sample=true")]
    samples = replay_file(tmp_path / "samples.jsonl", ids)
    template, other = tmp_path / "t.txt", tmp_path / "other.txt"
    template.write_text("Problem: {problem}\nFinal answer in \\boxed{}:")
    other.write_text("{prompt}")
    base = ["sample", str(samples), "--backend", "replay", "--task", "math500@sample=true", "--n", "1"]
    run = tmp_path / "run"
    first = cli(*base, "--out", str(run), "--prompt-template", str(template))
    assert first.returncode == 0, first.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    recorded = manifest["identity"]["prompt_template"]
    assert recorded["text"] == template.read_text() and recorded["sha256"].startswith("sha256:")
    assert manifest["identity"]["sampling"]["max_tokens"] == 4096  # math500's default
    stored = [json.loads(line) for line in (run / "problems.jsonl").read_text().splitlines()]
    assert all(p["prompt"].startswith("Problem: ") and p["prompt"].endswith("\\boxed{}:") for p in stored)
    same = cli(*base, "--out", str(run), "--prompt-template", str(template))
    assert same.returncode == 0, same.stderr
    refused = cli(*base, "--out", str(run), "--prompt-template", str(other))
    assert refused.returncode == 2 and "refusing to resume" in refused.stderr and "--prompt-template" in refused.stderr
    assert "sha256 sha256" not in refused.stderr
    plain = cli(*base, "--out", str(run))
    assert plain.returncode == 2 and "--prompt-template: sha256:" in plain.stderr and "the tasks' own" in plain.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("{problm}")
    usage = cli(*base, "--out", str(tmp_path / "run2"), "--prompt-template", str(bad))
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1
    assert "bad.txt:1: task math500 has no prompt field {problm}" in usage.stderr
    assert not (tmp_path / "run2").exists()


def test_max_tokens_default_and_explicit_flag(tmp_path: Path) -> None:
    samples = replay_file(tmp_path / "s.jsonl", [p.id for p in make_problems(TaskSpec.parse("add"), 0, 2)])
    base = ["sample", str(samples), "--backend", "replay", "--task", "add", "--n", "1", "--limit", "2"]
    for extra, expected in (([], 32), (["--max-tokens", "7"], 7)):
        out = tmp_path / f"run{expected}"
        result = cli(*base, "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr
        assert json.loads((out / "manifest.json").read_text())["identity"]["sampling"]["max_tokens"] == expected


def test_tasks_command_lists_defaults() -> None:
    result = cli("tasks")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "data: HuggingFaceH4/MATH-500@ff5b20257d81:test, max_tokens: 4096, prompt: " in text
    assert "Please reason step by step, and put your final answer within \\\\boxed{}." in text
    assert "data: openai/gsm8k/main@main:test, max_tokens: 4096" in text
    assert "max_tokens: 16384" in text and "max_tokens: 1024" in text
    add_block = ("\n" + text).split("\nadd ", 1)[1].split("\n", 3)[:3]
    assert 'max_tokens: 32, prompt: "{prompt}"' in "\n".join(add_block)
