"""``aime25``: the 30 problems of AIME 2025 (I and II).

Data set ``math-ai/aime25`` (split ``test``; fields ``problem``, ``answer``, ``id``); no commit is pinned
(``revision=main`` unless given; the served commit is recorded in each problem's ``meta["source"]``).
Problem ids are the data set's ``id``: ``aime25:0``. Answers are integers 0-999 (checked at load). Prompt:
``{problem}`` then the boxed-answer instruction; default ``max_tokens`` 16384, as for ``aime24``.
"""

from __future__ import annotations

from evalkit_tasks.aime import aime_answer
from evalkit_tasks.final_answer import BOXED_INSTRUCTION, FinalAnswerBenchmark

from evalkit.benchmark import HubDataset
from evalkit.datafile import Row
from evalkit.tasks import register


@register
class Aime25(FinalAnswerBenchmark):
    name = "aime25"
    description = "AIME 2025 (math-ai/aime25, test): 30 problems, integer answers 0-999"
    hub = HubDataset("math-ai/aime25", "test", "main")
    id_field = "id"
    question_fields = ("problem",)
    prompt_template = "{problem}\n\n" + BOXED_INSTRUCTION
    default_max_tokens = 16384

    def reference(self, row: Row, pid: str) -> str:
        return aime_answer(row, pid)
