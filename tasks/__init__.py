"""evalkit's built-in task families, one module per family (installed as ``evalkit_tasks``).

Importing this package registers every family with :mod:`evalkit.tasks` (the ``rg:`` prefix family lazily).
"""

from evalkit_tasks import add, aime24, aime25, amc23, gsm8k, humaneval, math, math500, mbpp, reverse, sort_digits

from evalkit.tasks import register_prefix

__all__ = [
    "add",
    "aime24",
    "aime25",
    "amc23",
    "gsm8k",
    "humaneval",
    "math",
    "math500",
    "mbpp",
    "reverse",
    "sort_digits",
]

# rg:<dataset> for every reasoning-gym dataset; evalkit_tasks.rg (and reasoning_gym) load on first use
register_prefix("rg", "evalkit_tasks.rg", "every reasoning-gym dataset, e.g. rg:leg_counting@min_animals=3")
