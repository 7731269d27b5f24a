"""Task data files: read JSONL (or Hugging Face dataset rows) and validate them into Problems.

Every error is an :class:`EvalkitError` that names the file and line (``row N`` for a Hugging Face
dataset), the problem id when there is one, and the field at fault, and it is raised when the problems
are built, before any model is loaded (BAD_INPUTS rows 2-4):

- not JSON, or not a JSON object, on some line;
- a missing or mistyped field (``problem_id``, ``prompt``/``question``, ``answer``, ``tests``,
  ``entry_point``);
- a duplicate ``problem_id`` (both lines are named);
- a file with no problems at all.

Two kinds of rows:

- answer rows: ``problem_id`` (string or integer), ``prompt`` (or ``question``), ``answer`` (string or
  number);
- code rows (MBPP-style): ``problem_id``, ``prompt``, ``tests`` (a list of ``assert`` strings, or one
  string of test code: ``assert`` lines or a ``def check(candidate)`` function), ``entry_point`` (the
  function under test), optionally ``solution`` (a reference program).

Other fields are kept in ``meta["extra"]``. Ids become ``{id_prefix}{problem_id}``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError, json_error_detail
from evalkit.types import Problem

ANSWER_FIELDS = ("problem_id", "prompt", "question", "answer")
CODE_FIELDS = ("problem_id", "prompt", "tests", "entry_point", "solution")


@dataclass(frozen=True)
class Row:
    """One record of a data file and where it came from (``file:line`` or ``dataset row N``)."""

    where: str
    data: dict[str, Any]


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes (recorded in run manifests, so edits refuse a resume)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def read_jsonl(path: Path) -> list[Row]:
    """The JSON objects of a JSONL file, one per non-blank line; errors name the file and line."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise EvalkitError(f"{path}: cannot read task file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise EvalkitError(f"{path}: not UTF-8 text (byte {exc.start}); save the task file as UTF-8") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalkitError(f"{where}: not valid JSON ({json_error_detail(exc)})") from None
        if not isinstance(data, dict):
            raise EvalkitError(f"{where}: expected a JSON object, got {type(data).__name__}")
        rows.append(Row(where, data))
    if not rows:
        raise EvalkitError(f"{path}: empty task file (no problems); add JSON lines or remove the file")
    return rows


def read_hf_dataset(dataset: str, split: str) -> list[Row]:
    """Rows of a Hugging Face dataset split, through the optional ``datasets`` package.

    Rows are validated like file lines. A row without ``problem_id`` takes ``unique_id`` or ``id``, else
    its row number; a row without ``prompt`` or ``question`` takes ``problem``.
    """
    try:
        import datasets  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise EvalkitError(
            f"{dataset!r} is not a local file; loading it as a Hugging Face dataset needs the `datasets` "
            "package (pip install datasets), or pass the path of a JSONL file"
        ) from None
    try:
        loaded = datasets.load_dataset(dataset, split=split)
    except Exception as exc:  # network errors, unknown ids and bad splits all surface here
        raise EvalkitError(
            f"{dataset!r} is not a local file and could not be loaded as a Hugging Face dataset, split "
            f"{split!r} ({type(exc).__name__}: {str(exc)[:200]}); offline? pass the path of a JSONL file"
        ) from None
    rows = []
    for i, record in enumerate(loaded):
        data = dict(record)
        # Common dataset layouts: MATH-500 has unique_id and problem; many sets have neither id nor prompt.
        if data.get("problem_id") is None:
            data["problem_id"] = next((data[k] for k in ("unique_id", "id") if data.get(k) is not None), i)
        if data.get("prompt") is None and data.get("question") is None and data.get("problem") is not None:
            data["prompt"] = data.pop("problem")
        rows.append(Row(f"{dataset}[{split}] row {i}", data))
    if not rows:
        raise EvalkitError(f"{dataset!r} split {split!r} has no rows")
    return rows


def _pid(row: Row) -> str:
    """The row's problem id as a string, or an error naming the line and field."""
    value = row.data.get("problem_id")
    if value is None:
        raise EvalkitError(f"{row.where}: missing field 'problem_id'")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EvalkitError(
            f"{row.where}: field 'problem_id' must be a string or an integer, got {type(value).__name__}"
        )
    text = str(value)
    if not text.strip() or any(ch in text for ch in "\r\n"):
        raise EvalkitError(f"{row.where}: field 'problem_id' must be non-empty and on one line, got {text!r}")
    return text


def _text(row: Row, pid: str, name: str, *, alternatives: tuple[str, ...] = ()) -> str:
    names = (name, *alternatives)
    present = [n for n in names if row.data.get(n) is not None]
    if not present:
        either = " or ".join(repr(n) for n in names)
        raise EvalkitError(f"{row.where}: problem {pid!r}: missing field {either}")
    value = row.data[present[0]]
    if not isinstance(value, str):
        raise EvalkitError(
            f"{row.where}: problem {pid!r}: field {present[0]!r} must be a string, got {type(value).__name__}"
        )
    if not value.strip():
        raise EvalkitError(f"{row.where}: problem {pid!r}: field {present[0]!r} is empty")
    return value


