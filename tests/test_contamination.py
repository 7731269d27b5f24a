"""The contamination audit end to end: a tiny model memorises the statements of 8 of 16 problems, and
``evalkit audit contamination`` must flag those (precision and recall >= 0.9) and none of the others; the
audit's run resumes like any run; bad inputs are one-line errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import evalkit.cli as cli
from evalkit.errors import EvalkitError
from evalkit.types import Problem
from evalkit.validity.contamination import (
    contamination_report,
    flag_fraction,
    parse_fractions,
    prefixed_problems,
    score_continuation,
)

_WORD_TEXT = (
    "apple river stone garden window silver market candle forest bridge yellow engine pocket rabbit thunder basket "
    "marble ocean pencil ladder violet copper harbor meadow lantern puzzle saddle tunnel orange feather castle cotton "
    "desert island jacket kettle lemon mirror needle oyster parrot quilt ribbon shadow tiger velvet wagon zebra"
)
WORDS = _WORD_TEXT.split()
N_PROBLEMS, N_MEMORISED = 16, 8


def statements() -> list[str]:
    """16 statements of 14 words, 12 of them drawn at random: nothing but memory can continue one."""
    rng = random.Random(0)
    return ["How many " + " ".join(rng.sample(WORDS, 12)) + "?" for _ in range(N_PROBLEMS)]


def train_memorised(texts: list[str], out: Path, steps: int = 120) -> Path:
    """A 2-layer, 128-wide character-level Llama trained on ``texts`` as plain text (every token in the loss)
    until it has them by heart (about 15 s on one busy core)."""
    import torch

    from evalkit.train.tinymodel import TinyConfig, build_model, build_tokenizer, save_checkpoint

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: one thread is several times faster than two that wait
    try:
        tokenizer = build_tokenizer()
        model = build_model(tokenizer, TinyConfig(128, 2, 4, 256, max_positions=192), seed=0)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
        encoded = [[*tokenizer(t)["input_ids"], tokenizer.eos_token_id] for t in texts]
        width = max(map(len, encoded))
        ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(encoded), width), -100, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, row in enumerate(encoded):
            ids[i, : len(row)] = labels[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        model.train()
        for _ in range(steps):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        return save_checkpoint(model, tokenizer, out, {"kind": "memorised", "final_loss": float(loss.detach())})
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def memorised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, task folder): the folder's task ``memo`` has 16 problems; the model memorised p00-p07."""
    root = tmp_path_factory.mktemp("memo")
    texts = statements()
    tasks = root / "tasks"
    tasks.mkdir()
    rows = [{"problem_id": f"p{i:02d}", "prompt": t, "answer": str(i)} for i, t in enumerate(texts)]
    (tasks / "memo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return train_memorised(texts[:N_MEMORISED], root / "ckpt"), tasks


def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300, env=env
    )


def audit_args(ckpt: Path, tasks: Path, out: Path, *extra: str) -> list[str]:
    return ["audit", "contamination", str(ckpt), "--task", "memo", "--tasks-dir", str(tasks), "--out", str(out), *extra]


