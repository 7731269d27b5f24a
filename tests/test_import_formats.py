"""``evalkit import --format``: lm-evaluation-harness sample logs, lighteval details, plain JSONL with ``--field``.

The fixtures under tests/data/import were written by the tools themselves (lm-eval 0.4.13's CLI and sample
logger, lighteval 0.13's EvaluationTracker; the scripts beside them say how), for the four problems of the
task file tests/data/import/arith.jsonl. Each import must store exactly the completions the file holds, under
the problem its position names, and round-trip the provenance the format records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from evalkit.cli import main
from evalkit.store import RunStore

DATA = Path(__file__).parent / "data" / "import"
LM_EVAL = next((DATA / "lm_eval").rglob("samples_arith_*.jsonl"))
LIGHTEVAL = next((DATA / "lighteval").rglob("details_arith_*.parquet"))
TASK_IDS = [f"arith:{json.loads(line)['problem_id']}" for line in (DATA / "arith.jsonl").read_text().splitlines()]


def _import(capsys: pytest.CaptureFixture[str], samples: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["import", str(samples), "--out", str(out), "--tasks-dir", str(DATA), "--task", "arith", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _stored(run: Path) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    for table in RunStore.open(run).completion_batches(("problem_id", "sample_idx", "text")):
        for row in table.to_pylist():
            out[(row["problem_id"], row["sample_idx"])] = row["text"]
    return out


def _identity(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "manifest.json").read_text())["identity"])


def test_lm_eval_log_samples_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _import(capsys, LM_EVAL, tmp_path / "run")  # format detected from the lines
    assert code == 0, out
    lines = [json.loads(line) for line in LM_EVAL.read_text().splitlines()]
    first = [row for row in lines if row["filter"] == lines[0]["filter"]]  # one line per document and filter
    assert len(lines) == 2 * len(first) == 8
    expected = {(TASK_IDS[row["doc_id"]], j): text for row in first for j, text in enumerate(row["resps"][0])}
    assert _stored(tmp_path / "run") == expected
    identity = _identity(tmp_path / "run")
    gen = first[0]["arguments"]["gen_args_0"]["arg_1"]
    assert identity["model"] == "example-org/tiny-math-1b"
    assert identity["sampling"] == {
        "temperature": gen["temperature"], "top_p": gen["top_p"], "top_k": None,
        "max_tokens": gen["max_gen_toks"], "stop": gen["until"],
    }  # fmt: skip
    assert identity["seed"] is None and identity["prompt_format"] == "raw"  # results file: chat_template null
    assert identity["provenance"]["format"] == "lm-eval" and identity["provenance"]["unknown"] == ["top_k", "seed"]
    # the harness's own verdict on sample 0 (strict-match filter: "The answer is N") agrees with evalkit's
    store = RunStore.open(tmp_path / "run")
    verdicts = {key: v.passed for key, v in store.verdicts().items()}
    for row in first:
        assert verdicts[(TASK_IDS[row["doc_id"]], 0)] == (row["exact_match"] == 1.0)


def test_lighteval_details_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _import(capsys, LIGHTEVAL, tmp_path / "run")
    assert code == 0, out
    rows = pq.read_table(LIGHTEVAL).to_pylist()
    expected = {
        (TASK_IDS[int(row["doc"]["id"])], j): text
        for row in rows
        for j, text in enumerate(row["model_response"]["text"])
    }
    assert len(expected) == 16 and _stored(tmp_path / "run") == expected
    identity = _identity(tmp_path / "run")
    results = json.loads(next((DATA / "lighteval" / "results").rglob("results_*.json")).read_text())
    config = results["config_general"]["model_config"]
    params = config["generation_parameters"]
    assert identity["model"] == config["model_name"] == "example-org/tiny-math-1b-rl"
    assert identity["sampling"] == {
        "temperature": params["temperature"], "top_p": params["top_p"], "top_k": None,
        "max_tokens": params["max_new_tokens"], "stop": params["stop_tokens"],
    }  # fmt: skip
    assert identity["seed"] == params["seed"] == 7
    assert identity["provenance"]["unknown"] == ["top_k", "prompt_format"]


def test_older_lm_eval_layout_and_greedy_path_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """lm-eval before 0.4.3 logged ``arguments`` as [[context, gen_kwargs]] and ``model_args`` as a string; a
    checkpoint path as the model becomes its last part, and do_sample false is greedy (temperature 0)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    samples = folder / LM_EVAL.name
    with samples.open("w") as fh:
        for line in LM_EVAL.read_text().splitlines():
            row = json.loads(line)
            kwargs = {"until": ["\n\n"], "do_sample": False, "max_gen_toks": 32}
            row["arguments"] = [[row["arguments"]["gen_args_0"]["arg_0"], kwargs]]
            fh.write(json.dumps(row) + "\n")
    results = json.loads(next(LM_EVAL.parent.glob("results_*.json")).read_text())
    results.pop("model_name")
    results["config"]["model_args"] = "pretrained=/home/someone/ckpts/grpo-step-500,dtype=bfloat16"
    (folder / next(LM_EVAL.parent.glob("results_*.json")).name).write_text(json.dumps(results))
    code, out = _import(capsys, samples, tmp_path / "run", "--format", "lm-eval")
    assert code == 0, out
    identity = _identity(tmp_path / "run")
    assert identity["model"] == "imported:grpo-step-500" and "/home" not in json.dumps(identity)
    assert identity["sampling"]["temperature"] == 0.0 and identity["sampling"]["max_tokens"] == 32
    assert identity["sampling"]["top_p"] is None  # not stated: never the engine's default


