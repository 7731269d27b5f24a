"""The program in a code completion: which fenced block runs, the helpers it needs, bare code.

Pure string and ``ast`` work (the text is parsed, never run); it also runs in the evalkit process as a
dedup key. The rules, in order:

1. **Fenced blocks** (```` ```python ... ``` ````; an unclosed fence, cut at max tokens, runs to the end of
   the text; blocks are dedented, so a block inside a list item is code): the *last* block that defines
   the entry point runs, so a draft followed by a final version runs the final one; without such a
   block, the last non-empty block.
2. **Helpers**: the names the chosen block uses and does not define itself (functions, classes,
   imports, top-level assignments) are taken from the other blocks, the latest definition of each, with
   the names those definitions use in turn (what evalplus' sanitizer keeps: the definitions the entry
   point reaches). They go before the chosen block, in the order they were written. A draft of the
   entry point is never taken: the chosen block defines it.
3. **Bare code** (no opening fence: no fence at all, or an odd number of fences of which the first is a
   bare ```` ``` ```` after code): the text from its first line that starts code (``def``, ``class``,
   ``import``, ``from``, ``@``) up to a closing fence, and without the trailing lines of prose that keep
   it from compiling (at most :data:`PROSE_LINES`), e.g. a function followed by ```` ``` ```` or by
   "This function returns the sum.". Only unindented lines are dropped: an indented line is code, and
   code that does not compile is never cut away to leave a program that does. Text that still does not
   compile is returned as it is (the sandbox reports its error).
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap

PROSE_LINES = 8  # the most trailing lines dropped from bare code to make it compile
PARSE_CHARS = 200_000  # blocks longer than this are not parsed for helpers

_FENCE_RE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.S)  # an unclosed fence (cut at max tokens) runs to the end
_FENCE_LINE_RE = re.compile(r"^[^\S\n]*```", re.M)
_CODE_START_RE = re.compile(r"^(?:def|class|import|from|async\s+def)\s|^@", re.M)
_BUILTINS = frozenset(dir(builtins))


def _parse(source: str) -> ast.Module | None:
    if len(source) > PARSE_CHARS:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _compiles(source: str) -> bool:
    return _parse(source) is not None


def _defined(node: ast.stmt) -> list[str]:
    """The names a top-level statement defines (a function, a class, an import, an assignment)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*"]
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [t.id for t in targets if isinstance(t, ast.Name)]
    return []


def _used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def with_helpers(blocks: list[str], chosen: int) -> str:
    """Block ``chosen``, preceded by the definitions it needs from the other blocks (rule 2)."""
    tree = _parse(blocks[chosen])
    if tree is None:
        return blocks[chosen]
    own = {name for node in tree.body for name in _defined(node)}
    found: dict[str, tuple[int, int, str, ast.stmt]] = {}  # name -> (block, line, source, node): the latest
    for i, block in enumerate(blocks):
        other = None if i == chosen else _parse(block)
        for node in other.body if other is not None else []:
            segment = ast.get_source_segment(block, node)
            for name in _defined(node):
                if name not in own and segment is not None:
                    found[name] = (i, node.lineno, segment, node)
    wanted = sorted(_used(tree) - own - _BUILTINS)
    taken: dict[tuple[int, int], str] = {}
    seen: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in seen or name not in found:
            continue
        seen.add(name)
        where, line, segment, node = found[name]
        taken[(where, line)] = segment
        wanted.extend(sorted(_used(node) - own - _BUILTINS - seen))
    if not taken:
        return blocks[chosen]
    helpers = "\n\n".join(segment for _, segment in sorted(taken.items()))
    return f"{helpers}\n\n\n{blocks[chosen]}"


def bare_program(text: str) -> str:
    """Code written without an opening fence (rule 3); ``text`` itself when none is found."""
    start = _CODE_START_RE.search(text)
    if start is None or _compiles(text):
        return text
    code = text[start.start() :]
    fence = _FENCE_LINE_RE.search(code)
    if fence is not None:
        code = code[: fence.start()]
    lines = code.rstrip().split("\n")
    for _ in range(PROSE_LINES + 1):
        program = "\n".join(lines).rstrip() + "\n"
        if _compiles(program):
            return program
        # only trailing prose or a closing fence is dropped: an indented line is code, and code that does not
        # compile stays in (the run then fails to compile: verdict "error"), never cut away to rescue the rest
        if len(lines) <= 1 or lines[-1][:1] in (" ", "\t"):
            break
        lines.pop()
    return text


def fenced_blocks(text: str) -> list[str]:
    """The completion's fenced code blocks, dedented, empty ones left out (rule 1)."""
    return [block for block in (textwrap.dedent(b) for b in _FENCE_RE.findall(text)) if block.strip()]


def defines(entry_point: str) -> re.Pattern[str]:
    """A pattern for a line that defines ``entry_point`` (``def`` or ``async def``, indented or not)."""
    # [^\S\n]* rather than \s*: the same lines match (a "def" after blank lines also starts its own line),
    # but a run of blank lines is not rescanned from every line start (quadratic; this also runs as a dedup key)
    return re.compile(rf"^[^\S\n]*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.M)


def final_block(text: str, entry_point: str) -> str | None:
    """The last fenced block that defines ``entry_point``, with its helpers (rules 1 and 2); None if none."""
    blocks = fenced_blocks(text)
    pattern = defines(entry_point)
    defining = [i for i, b in enumerate(blocks) if pattern.search(b)]
    return with_helpers(blocks, defining[-1]) if defining else None


def extract_program(text: str, entry_point: str) -> str:
    """The program in a completion (see the module docstring)."""
    fences = list(_FENCE_LINE_RE.finditer(text))
    if len(fences) % 2 == 1 and text[fences[0].start() :].lstrip().startswith("```\n"):
        # an odd number of fences, the first a bare one: it closes code that had no opening fence
        before = text[: fences[0].start()]
        if _CODE_START_RE.search(before):
            return bare_program(before)
    blocks = fenced_blocks(text)
    if not blocks:
        return bare_program(text)
    final = final_block(text, entry_point)
    return blocks[-1] if final is None else final
