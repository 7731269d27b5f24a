"""Shared base of the final-answer benchmarks (``math500``, ``aime24``, ``aime25``, ``amc23``, ``gsm8k``).

A row gives a question field and an answer field; the prompt is the family's template over the row's
fields (default: the question, then "Please reason step by step, and put your final answer within
\\boxed{}.", the Qwen2.5-Math / DeepSeek-R1 convention). A completion is judged by
:func:`evalkit.grading.answers.answer_verdict`, as for the ``math`` task: the answer is read by ``answer_format``
(``auto``: last ``\\boxed{}``, else "the answer is X", else the last number), after the reasoning block
(``think=strip``), never guessing with ``strict=true``, and compared with the reference as a string, an
exact number or math (math-verify). The dedup key is the extracted answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import math_verify  # noqa: F401  (imported here so that verifier workers load it before their first item)

from evalkit.grading.answers import AnswerVerified, check_reading, quiet_math_verify
from evalkit.tasks.benchmark import Benchmark, BenchmarkConfig, row_answer, row_text
from evalkit.tasks.datafile import Row

quiet_math_verify()

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class FinalAnswerConfig(BenchmarkConfig):
    answer_format: str = "auto"
    think: str = "strip"
    strict: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_reading(self.answer_format, self.think, self.strict)


class FinalAnswerBenchmark(AnswerVerified, Benchmark):
    """A benchmark of questions with one final answer; subclasses name the fields and may check answers."""

    Config = FinalAnswerConfig
    question_field: ClassVar[str] = "problem"
    answer_field: ClassVar[str] = "answer"

    def reference(self, row: Row, pid: str) -> str:
        """The reference answer of a row (subclasses normalise or check it; errors name the row)."""
        return row_answer(row, pid, self.answer_field)

    def problem(self, row: Row, pid: str, config: Any) -> tuple[dict[str, str], str, dict[str, Any]]:
        question = row_text(row, pid, self.question_field)
        fields = {"prompt": question, self.question_field: question}
        meta = {"answer_format": config.answer_format, "think": config.think, "strict": config.strict}
        return fields, self.reference(row, pid), meta
