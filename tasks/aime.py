"""AIME answers: an integer from 0 to 999, shared by ``aime24`` and ``aime25``."""

from __future__ import annotations

from evalkit.benchmark import row_answer
from evalkit.datafile import Row
from evalkit.errors import EvalkitError


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
