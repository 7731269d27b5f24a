"""Hub ids are pinned to a commit: recorded in the manifest, loaded at that commit, and a resume whose id now
resolves to another commit is refused (a local Hugging Face cache stands in for the hub, offline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODEL = "evalkit-test/tiny"
COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def _snapshot(hf_home: Path, commit: str, checkpoint: Path) -> None:
    """A hub cache entry as huggingface_hub lays it out: snapshots/<commit>/ with the checkpoint's files."""
    repo = hf_home / "hub" / ("models--" + MODEL.replace("/", "--"))
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)


def _point(hf_home: Path, ref: str, commit: str) -> None:
    (hf_home / "hub" / ("models--" + MODEL.replace("/", "--")) / "refs" / ref).write_text(commit)


def _evalkit(hf_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def hub(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    hf_home = tmp_path_factory.mktemp("hf")
    _snapshot(hf_home, COMMIT_A, tiny_ckpt)
    _snapshot(hf_home, COMMIT_B, tiny_ckpt)
    _point(hf_home, "main", COMMIT_A)
    _point(hf_home, "v1", COMMIT_B)
    return hf_home


SAMPLE = ["sample", MODEL, "--task", "add", "--n", "2", "--limit", "2", "--max-tokens", "8", "--workers", "1"]


@pytest.mark.slow
def test_hub_id_is_pinned_and_a_moved_branch_is_refused_on_resume(hub: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _evalkit(hub, *SAMPLE, "--out", str(out))
    assert done.returncode == 0, done.stderr
    identity = json.loads((out / "manifest.json").read_text())["identity"]
    assert identity["revision"] == COMMIT_A
    assert identity["model_hash"] == f"hub:{MODEL}@{COMMIT_A}"

    _point(hub, "main", COMMIT_B)  # the branch moves on: the same command now names another model
    try:
        again = _evalkit(hub, *SAMPLE, "--out", str(out))
    finally:
        _point(hub, "main", COMMIT_A)
    assert again.returncode == 2
    assert "refusing to resume a different run" in again.stderr and COMMIT_B[:12] in again.stderr
    assert "Traceback" not in again.stderr

    pinned = _evalkit(hub, *SAMPLE, "--revision", COMMIT_A, "--out", str(out))  # the commit itself resumes
    assert pinned.returncode == 0, pinned.stderr


@pytest.mark.slow
def test_revision_by_tag_records_its_commit(hub: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = _evalkit(hub, *SAMPLE, "--revision", "v1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "manifest.json").read_text())["identity"]["revision"] == COMMIT_B


@pytest.mark.parametrize("revision", ["no-such-branch", "c" * 40])
def test_unknown_revision_offline_fails_before_any_directory(hub: Path, tmp_path: Path, revision: str) -> None:
    out = tmp_path / "run"
    done = _evalkit(hub, *SAMPLE, "--revision", revision, "--out", str(out))
    assert done.returncode == 2
    assert f"at revision {revision!r} is not in the local cache" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_revision_for_a_local_checkpoint_is_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["sample", str(tiny_ckpt), "--task", "add", "--revision", "main", "--out", str(out)]
    done = _evalkit(tmp_path / "hf", *args)
    assert done.returncode == 2
    assert "is a local checkpoint, not a hub id" in done.stderr and not out.exists()


def test_revision_needs_a_backend_that_loads_hub_ids(tmp_path: Path) -> None:
    args = ["sample", MODEL, "--task", "add", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"]
    done = _evalkit(tmp_path / "hf", *args, "--revision", "main", "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "--revision pins a hub id's commit" in done.stderr


def test_cached_commit_reads_refs_and_snapshots(hub: Path) -> None:
    code = (
        "from evalkit.sampling.hub import cached_commit\n"
        f"print(cached_commit({MODEL!r}, 'main'), cached_commit({MODEL!r}, 'v1'), "
        f"cached_commit({MODEL!r}, {COMMIT_B!r}), cached_commit({MODEL!r}, 'nope'), cached_commit('x/y', 'main'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    env.update(HF_HOME=str(hub), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [COMMIT_A, COMMIT_B, COMMIT_B, "None", "None"]
