"""``evalkit import`` records how the completions were made, and what nobody stated stays unknown.

Options win over ``--settings FILE`` (or the sidecar ``<stem>.settings.json``), which win over the format's own
record; a setting none of them gives is null in the manifest and "unknown" in the summary text, the JSON, the
report's Runs table and the comparison warnings, never a default; the model label is never a machine path
unless the user gives one; ``evalkit likelihood`` refuses a run whose sampler is unknown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evalkit.cli import main
from evalkit.report.overview import runs_context

DATA = Path(__file__).parent / "data" / "import"
TASK_IDS = [f"arith:{json.loads(line)['problem_id']}" for line in (DATA / "arith.jsonl").read_text().splitlines()]
ANSWERS = ["5", "42", "6", "18"]


def _samples(path: Path, wrong: int = 0) -> Path:
    """Two samples per problem of arith.jsonl; the first ``wrong`` problems answered wrong."""
    with path.open("w") as fh:
        for i, (pid, answer) in enumerate(zip(TASK_IDS, ANSWERS, strict=True)):
            for j in range(2):
                text = f"The answer is {int(answer) + 1 if i < wrong else answer}"
                fh.write(json.dumps({"problem_id": pid, "completion": text, "sample_idx": j}) + "\n")
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _import(capsys: pytest.CaptureFixture[str], samples: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    return _run(capsys, "import", str(samples), "--out", str(out), "--tasks-dir", str(DATA), "--task", "arith", *extra)


def _subprocess_import(samples: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["import", str(samples), "--out", str(out), "--tasks-dir", str(DATA), "--task", "arith", *extra]
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=120)


def _identity(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "manifest.json").read_text())["identity"])


def test_nothing_stated_is_unknown_everywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = _samples(tmp_path / "outputs.jsonl")
    code, out, err = _import(capsys, samples, tmp_path / "run")
    assert code == 0, err
    identity = _identity(tmp_path / "run")
    assert identity["model"] == "imported:outputs.jsonl"
    assert str(tmp_path) not in json.dumps(identity)  # no machine path as the model, nor anywhere else
    assert identity["sampling"] == dict.fromkeys(("temperature", "top_p", "top_k", "max_tokens", "stop"))
    assert identity["seed"] is None and identity["prompt_format"] is None
    unknown = ["temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "prompt_format"]
    assert identity["provenance"]["unknown"] == unknown
    assert "temperature unknown  top_p unknown  top_k unknown  max_tokens unknown  seed unknown" in out
    assert "prompt_format unknown" in out and "truncated  unknown" in out
    code, out, err = _run(capsys, "summary", str(tmp_path / "run"), "--json")
    summary = json.loads(out)
    assert summary["model"] == "imported:outputs.jsonl" and summary["unknown_settings"] == unknown
    assert summary["sampling"]["temperature"] is None and summary["seed"] is None
    assert summary["prompt_format"] is None


def test_options_settings_file_and_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = _samples(tmp_path / "outputs.jsonl")
    sidecar = tmp_path / "outputs.settings.json"
    sidecar.write_text(json.dumps({"model_name": "org/base-7b", "temperature": 0.6, "top_p": 0.95, "max_tokens": 3072}))
    code, _, err = _import(capsys, samples, tmp_path / "a")  # the sidecar is read by itself
    assert code == 0, err
    identity = _identity(tmp_path / "a")
    assert identity["model"] == "org/base-7b"
    assert identity["sampling"] == {"temperature": 0.6, "top_p": 0.95, "top_k": None, "max_tokens": 3072, "stop": None}
    assert identity["provenance"]["from"]["temperature"] == "outputs.settings.json"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"temperature": 1.0, "top_k": 20, "prompt_format": "chat", "seed": 3}))
    # in other processes: a run's writer lock is held by the process that wrote it
    first = _subprocess_import(samples, tmp_path / "b", "--settings", str(other), "--temperature", "0.7",
                               "--model-name", "/ckpt/rl")  # fmt: skip
    assert first.returncode == 0, first.stderr
    out = first.stdout
    identity = _identity(tmp_path / "b")
    assert identity["model"] == "/ckpt/rl"  # given by the user: kept as given
    assert identity["sampling"]["temperature"] == 0.7 and identity["sampling"]["top_k"] == 20
    assert identity["sampling"]["top_p"] is None  # --settings replaces the sidecar; it does not say top-p
    assert identity["seed"] == 3 and identity["prompt_format"] == "chat"
    assert identity["provenance"]["from"]["temperature"] == "--temperature"
    assert "temperature 0.7  top_p unknown  top_k 20" in out
    # the settings are the run's identity: importing again under other settings is refused, naming the options
    # as typed (never the manifest's keys), a setting stated now and not before as unknown before
    again = _subprocess_import(samples, tmp_path / "b", "--settings", str(other), "--temperature", "0.8",
                               "--top-p", "0.9", "--model-name", "/ckpt/rl")  # fmt: skip
    errors = [line for line in again.stderr.splitlines() if line.startswith("error: ")]
    assert again.returncode == 2 and len(errors) == 1, again.stderr
    assert "--temperature: 0.7 -> 0.8; --top-p: unknown -> 0.9" in again.stderr
    assert "sampling." not in again.stderr and "provenance" not in again.stderr
    assert "--model-name" not in again.stderr  # unchanged: not named


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"temprature": 0.6}', "unknown setting 'temprature'"),
        ('{"top_p": 2}', "top_p must be in (0, 1]"),
        ('{"max_tokens": "long"}', "max_tokens must be an integer"),
        ("[1, 2]", "expected a JSON object"),
        ('{"seed": 1', "not valid JSON"),
    ],
)
def test_bad_settings_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    samples = _samples(tmp_path / "s.jsonl")
    settings = tmp_path / "settings.json"
    settings.write_text(content)
    code, _, err = _import(capsys, samples, tmp_path / "run", "--settings", str(settings))
    assert code == 2 and message in err and str(settings) in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_bad_option_values_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = _samples(tmp_path / "s.jsonl")
    code, _, err = _import(capsys, samples, tmp_path / "run", "--top-p", "1.5")
    assert code == 2 and "--top-p: top_p must be in (0, 1]" in err


def test_comparison_and_runs_table_say_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, rl = tmp_path / "base", tmp_path / "rl"
    assert _import(capsys, _samples(tmp_path / "b.jsonl", wrong=2), base, "--temperature", "0.6")[0] == 0
    assert _import(capsys, _samples(tmp_path / "r.jsonl", wrong=1), rl)[0] == 0
    code, _, err = _run(capsys, "compare", str(base), str(rl), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    # a setting stated for one run and unknown for the other is unknown, not a difference
    assert "sampling configurations differ" not in err and "prompt formats differ" not in err
    assert "the RL run's temperature, top_p, top_k, max_tokens, stop, seed, prompt_format are unknown" in err
    summary = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert summary["runs"]["rl"]["unknown_settings"][0] == "temperature"
    assert summary["runs"]["rl"]["sampling"]["temperature"] is None  # null in the JSON, never a default
    rows = {label: values for label, _, values in runs_context(summary)["rows"]}
    assert rows["sampling"][0]["temperature"] == 0.6 and rows["sampling"][1]["temperature"] == "unknown"
    assert rows["sampling"][0]["top_p"] == "unknown" and rows["seed"] == ["unknown", "unknown"]
    assert rows["model checkpoint"] == ["imported:b.jsonl", "imported:r.jsonl"]
    assert "unknown" in (tmp_path / "cmp" / "report.html").read_text()
    code, out, err = _run(capsys, "gate", str(base), str(rl), "--json")  # not refused as unlike runs
    assert code in (0, 1), err
    assert "the candidate run's temperature" in err and "not comparable" not in err
    gate = json.loads(out)
    assert gate["unknown_settings"] and not gate["warnings"]  # unknown, said so; no mismatch warning
    # a setting known in both runs and different is still a difference: refused by the gate
    assert _import(capsys, _samples(tmp_path / "h.jsonl"), tmp_path / "hot", "--temperature", "1.0")[0] == 0
    code, _, err = _run(capsys, "gate", str(base), str(tmp_path / "hot"))
    assert code == 2 and "temperature 0.6 vs 1.0" in err


def test_likelihood_refuses_an_unknown_sampler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_ckpt: Path
) -> None:
    run = tmp_path / "run"
    assert _import(capsys, _samples(tmp_path / "s.jsonl"), run, "--temperature", "1.0")[0] == 0
    code, _, err = _run(capsys, "likelihood", str(tiny_ckpt), str(run))
    assert code == 2 and "top_p, top_k are unknown" in err and "--top-p VALUE --top-k VALUE" in err
    assert not (run / "likelihood").exists() or not any((run / "likelihood").iterdir())


def test_likelihood_refuses_an_unknown_prompt_format_unless_stated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_ckpt: Path
) -> None:
    run = tmp_path / "run"
    sampler = ["--temperature", "1.0", "--top-p", "1.0", "--top-k", "0"]
    assert _import(capsys, _samples(tmp_path / "s.jsonl"), run, *sampler)[0] == 0
    code, out, err = _run(capsys, "likelihood", str(tiny_ckpt), str(run))
    assert code == 2 and err.count("\n") == 1, err  # one line, naming the run and the option
    assert str(run) in err and "prompt_format is unknown" in err and "--prompt-format raw|chat" in err
    assert not (run / "likelihood").exists() or not any((run / "likelihood").iterdir())
    code, _, err = _run(capsys, "likelihood", str(tiny_ckpt), str(run), "--prompt-format", "llama3")
    assert code == 2 and "--prompt-format 'llama3'" in err
    code, out, err = _run(capsys, "likelihood", str(tiny_ckpt), str(run), "--prompt-format", "raw")
    assert code == 0, err
    results = Path(out.strip().splitlines()[-1])
    assert json.loads(results.read_text().splitlines()[0])["prompt_format"] == "raw"


def test_stop_strings_stated_on_the_command_line(tmp_path: Path) -> None:
    """``--stop`` records the stop strings (``--stop ''``: none were used); without it, stop is unknown (null)."""
    from evalkit.tasks import TaskSpec, make_problems

    problems = make_problems(TaskSpec.parse("add"), 0, 3)
    samples = tmp_path / "s.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"problem_id": p.id, "completion": p.reference, "sample_idx": j}) + "\n"
            for p in problems
            for j in range(2)
        )
    )
    stated = ["--temperature", "1", "--top-p", "1", "--top-k", "0", "--max-tokens", "32", "--seed", "0"]
    for name, extra, want in (
        ("none", ["--stop", ""], []),
        ("two", ["--stop", "</s>", "--stop", "\n\n"], ["</s>", "\n\n"]),
        ("unknown", [], None),
    ):
        assert main(["import", str(samples), "--out", str(tmp_path / name), "--task", "add", *stated, *extra]) == 0
        sampling = json.loads((tmp_path / name / "manifest.json").read_text())["identity"]["sampling"]
        assert sampling["stop"] == want, name
