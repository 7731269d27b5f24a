"""Shared fixtures: one tiny trained checkpoint per test session (a few seconds of CPU)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# OpenMP threads that spin while waiting collapse on a busy machine (see evalkit.determinism): wait
# passively, here and in every subprocess the tests start, before anything imports torch
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from tiny_helpers import train_tiny  # noqa: E402  (needs TESTS_DIR on sys.path)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-wide character-level Llama trained for 120 steps on 1-2 digit addition."""
    return train_tiny(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture()
def children_see_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make modules in tests/ importable by spawned worker processes (custom task families)."""
    parts = [str(TESTS_DIR), str(TESTS_DIR.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in parts if p))
