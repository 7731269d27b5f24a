"""``evalkit audit guess``: pass@k against random guessing from the task's answer space, per problem and task;
the "above guessing" calls keep their family-wise error rate in simulation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import evalkit.cli as cli
from evalkit.compare.results import RunResults
from evalkit.stats import holm
from evalkit.stats.guess import above_guess_pvalues, guess_pass_at_k
from evalkit.types import Problem
from evalkit.validity.guess import guess_report

N = 64


def import_run(tmp_path: Path, capsys: pytest.CaptureFixture[str], correct: dict[str, int]) -> Path:
    """An imported aime24 run (bundled sample): ``correct[pid]`` of N samples give the reference answer."""
    from evalkit.tasks import TaskSpec, make_problems

    problems = {p.id: p for p in make_problems(TaskSpec.parse("aime24@sample=true"), 0, 100)}
    lines = []
    for pid, c in correct.items():
        wrong = str((int(problems[pid].reference) + 1) % 1000)
        for i in range(N):
            answer = problems[pid].reference if i < c else wrong
            lines.append(json.dumps({"problem_id": pid, "sample_idx": i, "completion": f"So \\boxed{{{answer}}}"}))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    code = cli.main(["import", str(samples), "--task", "aime24@sample=true", "--out", str(run)])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return run


def test_audit_guess_on_an_aime_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = import_run(tmp_path, capsys, {"aime24:9016": N, "aime24:9011": 1, "aime24:9001": 0, "aime24:9008": 3})
    assert cli.main(["audit", "guess", str(run), "--json", "--k", "1", "--k", "64", "--k", "128"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["problem_id"]: r for r in report["problems"]}
    assert {r["answers"] for r in rows.values()} == {1000}  # AIME tasks know their answer space
    # 1 of 64 is what a uniform guesser gets with probability 1 - 0.999^64 = 0.062: within reach; so is 0 of 64
    assert rows["aime24:9011"]["within_reach"] and rows["aime24:9001"]["within_reach"]
    # 64 of 64 and 3 of 64 are far above a rate of 1/1000 (Holm over the 4 problems)
    assert not rows["aime24:9016"]["within_reach"] and not rows["aime24:9008"]["within_reach"]
    at64 = rows["aime24:9011"]["pass_at_k"]["64"]
    assert at64["observed"] == pytest.approx(1.0) and at64["guess"] == pytest.approx(1 - 0.999**64)
    assert at64["guess_distinct"] == pytest.approx(0.064)
    assert rows["aime24:9011"]["pass_at_k"]["1"]["observed"] == pytest.approx(1 / 64)
    assert rows["aime24:9011"]["pass_at_k"]["128"]["observed"] is None  # k > n is not estimated
    task = report["tasks"]["aime24"]
    assert task["answers"] == 1000 and task["problems"] == 4 and task["within_reach"] == 2
    assert task["pass_at_k"]["1"]["observed"] == pytest.approx((64 + 1 + 0 + 3) / 4 / 64)
    # the terminal lines; --answers overrides the task's space
    assert cli.main(["audit", "guess", str(run), "--answers", "2"]) == 0
    out = capsys.readouterr().out
    assert "aime24: 3 of 4 problems within reach of guessing (2 answers" in out  # a coin finds 3 of 64, not 64
    assert "k=64" in out


def test_audit_guess_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = import_run(tmp_path, capsys, {"aime24:9016": 2})
    for argv, message in [
        (["--answers", "1"], "--answers must be at least 2"),
        (["--confidence", "1.5"], "--confidence must be between 0 and 1"),
        (["--k", "0"], "--k must be >= 1"),
    ]:
        assert cli.main(["audit", "guess", str(run), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert cli.main(["audit", "guess", str(tmp_path / "nothing")]) == 2
    assert "not an evalkit run directory" in capsys.readouterr().err


def results_of(task: str, counts: list[tuple[int, int]]) -> RunResults:
    """A RunResults of problems with (n, c) counts (correct samples first)."""
    problems = [Problem(f"{task}-{i}", task, "q", "1") for i in range(len(counts))]
    passed = {p.id: np.arange(n) < c for p, (n, c) in zip(problems, counts, strict=True)}
    return RunResults(Path("run"), {}, problems, passed, {}, 0)


def test_a_task_without_an_answer_space_needs_answers() -> None:
    from evalkit.errors import EvalkitError

    with pytest.raises(EvalkitError, match=r"task add does not say how many answers it has; pass --answers N"):
        guess_report(results_of("add", [(8, 1)]))
    report = guess_report(results_of("add", [(8, 1), (8, 8)]), answers=4)
    assert [r["within_reach"] for r in report["problems"]] == [True, False]


def test_above_guessing_calls_keep_their_family_wise_error_rate() -> None:
    """Problems whose true rate is exactly the guess rate: the chance that any of 20 is called above guessing
    stays at or below 5% (Holm over exact binomial p-values), for several n and answer spaces."""
    rng = np.random.default_rng(0)
    reps = 4000
    for n, answers in ((16, 2), (64, 4), (256, 1000)):
        c = rng.binomial(n, 1 / answers, size=(reps, 20))
        p = above_guess_pvalues(n, c, answers)
        any_call = np.array([np.any(holm(row) <= 0.05) for row in p])
        assert any_call.mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)
        # one problem at a time the test is exact: P(p <= 0.05) <= 0.05
        assert (p <= 0.05).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / p.size)
    # and it has power: a rate of 4/A with n = 256, A = 100 is called above in most runs
    c = rng.binomial(256, 0.04, size=2000)
    assert (above_guess_pvalues(256, c, 100) <= 0.05).mean() > 0.8
    assert guess_pass_at_k(1000, 1024) == pytest.approx(0.6410, abs=1e-4)
