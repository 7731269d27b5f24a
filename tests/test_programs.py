"""Which program a code completion runs: the final block over a draft, the helpers it needs from earlier
blocks, bare code followed by a closing fence or prose."""

from __future__ import annotations

import pytest

from evalkit.grading.programs import bare_program, extract_program
from evalkit.tasks.taskdir import extract_program as taskdir_extract_program


def fenced(code: str, lang: str = "python") -> str:
    return f"```{lang}\n{code}```\n"


DRAFT = "def add(a, b):\n    return a - b\n"
FINAL = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize(
    "text",
    [
        "First attempt:\n" + fenced(DRAFT) + "Wait, that subtracts. Fixed version:\n" + fenced(FINAL),
        "Draft:\n" + fenced(DRAFT) + "\nTests:\n" + fenced("assert add(1, 2) == 3\n") + "Final:\n" + fenced(FINAL),
        "<think>\n" + fenced(DRAFT) + "</think>\n" + fenced(FINAL, ""),
        fenced(DRAFT) + "Final answer:\n" + fenced(FINAL).rstrip("`\n"),  # the final fence never closes
    ],
)
def test_the_final_block_that_defines_the_entry_point_runs(text: str) -> None:
    program = extract_program(text, "add")
    assert "a + b" in program and "a - b" not in program, program


@pytest.mark.parametrize(
    ("text", "needed", "left_out"),
    [
        (
            fenced("def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n")
            + "Now the main function:\n"
            + fenced("def count_primes(xs):\n    return sum(1 for x in xs if is_prime(x))\n"),
            ["def is_prime"],
            [],
        ),
        (
            fenced("import math\n\nSCALE = 2\n\ndef unused():\n    return 0\n")
            + fenced("def count_primes(r):\n    return math.floor(r * SCALE)\n"),
            ["import math", "SCALE = 2"],
            ["def unused"],
        ),
        (
            fenced("def helper(x):\n    return inner(x) + 1\n\ndef inner(x):\n    return x * 2\n")
            + fenced("def count_primes(x):\n    return helper(x)\n"),
            ["def helper", "def inner"],
            [],
        ),
        (
            fenced("def count_primes(x):\n    return 0\n\ndef helper(x):\n    return x\n")
            + fenced("def count_primes(x):\n    return helper(x) + 1\n"),
            ["def helper"],
            ["return 0"],  # the draft of the entry point is never taken
        ),
    ],
)
def test_helpers_from_earlier_blocks_are_kept(text: str, needed: list[str], left_out: list[str]) -> None:
    program = extract_program(text, "count_primes")
    compile(program, "<program>", "exec")
    assert all(part in program for part in needed), program
    assert not any(part in program for part in left_out), program
    assert program.rstrip().endswith(program.rstrip().split("\n\n\n")[-1])


@pytest.mark.parametrize(
    "text",
    [
        "def add(a, b):\n    return a + b\n```\n",
        "def add(a, b):\n    return a + b\n```",
        "def add(a, b):\n    return a + b\nThis function returns the sum of a and b.",
        "Here is the function:\ndef add(a, b):\n    return a + b\n\nIt adds the two numbers.\n",
        "import operator\n\ndef add(a, b):\n    return operator.add(a, b)\n```\nDone: the function is above.",
        "1. Write the function:\n\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n",  # in a list item
    ],
)
def test_bare_code_followed_by_a_fence_or_prose_compiles(text: str) -> None:
    program = extract_program(text, "add")
    compile(program, "<program>", "exec")
    namespace: dict[str, object] = {}
    exec(program, namespace)  # trusted test text
    assert namespace["add"](2, 3) == 5  # type: ignore[operator]


def test_text_that_never_compiles_is_returned_as_it_is() -> None:
    assert bare_program("no code here") == "no code here"
    assert bare_program("def f(:\n") == "def f(:\n"


def test_taskdir_uses_the_same_rules() -> None:
    text = "Draft:\n" + fenced(DRAFT) + "Final:\n" + fenced(FINAL)
    assert taskdir_extract_program(text, "add") == extract_program(text, "add") == FINAL
