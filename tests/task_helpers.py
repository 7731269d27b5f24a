"""Custom task families for tests: verifiers that raise, hang, or return out-of-range scores; a dedup key that raises.

Spawned verifier workers import this module by name (it must be on PYTHONPATH; see conftest).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from evalkit.tasks import TaskFamily, register
from evalkit.types import Problem, Verdict


@dataclass(frozen=True)
class EchoConfig:
    size: int = 3


class _Echo(TaskFamily):
    description = "test task: answer is the prompt's number"
    Config = EchoConfig

    def make(self, config: Any, rng: random.Random, index: int) -> tuple[str, str, dict[str, Any]]:
        value = str(rng.randint(0, 10**config.size))
        return f"echo:{value}=", value, {}


@register
class Raises(_Echo):
    name = "test_raises"

    def verify(self, problem: Problem, text: str) -> Verdict:
        if "boom" in text:
            raise RuntimeError("verifier exploded")
        return super().verify(problem, text)


@register
class Hangs(_Echo):
    name = "test_hangs"

    def verify(self, problem: Problem, text: str) -> Verdict:
        if "hang" in text:
            time.sleep(3600)
        return super().verify(problem, text)


@register
class BadScore(_Echo):
    name = "test_bad_score"

    def verify(self, problem: Problem, text: str) -> Verdict:
        return Verdict(passed=False, score=float("nan"), status="ok", detail="")


@register
class BadKey(_Echo):
    """Exact-answer verifier whose dedup key raises: evalkit falls back to the text."""

    name = "test_bad_key"

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        raise RuntimeError("key exploded")
