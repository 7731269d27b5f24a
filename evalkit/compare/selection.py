"""Which of a run's problems a command reads: ``--task`` and ``--problem``, the same in every command.

``summary``, ``compare``, ``report``, ``gate`` and ``forecast`` read runs through
:func:`evalkit.compare.results.load_run` with a :class:`Selection`; the run is then what it would be if it
held only those problems (pass@k, classes, status rates, incompleteness, examples).

- ``--task NAME`` (repeatable): the problems of that task. A task held in several configurations is
  scoped per configuration (``add@digits=2``, :func:`evalkit.compare.results.scoped_problems`); its plain
  name selects all of them, a scope selects one. A full spec (``add@digits=3``) also selects the problems
  generated from it when the run holds that one configuration under the plain name.
- ``--problem ID`` (repeatable), or ``--problem @FILE``: a file of ids, one a line (blank lines and lines
  starting with ``#`` skipped). With ``--task`` too, each id must be a problem of those tasks.

A task or id the run does not hold is an error naming it and the run (exit 2), never an empty result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.types import Problem


@dataclass(frozen=True)
class Selection:
    """The tasks and problem ids a command reads (empty: all).

    Attributes:
        tasks: Task names or scopes (``add``, ``add@digits=2``).
        problems: Problem ids.
    """

    tasks: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def parse(cls, tasks: Sequence[str] | None, problems: Sequence[str] | None) -> Selection:
        """The selection of ``--task`` and ``--problem`` options (``@FILE`` read here).

        Raises:
            EvalkitError: for an ``@FILE`` that cannot be read or holds no id.
        """
        ids: list[str] = []
        for spec in problems or ():
            ids.extend(_read_ids(Path(spec[1:])) if spec.startswith("@") else [spec])
        return cls(tuple(dict.fromkeys(t.strip() for t in tasks or ())), tuple(dict.fromkeys(ids)))

    def __bool__(self) -> bool:
        return bool(self.tasks or self.problems)

    def apply(self, run: Path, problems: list[Problem]) -> list[Problem]:
        """The selected ``problems`` of the run at ``run`` (each problem's ``task`` already scoped).

        Raises:
            EvalkitError: naming the first task or problem id the run does not hold.
        """
        if self.tasks:
            scopes = sorted({p.task for p in problems})
            keep: set[str] = set()
            for task in self.tasks:
                found = {p.id for p in problems if p.task == task or p.task.partition("@")[0] == task}
                found = found or _ids_of_spec(task, problems)
                if not found:
                    raise EvalkitError(f"{run}: no task {task!r} in this run (its tasks: {', '.join(scopes)})")
                keep |= found
            problems = [p for p in problems if p.id in keep]
        if self.problems:
            held = {p.id for p in problems}
            missing = [pid for pid in self.problems if pid not in held]
            if missing:
                where = f" among tasks {', '.join(self.tasks)}" if self.tasks else ""
                more = f" ({len(missing) - 1} more ids are not either)" if len(missing) > 1 else ""
                raise EvalkitError(f"{run}: no problem {missing[0]!r}{where} in this run{more}")
            keep = set(self.problems)
            problems = [p for p in problems if p.id in keep]
        return problems


def _ids_of_spec(task: str, problems: list[Problem]) -> set[str]:
    """The ids of ``problems`` generated from the task spec ``task`` (``add@digits=3``), matched by the
    configuration hash their ids carry: a run that holds one configuration of a task scopes it by the plain
    name, and its spec still selects it. Empty for a plain name, a spec that does not parse, or a task whose
    ids carry no configuration hash (data-file tasks)."""
    if "@" not in task:
        return set()
    from evalkit.tasks.registry import TaskSpec, config_hash

    try:
        spec = TaskSpec.parse(task)
        prefix = f"{spec.name}-{config_hash(spec.name, spec.full_params())}-"
    except EvalkitError:
        return set()
    return {p.id for p in problems if p.id.startswith(prefix)}


def _read_ids(path: Path) -> list[str]:
    """Problem ids of a ``--problem @FILE``: one a line, blank lines and ``#`` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitError(f"--problem @{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    ids = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise EvalkitError(f"--problem @{path}: the file holds no problem id")
    return ids
