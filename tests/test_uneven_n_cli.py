"""Runs whose problems hold uneven numbers of samples within a task (an import whose file lacks some samples),
through the command line: ``summary``, ``compare``, ``report`` and ``gate`` refuse them in one line naming the
run, the task and the counts (exit 2), or with ``--truncate-n`` use every problem's first n samples, n the task's
smallest, and say so in the text and the JSON (``truncate_n``); the result is that of runs holding only those
samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_compare_gate import make_run

from evalkit import cli

N, SHORT = 8, 4
# ten problems: the last three hold only SHORT samples; the base solves half of each problem's samples
BASE = [[j % 2 == 0 for j in range(N if i < 7 else SHORT)] for i in range(10)]
RL = [[j % 4 == 0 for j in range(N if i < 7 else SHORT)] for i in range(10)]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("uneven")
    return {
        "base": make_run(root, "base", BASE),
        "rl": make_run(root, "rl", RL),
        # the same samples cut by hand to the first SHORT of each problem: what --truncate-n must give
        "base_cut": make_run(root, "base_cut", [row[:SHORT] for row in BASE]),
        "rl_cut": make_run(root, "rl_cut", [row[:SHORT] for row in RL]),
        "rl_even": make_run(root, "rl_even", [[j % 4 == 0 for j in range(N)] for _ in range(10)]),
    }


def _refused(code: int, err: str, *names: Path) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    line = lines[0]
    assert all(str(name) in line for name in names)
    assert "task add: 7 problem(s) have 8 samples, 3 have 4" in line and "--truncate-n" in line
    assert "add-" in line  # names some of the short problems


@pytest.mark.parametrize("command", ["summary", "compare", "report", "gate"])
def test_uneven_n_is_refused_in_one_line(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [command, str(runs["base"])] + ([] if command == "summary" else [str(runs["rl"])])
    if command in ("compare", "report"):
        argv += ["--out", str(tmp_path / "out")]
    code, _out, err = run_main(argv, capsys)
    _refused(code, err, runs["base"])
    assert not (tmp_path / "out").exists()


def test_an_uneven_base_against_an_even_rl_run_is_refused(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # compared per problem at min(8, 8) and min(4, 8): still two n in one task
    code, _out, err = run_main(["gate", str(runs["base"]), str(runs["rl_even"])], capsys)
    _refused(code, err, runs["base"], runs["rl_even"])
    assert "baseline 4..8, candidate 8" in err


def test_summary_truncate_n(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["summary", str(runs["base"]), "--truncate-n", "--json"], capsys)
    assert code == 0, err
    body = json.loads(out)
    assert body["truncate_n"] == {
        "option": "--truncate-n",
        "tasks": [{"task": "add", "n": 4, "problems_cut": 7, "problems": 10, "samples_per_problem": {"run": [4, 8]}}],
    }
    code, out, _err = run_main(["summary", str(runs["base_cut"]), "--json"], capsys)
    cut = json.loads(out)
    assert body["tasks"]["add"]["pass_at_k"] == cut["tasks"]["add"]["pass_at_k"]
    assert body["tasks"]["add"]["n_min"] == body["tasks"]["add"]["n_max"] == 4
    assert [p["n"] for p in body["problems"]] == [4] * 10
    code, out, _err = run_main(["summary", str(runs["base"]), "--truncate-n"], capsys)
    assert code == 0 and out.startswith("truncated (--truncate-n): task add compared at n = 4")
    # a run with one n per task is not cut, and says nothing
    code, out, _err = run_main(["summary", str(runs["base_cut"]), "--truncate-n", "--json"], capsys)
    assert code == 0 and json.loads(out)["truncate_n"] is None


def test_compare_truncate_n(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["compare", str(runs["base"]), str(runs["rl"]), "--truncate-n", "--out", str(tmp_path / "cmp")]
    code, out, err = run_main(argv, capsys)
    assert code == 0, err
    assert "truncated (--truncate-n): task add compared at n = 4" in out and "base 4..8, RL 4..8" in out
    summary = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert summary["truncate_n"]["tasks"][0]["n"] == 4 and summary["truncate_n"]["tasks"][0]["problems_cut"] == 7
    assert any(note.startswith("truncated (--truncate-n)") for note in summary["notes"])
    assert [g["scope"] for g in summary["groups"]] == [{"tasks": ["add"], "n": 4}]
    assert {row["n"] for row in summary["problems"]} == {4}
    assert summary["gate"]["command"].endswith("--truncate-n")
    code, _out, err = run_main(
        ["compare", str(runs["base_cut"]), str(runs["rl_cut"]), "--out", str(tmp_path / "c")], capsys
    )
    assert code == 0, err
    by_hand = json.loads((tmp_path / "c" / "report.json").read_text())
    assert summary["overall"]["pass_at_k"] == by_hand["overall"]["pass_at_k"]
    assert summary["overall"]["classes"] == by_hand["overall"]["classes"]
    assert by_hand["truncate_n"] is None


def test_gate_truncate_n(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gate", str(runs["base"]), str(runs["rl"]), "--k", "1", "--k", "4", "--max-drop", "0.5", "--json"]
    code, out, err = run_main([*argv, "--truncate-n"], capsys)
    assert code == 0, err
    gate = json.loads(out)
    assert gate["truncate_n"]["tasks"][0]["samples_per_problem"] == {"baseline": [4, 8], "candidate": [4, 8]}
    assert gate["command"].endswith("--truncate-n")
    by_hand = [str(runs["base_cut"]), str(runs["rl_cut"])]
    code, out, err = run_main(["gate", *by_hand, "--k", "1", "--k", "4", "--max-drop", "0.5", "--json"], capsys)
    assert code == 0, err
    same = json.loads(out)
    keys = ("k", "baseline", "candidate", "delta", "p_value")
    assert [{k: c[k] for k in keys} for c in gate["checks"]] == [{k: c[k] for k in keys} for c in same["checks"]]
    code, out, _err = run_main([*argv[:-1], "--truncate-n"], capsys)  # the text says it too
    assert out.startswith("truncated (--truncate-n): task add compared at n = 4")


def test_import_warns_of_uneven_n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_compare_gate import write_samples

    samples = write_samples(tmp_path / "s.jsonl", BASE, len(BASE))
    code, _out, err = run_main(["import", str(samples), "--out", str(tmp_path / "run"), "--task", "add"], capsys)
    assert code == 0, err
    assert "warning: uneven samples per problem, task add: 7 problem(s) have 8 samples, 3 have 4" in err
    assert "--truncate-n" in err


def test_an_uneven_intermediate_run_is_refused_or_cut(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    even, mid = str(runs["rl_even"]), str(runs["base"])
    code, _out, err = run_main(["report", even, mid, even, "--out", str(tmp_path / "rep")], capsys)
    _refused(code, err, runs["rl_even"], runs["base"])
    assert f"intermediate ({mid}) 4..8" in err
    argv = ["compare", even, even, "--mid", mid, "--truncate-n", "--out", str(tmp_path / "cmp")]
    code, _out, err = run_main(argv, capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert summary["truncate_n"]["tasks"][0]["samples_per_problem"] == {
        "base": [8, 8],
        f"intermediate ({mid})": [4, 8],
        "RL": [8, 8],
    }
    assert summary["trajectory"]["tasks"]["add"]["n"] == 4
