"""Zero-baseline suites: the base's never-solved problems as a task folder, and the expansion rate on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_compare_gate import make_run

from evalkit.cli import main
from evalkit.compare.results import load_run
from evalkit.sampling.runner import import_samples
from evalkit.tasks import TaskSpec, make_problems, unregister_factory
from evalkit.tasks.taskdir import register_tasks_dir

BASE = [[True, False] * 4, [False] * 8, [False] * 8, [True] * 8, [False] * 8, [False, True] * 4]
NEVER = [1, 2, 4]  # problems the base never solved
TASK = "zero_baseline_add"


def _suite_run(tmp: Path, suite: Path, name: str, solved: dict[int, list[bool]]) -> Path:
    """A run on the suite: imported samples, the reference where ``solved[i][j]``, a wrong answer elsewhere."""
    problems = make_problems(TaskSpec.parse("add"), 0, len(BASE))
    samples = tmp / f"{name}.jsonl"
    with samples.open("w") as fh:
        for i in NEVER:
            p = problems[i]
            for j, ok in enumerate(solved.get(i, [False] * 8)):
                text = p.reference if ok else p.reference + "0"
                row = {"problem_id": f"{TASK}:{p.id}", "completion": text, "sample_idx": j}
                fh.write(json.dumps(row) + "\n")
    import_samples(samples, [TaskSpec.parse(TASK)], tmp / name, quiet=True)
    return tmp / name


@pytest.fixture(autouse=True)
def _forget_suite_tasks() -> Iterator[None]:
    yield
    unregister_factory(TASK)


def test_suite_holds_exactly_the_never_solved_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", BASE)
    suite = tmp_path / "suite"
    assert main(["suite", "zero-baseline", str(base), "--out", str(suite), "--json"]) == 0
    description = json.loads(capsys.readouterr().out)
    ids = [p.id for p in make_problems(TaskSpec.parse("add"), 0, len(BASE))]
    rows = [json.loads(line) for line in (suite / f"{TASK}.jsonl").read_text().splitlines()]
    assert [r["problem_id"] for r in rows] == [ids[i] for i in NEVER]
    assert description["problems"] == 3 and description["of"] == 6 and description["n"] == 8
    # Bonferroni over all 6 problems of the base run, 0 of 8 each: 1 - (0.05 / 6)^(1/8)
    assert description["rate_below"] == pytest.approx(1 - (0.05 / 6) ** (1 / 8))
    assert json.loads((suite / "zero_baseline.json").read_text()) == description


def test_expansion_rate_matches_a_direct_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", BASE)
    suite = tmp_path / "suite"
    assert main(["suite", "zero-baseline", str(base), "--out", str(suite)]) == 0
    capsys.readouterr()
    register_tasks_dir(suite)
    base_again = _suite_run(tmp_path, suite, "base_suite", {})  # the base's own (failed) samples on the suite
    trained = {1: [False] * 7 + [True], 2: [False] * 8, 4: [True, True] + [False] * 6}
    rl = _suite_run(tmp_path, suite, "rl_suite", trained)
    assert main(["compare", str(base_again), str(rl), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    info = json.loads((tmp_path / "cmp" / "report.json").read_text())["zero_baseline"]
    assert info["problems"] == 3 and info["n"] == 8
    rates = info["expansion_rate"]
    assert rates["base"]["8"][0] == 0.0  # the base solves none of its suite at the stated n
    direct = np.mean([any(v) for v in (trained[i] for i in NEVER)])
    assert rates["rl"]["8"][0] == pytest.approx(direct)  # 2 of 3
    assert "expansion rate at k = 8: RL 0.667" in out
    assert load_run(rl).c(f"{TASK}:{make_problems(TaskSpec.parse('add'), 0, 6)[4].id}") == 2


def test_a_base_that_solved_everything_gives_no_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path, "base", [[True] * 8] * 4)
    assert main(["suite", "zero-baseline", str(base), "--out", str(tmp_path / "s")]) == 2
    assert "solved every problem" in capsys.readouterr().err
