"""``add``: integer addition, the answer written least-significant digit first by default.

Writing the sum reversed lets a left-to-right model emit each digit after seeing the carry it depends
on, which makes the task learnable by a ~1M-parameter model in minutes; ``reverse=false`` asks for the
usual order. Difficulty is the operand length: each problem draws its length d uniformly from
[min_digits, digits], one operand has exactly d digits, the other 1..d; ``meta["bucket"]`` is "d-digit".

Prompt ``"123+45="``, reference ``"861"`` (168 reversed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from evalkit.tasks import TaskFamily, register


@dataclass(frozen=True)
class AddConfig:
    digits: int = 3
    min_digits: int = 1
    reverse: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.min_digits <= self.digits <= 18:
            raise ValueError("need 1 <= min_digits <= digits <= 18")


def _number(rng: random.Random, digits: int) -> int:
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


@register
class Add(TaskFamily):
    name = "add"
    description = "integer addition a+b=, answer reversed (least significant digit first) by default"
    Config = AddConfig
    takes_prompt_template = True  # the exact-answer verifier never reads the prompt

    def make(self, config: AddConfig, rng: random.Random, index: int) -> tuple[str, str, dict[str, Any]]:
        d = rng.randint(config.min_digits, config.digits)
        a, b = _number(rng, d), _number(rng, rng.randint(1, d))
        if rng.random() < 0.5:
            a, b = b, a
        total = str(a + b)
        reference = total[::-1] if config.reverse else total
        return f"{a}+{b}=", reference, {"bucket": f"{d}-digit", "a": a, "b": b}
