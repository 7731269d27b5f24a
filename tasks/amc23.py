"""``amc23``: the 40 AMC 2023 problems of the Qwen2.5-Math evaluation suite, with numeric answers.

Data set ``math-ai/amc23`` (split ``test``; fields ``id``, ``question``, ``answer``, a number: ``27.0`` is
read as ``27``); no commit is pinned (``revision=main`` unless given; the served commit is recorded in each
problem's ``meta["source"]``). Problem ids are the data set's ``id`` (``amc23:7``), or ``amc23:test-NNNNN``
by row for a copy without one. Prompt: ``{question}`` then the boxed-answer instruction; default
``max_tokens`` 8192 (AMC problems are shorter than AIME's).
"""

from __future__ import annotations

from evalkit_tasks.final_answer import BOXED_INSTRUCTION, FinalAnswerBenchmark

from evalkit.tasks import register
from evalkit.tasks.benchmark import HubDataset


@register
class Amc23(FinalAnswerBenchmark):
    name = "amc23"
    description = "AMC 2023 (math-ai/amc23, test): 40 problems, numeric answers"
    hub = HubDataset("math-ai/amc23", "test", "main")
    id_field = "id"
    id_fallback = "test-{index:05d}"
    question_field = "question"
    question_fields = ("question",)
    prompt_template = "{question}\n\n" + BOXED_INSTRUCTION
    default_max_tokens = 8192
