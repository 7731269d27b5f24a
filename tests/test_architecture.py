"""The package map holds: dependencies between evalkit's packages point one way (no import cycle, every import
statement counted, also those inside functions), they follow the documented layers, and modules stay small.

The layers, lowest first (docs/architecture.md says why each sits where it does)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "evalkit"

# a package may import any package of a lower layer (or its own), never one of a higher layer
LAYERS: list[set[str]] = [
    {"errors", "types", "determinism", "progress"},
    {"stats"},
    {"store"},
    {"grading"},
    {"tasks"},
    {"verify"},
    {"sampling"},
    {"likelihood"},
    {"compare"},
    {"validity"},
    {"report"},
    {"train"},
    {"cli"},
    {"__main__"},  # ``python -m evalkit``
]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}
# the root package (``evalkit.__version__``, ``evalkit.load_run``) is importable from anywhere; it imports
# only the store (lazily)
ROOT_NODE = "__init__"
MAX_LINES = 520
LONGER_ALLOWED = {"grading/sandbox.py"}  # the self-contained sandbox harness: its docstring says why


def _node(module: str) -> str | None:
    """The package (or top-level module) of an ``evalkit.*`` module name; None for other modules."""
    parts = module.split(".")
    if parts[0] != "evalkit":
        return None
    return parts[1] if len(parts) > 1 else ROOT_NODE


def _own_node(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if len(rel.parts) == 1:
        return ROOT_NODE if rel.name == "__init__.py" else rel.stem
    return rel.parts[0]


def _imports(path: Path) -> set[str]:
    """Every evalkit module ``path`` imports, at module level or inside a function."""
    found: set[str] = set()
    package = ".".join(("evalkit", *path.relative_to(ROOT).parent.parts))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # ``from evalkit import sandbox``
    return {m for m in found if m.startswith("evalkit")}


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        own = _own_node(path)
        for module in _imports(path):
            other = _node(module)
            if other is None or other == own:
                continue
            if other == ROOT_NODE or (ROOT / other).is_dir() or (ROOT / f"{other}.py").is_file():
                graph[own].add(other)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycle_between_packages() -> None:
    cycle = _cycle(package_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_dependencies_follow_the_layers() -> None:
    wrong = []
    for own, others in package_graph().items():
        for other in others:
            if own == ROOT_NODE or other == ROOT_NODE:
                continue
            assert own in LAYER_OF and other in LAYER_OF, f"{own} or {other} is in no layer of this test"
            if LAYER_OF[other] > LAYER_OF[own]:
                wrong.append(f"{own} imports {other}")
    assert not wrong, "; ".join(sorted(wrong))


def test_the_root_package_imports_only_the_store() -> None:
    assert package_graph()[ROOT_NODE] <= {"store"}


def test_no_module_is_too_long() -> None:
    long = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and rel not in LONGER_ALLOWED:
            long.append(f"{rel} ({lines} lines)")
    assert not long, "modules over about 500 lines: " + ", ".join(sorted(long))


def test_the_long_sandbox_says_why() -> None:
    head = (ROOT / "grading" / "sandbox.py").read_text(encoding="utf-8")[:6000]
    assert "longer than evalkit's usual 500 lines" in " ".join(head.split())
