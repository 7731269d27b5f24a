"""What ``aime24`` and ``aime25`` share: answers are integers from 0 to 999, ids are the data set's ``id``, the
prompt is the problem then the boxed-answer instruction, and the default ``max_tokens`` is 16384 (long
reasoning: AIME solutions of RL-trained models often run past 8k tokens)."""

from __future__ import annotations

from evalkit_tasks.final_answer import BOXED_INSTRUCTION, FinalAnswerBenchmark

from evalkit.errors import EvalkitError
from evalkit.tasks.benchmark import row_answer
from evalkit.tasks.datafile import Row


def aime_answer(row: Row, pid: str, name: str = "answer") -> str:
    """The row's answer as an integer 0-999 in plain digits (``"033"`` becomes ``"33"``).

    Raises:
        EvalkitError: naming the row, problem id and field, when it is not such an integer.
    """
    text = row_answer(row, pid, name)
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 999:  # "²".isdigit() is true
        raise EvalkitError(
            f"{row.where}: problem {pid!r}: field {name!r} must be an integer 0-999 (AIME), got {text!r}"
        )
    return str(int(text))


class AimeBenchmark(FinalAnswerBenchmark):
    """An AIME year (not registered itself: ``aime24`` and ``aime25`` give the name, description and data set)."""

    id_field = "id"
    question_fields = ("problem",)
    prompt_template = "{problem}\n\n" + BOXED_INSTRUCTION
    default_max_tokens = 16384
    answer_space = 1000  # the integers 0-999 (checked at load): `evalkit audit guess` compares with guessing

    def reference(self, row: Row, pid: str) -> str:
        return aime_answer(row, pid)
