"""``sort``: sort the digits of a number in ascending order. Difficulty is the number of digits.

Prompt ``"sort:5391="``, reference ``"1359"``. ``meta["bucket"]`` is "len-L".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from evalkit.tasks import TaskFamily, register


@dataclass(frozen=True)
class SortConfig:
    max_len: int = 6
    min_len: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len <= 64:
            raise ValueError("need 1 <= min_len <= max_len <= 64")


@register
class SortDigits(TaskFamily):
    name = "sort"
    description = "sort the digits of a number ascending: sort:5391= -> 1359"
    Config = SortConfig
    takes_prompt_template = True  # the exact-answer verifier never reads the prompt

    def make(self, config: SortConfig, rng: random.Random, index: int) -> tuple[str, str, dict[str, Any]]:
        length = rng.randint(config.min_len, config.max_len)
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        return f"sort:{digits}=", "".join(sorted(digits)), {"bucket": f"len-{length}"}
