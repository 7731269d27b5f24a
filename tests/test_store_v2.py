"""Run store format 2 (Parquet shards): lossless text, unreadable shards, columnar reads, format 1 -> 2
conversion (also under kill -9), resuming format 1 runs, and merging runs of either format."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import evalkit
from evalkit.cli import main
from evalkit.compare.results import load_run, summarize
from evalkit.errors import EvalkitError
from evalkit.sampling.shard import merge_runs
from evalkit.store import RunStore, convert_run, parquet
from evalkit.types import Completion, Problem, Verdict

PROBLEMS = [Problem(f"p{i}", "add", f"{i}+1=", str(i + 1), {}) for i in range(6)]
ODD_TEXTS = [
    "\udcff",  # an undecodable byte kept by surrogateescape
    "\ud800x",  # a lone high surrogate
    "\ud83d\ude00",  # a surrogate pair as two code points (not the character U+1F600)
    "a\x00b\x00",
    "emoji \U0001f600 and \u00e9",
    "line1\r\nline2\r\n",
    "",
    "x" * 1_000_000 + "\udcff",
]
# the short texts that both formats read back identically (format 1 joins a surrogate pair, see the last test)
RUN_TEXTS = [t for t in ODD_TEXTS if len(t) < 100 and t != "\ud83d\ude00"]


def make_run(
    root: Path,
    store_format: int,
    n: int = 4,
    shards: int = 1,
    identity: dict[str, Any] | None = None,
    problems: list[Problem] = PROBLEMS,
) -> Path:
    """A run of ``problems`` x n samples in ``shards`` appends: odd texts, one timeout (p1 #1), the last sample
    of p5 unverified; every record is a function of its key alone."""
    store, _ = RunStore.create_or_resume(
        root, identity or {"model": "m"}, {"n": n}, problems, store_format=store_format
    )
    samples = [
        Completion(
            p.id, i, RUN_TEXTS[(int(p.id[1:]) + i) % len(RUN_TEXTS)] + f"#{i}", i + 1, "length" if i == 1 else "stop", i
        )
        for p in problems
        for i in range(n)
    ]
    verdicts = [
        (c.problem_id, c.sample_idx, Verdict(c.sample_idx % 2 == 0, float(c.sample_idx % 2 == 0), "ok", "d"))
        for c in samples
        if (c.problem_id, c.sample_idx) != ("p5", n - 1)
    ]
    verdicts = [
        (pid, i, Verdict(False, 0.0, "timeout", "killed") if (pid, i) == ("p1", 1) else v) for pid, i, v in verdicts
    ]
    step = max(1, -(-len(samples) // shards))
    for k in range(0, len(samples), step):
        store.append_completions(samples[k : k + step])
        store.append_verdicts(verdicts[k : k + step])
    store.unlock()
    return root


def everything(run: Path) -> dict[str, Any]:
    """What the run says, independent of its format and shard layout."""
    store = RunStore.open(run)
    summary = summarize(load_run(run))
    summary.pop("run")
    return {
        "completions": list(store.iter_completions()),
        "verdicts": store.verdicts(),
        "keys": set(store.completion_keys()),
        "verdict_keys": set(store.verdict_keys()),
        "summary": summary,
        "examples": dict(load_run(run).example),
        "manifest": {k: v for k, v in store.manifest().items() if k != "format"},
    }


# -- format 2 shards ---------------------------------------------------------------------------------


def test_new_runs_are_format_2_with_the_documented_schemas(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 2)
    assert json.loads((run / "manifest.json").read_text())["format"] == 2
    [comp] = (run / "completions").glob("*.parquet")
    [ver] = (run / "verdicts").glob("*.parquet")
    assert not list(run.rglob("*.jsonl")) or [p.name for p in run.rglob("*.jsonl")] == ["problems.jsonl"]
    assert pq.read_schema(comp).remove_metadata().equals(parquet.COMPLETION_SCHEMA)
    assert pq.read_schema(ver).remove_metadata().equals(parquet.VERDICT_SCHEMA)
    assert pq.ParquetFile(comp).metadata.row_group(0).column(0).compression == "ZSTD"


def test_odd_texts_round_trip_and_only_they_use_the_binary_column(tmp_path: Path) -> None:
    store, _ = RunStore.create_or_resume(tmp_path / "run", {"model": "m"}, {"n": 8}, PROBLEMS)
    written = [Completion("p0", i, text, i, "stop", i) for i, text in enumerate(ODD_TEXTS)]
    store.append_completions(written)
    assert list(RunStore.open(tmp_path / "run").iter_completions()) == written
    [shard] = (tmp_path / "run" / "completions").glob("*.parquet")
    table = pq.read_table(shard)
    has_surrogates = [any(0xD800 <= ord(ch) <= 0xDFFF for ch in t) for t in ODD_TEXTS]
    assert [v is None for v in table.column("text").to_pylist()] == has_surrogates
    assert [v is not None for v in table.column("text_surrogatepass").to_pylist()] == has_surrogates
    assert table.column("text").to_pylist()[3] == "a\x00b\x00"  # NUL is valid UTF-8: a plain string


def test_unreadable_parquet_shard_is_an_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "run", 2, shards=3)
    shard = sorted((run / "completions").glob("*.parquet"))[1]
    shard.write_bytes(shard.read_bytes()[:-100])  # a truncated copy
    with pytest.raises(EvalkitError, match=rf"{shard}: unreadable Parquet shard"):
        list(RunStore.open(run).iter_completions())
    with pytest.raises(EvalkitError, match=rf"{shard}: unreadable Parquet shard"):
        RunStore.open(run).completion_keys()
    assert main(["summary", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(shard) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    verdict_shard = sorted((run / "verdicts").glob("*.parquet"))[0]
    verdict_shard.write_bytes(b"not parquet at all")
    with pytest.raises(EvalkitError, match=rf"{verdict_shard}: unreadable Parquet shard"):
        RunStore.open(run).verdicts()
    # a damaged footer: pyarrow's message spans lines; evalkit's error stays one line
    fresh = make_run(tmp_path / "fresh", 2)
    [other] = (fresh / "completions").glob("*.parquet")
    data = bytearray(other.read_bytes())
    data[-60:-8] = b"\xff" * 52
    other.write_bytes(bytes(data))
    with pytest.raises(EvalkitError, match=rf"{other}: unreadable Parquet shard") as caught:
        list(RunStore.open(fresh).iter_completions())
    assert "\n" not in str(caught.value)


def test_wrong_schema_or_status_is_an_error_naming_the_file(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 2)
    [shard] = (run / "verdicts").glob("*.parquet")
    table = pq.read_table(shard)
    bad = table.set_column(4, "status", pa.array(["ok"] * (table.num_rows - 1) + ["great"]))
    pq.write_table(bad, shard)
    with pytest.raises(EvalkitError, match=rf"{shard}: unknown verdict status 'great'"):
        load_run(run)
    pq.write_table(table.set_column(1, "sample_idx", table.column("sample_idx").cast(pa.string())), shard)
    with pytest.raises(EvalkitError, match=rf"{shard}: column 'sample_idx' is string, expected int32"):
        RunStore.open(run).verdict_keys()


def test_keys_and_summaries_never_read_the_text_column(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 2)
    expected = everything(run)
    [shard] = (run / "completions").glob("*.parquet")
    table = pq.read_table(shard)
    # replace both text columns by integers: reading them would fail on the schema check
    for name in ("text", "text_surrogatepass"):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(range(table.num_rows)))
    pq.write_table(table, shard)
    store = RunStore.open(run)
    assert set(store.completion_keys()) == expected["keys"]
    results = load_run(run)
    summary = summarize(results)
    summary.pop("run")
    assert summary == expected["summary"]
    assert len(evalkit.load_run(run).samples()) == len(expected["completions"])
    with pytest.raises(EvalkitError, match="column 'text' is int64"):
        results.example.get("p0")  # the example texts are read on first use only


def test_problem_filter_reads_only_the_row_groups_of_those_problems(tmp_path: Path) -> None:
    store, _ = RunStore.create_or_resume(tmp_path / "run", {"model": "m"}, {"n": 1024}, PROBLEMS)
    store.append_completions(Completion(p.id, i, f"t{i}", 1, "stop", i) for p in PROBLEMS[:3] for i in range(1024))
    [shard] = (tmp_path / "run" / "completions").glob("*.parquet")
    assert pq.ParquetFile(shard).metadata.num_row_groups == 3
    assert parquet._groups_holding(pq.ParquetFile(shard), ["p1"]) == [1]
    assert parquet._groups_holding(pq.ParquetFile(shard), ["p0", "p2", "p9"]) == [0, 2]
    got = list(RunStore.open(tmp_path / "run").iter_completions(problem_ids={"p1", "p9"}))
    assert [(c.problem_id, c.sample_idx) for c in got] == [("p1", i) for i in range(1024)]
    assert list(RunStore.open(tmp_path / "run").iter_completions(problem_ids=[])) == []


def test_columnar_verdicts(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 2, shards=2)
    table = RunStore.open(run).verdict_table(["problem_id", "passed"])
    assert table.column_names == ["problem_id", "passed"] and table.num_rows == 6 * 4 - 1
    assert RunStore.open(make_run(tmp_path / "empty", 2, n=0)).verdict_table().num_rows == 0


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 2)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "format": 3}))
    with pytest.raises(EvalkitError, match="format 3 is not one this evalkit reads"):
        list(RunStore.open(run).iter_completions())


# -- format 1 runs -----------------------------------------------------------------------------------


def test_a_resumed_format_1_run_keeps_writing_format_1(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 1, n=2)
    store, resumed = RunStore.create_or_resume(run, {"model": "m"}, {"n": 3}, PROBLEMS)
    assert resumed and store.format == 1
    store.append_completions([Completion("p0", 2, "more", 1, "stop", 2)])
    store.unlock()
    assert [p.name for p in sorted((run / "completions").iterdir())] == ["000000.jsonl", "000001.jsonl"]
    assert RunStore.open(run).manifest()["format"] == 1


def test_format_1_run_reads_the_same_as_its_conversion(tmp_path: Path) -> None:
    v1 = make_run(tmp_path / "v1", 1, shards=4)
    shutil.copytree(v1, tmp_path / "v2")
    before = everything(v1)
    frame_before = evalkit.load_run(v1).samples()
    result = convert_run(tmp_path / "v2")
    assert result.converted and result.completions == 24 and result.verdicts == 23 and result.removed == 8
    assert everything(tmp_path / "v2") == before
    pd.testing.assert_frame_equal(evalkit.load_run(tmp_path / "v2").samples(), frame_before)
    assert RunStore.open(tmp_path / "v2").format == 2
    assert sorted(p.name for p in (tmp_path / "v2" / "completions").iterdir()) == [
        f"00000{i}.parquet" for i in range(4)
    ]
    assert convert_run(tmp_path / "v2") == type(result)(False, 0, 0, 0)  # a second run has nothing to do
    # a converted run resumes in format 2, numbering its shards after the converted ones
    store, _ = RunStore.create_or_resume(tmp_path / "v2", {"model": "m"}, {"n": 5}, PROBLEMS)
    store.append_completions([Completion("p0", 4, "more", 1, "stop", 4)])
    store.unlock()
    assert (tmp_path / "v2" / "completions" / "000004.parquet").is_file()


def test_convert_leaves_a_corrupt_format_1_run_as_it_was(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", 1, shards=2)
    shard = sorted((run / "completions").glob("*.jsonl"))[1]
    lines = shard.read_bytes().split(b"\n")
    lines[1] = b'{"problem_id": garbage'
    shard.write_bytes(b"\n".join(lines))
    assert main(["convert", str(run)]) == 2
    assert RunStore.open(run).format == 1 and len(list((run / "completions").glob("*.jsonl"))) == 2


def _wait_then_kill(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.0005)
    with contextlib.suppress(ProcessLookupError):  # it finished first
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("point", ["first-shard", "half", "all-completions", "verdicts", "manifest-switched"])
def test_kill_9_during_convert_leaves_a_readable_run_that_converts_again(tmp_path: Path, point: str) -> None:
    shards = 120
    run = make_run(tmp_path / "run", 1, n=40, shards=shards)
    expected = everything(run)
    manifest = run / "manifest.json"

    def parquet_shards(kind: str = "completions") -> int:
        return sum(1 for p in (run / kind).iterdir() if p.suffix == ".parquet")

    def switched() -> bool:
        try:
            return json.loads(manifest.read_text()).get("format") == 2
        except (OSError, json.JSONDecodeError):
            return False

    ready = {
        "first-shard": lambda: parquet_shards() >= 1,
        "half": lambda: parquet_shards() >= shards // 2,
        "all-completions": lambda: parquet_shards() >= shards,
        "verdicts": lambda: parquet_shards("verdicts") >= shards // 3,
        "manifest-switched": switched,
    }[point]
    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "convert", str(run)], start_new_session=True)
    _wait_then_kill(proc, ready)
    if point != "manifest-switched":  # the kill landed before the switch (the shards take longer than a poll)
        assert proc.returncode == -signal.SIGKILL and RunStore.open(run).format == 1
    assert everything(run) == expected  # readable, whatever format the manifest says now
    again = subprocess.run([sys.executable, "-m", "evalkit", "convert", str(run)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert everything(run) == expected
    assert RunStore.open(run).format == 2
    assert not list(run.rglob("[0-9]*.jsonl")) and not list(run.rglob(".tmp-*"))


# -- merge -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("formats", [(2, 2), (1, 2), (1, 1)])
def test_merge_runs_of_either_format(tmp_path: Path, formats: tuple[int, int]) -> None:
    shard_runs = [
        make_run(
            tmp_path / f"s{i}",
            formats[i],
            identity={"model": "m", "shard": {"index": i, "count": 2}},
            problems=PROBLEMS[i::2],
        )
        for i in range(2)
    ]
    whole = make_run(tmp_path / "whole", 2)
    result = merge_runs(shard_runs, tmp_path / "merged")
    assert result.completions == 24 and result.verdicts == 23 and result.duplicates == 0
    assert RunStore.open(tmp_path / "merged").format == 2
    merged, reference = everything(tmp_path / "merged"), everything(whole)
    merged["manifest"]["info"] = reference["manifest"]["info"] = None
    merged["completions"] = sorted(merged["completions"], key=lambda c: (c.problem_id, c.sample_idx))
    reference["completions"] = sorted(reference["completions"], key=lambda c: (c.problem_id, c.sample_idx))
    assert merged == reference
    # a format 1 run and its format 2 conversion: every sample held twice, written once
    shutil.copytree(make_run(tmp_path / "w1", 1), tmp_path / "w2")
    convert_run(tmp_path / "w2")
    twice = merge_runs([tmp_path / "w1", tmp_path / "w2"], tmp_path / "twice")
    assert twice.completions == 24 and twice.duplicates == 24


def test_format_1_joins_a_surrogate_pair_that_format_2_keeps_apart(tmp_path: Path) -> None:
    # JSON decoding turns the escapes of a high and a low surrogate into one character; Parquet keeps the
    # two code points (a format 1 run reads, and converts, as the joined character)
    pair = Completion("p0", 0, "\ud83d\ude00", 1, "stop", 0)
    texts = {}
    for fmt in (1, 2):
        store, _ = RunStore.create_or_resume(tmp_path / str(fmt), {"model": "m"}, {"n": 1}, PROBLEMS, store_format=fmt)
        store.append_completions([pair])
        [back] = RunStore.open(tmp_path / str(fmt)).iter_completions()
        texts[fmt] = back.text
    assert texts == {1: "\U0001f600", 2: "\ud83d\ude00"}


@pytest.mark.parametrize("store_format", [1, 2])
def test_texts_of_reads_exactly_the_chosen_samples(tmp_path: Path, store_format: int) -> None:
    run = make_run(tmp_path / "run", store_format, n=4, shards=3)
    store = RunStore.open(run)
    by_key = {(c.problem_id, c.sample_idx): c.text for c in store.iter_completions()}
    chosen = {"p0": 2, "p3": 0, "p4": 3, "p5": 7, "nope": 0}  # p5 #7 and "nope" are not stored
    assert store.texts_of(chosen) == {pid: by_key[(pid, i)] for pid, i in chosen.items() if (pid, i) in by_key}
    assert store.texts_of({}) == {}


def test_a_verdict_detail_quoting_text_that_is_not_utf8_is_stored(tmp_path: Path) -> None:
    """A verifier quotes the completion in its detail; a lone surrogate there must not stop the run."""
    store, _ = RunStore.create_or_resume(tmp_path / "run", {"model": "m"}, {"n": 1}, PROBLEMS[:1], store_format=2)
    store.append_completions([Completion("p0", 0, "\udcff\ud800", 2, "stop", 0)])
    store.append_verdicts([("p0", 0, Verdict(False, 0.0, "ok", "answer: \udcff\ud800"))])
    [(pid, idx, verdict)] = list(store.iter_verdicts())
    assert (pid, idx, verdict.status) == ("p0", 0, "ok") and verdict.detail == "answer: \\udcff\\ud800"
    assert [c.text for c in store.iter_completions()] == ["\udcff\ud800"]  # the text itself stays lossless
