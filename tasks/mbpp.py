"""``mbpp``: MBPP's hand-verified ("sanitized") Python problems (Austin et al., 2021), test split.

Data set ``google-research-datasets/mbpp`` (config ``sanitized``, split ``test``: 257 problems; fields
``source_file``, ``task_id``, ``prompt``, ``code``, ``test_imports``, ``test_list``), pinned to commit
``7bc94ee8``. Problem ids are the data set's ``task_id``: ``mbpp:602``.

Prompt (the usual MBPP convention): the task text and the first test, so that the function's name and
signature are known, then a request for a fenced code block; the template's fields are ``{prompt}`` (the task
text) and ``{test}`` (the first assert). Default ``max_tokens`` 1024.

Verification: the program is the last fenced code block that defines the function under test, with the helpers
it uses from earlier blocks, else the last fenced block, else the code in the completion
(:func:`evalkit.grading.programs.extract_program`). It runs in evalkit's code
sandbox with every assert of ``test_list``, after the row's ``test_imports``, exactly like ``humaneval``'s
tests: :func:`evalkit.grading.sandbox.run_tests` runs the program and the tests in separate confined processes;
``passed`` is the sandbox's positive confirmation that every assert passed, ``score`` the fraction that
passed. The reference is the row's ``code``. The function under test (``meta["entry_point"]``) is the first
function that both ``code`` defines and the first test calls. Parameters: those of
:mod:`evalkit.tasks.benchmark` and ``timeout_s`` (seconds per program, default 10), ``memory_mb`` (default 1024).
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.tasks import register
from evalkit.tasks.benchmark import Benchmark, BenchmarkConfig, HubDataset, row_text
from evalkit.tasks.datafile import Row
from evalkit.tasks.taskdir import code_dedup_key, code_reference_completion, code_verdict
from evalkit.types import Problem, Verdict


@dataclass(frozen=True)
class MbppConfig(BenchmarkConfig):
    timeout_s: float = 10.0
    memory_mb: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.timeout_s <= 600:
            raise ValueError("need 0 < timeout_s <= 600")
        if not 64 <= self.memory_mb <= 65536:
            raise ValueError("need 64 <= memory_mb <= 65536")


def _string_list(row: Row, pid: str, name: str, *, required: bool) -> list[str]:
    value = row.data.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value) or (required and not value):
        raise EvalkitError(f"{row.where}: problem {pid!r}: field {name!r} must be a non-empty list of strings")
    return [str(v) for v in value]


def entry_point(code: str, first_test: str) -> str | None:
    """The function under test: the first name called by ``first_test`` that ``code`` defines at top level,
    else the first called name that is not a builtin; None when the test calls no function by name."""
    try:
        defined = {n.name for n in ast.parse(code).body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    except SyntaxError:
        defined = set()
    try:
        calls = [
            node.func.id
            for node in ast.walk(ast.parse(first_test))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        ]
    except SyntaxError:
        return None
    for name in calls:
        if name in defined:
            return name
    return next((name for name in calls if not hasattr(builtins, name)), None)


@register
class Mbpp(Benchmark):
    name = "mbpp"
    description = "MBPP sanitized (google-research-datasets/mbpp, test): Python functions judged by asserts"
    hub = HubDataset("google-research-datasets/mbpp", "test", "7bc94ee8bd8f4b07324968e85b7b54f505cba1e5", "sanitized")
    Config = MbppConfig
    id_field = "task_id"
    question_fields = ("test",)
    prompt_template = (
        "{prompt}\nYour code should pass this test:\n\n{test}\n\nWrite the Python function in a ```python code block."
    )
    default_max_tokens = 1024
    sandbox_only_verifier = True  # the text becomes a program run by run_tests, nothing else

    def problem(self, row: Row, pid: str, config: Any) -> tuple[dict[str, str], str, dict[str, Any]]:
        text = row_text(row, pid, "prompt")
        code = row_text(row, pid, "code")
        tests = _string_list(row, pid, "test_list", required=True)
        imports = _string_list(row, pid, "test_imports", required=False)
        test_code = "\n".join([*imports, *tests]) + "\n"
        try:
            ast.parse(test_code)
        except SyntaxError as exc:
            raise EvalkitError(f"{row.where}: problem {pid!r}: field 'test_list' does not parse ({exc.msg})") from None
        function = entry_point(code, tests[0])
        if function is None:
            raise EvalkitError(f"{row.where}: problem {pid!r}: the first test calls no function that 'code' defines")
        meta = {"tests": test_code, "entry_point": function, "timeout_s": config.timeout_s}
        meta["memory_mb"] = config.memory_mb
        return {"prompt": text, "test": tests[0]}, code, meta

    def reference_completion(self, problem: Problem) -> str:
        return code_reference_completion(problem)

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        return code_dedup_key(problem, text)

    def verify(self, problem: Problem, text: str) -> Verdict:
        return code_verdict(problem, text, None)  # MBPP-style asserts: each runs and counts
