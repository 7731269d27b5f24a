"""An imported completion without a finish reason is stored as ``unknown`` (BAD_INPUTS 40), and a run whose
finish reasons are unknown says its truncation is unknown, never 0%."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.cli.common import print_run_summary
from evalkit.compare.results import load_run, summarize
from evalkit.errors import EvalkitError
from evalkit.report.sections import rates_context
from evalkit.sampling.replay import iter_samples
from evalkit.sampling.runner import import_samples
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, make_problems

SPEC = TaskSpec.parse("add")


def _samples(path: Path, finish: list[str | None]) -> Path:
    problems = make_problems(SPEC, 0, len(finish))
    with path.open("w") as fh:
        for p, reason in zip(problems, finish, strict=True):
            row = {"problem_id": p.id, "completion": p.reference}
            if reason is not None:
                row["finish_reason"] = reason
            fh.write(json.dumps(row) + "\n")
    return path


def test_a_line_without_finish_reason_is_unknown(tmp_path: Path) -> None:
    path = _samples(tmp_path / "s.jsonl", [None, "stop", "length", "unknown"])
    assert [c.finish_reason for c in iter_samples(path)] == ["unknown", "stop", "length", "unknown"]


def test_a_bad_finish_reason_names_the_line(tmp_path: Path) -> None:
    path = _samples(tmp_path / "s.jsonl", ["stop", "eos"])
    with pytest.raises(EvalkitError, match=r"s\.jsonl:2.*finish_reason"):
        list(iter_samples(path))


def test_a_run_without_finish_reasons_says_truncation_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    import_samples(_samples(tmp_path / "s.jsonl", [None] * 4), [SPEC], run, quiet=True)
    assert {c.finish_reason for c in RunStore.open(run).iter_completions()} == {"unknown"}
    rates = summarize(load_run(run))["rates"]
    assert rates["finish_unknown"] == 1.0 and rates["truncated"] == 0.0
    capsys.readouterr()
    print_run_summary(run)
    out = capsys.readouterr().out
    assert "truncated  unknown" in out and "0.0%" not in out
    context = rates_context({"base": rates, "rl": rates})
    assert context is not None
    assert dict(context["rows"])["truncated"][0].text == "unknown"


def test_a_run_with_some_unknown_finish_reasons_says_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    import_samples(_samples(tmp_path / "s.jsonl", [None, "length", "stop", "stop"]), [SPEC], run, quiet=True)
    capsys.readouterr()
    print_run_summary(run)
    assert (
        "25.0% of completions stopped at the token limit (finish reason unknown for 25.0%)" in capsys.readouterr().out
    )
