"""evalkit: does RL training expand what a language model can solve, or only sharpen it?

evalkit samples up to k=1024 completions per problem from two checkpoints, verifies every completion,
estimates pass@k for every k, and reports which problems only one of the two models can solve.
"""

__version__ = "0.1.0"