def test_lighteval_details_without_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lone = tmp_path / LIGHTEVAL.name
    shutil.copy(LIGHTEVAL, lone)
    code, out = _import(capsys, lone, tmp_path / "run")
    assert code == 0, out
    identity = _identity(tmp_path / "run")
    assert identity["model"] == f"imported:{lone.name}"
    assert set(identity["sampling"].values()) == {None} and identity["seed"] is None
    assert "temperature unknown" in out and "seed unknown" in out


def test_plain_jsonl_field_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A vLLM script's layout: one line per problem with a list of outputs; and one that numbers problems."""
    by_id = tmp_path / "by_id.jsonl"
    by_id.write_text(
        "".join(
            json.dumps({"id": pid, "out": {"texts": [f"{i}", "The answer is 5"]}}) + "\n"
            for i, pid in enumerate(TASK_IDS)
        )
    )
    code, out = _import(capsys, by_id, tmp_path / "a", "--field", "problem_id=id", "--field", "completion=out.texts")
    assert code == 0, out
    assert _stored(tmp_path / "a") == {
        (pid, j): text for i, pid in enumerate(TASK_IDS) for j, text in enumerate([f"{i}", "The answer is 5"])
    }
    by_position = tmp_path / "by_position.jsonl"
    by_position.write_text("".join(json.dumps({"row": i, "gen": f"answer {i}"}) + "\n" for i in (3, 1)))
    code, out = _import(
        capsys, by_position, tmp_path / "b", "--field", "position=row", "--field", "completion=gen", "--format", "jsonl"
    )
    assert code == 0, out
    assert _stored(tmp_path / "b") == {(TASK_IDS[3], 0): "answer 3", (TASK_IDS[1], 0): "answer 1"}


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (
            lambda p: p.write_text(json.dumps({"doc_id": 9, "resps": [["x"]], "filter": "f"}) + "\n"),
            (),
            "doc_id 9 is past",
        ),
        (
            lambda p: p.write_text(json.dumps({"doc_id": 0, "resps": [[[-1.0, False]], [[-2.0, True]]]}) + "\n"),
            (),
            "generation tasks",
        ),
        (lambda p: p.write_text('{"doc_id": 0, "resps": [["x"]]}\n{"doc_id": 1\n'), (), ":2: not valid JSON"),
        (
            lambda p: p.write_text('{"doc_id": 0, "resps": [["x"]]}\n'),
            ("--format", "lm-eval", "--field", "completion=x"),
            "--field maps",
        ),
        (lambda p: p.write_text('{"a": 1}\n'), ("--format", "csv"), "--format 'csv': unknown format"),
        (lambda p: p.write_text('{"a": 1}\n'), ("--field", "answer=a"), "unknown field 'answer'"),
        (lambda p: p.write_text('{"a": 1}\n'), ("--field", "completion=b"), ":1: no key 'b'"),
    ],
)
def test_bad_files_and_options_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, extra: tuple[str, ...], message: str
) -> None:
    samples = tmp_path / "samples_arith_x.jsonl"
    make(samples)
    code, out = _import(capsys, samples, tmp_path / "run", *extra)
    assert code == 2 and message in out and "Traceback" not in out
    assert not (tmp_path / "run").exists()


def test_position_formats_take_one_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["import", str(LM_EVAL), "--out", str(tmp_path / "r"), "--tasks-dir", str(DATA), "--task", "arith",
         "--task", "arith@strict=true"]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 2 and "holds one task" in out.err
