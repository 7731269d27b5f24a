"""evalkit.store.RunStore: atomic shards, lossless text, resume rules, torn-tail repair (format 1) and the writer
lock. Format 2 specifics (Parquet shards, conversion) are in test_store_v2.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import EvalkitError
from evalkit.store import RunStore, describe_changes, fingerprint
from evalkit.types import Completion, Problem, Verdict

PROBLEMS = [
    Problem("p0", "add", "1+2=", "3", {"bucket": "1-digit"}),
    Problem("p1", "add", "40+5=", "54", {}),
]


def identity(**overrides: Any) -> dict[str, Any]:
    """An identity shaped like the runner's (model, tasks, sampling, seeds)."""
    ident: dict[str, Any] = {
        "model": "/ckpt/base",
        "model_hash": "0123456789abcdef",
        "backend": "hf",
        "tasks": [
            {"name": "add", "params": {"digits": 3, "min_digits": 1, "reverse": True}},
            {"name": "reverse", "params": {"length": 5}},
        ],
        "problem_seed": 0,
        "limit": 2,
        "sampling": {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "max_tokens": 16, "stop": []},
        "seed": 0,
    }
    ident.update(overrides)
    return ident


def create(
    root: Path, ident: dict[str, Any] | None = None, n: int = 4, force: bool = False, store_format: int = 2
) -> tuple[RunStore, bool]:
    return RunStore.create_or_resume(
        root, ident or identity(), {"n": n}, PROBLEMS, force=force, store_format=store_format
    )


def completions(pid: str, indices: range, text: str = "3") -> list[Completion]:
    return [Completion(pid, i, f"{text}#{i}", 2, "stop", 1000 + i) for i in indices]


def shard_files(root: Path, kind: str, suffix: str = ".jsonl") -> list[Path]:
    return sorted((root / kind).glob(f"*{suffix}"))


def tmp_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp-")]


# -- create / append / reopen ------------------------------------------------------------------------


@pytest.mark.parametrize(("store_format", "suffix"), [(1, ".jsonl"), (2, ".parquet")])
def test_create_append_reopen_reads_back_identical_records(tmp_path: Path, store_format: int, suffix: str) -> None:
    root = tmp_path / "run"
    store, resumed = create(root, store_format=store_format)
    assert resumed is False
    first = completions("p0", range(3))
    second = completions("p1", range(2), text="54")
    assert store.append_completions(first) == 3
    assert store.append_completions(second) == 2
    verdicts = [("p0", 0, Verdict(True, 1.0, "ok", "3")), ("p1", 1, Verdict(False, 0.0, "truncated", "5"))]
    assert store.append_verdicts(verdicts) == 2
    assert store.append_completions([]) == 0  # nothing to write: no empty shard

    reopened = RunStore.open(root)
    assert list(reopened.iter_completions()) == first + second
    assert reopened.verdicts() == {(pid, idx): v for pid, idx, v in verdicts}
    assert reopened.problems() == PROBLEMS
    assert reopened.completion_keys() == {("p0", 0), ("p0", 1), ("p0", 2), ("p1", 0), ("p1", 1)}
    assert reopened.manifest()["identity"] == identity()
    assert reopened.manifest()["fingerprint"] == fingerprint(identity())
    # each append is its own shard file, and no temporary file is left behind
    assert reopened.manifest()["format"] == store_format
    assert [p.name for p in shard_files(root, "completions", suffix)] == [f"000000{suffix}", f"000001{suffix}"]
    assert [p.name for p in shard_files(root, "verdicts", suffix)] == [f"000000{suffix}"]
    assert tmp_leftovers(root) == []


def test_open_refuses_a_directory_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match="not an evalkit run directory"):
        RunStore.open(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "\udcff",
        "\ud800x",
        "a\x00b\x00",
        "emoji \U0001f600 and \u00e9",
        "line1\r\nline2\r\n",
        "x" * 1_000_000 + "\udcff",
    ],
    ids=["lone-low-surrogate", "lone-high-surrogate", "nul", "emoji", "crlf", "1mb"],
)
@pytest.mark.parametrize("store_format", [1, 2])
def test_text_round_trips_losslessly(tmp_path: Path, text: str, store_format: int) -> None:
    store, _ = create(tmp_path / "run", store_format=store_format)
    store.append_completions([Completion("p0", 0, text, 7, "length", 42)])
    [back] = RunStore.open(tmp_path / "run").iter_completions()
    assert back.text == text
    assert back == Completion("p0", 0, text, 7, "length", 42)
    if store_format == 1:  # stored as ASCII JSON, so the shard itself is valid UTF-8 whatever the text held
        shard_files(tmp_path / "run", "completions")[0].read_bytes().decode("ascii")


# -- resume ------------------------------------------------------------------------------------------


def test_resume_with_identical_identity(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root, n=4)
    store.append_completions(completions("p0", range(2)))
    store.unlock()

    resumed_store, resumed = create(root, n=8)
    assert resumed is True
    assert resumed_store.manifest()["info"]["n"] == 8
    assert list(resumed_store.iter_completions()) == completions("p0", range(2))  # kept
    resumed_store.unlock()

    # a smaller n does not shrink the recorded n
    again, resumed = create(root, n=2)
    assert resumed is True
    assert again.manifest()["info"]["n"] == 8


