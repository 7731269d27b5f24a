"""The verification stage: every stored completion judged by its task's verifier, confined.

* :mod:`.stage`: :func:`verify_items`, :func:`verify_run` (a run's completions in blocks, dedup, verdict
  shards) and :class:`Verifier` (long-lived workers for GRPO's reward).
* :mod:`.pool`: worker processes with a hard wall-clock kill; a crash or a hang is a verdict, never a crash.
* :mod:`.confine`: what a worker does to itself before it reads model text (namespaces, minimal root, uid,
  rlimits, no network).

The checks the verifiers are made of live in :mod:`evalkit.grading`. This package's ``__init__`` imports
nothing: a confined worker imports :mod:`.confine` and confines itself before anything heavy (pyarrow
starts threads) is imported, and the names below load on first use.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the real names for type checkers; at run time they load on first use
    from evalkit.verify.stage import VERIFY_CHARS, Verifier, dedup_digest, verify_items, verify_run, with_finish_reason

__all__ = ["VERIFY_CHARS", "Verifier", "dedup_digest", "verify_items", "verify_run", "with_finish_reason"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from evalkit.verify import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'evalkit.verify' has no attribute {name!r}")
