"""``gsm8k``: GSM8K's 1,319 grade-school word problems (Cobbe et al., 2021), test split.

Data set ``openai/gsm8k`` (config ``main``, split ``test``; fields ``question`` and ``answer``, a worked
solution ending in ``#### <number>``); no commit is pinned (``revision=main`` unless given; the served
commit is recorded in each problem's ``meta["source"]``). The data set has no ids, so problem ids are the
row index: ``gsm8k:test-00042``. The reference is the number after ``####`` with its thousands commas
removed (:func:`final_number`); a row without one is an error naming the row. Prompt: ``{question}`` then
the boxed-answer instruction; default ``max_tokens`` 4096. Completions are judged like ``math500``'s (the
last ``\\boxed{}``, else "the answer is", else the last number; ``1,234`` and ``1234`` are equal).
"""

from __future__ import annotations

import re

from evalkit_tasks.final_answer import BOXED_INSTRUCTION, FinalAnswerBenchmark

from evalkit.errors import EvalkitError
from evalkit.tasks import register
from evalkit.tasks.benchmark import HubDataset, row_text
from evalkit.tasks.datafile import Row

_FINAL_RE = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")


def final_number(solution: str) -> str | None:
    """The number after the last ``####`` of a GSM8K solution, commas removed; None when there is none.

    ``"... so 3 + 4 = 7.\\n#### 1,234"`` gives ``"1234"``.
    """
    match = _FINAL_RE.search(solution.strip())
    return match.group(1).replace(",", "") if match else None


@register
class Gsm8k(FinalAnswerBenchmark):
    name = "gsm8k"
    description = "GSM8K (openai/gsm8k main, test): grade-school word problems, the number after ####"
    hub = HubDataset("openai/gsm8k", "test", "main", config="main")
    id_fallback = "test-{index:05d}"
    question_field = "question"
    question_fields = ("question",)
    prompt_template = "{question}\n\n" + BOXED_INSTRUCTION
    default_max_tokens = 4096

    def reference(self, row: Row, pid: str) -> str:
        solution = row_text(row, pid, "answer")
        number = final_number(solution)
        if number is None:
            raise EvalkitError(f"{row.where}: problem {pid!r}: field 'answer' does not end in '#### <number>'")
        return number
