"""``evalkit sample --shard i/N`` and ``evalkit merge``: the merged run is the unsharded run (same problems,
samples, seeds and verdicts, same fingerprint), and runs that differ are refused naming what differs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig, sample_seed
from evalkit.sampling.runner import SampleRequest, sample
from evalkit.sampling.shard import merge_runs, parse_shard, select_shard
from evalkit.store import RunStore
from evalkit.tasks import TaskSpec, make_problems
from evalkit.types import Completion, Problem, Verdict

SPEC = TaskSpec.parse("add@digits=2")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=300)


def contents(run: Path) -> dict[str, Any]:
    """Everything a run's results depend on, independent of shard file layout."""
    store = RunStore.open(run)
    manifest = store.manifest()
    return {
        "fingerprint": manifest["fingerprint"],
        "identity": manifest["identity"],
        "problems": [p.to_json() for p in store.problems()],
        "completions": {(c.problem_id, c.sample_idx): c for c in store.iter_completions()},
        "verdicts": store.verdicts(),
    }


def test_parse_and_select_shard() -> None:
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad in ("4/4", "1/0", "a/b", "1", "-1/3"):
        with pytest.raises(EvalkitError, match="--shard"):
            parse_shard(bad)
    items = list(range(10))
    slices = [select_shard(items, i, 3) for i in range(3)]
    assert slices == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    with pytest.raises(EvalkitError, match="no problems in this shard"):
        select_shard(items[:2], 2, 3)


def test_bad_shard_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("sample", str(tmp_path / "nomodel"), "--task", "add", "--out", str(tmp_path / "r"), "--shard", "2/2")
    assert result.returncode == 2 and "--shard 2/2" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_shards_merge_into_the_unsharded_run(tiny_ckpt: Path, tmp_path: Path) -> None:
    def request(out: Path, shard: tuple[int, int] | None = None) -> SampleRequest:
        return SampleRequest(
            model=str(tiny_ckpt),
            specs=[SPEC],
            n=6,
            out=out,
            sampling=SamplingConfig(max_tokens=6),
            seed=3,
            limit=5,
            backend_options={"batch_size": 8, "device": "cpu"},
            workers=1,
            quiet=True,
            shard=shard,
        )

    whole = tmp_path / "whole"
    sample(request(whole))
    shards = [tmp_path / f"s{i}" for i in range(2)]
    for i, path in enumerate(shards):
        sample(request(path, (i, 2)))
    held = [[p.id for p in RunStore.open(path).problems()] for path in shards]
    ids = [p.id for p in make_problems(SPEC, 0, 5)]
    assert held == [ids[0::2], ids[1::2]]
    assert RunStore.open(shards[1]).manifest()["identity"]["shard"] == {"index": 1, "count": 2}

    merged = tmp_path / "merged"
    result = cli("merge", str(shards[1]), str(shards[0]), "--out", str(merged))
    assert result.returncode == 0, result.stderr
    assert "5 problems, 30 samples" in result.stderr and "pass@1=" in result.stdout
    got, want = contents(merged), contents(whole)
    assert got == want  # same fingerprint, problems in the same order, same texts, seeds and verdicts
    assert all(c.seed == sample_seed(3, pid, idx) for (pid, idx), c in got["completions"].items())

    # the merged run is the unsharded run: its command resumes it with nothing to do
    shard_files = sorted((merged / "completions").iterdir())
    resumed = sample(request(merged))
    assert sorted((resumed.root / "completions").iterdir()) == shard_files


# -- merge refusals, on runs written directly through the store (no model needed) -----------------


def write_run(
    root: Path,
    problems: list[Problem],
    shard: tuple[int, int] | None,
    n: int = 2,
    text: str = "x",
    **changes: Any,
) -> Path:
    identity: dict[str, Any] = {
        "model": "m",
        "model_hash": "h",
        "backend": "hf",
        "tasks": [SPEC.to_json()],
        "problem_seed": 0,
        "limit": len(problems),
        "sampling": SamplingConfig().to_json(),
        "seed": 0,
        **changes,
    }
    mine = problems
    if shard is not None:
        identity["shard"] = {"index": shard[0], "count": shard[1]}
        mine = select_shard(problems, *shard)
    store, _ = RunStore.create_or_resume(root, identity, {"n": n}, mine)
    store.append_completions(Completion(p.id, i, f"{text}{i}", 1, "stop", i) for p in mine for i in range(n))
    store.append_verdicts((p.id, i, Verdict(i == 0, float(i == 0), "ok")) for p in mine for i in range(n))
    store.unlock()
    return root


@pytest.fixture()
def problems() -> list[Problem]:
    return make_problems(SPEC, 0, 5)


def test_merge_refuses_different_runs(tmp_path: Path, problems: list[Problem]) -> None:
    s0 = write_run(tmp_path / "s0", problems, (0, 2))
    cases: dict[str, dict[str, Any]] = {
        "sampling.temperature: 1.0 -> 0.5": {"sampling": SamplingConfig(temperature=0.5).to_json()},
        "seed: 0 -> 7": {"seed": 7},
        'model_hash: "h" -> "h2"': {"model_hash": "h2"},
        "tasks.0.params.digits": {"tasks": [TaskSpec.parse("add@digits=3").to_json()]},
    }
    for i, (says, change) in enumerate(cases.items()):
        other = write_run(tmp_path / f"o{i}", problems, (1, 2), **change)
        with pytest.raises(EvalkitError, match="different runs") as exc:
            merge_runs([s0, other], tmp_path / f"out{i}")
        assert says in str(exc.value) and "\n" not in str(exc.value)
        assert not (tmp_path / f"out{i}").exists()
    other_n = write_run(tmp_path / "n3", problems, (1, 2), n=3)
    result = cli("merge", str(s0), str(other_n), "--out", str(tmp_path / "outn"))
    assert result.returncode == 2 and "n: 2 -> 3" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(EvalkitError, match=r"shard\(s\) 1/2 missing"):
        merge_runs([s0], tmp_path / "alone")
    s1 = write_run(tmp_path / "s1", problems, (1, 2))
    with pytest.raises(EvalkitError, match="already exists"):
        merge_runs([s0, s1], s0)


def test_merge_overlapping_keys(tmp_path: Path, problems: list[Problem]) -> None:
    s0 = write_run(tmp_path / "s0", problems, (0, 2))
    s1 = write_run(tmp_path / "s1", problems, (1, 2))
    whole = write_run(tmp_path / "whole", problems, None)
    again = write_run(tmp_path / "again", problems, (0, 2))  # shard 0 sampled twice, same texts
    result = merge_runs([s0, s1, again], tmp_path / "m")
    assert result.duplicates == 3 * 2 and result.completions == 5 * 2 and result.problems == 5
    assert contents(tmp_path / "m") == contents(whole)
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["info"]["merged_from"][0] == str(s0.resolve())
    clash = write_run(tmp_path / "clash", problems, (0, 2), text="y")
    with pytest.raises(EvalkitError, match=r"sample 0 of problem .* has different texts"):
        merge_runs([s0, s1, clash], tmp_path / "m2")
    assert not (tmp_path / "m2").exists() and not list(tmp_path.glob(".m2.merging-*"))
