"""Hub ids without a reachable hub: a clear error in seconds, before any run directory or training folder
exists, unless the local Hugging Face cache holds the model (BAD_INPUTS rows 23 and 36)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

MODEL = "evalkit-test/not-cached"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    return {**env, "HF_HOME": str(tmp_path / "hf"), **extra}


@pytest.mark.parametrize(
    "where", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}], ids=["offline", "unreachable"]
)
@pytest.mark.parametrize("command", ["sample", "grpo"])
def test_uncached_hub_id_fails_fast_before_any_directory(tmp_path: Path, where: dict[str, str], command: str) -> None:
    out = tmp_path / "out"
    if command == "sample":
        args = ["sample", MODEL, "--task", "add", "--out", str(out)]
    else:
        args = ["train", "grpo", "--model", MODEL, "--task", "add", "--out", str(out), "--steps", "1"]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, env=_env(tmp_path, **where)
    )
    assert done.returncode == 2, done.stderr
    assert "cannot be reached" in done.stderr and "not in the local cache" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()
    assert time.monotonic() - start < 60  # no minute of retries (imports alone take seconds here)


def test_cached_hub_id_passes_the_check_offline(tmp_path: Path) -> None:
    snapshot = tmp_path / "hf" / "hub" / "models--evalkit-test--cached" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    code = (
        "from evalkit.sampling.hub import check_hub_model\n"
        "check_hub_model('evalkit-test/cached')\n"
        "try:\n"
        "    check_hub_model('evalkit-test/not-cached')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path, HF_HUB_OFFLINE="1")
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("EvalkitError model 'evalkit-test/not-cached'"), done.stdout
