"""Comparison of a base run and an RL run, and everything that decides on it.

* :mod:`.results`: one run's summary (pass@k per task and k with intervals, per-problem counts).
* :mod:`.common_n`: one n per task: runs whose problems hold uneven samples are refused or cut (``--truncate-n``).
* :mod:`.summary`: :func:`compare_runs` (paired deltas, frontier classes and their bounds, groups by n).
* :mod:`.trajectories`: three or more checkpoints (ProRL regimes, the gain correlation).
* :mod:`.evidence`: evidence beyond pass@k (likelihood categories, Cover@tau, pass@k area, diversity).
* :mod:`.claims`: the verdict as claims (kind, scope, test, error rate) per scope of one n.
* :mod:`.verdict`: the verdict in plain words, rendered from the claims.
* :mod:`.gate`: the CI gate (exit 0 / 1 / 2) and the comparability checks shared with ``compare``.
* :mod:`.calibration`: simulation of every interval and test through this code (``python -m
  evalkit.compare.calibration``).
"""

from evalkit.compare.summary import classify, common_problems, compare_runs, per_problem_table
from evalkit.compare.trajectories import compare_with_trajectory, trajectory

__all__ = ["classify", "common_problems", "compare_runs", "compare_with_trajectory", "per_problem_table", "trajectory"]
