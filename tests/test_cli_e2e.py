"""End to end through the real command line: sample, resume, kill -9, import, compare, gate, demo.

Each command runs as ``python -m evalkit`` in a subprocess, as a user or a CI job would run it.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.store import RunStore

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from kill_helpers import coverage, finish_and_check, kill_at_random_points  # noqa: E402  (needs TESTS_DIR on sys.path)

TASK = "add@digits=2"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=timeout)


def sample_args(ckpt: Path, out: Path, n: int = 16, limit: int = 4, *extra: str) -> list[str]:
    return [
        "sample",
        str(ckpt),
        "--task",
        TASK,
        "--n",
        str(n),
        "--limit",
        str(limit),
        "--out",
        str(out),
        "--max-tokens",
        "6",
        "--batch-size",
        "16",
        *extra,
    ]


def test_sample_summary_resume_and_extend(tiny_ckpt: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = cli(*sample_args(tiny_ckpt, run))
    assert first.returncode == 0, first.stderr
    assert "pass@1=" in first.stdout
    summary = json.loads(cli("summary", str(run), "--json").stdout)
    assert len(summary["problems"]) == 4 and {p["n"] for p in summary["problems"]} == {16}
    assert set(summary["tasks"]["add"]["pass_at_k"]) == {"1", "2", "4", "8", "16"}
    shards = sorted((run / "completions").iterdir())

    again = cli(*sample_args(tiny_ckpt, run))
    assert again.returncode == 0 and "0 to go" in again.stderr
    assert sorted((run / "completions").iterdir()) == shards  # nothing regenerated

    more = cli(*sample_args(tiny_ckpt, run, 24))
    assert more.returncode == 0, more.stderr
    cov = coverage(run)
    assert len(cov) == 4 * 24 and max(cov.values()) == 1


def test_resume_with_other_sampling_is_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert cli(*sample_args(tiny_ckpt, run, 4, 2)).returncode == 0
    refused = cli(*sample_args(tiny_ckpt, run, 4, 2, "--temperature", "0.5"))
    assert refused.returncode == 2
    # the options that changed, as typed, never the manifest's keys
    assert "--temperature: 1.0 -> 0.5" in refused.stderr and "Traceback" not in refused.stderr
    assert "sampling." not in refused.stderr
    refused_seed = cli(*sample_args(tiny_ckpt, run, 4, 2, "--seed", "9"))
    assert refused_seed.returncode == 2 and "--seed: 0 -> 9" in refused_seed.stderr
    forced = cli(*sample_args(tiny_ckpt, run, 4, 2, "--temperature", "0.5", "--force"))
    assert forced.returncode == 0, forced.stderr


def test_same_seed_same_samples_across_batch_sizes(tiny_ckpt: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(*sample_args(tiny_ckpt, a, 12, 3)).returncode == 0
    assert cli(*[*sample_args(tiny_ckpt, b, 12, 3)[:-2], "--batch-size", "5"]).returncode == 0
    texts_a = {(c.problem_id, c.sample_idx): c.text for c in RunStore.open(a).iter_completions()}
    texts_b = {(c.problem_id, c.sample_idx): c.text for c in RunStore.open(b).iter_completions()}
    assert texts_a == texts_b


def test_kill_9_during_sampling_then_resume(tiny_ckpt: Path, tmp_path: Path) -> None:
    # BAD_INPUTS row 21: a kill at any moment loses at most the shard in flight; a rerun completes with no
    # sample twice and the same samples an uninterrupted run gives
    run, clean = tmp_path / "run", tmp_path / "clean"
    args = [*sample_args(tiny_ckpt, run, 256, 8)[:-2], "--batch-size", "8"]
    stored = kill_at_random_points(args, run, 8 * 256, points=8, rng=random.Random(0), max_extra_s=0.2)
    assert stored == sorted(stored) and stored[-1] <= 8 * 256  # a late kill may hit verification
    assert "resuming" in finish_and_check(args, run, 8, 256).stderr
    assert RunStore.open(run).format == 2  # Parquet shards, resumed after every kill
    assert cli(*[*sample_args(tiny_ckpt, clean, 256, 8)[:-2], "--batch-size", "8"]).returncode == 0
    texts = {(c.problem_id, c.sample_idx): c.text for c in RunStore.open(run).iter_completions()}
    assert texts == {(c.problem_id, c.sample_idx): c.text for c in RunStore.open(clean).iter_completions()}


def test_missing_checkpoint_and_unknown_names(tmp_path: Path) -> None:
    # BAD_INPUTS rows 23 and 26
    missing = cli("sample", str(tmp_path / "nope"), "--task", "add", "--out", str(tmp_path / "r"))
    assert missing.returncode == 2 and "no such checkpoint directory" in missing.stderr
    assert not (tmp_path / "r").exists()
    unknown = cli("sample", str(tmp_path), "--task", "addd", "--out", str(tmp_path / "r"))
    assert unknown.returncode == 2 and "did you mean add" in unknown.stderr
    backend = cli("sample", str(tmp_path), "--task", "add", "--backend", "hff", "--out", str(tmp_path / "r"))
    assert backend.returncode == 2 and "did you mean hf" in backend.stderr


def test_import_score_and_bad_lines(tmp_path: Path) -> None:
    problems = [json.loads(line) for line in cli("problems", "add", "--limit", "3", "--jsonl").stdout.splitlines()]
    good = tmp_path / "samples.jsonl"
    with good.open("w") as fh:
        for p in problems:
            fh.write(json.dumps({"problem_id": p["problem_id"], "completion": p["reference"]}) + "\n")
            fh.write(json.dumps({"problem_id": p["problem_id"], "completion": "  "}) + "\n")
    run = tmp_path / "imported"
    result = cli("import", str(good), "--task", "add", "--limit", "3", "--out", str(run))
    assert result.returncode == 0, result.stderr
    summary = json.loads(cli("summary", str(run), "--json").stdout)
    assert [(p["n"], p["c"]) for p in summary["problems"]] == [(2, 1)] * 3
    assert summary["rates"]["empty"] == pytest.approx(0.5)
    rescored = cli("score", str(run))
    assert rescored.returncode == 0 and "verified 6 completions" in rescored.stderr

    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"problem_id": "add-nope", "completion": "1"}\n')
    failed = cli("import", str(bad), "--task", "add", "--limit", "3", "--out", str(tmp_path / "x"))
    assert failed.returncode == 2 and f"{bad}:7: unknown problem id" in failed.stderr


def test_kill_9_during_import_then_resume(tmp_path: Path) -> None:
    # the replay backend (evalkit import) under the same kill -9 rounds as the sampling backends
    problems = [json.loads(line) for line in cli("problems", "add", "--limit", "8", "--jsonl").stdout.splitlines()]
    samples = tmp_path / "samples.jsonl"
    rng = random.Random(3)
    with samples.open("w") as fh:
        for p in problems:
            for i in range(4096):
                answer = p["reference"] if rng.random() < 0.3 else str(rng.randrange(1000))
                fh.write(json.dumps({"problem_id": p["problem_id"], "sample_idx": i, "completion": answer}) + "\n")
    run = tmp_path / "imported"
    args = ["import", str(samples), "--task", "add", "--limit", "8", "--out", str(run)]
    stored = kill_at_random_points(args, run, 8 * 4096, points=8, rng=random.Random(4), max_extra_s=0.1)
    assert stored == sorted(stored)
    finish_and_check(args, run, 8, 4096)
    texts = {(c.problem_id, c.sample_idx): c.text for c in RunStore.open(run).iter_completions()}
    with samples.open() as fh:
        expected = {(r["problem_id"], r["sample_idx"]): r["completion"] for r in map(json.loads, fh)}
    assert texts == expected


def test_import_resumes_when_some_problems_are_complete(tmp_path: Path) -> None:
    # a resumed import has jobs only for unfinished problems; the file's lines for finished ones are not
    # "unknown problem ids"
    problems = [json.loads(line) for line in cli("problems", "add", "--limit", "3", "--jsonl").stdout.splitlines()]
    samples = tmp_path / "samples.jsonl"
    lines = [json.dumps({"problem_id": p["problem_id"], "completion": str(i)}) for p in problems for i in range(5)]
    samples.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    args = ["import", str(samples), "--task", "add", "--limit", "3", "--out", str(run)]
    assert cli(*args).returncode == 0
    store = RunStore.open(run)
    kept = [c for c in store.iter_completions() if c.problem_id != problems[2]["problem_id"] or c.sample_idx < 2]
    shutil.rmtree(run / "completions")
    shutil.rmtree(run / "verdicts")
    (run / "completions").mkdir()
    (run / "verdicts").mkdir()
    RunStore.open(run).append_completions(kept)
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert "12 samples stored, 3 to go" in again.stderr
    assert len(coverage(run)) == 15


def test_compare_writes_report(tiny_ckpt: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(*sample_args(tiny_ckpt, a, 8, 3)).returncode == 0
    assert cli(*sample_args(tiny_ckpt, b, 8, 3, "--seed", "1")).returncode == 0
    out = tmp_path / "cmp"
    result = cli("compare", str(a), str(b), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "rl-only" in result.stdout
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "RL-only" in html
    data = json.loads((out / "report.json").read_text())
    assert data["overall"]["n"] == 8 and len(data["problems"]) == 3


@pytest.fixture(scope="module")
def demo_quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo") / "demo"
    return out, cli("demo", "--quick", "--out", str(out), timeout=900)


def _numbers(stdout: str, out: Path | None = None) -> list[str]:
    """The demo's printed results, without the report path and the wall time; ``out`` (the demo's folder, named
    in the gate command it prints) is written OUT."""
    lines = [line for line in stdout.splitlines() if not line.startswith("report:")]
    return [line.replace(str(out), "OUT") for line in lines] if out is not None else lines


def test_demo_quick(demo_quick: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, result = demo_quick
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pass@1" in result.stdout and "report:" in result.stdout
    assert (out / "report.html").is_file() and (out / "report.json").is_file()
    data = json.loads((out / "report.json").read_text())
    assert data["training"] and "reward_mean" in data["training"][0]
    assert data["gate"] is not None and "pass@1 and pass@64" in data["gate"]["lines"][0]
    # fixed step counts: the intermediate GRPO checkpoint always exists, so the report classes the trajectory
    assert [c["run"].rsplit("/", 1)[-1] for c in data["trajectory"]["tasks"]["add"]["checkpoints"]] == [
        "base",
        "mid",
        "rl",
    ]
    # the verdict in plain words, as in the report, and the gate line says what it checked
    stdout = result.stdout
    assert "verdict:" in stdout and "In sum:" in stdout and data["verdict"][-1].startswith("In sum:")
    assert all(sentence in stdout for sentence in data["verdict"])
    assert "gate (RL checkpoint (candidate) vs base (baseline)" in stdout and "pass@1 and pass@64" in stdout
    assert set(data["timings"]) == {"sft", "grpo", "sample_and_verify", "likelihood", "compare", "total"}
    assert "Demo timings" not in " ".join(data["notes"])
    # evidence beyond pass@k on the demo's own runs: each run scored under the other model, then categories,
    # diversity, pass@k area and Cover@tau in the JSON and printed
    assert list((out / "runs" / "rl" / "likelihood").glob("under-*.jsonl"))
    assert list((out / "runs" / "base" / "likelihood").glob("under-*.jsonl"))
    evidence = data["evidence"]["overall"]
    cats = evidence["categories"]
    solved = sum(cats[name]["count"] for name in ("preservation", "expansion", "out_of_support", "shrinkage"))
    classes = data["overall"]["classes"]
    assert solved + cats["neither"]["count"] == cats["n_problems"] == data["overall"]["n_problems"]
    assert cats["preservation"]["count"] == classes["both"] and cats["neither"]["count"] == classes["neither"]
    assert evidence["likelihood"] and evidence["diversity"]["base"]["problems"] == data["overall"]["n_problems"]
    assert "categories: preservation" in stdout and "pass@k area on log k" in stdout and "Cover@0.5" in stdout
    # threats to validity: the health of both runs and the claims without flagged problems, on the page too
    validity = data["validity"]
    assert validity["problems"] == data["overall"]["n_problems"] and "health" in validity["threats"]
    assert validity["budget"]["tokens_known"] and 'id="validity"' in (out / "report.html").read_text()


def test_demo_gives_the_same_numbers_twice(
    demo_quick: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    first = demo_quick[1]
    second = cli("demo", "--quick", "--out", str(tmp_path / "again"), timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert _numbers(second.stdout, tmp_path / "again") == _numbers(first.stdout, demo_quick[0])
    for ckpt in ("checkpoints/base", "checkpoints/rl"):  # identical weights, byte for byte
        weights = [(d / ckpt / "model.safetensors").read_bytes() for d in (demo_quick[0], tmp_path / "again")]
        assert weights[0] == weights[1], ckpt


def test_demo_report_shows_the_support_views(demo_quick: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Perplexity distributions, support dynamics, entropy, winner-take-all and checkpoint turnover in the demo."""
    out, result = demo_quick
    assert result.returncode == 0, result.stderr[-3000:]
    page = (out / "report.html").read_text()
    for anchor in ("support-perplexity", "support-dynamics", "support-entropy", "support-wta", "turnover"):
        assert f'id="{anchor}"' in page, anchor
    support = json.loads((out / "report.json").read_text())["support"]
    assert support["perplexity"]["rl_under_base"]["all"] is not None  # every RL text scored under the base
    assert support["entropy"]["token"]["rl"]["nats_per_token"] is not None
    assert support["winner_take_all"]["points"]
