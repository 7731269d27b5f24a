"""Shared fixtures: one tiny trained checkpoint per test session (a few seconds of CPU)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-wide character-level Llama trained for 120 steps on 1-2 digit addition."""
    from evalkit.tasks import TaskSpec
    from evalkit.tinymodel import TinyConfig
    from evalkit.train.sft import SFTConfig, train_sft

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    train_sft(
        [TaskSpec.parse("add@digits=2")],
        out,
        SFTConfig(steps=120, batch_size=64, lr=5e-3, warmup=10, seed=0),
        TinyConfig(hidden_size=64, layers=2, heads=2, intermediate_size=128, max_positions=48),
        log=lambda _msg: None,
    )
    return out


@pytest.fixture()
def children_see_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make modules in tests/ importable by spawned worker processes (custom task families)."""
    parts = [str(TESTS_DIR), str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in parts if p))
