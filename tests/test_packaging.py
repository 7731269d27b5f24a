"""The wheel must carry every evalkit subpackage and the built-in tasks (they load from an installed wheel)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "evalkit").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"
    assert config["package-dir"]["evalkit_tasks"] == "tasks"
    assert "evalkit_tasks" in listed


def test_builtin_tasks_import_from_the_package() -> None:
    import evalkit_tasks

    from evalkit.tasks import task_names

    assert {"add", "reverse", "sort"} <= set(task_names())
    assert Path(evalkit_tasks.__file__).name == "__init__.py"