@pytest.mark.slow
def test_audit_flags_the_memorised_statements(memorised: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, tasks = memorised
    run = tmp_path / "audit"
    result = cli_run(*audit_args(ckpt, tasks, run, "--json"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    truth = {f"memo:p{i:02d}" for i in range(N_MEMORISED)}
    flagged = {row["problem_id"] for row in report["problems"] if row["flagged"]}
    assert len(report["problems"]) == N_PROBLEMS
    hits = len(flagged & truth)
    precision = hits / len(flagged) if flagged else 0.0
    recall = hits / len(truth)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall, sorted(flagged))
    assert not flagged - truth  # no statement the model never saw is flagged
    for row in report["problems"]:
        assert set(row["by_fraction"]) == {"0.4", "0.6", "0.8"}
        assert all(s["reaches_answer"] is False for s in row["by_fraction"].values())  # no statement holds its answer
    assert report["tasks"]["memo"]["flagged"] == len(flagged) and report["skipped"] == []
    # an ordinary run directory: greedy, n = 1, one problem per (problem, fraction), the fractions in its identity
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["identity"]["sampling"]["temperature"] == 0.0
    assert manifest["identity"]["audit"] == {"kind": "contamination", "version": 1, "fractions": [0.4, 0.6, 0.8]}
    assert manifest["info"]["n"] == 1
    assert contamination_report(run)["problems"] == report["problems"]  # the report is rebuilt from the store
    # rerunning resumes (nothing sampled again) and says the same; other fractions are another run: refused
    again = cli_run(*audit_args(ckpt, tasks, run))
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr and f"memo: {len(flagged)} of {N_PROBLEMS} problems flagged" in again.stdout
    other = cli_run(*audit_args(ckpt, tasks, run, "--fractions", "0.5"))
    assert other.returncode == 2 and "refusing to resume a different run" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    short = [{"problem_id": "a", "prompt": "Compute the sum of these numbers please", "answer": "1"}]
    short.append({"problem_id": "b", "prompt": "Add two numbers", "answer": "2"})
    (tasks / "short.jsonl").write_text("".join(json.dumps(r) + "\n" for r in short))
    (tasks / "six.jsonl").write_text(json.dumps(short[0]) + "\n")
    cases = [
        (["--task", "add"], "task add: its prompts are not text statements"),
        (
            ["--task", "short", "--tasks-dir", str(tasks)],
            "problem short:b: its statement has 3 words, too short to cut (the audit needs at least 5); pass --skip",
        ),
        (
            ["--task", "six", "--tasks-dir", str(tasks), "--fractions", "0.05"],
            "problem six:a: its statement has 7 words, too short to cut at 0.05",
        ),
        (["--task", "short", "--tasks-dir", str(tasks), "--fractions", "0.5,1.5"], "not strictly between 0 and 1"),
        (["--task", "short", "--tasks-dir", str(tasks), "--fractions", "x"], "'x' is not a number"),
        (["--task", "short", "--tasks-dir", str(tasks), "--backend", "replay"], "the audit decodes with a model"),
    ]
    for extra, message in cases:
        out = tmp_path / "out"
        code = cli.main(["audit", "contamination", str(tmp_path / "no-model"), "--out", str(out), *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not out.exists()  # refused before a run directory was made


def test_missing_reference_is_refused() -> None:
    problem = Problem("t:1", "add", "one two three four five six", "", {})
    with pytest.raises(EvalkitError, match=r"problem t:1: no reference answer"):
        prefixed_problems([problem], (0.5,))
    short = Problem("t:2", "add", "Compute $7!$.", "5040", {})
    made, skipped = prefixed_problems([Problem("t:1", "add", "one two three four five six", "1"), short], (0.5,), True)
    assert [p.id for p in made] == ["t:1@prefix=0.5"] and skipped == ["t:2"]


def test_prefix_problems_and_scores() -> None:
    problem = Problem("add-1", "add", "ignored", "7", {"prompt_fields": {"prompt": "a b c d e f g h i j"}})
    made, _ = prefixed_problems([problem], (0.4, 0.6))
    assert [p.id for p in made] == ["add-1@prefix=0.4", "add-1@prefix=0.6"]
    assert made[1].prompt == "a b c d e f" and made[1].reference == "7"
    assert made[1].meta["contamination"] == {"source": "add-1", "fraction": 0.6, "withheld": " g h i j"}
    scores = score_continuation(" g h x j and then a solution", " g h i j")
    assert scores["exact"] is False and scores["rouge_l"] == pytest.approx(0.75)  # LCS 3 of 4 and 4 words
    assert score_continuation(" g h i j\nSo the answer", " g h i j")["exact"] is True
    assert flag_fraction([0.4, 0.8]) == 0.8 and flag_fraction([0.4, 0.6, 0.8]) == 0.6
    assert parse_fractions("0.8, 0.4,0.4") == (0.4, 0.8)
