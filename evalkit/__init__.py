"""evalkit: does RL training expand what a language model can solve, or only sharpen it?

evalkit samples up to k=1024 completions per problem from two checkpoints, verifies every completion,
estimates pass@k for every k, and reports which problems only one of the two models can solve.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # the real names for type checkers; at run time they load on first use
    from evalkit.store.frame import Run, load_run

__all__ = ["Run", "__version__", "load_run"]


def __getattr__(name: str) -> object:
    # pandas is imported only when the DataFrame API is first used: ``import evalkit`` stays light
    if name in ("load_run", "Run"):
        from evalkit.store import frame

        return getattr(frame, name)
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
