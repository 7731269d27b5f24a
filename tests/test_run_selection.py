"""``--task`` and ``--problem`` select the same problems in every command that reads runs.

summary, compare, report, gate and forecast read runs through one loader (``evalkit.cli.common.load_runs``,
``evalkit.compare.selection``): the selected run must be what a run holding only those problems would be, and
an unknown task or id is one line naming it, exit 2.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.cli import main
from evalkit.compare.selection import Selection
from evalkit.errors import EvalkitError
from evalkit.tasks import unregister_factory
from evalkit.types import Problem

DATA = Path(__file__).parent / "data" / "import"
N = 8
SQ = [("q0", "What is 3 squared?", "9"), ("q1", "What is 4 squared?", "16"), ("q2", "What is 5 squared?", "25")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Base and RL runs of two tasks (arith: 4 problems, sq: 3), n = 8, and a base run of arith alone.

    Their task folder defines ``arith`` again: a task of that name registered from another folder by an
    earlier test module in the same process is forgotten first, and these are forgotten afterwards."""
    for name in ("arith", "sq"):
        unregister_factory(name)
    root = tmp_path_factory.mktemp("sel")
    tasks = root / "tasks"
    tasks.mkdir()
    shutil.copy(DATA / "arith.jsonl", tasks / "arith.jsonl")
    (tasks / "sq.jsonl").write_text(
        "".join(json.dumps({"problem_id": p, "prompt": q, "answer": a}) + "\n" for p, q, a in SQ)
    )
    arith = [json.loads(line) for line in (DATA / "arith.jsonl").read_text().splitlines()]
    problems = [(f"arith:{r['problem_id']}", r["answer"]) for r in arith] + [(f"sq:{p}", a) for p, _, a in SQ]
    out: dict[str, Path] = {}
    for name, rights in (("base", [6, 1, 0, 3, 8, 2, 0]), ("rl", [8, 4, 1, 0, 8, 5, 2]), ("arith_only", None)):
        counts = rights or [6, 1, 0, 3]
        samples = root / f"{name}.jsonl"
        with samples.open("w") as fh:
            for (pid, answer), right in zip(problems, counts, strict=False):
                for j in range(N):
                    text = f"The answer is {answer if j < right else int(answer) + 1}"
                    fh.write(json.dumps({"problem_id": pid, "completion": text, "sample_idx": j}) + "\n")
        specs = ["--task", "arith"] + ([] if name == "arith_only" else ["--task", "sq"])
        settings = ["--temperature", "1", "--top-p", "1", "--top-k", "0", "--max-tokens", "64", "--seed", "0"]
        code = main(["import", str(samples), "--out", str(root / name), "--tasks-dir", str(tasks), *specs, *settings])
        assert code == 0
        out[name] = root / name
    (root / "ids.txt").write_text("# two arith problems\narith:a0\n\narith:a3\n")
    out["ids"] = root / "ids.txt"
    yield out
    for name in ("arith", "sq"):
        unregister_factory(name)


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(list(args))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_summary_of_a_selection_is_the_run_of_those_problems(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    selected = _json(capsys, "summary", str(runs["base"]), "--task", "arith", "--json")
    alone = _json(capsys, "summary", str(runs["arith_only"]), "--json")
    for key in ("tasks", "problems", "rates", "unverified"):
        assert selected[key] == alone[key], key
    picked = _json(capsys, "summary", str(runs["base"]), "--problem", f"@{runs['ids']}", "--problem", "sq:q1", "--json")
    assert [p["problem_id"] for p in picked["problems"]] == ["arith:a0", "arith:a3", "sq:q1"]
    assert picked["tasks"]["arith"]["n_problems"] == 2 and picked["tasks"]["sq"]["n_problems"] == 1


def test_compare_report_gate_forecast_select_alike(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base, rl = str(runs["base"]), str(runs["rl"])
    assert main(["compare", base, rl, "--task", "sq", "--out", str(tmp_path / "c")]) == 0
    compared = json.loads((tmp_path / "c" / "report.json").read_text())
    assert set(compared["tasks"]) == {"sq"} and compared["tasks"]["sq"]["n_problems"] == 3
    assert main(["report", base, rl, "--problem", f"@{runs['ids']}", "--out", str(tmp_path / "r")]) == 0
    reported = json.loads((tmp_path / "r" / "report.json").read_text())
    assert set(reported["tasks"]) == {"arith"} and reported["tasks"]["arith"]["n_problems"] == 2
    capsys.readouterr()
    gated = _json(capsys, "gate", base, rl, "--task", "arith", "--k", "1", "--json")
    assert {c["task"] for c in gated["checks"]} == {"arith"} and gated["checks"][0]["problems"] == 4
    forecast = _json(capsys, "forecast", base, "--task", "sq", "--problem", "sq:q0", "--problem", "sq:q2", "--json")
    assert {row["task"] for row in forecast} == {"sq"} and {row["n_problems"] for row in forecast} == {2}


@pytest.mark.parametrize(
    ("command", "selection", "message"),
    [
        ("summary", ["--task", "geometry"], "no task 'geometry' in this run (its tasks: arith, sq)"),
        ("compare", ["--task", "geometry"], "no task 'geometry'"),
        ("report", ["--problem", "arith:zz"], "no problem 'arith:zz' in this run"),
        ("gate", ["--task", "sq", "--problem", "arith:a0"], "no problem 'arith:a0' among tasks sq"),
        ("forecast", ["--problem", "nope", "--problem", "nope2"], "no problem 'nope' in this run (1 more ids"),
        ("summary", ["--problem", "@/nonexistent/ids.txt"], "--problem @/nonexistent/ids.txt: cannot read it"),
    ],
)
def test_unknown_task_or_problem_is_one_line(
    runs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
    selection: list[str],
    message: str,
) -> None:
    args = {
        "summary": [str(runs["base"])],
        "compare": [str(runs["base"]), str(runs["rl"]), "--out", str(tmp_path / "o")],
        "report": [str(runs["base"]), str(runs["rl"]), "--out", str(tmp_path / "o")],
        "gate": [str(runs["base"]), str(runs["rl"])],
        "forecast": [str(runs["base"])],
    }[command]
    code = main([command, *args, *selection])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_scoped_task_names_select_one_configuration_or_all() -> None:
    problems = [
        Problem(id="a2", task="add@digits=2", prompt="", reference=""),
        Problem(id="a4", task="add@digits=4", prompt="", reference=""),
        Problem(id="s", task="sort", prompt="", reference=""),
    ]
    run = Path("run")
    assert [p.id for p in Selection.parse(["add"], None).apply(run, problems)] == ["a2", "a4"]
    assert [p.id for p in Selection.parse(["add@digits=4"], None).apply(run, problems)] == ["a4"]
    assert [p.id for p in Selection.parse(None, ["s", "a2", "s"]).apply(run, problems)] == ["a2", "s"]
    assert not Selection.parse([], [])
    with pytest.raises(EvalkitError, match="no task 'add@digits=3'"):
        Selection.parse(["add@digits=3"], None).apply(run, problems)


def test_a_full_spec_selects_the_one_configuration_a_run_holds(tmp_path: Path) -> None:
    """A run that holds one configuration scopes it by the plain name (``add``); the spec it was made from
    (``add@digits=3``) selects the same problems, and a spec of another configuration is an error naming it."""
    from evalkit.compare.results import load_run
    from evalkit.tasks import TaskSpec, make_problems

    spec = TaskSpec.parse("add@digits=3")
    problems = make_problems(spec, 0, 5)
    samples = tmp_path / "s.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"problem_id": p.id, "completion": p.reference if j < i else "0", "sample_idx": j}) + "\n"
            for i, p in enumerate(problems)
            for j in range(4)
        )
    )
    assert main(["import", str(samples), "--out", str(tmp_path / "run"), "--task", "add@digits=3"]) == 0
    plain = load_run(tmp_path / "run", Selection.parse(["add"], None))
    by_spec = load_run(tmp_path / "run", Selection.parse(["add@digits=3"], None))
    assert [p.task for p in plain.problems] == ["add"] * 5
    assert [p.id for p in by_spec.problems] == [p.id for p in plain.problems] == [p.id for p in problems]
    with pytest.raises(EvalkitError, match="no task 'add@digits=4'"):
        load_run(tmp_path / "run", Selection.parse(["add@digits=4"], None))
