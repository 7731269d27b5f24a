"""User task folders (``--tasks-dir DIR``): every ``*.jsonl`` file in DIR is a task named by its stem.

The kind of a file is read from its first record:

- **answer task** (a record has ``answer``): ``problem_id``, ``prompt`` (or ``question``), ``answer``.
  A completion's answer is extracted by ``answer_format`` (spec parameter, default ``auto``: last
  ``\\boxed{}``, else "the answer is X", else the last number), after the reasoning block (``think``,
  default ``strip``), never guessing with ``strict=true``, and matches when it equals the reference as a
  string or as math, as for the built-in ``math`` task (:mod:`evalkit.grading.answers`).
- **code task** (a record has ``tests`` or ``entry_point``, MBPP-style): ``problem_id``, ``prompt``,
  ``tests`` (a list of ``assert`` strings, or test code with ``assert`` lines or a ``def check(candidate)``),
  ``entry_point``, optionally ``solution``. The program is the last fenced code block of the completion
  that defines ``entry_point``, with the helpers it uses from earlier blocks (else its last fenced block,
  else the code in the completion; :mod:`evalkit.grading.programs`), run with the tests
  by :func:`evalkit.grading.sandbox.run_tests` (``timeout_s``, ``memory_mb`` spec parameters). ``passed`` is the
  sandbox's positive confirmation that every test passed; ``score`` is the fraction of asserts that passed.
  Helpers the tests call are taken from the prompt when it defines them (the prompt as Python, else its
  fenced code blocks; :func:`evalkit.grading.sandbox.prompt_definitions`), never from the completion.
  The text runs only as that program (``sandbox_only_verifier``), so code tasks are verified in unconfined
  workers, where the sandbox builds every layer; answer tasks in confined ones (:mod:`evalkit.verify`).

Every record of a file is validated when the task's problems are built, before any model loads; errors
name the file, line, problem id and field (:mod:`evalkit.tasks.datafile`). Problem ids are
``<task name>:<problem_id>``. ``--limit`` takes a seeded random subset, as for every loaded task. A file's
sha256 is recorded in the run manifest, so resuming after the file changed is refused.

Dedup keys (:meth:`evalkit.tasks.TaskFamily.dedup_key`): the extracted answer of an answer task, the program
that runs for a code task, so that completions of a problem that give the same one are verified once.

Everything a verifier needs is in the Problem (reference, answer format, tests, entry point, limits, and
``meta["verifier"]``), so spawned workers, and ``evalkit score`` on a later day without ``--tasks-dir``,
verify with :class:`AnswerFileTask` or :class:`CodeFileTask` constructed with no arguments.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.grading.answers import AnswerVerified, check_reading, quiet_math_verify
from evalkit.grading.programs import extract_program
from evalkit.tasks.datafile import Row, answer_problems, code_problems, file_sha256, read_jsonl, row_kind
from evalkit.tasks.registry import TaskFamily, register_factory
from evalkit.types import Problem, Verdict

quiet_math_verify()


@dataclass(frozen=True)
class AnswerFileConfig:
    answer_format: str = "auto"
    think: str = "strip"
    strict: bool = False

    def __post_init__(self) -> None:
        check_reading(self.answer_format, self.think, self.strict)


@dataclass(frozen=True)
class CodeFileConfig:
    timeout_s: float = 5.0
    memory_mb: int = 1024

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 600:
            raise ValueError("need 0 < timeout_s <= 600 (keep it below --verify-timeout)")
        if not 64 <= self.memory_mb <= 65536:
            raise ValueError("need 64 <= memory_mb <= 65536")


@functools.lru_cache(maxsize=32)
def _rows(path: Path, stamp: tuple[int, int]) -> tuple[Row, ...]:
    return tuple(read_jsonl(path))


def _read(path: Path) -> list[Row]:
    """The file's records, cached per (path, mtime, size): GRPO and tests build problems many times."""
    try:
        st = path.stat()
    except OSError as exc:
        raise EvalkitError(f"{path}: cannot read task file ({exc.strerror or exc})") from None
    return list(_rows(path, (st.st_mtime_ns, st.st_size)))


class _FileTask(TaskFamily):
    """A task read from one JSONL file of a user folder; ``path`` is None in verifier workers."""

    name = "tasks-dir"
    description = "user task file"

    def __init__(self, path: Path | None = None, name: str | None = None) -> None:
        self.path = path
        if name is not None:
            self.name = name
        if path is not None:
            self.description = f"{type(self).description} ({path})"

    def _file(self) -> Path:
        if self.path is None:
            raise EvalkitError(f"task {self.name!r}: no task file (pass --tasks-dir)")
        return self.path

    def data_identity(self, config: Any) -> str | None:
        return file_sha256(self._file())