def _answer(row: Row, pid: str) -> str:
    if "answer" not in row.data or row.data["answer"] is None:
        raise EvalkitError(f"{row.where}: problem {pid!r}: missing field 'answer'")
    value = row.data["answer"]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EvalkitError(
            f"{row.where}: problem {pid!r}: field 'answer' must be a string or a number, got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise EvalkitError(f"{row.where}: problem {pid!r}: field 'answer' must be finite, got {value}")
    text = str(value).strip()
    if not text:
        raise EvalkitError(f"{row.where}: problem {pid!r}: field 'answer' is empty")
    return text


def _tests(row: Row, pid: str, entry_point: str) -> str:
    """The test code: a list of assert strings joined by newlines, or one string; checked to parse."""
    if row.data.get("tests") is None:
        raise EvalkitError(f"{row.where}: problem {pid!r}: missing field 'tests'")
    value = row.data["tests"]
    if isinstance(value, list):
        if not value or not all(isinstance(t, str) and t.strip() for t in value):
            raise EvalkitError(
                f"{row.where}: problem {pid!r}: field 'tests' must be a non-empty list of strings "
                "(assert statements) or a string of test code"
            )
        code = "\n".join(t.strip("\n") for t in value) + "\n"
    elif isinstance(value, str) and value.strip():
        code = value
    else:
        raise EvalkitError(
            f"{row.where}: problem {pid!r}: field 'tests' must be a list of assert strings or a string of test "
            f"code, got {type(value).__name__}"
        )
    try:
        body = ast.parse(code).body
    except SyntaxError as exc:
        raise EvalkitError(f"{row.where}: problem {pid!r}: field 'tests' does not parse ({exc.msg})") from None
    defines_check = any(isinstance(s, ast.FunctionDef) and s.name == "check" for s in body)
    if not defines_check and not any(isinstance(s, ast.Assert) for s in body):
        raise EvalkitError(
            f"{row.where}: problem {pid!r}: field 'tests' has no top-level assert and no def check(candidate)"
        )
    return code


def _unique(rows: list[Row]) -> list[tuple[Row, str]]:
    seen: dict[str, str] = {}
    out = []
    for row in rows:
        pid = _pid(row)
        if pid in seen:
            raise EvalkitError(f"{row.where}: duplicate problem_id {pid!r} (first at {seen[pid]}); ids must be unique")
        seen[pid] = row.where
        out.append((row, pid))
    return out


def _extra(row: Row, known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in row.data.items() if k not in known}


def answer_problems(rows: list[Row], task: str, id_prefix: str, meta: dict[str, Any]) -> list[Problem]:
    """Problems from answer rows; ``meta`` (answer format, verifier key...) is added to each problem's meta."""
    problems = []
    for row, pid in _unique(rows):
        prompt = _text(row, pid, "prompt", alternatives=("question",))
        answer = _answer(row, pid)
        info = {**meta, "source": row.where, "source_id": pid}
        extra = _extra(row, ANSWER_FIELDS)
        if extra:
            info["extra"] = extra
        problems.append(Problem(id=f"{id_prefix}{pid}", task=task, prompt=prompt, reference=answer, meta=info))
    return problems


def code_problems(rows: list[Row], task: str, id_prefix: str, meta: dict[str, Any]) -> list[Problem]:
    """Problems from code rows; the tests and entry point go into meta, the optional solution is the reference."""
    problems = []
    for row, pid in _unique(rows):
        prompt = _text(row, pid, "prompt")
        entry_point = _text(row, pid, "entry_point").strip()
        if not entry_point.isidentifier():
            raise EvalkitError(
                f"{row.where}: problem {pid!r}: field 'entry_point' must be a Python function name, got {entry_point!r}"
            )
        tests = _tests(row, pid, entry_point)
        solution = row.data.get("solution")
        if solution is not None and not isinstance(solution, str):
            raise EvalkitError(
                f"{row.where}: problem {pid!r}: field 'solution' must be a string, got {type(solution).__name__}"
            )
        info = {**meta, "tests": tests, "entry_point": entry_point, "source": row.where, "source_id": pid}
        extra = _extra(row, CODE_FIELDS)
        if extra:
            info["extra"] = extra
        problems.append(Problem(id=f"{id_prefix}{pid}", task=task, prompt=prompt, reference=solution or "", meta=info))
    return problems


def row_kind(row: Row) -> str:
    """``code`` for a row with ``tests`` and ``entry_point``, ``answer`` for one with ``answer``."""
    if "tests" in row.data or "entry_point" in row.data:
        return "code"
    if "answer" in row.data:
        return "answer"
    raise EvalkitError(
        f"{row.where}: cannot tell the task kind: need an 'answer' field (answer task) or 'tests' and "
        "'entry_point' fields (code task)"
    )
