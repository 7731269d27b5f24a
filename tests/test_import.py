"""``evalkit import`` takes its problem set from the samples file (BAD_INPUTS 33): the run holds the problems the
file has samples for, says how many of the task's problems it lacks, labels its progress as importing, and
never sends the user to ``evalkit sample``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.compare.results import load_run, summarize
from evalkit.errors import EvalkitError
from evalkit.sampling.runner import import_samples
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, make_problems

SPEC = TaskSpec.parse("add")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)


def write_samples(path: Path, indices: list[int], per_problem: int = 3, spec: TaskSpec = SPEC) -> Path:
    """``per_problem`` samples (the first wrong, the others right) for problems ``indices`` of ``spec``."""
    problems = make_problems(spec, 0, max(indices) + 1)
    with path.open("w") as fh:
        for i in indices:
            p = problems[i]
            for j in range(per_problem):
                fh.write(json.dumps({"problem_id": p.id, "completion": p.reference if j else "x"}) + "\n")
    return path


def run_problem_ids(run: Path) -> list[str]:
    return [p.id for p in RunStore.open(run).problems()]


def test_import_without_limit_holds_the_files_problems(tmp_path: Path) -> None:
    samples = write_samples(tmp_path / "s.jsonl", list(range(10)))
    run = tmp_path / "run"
    result = cli("import", str(samples), "--task", "add", "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert "task add: the file has samples for 10 of 10 problems (indices 0..9)" in result.stderr
    assert "importing 10 problems" in result.stderr and "sampling" not in result.stderr
    assert "evalkit sample" not in result.stderr + result.stdout
    assert run_problem_ids(run) == [p.id for p in make_problems(SPEC, 0, 10)]
    assert "10 problems  n=3" in result.stdout


def test_import_with_limit_says_how_many_it_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = write_samples(tmp_path / "s.jsonl", list(range(10)))
    run = tmp_path / "run"
    import_samples(samples, [SPEC], run, limit=100)
    err = capsys.readouterr().err
    assert "the file has samples for 10 of 100 problems (the first 100, --limit 100)" in err
    assert "the run lacks the other 90" in err and "evalkit sample" not in err
    assert len(run_problem_ids(run)) == 10  # not a half-filled run of 100
    summary = summarize(load_run(run))  # every problem of the run has samples: a summary, not an error
    assert summary["tasks"]["add"]["n_problems"] == 10


def test_import_of_scattered_problems_counts_the_gaps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = write_samples(tmp_path / "s.jsonl", [5, 0, 2])
    run = tmp_path / "run"
    import_samples(samples, [SPEC], run)
    err = capsys.readouterr().err
    assert "the file has samples for 3 of 6 problems (indices 0..5); the run lacks the other 3" in err
    ids = [p.id for p in make_problems(SPEC, 0, 6)]
    assert run_problem_ids(run) == [ids[0], ids[2], ids[5]]  # in the task's order, not the file's


def test_import_refuses_ids_beyond_limit_naming_the_line(tmp_path: Path) -> None:
    samples = write_samples(tmp_path / "s.jsonl", list(range(10)))
    with pytest.raises(EvalkitError, match=rf"{samples}:16: unknown problem id .*--limit 5 selects"):
        import_samples(samples, [SPEC], tmp_path / "run", limit=5, quiet=True)
    assert not (tmp_path / "run").exists()


def test_import_refuses_a_task_without_samples(tmp_path: Path) -> None:
    samples = write_samples(tmp_path / "s.jsonl", [0, 1])
    other = TaskSpec.parse("add@digits=2")
    with pytest.raises(EvalkitError, match=r"no sample of task add@digits=2 \(its problem ids look like add-"):
        import_samples(samples, [SPEC, other], tmp_path / "run", quiet=True)
    with samples.open("a") as fh:
        fh.write(json.dumps({"problem_id": "nope", "completion": "1"}) + "\n")
    with pytest.raises(EvalkitError, match=r"s.jsonl:7: unknown problem id 'nope'"):
        import_samples(samples, [SPEC], tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_import_of_part_of_a_data_set(tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    rows = [{"problem_id": f"q{i}", "prompt": f"{i}+1?", "answer": str(i + 1)} for i in range(4)]
    (folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    listed = cli("problems", "qa", "--tasks-dir", str(folder), "--limit", "10", "--jsonl")
    assert listed.returncode == 0, listed.stderr
    ids = [json.loads(line)["problem_id"] for line in listed.stdout.splitlines()]
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": pid, "completion": "1"}) + "\n" for pid in ids[:2]))
    run = tmp_path / "run"
    result = cli("import", str(samples), "--task", "qa", "--tasks-dir", str(folder), "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert "the file has samples for 2 of 4 problems (the whole data set); the run lacks the other 2" in result.stderr
    assert sorted(run_problem_ids(run)) == sorted(ids[:2])
    again = cli("import", str(samples), "--task", "qa", "--tasks-dir", str(folder), "--out", str(run))
    assert again.returncode == 0 and "2 samples stored, 0 to go" in again.stderr
