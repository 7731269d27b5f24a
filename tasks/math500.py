"""``math500``: MATH-500, the 500-problem subset of the MATH test set chosen by Lightman et al. (2023).

Data set ``HuggingFaceH4/MATH-500`` (split ``test``; fields ``problem``, ``solution``, ``answer``,
``subject``, ``level``, ``unique_id``), pinned to commit ``ff5b2025``. Problem ids are the data set's
``unique_id``: ``math500:test/precalculus/807.json``. Prompt: ``{problem}`` then the boxed-answer
instruction; default ``max_tokens`` 4096. ``subject`` and ``level`` are kept in ``meta``. Parameters and
verification: :mod:`evalkit.tasks.benchmark`, :mod:`evalkit_tasks.final_answer`.
"""

from __future__ import annotations

from typing import Any

from evalkit_tasks.final_answer import BOXED_INSTRUCTION, FinalAnswerBenchmark

from evalkit.tasks import register
from evalkit.tasks.benchmark import HubDataset
from evalkit.tasks.datafile import Row


@register
class Math500(FinalAnswerBenchmark):
    name = "math500"
    description = "MATH-500 (HuggingFaceH4/MATH-500, test): competition math, boxed final answers"
    hub = HubDataset("HuggingFaceH4/MATH-500", "test", "ff5b20257d8185524591543f8ff5993951537bb8")
    id_field = "unique_id"
    question_fields = ("problem",)
    prompt_template = "{problem}\n\n" + BOXED_INSTRUCTION
    default_max_tokens = 4096

    def problem(self, row: Row, pid: str, config: Any) -> tuple[dict[str, str], str, dict[str, Any]]:
        fields, reference, meta = super().problem(row, pid, config)
        for key in ("subject", "level"):
            if row.data.get(key) is not None:
                meta[key] = row.data[key]
        if "level" in meta:
            meta["bucket"] = f"level {meta['level']}"
        return fields, reference, meta