@pytest.mark.parametrize(
    ("change", "key_path"),
    [
        ({"model_hash": "fedcba9876543210"}, "MODEL (its weights, commit or file)"),
        ({"seed": 1}, "--seed"),
        ({"problem_seed": 7}, "--problem-seed"),
    ],
)
def test_resume_with_changed_top_level_key_is_refused(tmp_path: Path, change: dict[str, Any], key_path: str) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    store.unlock()
    with pytest.raises(EvalkitError, match="refusing to resume") as err:
        create(root, identity(**change))
    assert f"{key_path}: " in str(err.value)
    assert "--force" in str(err.value)


def test_resume_with_changed_temperature_names_the_option(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    store.unlock()
    changed = identity()
    changed["sampling"]["temperature"] = 0.7
    with pytest.raises(EvalkitError, match=r"\(--temperature: 1\.0 -> 0\.7\)"):
        create(root, changed)


def test_resume_with_changed_task_params_names_the_task_spec(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    store.unlock()
    changed = identity()
    changed["tasks"][1]["params"]["length"] = 6  # the second task: a long list summary would hide it
    with pytest.raises(EvalkitError, match=r"--task: .*reverse@length=5 -> .*reverse@length=6"):
        create(root, changed)


def test_refused_resume_keeps_the_old_run(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    store.append_completions(completions("p0", range(3)))
    store.unlock()
    with pytest.raises(EvalkitError):
        create(root, identity(seed=5))
    kept = RunStore.open(root)
    assert kept.manifest()["identity"] == identity()
    assert len(list(kept.iter_completions())) == 3


def test_refused_resume_releases_the_lock_so_force_can_follow(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    store.unlock()
    with pytest.raises(EvalkitError, match="refusing"):
        create(root, identity(seed=5))
    # the refused attempt must not keep holding the writer lock in this process
    fresh, resumed = create(root, identity(seed=5), force=True)
    assert resumed is False
    assert fresh.manifest()["identity"]["seed"] == 5


def test_force_wipes_and_starts_fresh(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    store.append_completions(completions("p0", range(3)))
    store.append_verdicts([("p0", 0, Verdict(True, 1.0, "ok"))])
    store.unlock()
    fresh, resumed = create(root, identity(seed=5), force=True)
    assert resumed is False
    assert fresh.manifest()["identity"]["seed"] == 5
    assert fresh.manifest()["identity"] == identity(seed=5)
    assert list(fresh.iter_completions()) == []
    assert fresh.verdicts() == {}
    assert fresh.problems() == PROBLEMS


def test_directory_with_unrelated_files_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.tex").write_text("precious")
    with pytest.raises(EvalkitError, match="not an evalkit run"):
        create(root)
    assert (root / "thesis.tex").read_text() == "precious"
    assert not (root / "manifest.json").exists()


def test_empty_existing_directory_is_accepted(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    _, resumed = create(root)
    assert resumed is False
    assert (root / "manifest.json").is_file()


# -- torn and corrupt shards -------------------------------------------------------------------------


def test_torn_last_line_is_quarantined_and_the_shard_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root, store_format=1)
    good = completions("p0", range(3))
    store.append_completions(good)
    shard = shard_files(root, "completions")[0]
    partial = b'{"problem_id":"p0","sample_idx":3,"te'
    with shard.open("ab") as fh:
        fh.write(partial)

    assert list(RunStore.open(root).iter_completions()) == good
    torn = shard.with_name(shard.name + ".torn")
    assert torn.read_bytes() == partial + b"\n"
    assert shard.read_bytes().endswith(b"\n")
    assert partial not in shard.read_bytes()
    assert [json.loads(line)["sample_idx"] for line in shard.read_text().splitlines()] == [0, 1, 2]
    assert tmp_leftovers(root) == []
    # the .torn file is not read as a shard, and a second read is clean
    assert list(RunStore.open(root).iter_completions()) == good
    assert torn.read_bytes() == partial + b"\n"
    assert RunStore.open(root).completion_keys() == {("p0", 0), ("p0", 1), ("p0", 2)}


def test_torn_last_line_of_a_verdict_shard_is_quarantined(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root, store_format=1)
    store.append_verdicts([("p0", 0, Verdict(True, 1.0, "ok"))])
    shard = shard_files(root, "verdicts")[0]
    with shard.open("ab") as fh:
        fh.write(b'{"problem_id":"p0","sample_idx":1,"pas')
    assert RunStore.open(root).verdicts() == {("p0", 0): Verdict(True, 1.0, "ok")}
    assert shard.with_name(shard.name + ".torn").is_file()


def test_corrupt_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root, store_format=1)
    store.append_completions(completions("p0", range(3)))
    shard = shard_files(root, "completions")[0]
    lines = shard.read_bytes().split(b"\n")
    lines[1] = b'{"problem_id": garbage'
    shard.write_bytes(b"\n".join(lines))
    before = shard.read_bytes()
    with pytest.raises(EvalkitError, match=rf"{shard}:2: corrupt record"):
        list(RunStore.open(root).iter_completions())
    assert shard.read_bytes() == before  # nothing silently dropped
    assert not shard.with_name(shard.name + ".torn").exists()


def test_record_missing_a_field_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root, store_format=1)
    store.append_completions(completions("p0", range(2)))
    shard = shard_files(root, "completions")[0]
    with shard.open("a") as fh:
        fh.write('{"problem_id":"p0","sample_idx":5}\n')
    with pytest.raises(EvalkitError, match=rf"{shard}:3: bad completion record"):
        list(RunStore.open(root).iter_completions())


# -- the writer lock ---------------------------------------------------------------------------------


def test_second_writer_on_the_same_run_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    with pytest.raises(EvalkitError, match="another evalkit process"):
        RunStore(root).lock()
    with pytest.raises(EvalkitError, match="another evalkit process"):
        create(root)  # a resume attempt while the first writer holds the run
    store.unlock()
    RunStore(root).lock()  # free once the first writer lets go


def test_lock_is_free_again_after_unlock(tmp_path: Path) -> None:
    root = tmp_path / "run"
    store, _ = create(root)
    store.unlock()
    other = RunStore(root)
    other.lock()  # does not raise
    other.unlock()


# -- fingerprint / describe_changes ------------------------------------------------------------------


def test_fingerprint_is_stable_and_key_order_free() -> None:
    a = {"x": 1, "y": {"b": [1, 2], "a": "s"}}
    b = {"y": {"a": "s", "b": [1, 2]}, "x": 1}
    assert fingerprint(a) == fingerprint(b)
    assert len(fingerprint(a)) == 16
    int(fingerprint(a), 16)
    assert fingerprint(a) == fingerprint(json.loads(json.dumps(a)))  # survives the manifest round trip


def test_fingerprint_changes_with_any_value() -> None:
    base = identity()
    seen = {fingerprint(base)}
    for mutate in (
        lambda d: d.update(seed=1),
        lambda d: d["sampling"].update(temperature=0.7),
        lambda d: d["tasks"][0]["params"].update(digits=4),
        lambda d: d.update(model_hash="x"),
        lambda d: d.update(extra=None),
    ):
        changed = copy.deepcopy(base)
        mutate(changed)
        seen.add(fingerprint(changed))
    assert len(seen) == 6


def test_describe_changes_identical_is_empty() -> None:
    assert describe_changes(identity(), identity()) == []


def test_describe_changes_nested_added_and_removed_keys() -> None:
    old = {"a": 1, "s": {"t": 1.0, "k": 0}, "gone": "x"}
    new = {"a": 1, "s": {"t": 0.5, "k": 0}, "new": [1]}
    assert describe_changes(old, new) == ['gone: "x" -> null', "new: null -> [1]", "s.t: 1.0 -> 0.5"]


def test_describe_changes_lists() -> None:
    old = {"tasks": [{"name": "add", "params": {"digits": 3}}]}
    assert describe_changes(old, {"tasks": [{"name": "add", "params": {"digits": 4}}]}) == [
        "tasks.0.params.digits: 3 -> 4"
    ]
    # lists of different lengths are reported whole
    longer = {"tasks": [{"name": "add", "params": {"digits": 3}}, {"name": "sort_digits", "params": {}}]}
    [change] = describe_changes(old, longer)
    assert change.startswith("tasks: [")


def test_describe_changes_shortens_long_values() -> None:
    [change] = describe_changes({"m": "a" * 500}, {"m": "b"})
    assert change.startswith("m: ")
    assert len(change) < 200
    assert change.endswith('-> "b"')


def test_stale_temporary_shard_of_a_killed_writer_is_removed_on_lock(tmp_path: Path) -> None:
    # BAD_INPUTS row 21: a writer killed mid-shard leaves a temporary file; the next writer removes it
    run = tmp_path / "run"
    (run / "completions").mkdir(parents=True)
    stale = run / "completions" / ".tmp-12345-000007.jsonl"
    stale.write_text('{"problem_id": "x", "sample_idx": 0')
    store = RunStore(run)
    store.lock()
    try:
        assert not stale.exists()
    finally:
        store.unlock()


def test_key_set_matches_a_python_set_on_random_keys() -> None:
    import random

    from evalkit.store import KeySet

    rng = random.Random(0)
    keys, reference = KeySet(), set()
    for _ in range(5000):
        key = (f"p{rng.randrange(20)}", rng.choice([rng.randrange(1100), rng.randrange(1 << 20)]))
        keys.add(*key)
        reference.add(key)
    assert len(keys) == len(reference) and keys == reference and set(keys) == reference
    for _ in range(5000):
        probe = (f"p{rng.randrange(25)}", rng.randrange(1 << 20))
        assert (probe in keys) == (probe in reference)
    assert keys.count("p3") == sum(1 for pid, _ in reference if pid == "p3")
    assert ("p3", -1) not in keys and "p3" not in keys and ("p3", "0") not in keys
    with pytest.raises(ValueError):
        keys.add("p0", -1)
