"""``reverse``: write a lowercase string backwards. Difficulty is the length.

Prompt ``"rev:abc="``, reference ``"cba"``. ``meta["bucket"]`` is "len-L".
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any

from evalkit.tasks import TaskFamily, register


@dataclass(frozen=True)
class ReverseConfig:
    max_len: int = 6
    min_len: int = 2
    alphabet: str = string.ascii_lowercase

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len <= 64:
            raise ValueError("need 1 <= min_len <= max_len <= 64")
        if not self.alphabet or any(ch in "=\n" for ch in self.alphabet):
            raise ValueError("alphabet must be non-empty and must not contain '=' or newlines")


@register
class Reverse(TaskFamily):
    name = "reverse"
    description = "reverse a lowercase string: rev:abc= -> cba"
    Config = ReverseConfig
    takes_prompt_template = True  # the exact-answer verifier never reads the prompt

    def make(self, config: ReverseConfig, rng: random.Random, index: int) -> tuple[str, str, dict[str, Any]]:
        length = rng.randint(config.min_len, config.max_len)
        text = "".join(rng.choice(config.alphabet) for _ in range(length))
        return f"rev:{text}=", text[::-1], {"bucket": f"len-{length}"}