class AnswerFileTask(AnswerVerified, _FileTask):
    """An answer task from a user folder file (see the module docstring)."""

    Config = AnswerFileConfig
    description = "answer task from a user folder file"

    def load(self, config: AnswerFileConfig) -> list[Problem]:
        meta = {
            "answer_format": config.answer_format,
            "think": config.think,
            "strict": config.strict,
            "verifier": "tasks-dir:answer",
        }
        return answer_problems(_read(self._file()), self.name, f"{self.name}:", meta)


class CodeFileTask(_FileTask):
    """A code task from a user folder file (see the module docstring)."""

    Config = CodeFileConfig
    description = "code task (MBPP-style tests) from a user folder file"
    sandbox_only_verifier = True  # the text becomes a program run by run_tests, nothing else

    def load(self, config: CodeFileConfig) -> list[Problem]:
        meta = {"timeout_s": config.timeout_s, "memory_mb": config.memory_mb, "verifier": "tasks-dir:code"}
        return code_problems(_read(self._file()), self.name, f"{self.name}:", meta)

    def reference_completion(self, problem: Problem) -> str:
        return code_reference_completion(problem)

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        return code_dedup_key(problem, text)

    def verify(self, problem: Problem, text: str) -> Verdict:
        # the tests call the prompt's helpers, never the completion's copies
        return code_verdict(problem, text, str(problem.meta["entry_point"]), prompt=problem.prompt)


def code_reference_completion(problem: Problem) -> str:
    """A code problem's reference solution as a model would write it: one fenced Python block."""
    return f"```python\n{problem.reference}\n```\n"


def code_dedup_key(problem: Problem, text: str) -> str | None:
    """What a code verdict depends on: the program extracted from the text (``meta["entry_point"]``)."""
    if not text.strip():
        return "empty"
    return "program:" + extract_program(text, str(problem.meta["entry_point"]))


def code_verdict(problem: Problem, text: str, entry_point: str | None, prompt: str = "") -> Verdict:
    """Run the program in ``text`` against ``meta["tests"]`` in the sandbox (:func:`evalkit.grading.sandbox.run_tests`).

    Args:
        problem: Its meta holds ``tests``, ``entry_point``, and optionally ``timeout_s`` (5) and ``memory_mb``
            (1024).
        text: The completion.
        entry_point: Passed to ``run_tests`` as the function the tests check (HumanEval-style ``check``), or
            None for MBPP-style asserts that each run and count.
        prompt: The trusted prompt whose helpers the tests may call.
    """
    from evalkit.grading.sandbox import run_tests, verdict_isolation

    if not text.strip():
        return Verdict(passed=False, score=0.0, status="empty", detail="empty completion")
    program = extract_program(text, str(problem.meta["entry_point"]))
    result = run_tests(
        program,
        str(problem.meta["tests"]),
        entry_point,
        prompt=prompt,
        timeout_s=float(problem.meta.get("timeout_s", 5.0)),
        memory_mb=int(problem.meta.get("memory_mb", 1024)),
    )
    status = result.status if result.status in ("ok", "timeout") else "error"
    if result.confirmed:
        detail = "all tests passed"
    elif result.status == "ok":
        detail = f"{result.tests_passed}/{result.tests_total} tests passed: {result.detail}"
    else:
        detail = f"{result.status}: {result.detail}"
    isolation = verdict_isolation(result)
    return Verdict(result.confirmed, float(result.score), status, detail[:200], isolation)


def file_family(path: Path) -> TaskFamily:
    """The family of one task file, by the kind of its first record."""
    rows = _read(path)
    kind = row_kind(rows[0])
    family: TaskFamily = (CodeFileTask if kind == "code" else AnswerFileTask)(path, path.stem)
    return family


def register_tasks_dir(directory: Path) -> list[str]:
    """Register every ``*.jsonl`` file of ``directory`` as a task named by its stem; returns the names.

    Files are read when a task is used (``evalkit tasks`` reads them all), so one broken file does not
    stop the others from being used.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise EvalkitError(f"--tasks-dir {directory}: no such directory")
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise EvalkitError(f"--tasks-dir {directory}: no *.jsonl task files in it")
    names = []
    for path in files:
        resolved = path.resolve()
        register_factory(path.stem, functools.partial(file_family, resolved), str(resolved))
        names.append(path.stem)
    return names
