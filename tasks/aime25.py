"""``aime25``: the 30 problems of AIME 2025 (I and II).

Data set ``math-ai/aime25`` (split ``test``; fields ``problem``, ``answer``, ``id``); no commit is pinned
(``revision=main`` unless given; the served commit is recorded in each problem's ``meta["source"]``).
Problem ids are the data set's ``id``: ``aime25:0``. Answers are integers 0-999 (checked at load). Prompt:
``{problem}`` then the boxed-answer instruction; default ``max_tokens`` 16384, as for ``aime24``.
"""

from __future__ import annotations

from evalkit_tasks.aime import AimeBenchmark

from evalkit.tasks import register
from evalkit.tasks.benchmark import HubDataset


@register
class Aime25(AimeBenchmark):
    name = "aime25"
    description = "AIME 2025 (math-ai/aime25, test): 30 problems, integer answers 0-999"
    hub = HubDataset("math-ai/aime25", "test", "main")
