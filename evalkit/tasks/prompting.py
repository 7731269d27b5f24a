"""Prompt templates: a task family's default prompt and the ``--prompt-template FILE`` override.

A template is plain text with ``{name}`` placeholders, ``name`` a Python identifier naming one of the
task's prompt fields (:meth:`evalkit.tasks.TaskFamily.prompt_fields`): ``{prompt}`` is always the task's
question text before any template (for ``math500`` the MATH problem, for ``add`` the ``123+45=`` line),
and a named benchmark adds its data set's own field names (``{problem}``, ``{question}``, ``{text}``...).
``{{`` and ``}}`` write literal braces around an identifier; any other brace is text, so LaTeX such as
``\\boxed{}`` or ``\\frac{1}{2}`` needs no escaping (``{x}`` with an unknown identifier ``x`` is an error,
write ``{{x}}``).

A template file must hold at least one placeholder, and every placeholder must be a field of every task of
the run; errors name the file and line. Tasks whose verifier reads the prompt itself (``humaneval``, whose
completions continue the prompt's code; ``rg:*``; code tasks of a task folder) have no prompt fields and
refuse a template. The run's identity records the template's sha256 and text, so a resume with another
template is refused (:func:`evalkit.sampling.runner.sample`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.types import Problem

# {{ or }} (an escaped brace), or {identifier}; everything else is literal text
_TOKEN_RE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> list[tuple[str, int]]:
    """The ``{name}`` placeholders of a template with their 1-based line numbers, in order."""
    out = []
    for match in _TOKEN_RE.finditer(template):
        if match.group(1) is not None:
            out.append((match.group(1), template.count("\n", 0, match.start()) + 1))
    return out


def render(template: str, fields: Mapping[str, str]) -> str:
    """The template with each ``{name}`` replaced by ``fields[name]`` and ``{{``/``}}`` by single braces.

    Raises:
        KeyError: a placeholder names no field (callers validate first with :func:`check_fields`).
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        return fields[name]

    return _TOKEN_RE.sub(replace, template)


def check_fields(template: str, allowed: Iterable[str], where: str, task: str) -> None:
    """Refuse a template with no placeholder, or one naming a field that task ``task`` does not have.

    Raises:
        EvalkitError: one line naming ``where`` (the file), the line and the fields the task has.
    """
    allowed = sorted(set(allowed))
    found = placeholders(template)
    if not found:
        raise EvalkitError(
            f"{where}: the prompt template has no placeholder; write {{prompt}} where the question goes "
            f"(task {task} also has: {', '.join(allowed)})"
        )
    for name, line in found:
        if name not in allowed:
            raise EvalkitError(
                f"{where}:{line}: task {task} has no prompt field {{{name}}} (fields: "
                f"{', '.join('{' + a + '}' for a in allowed)}; write {{{{{name}}}}} for literal braces)"
            )


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt template read from a file.

    Attributes:
        text: The template text, as read (UTF-8).
        source: The file it came from (error messages, the manifest).
    """

    text: str
    source: str

    @property
    def sha256(self) -> str:
        """``sha256:<hex>`` of the template text (UTF-8)."""
        return "sha256:" + hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def identity(self) -> dict[str, Any]:
        """What the run manifest records: the hash and the text (the file name is not part of it)."""
        return {"sha256": self.sha256, "text": self.text}


def read_template(path: Path) -> PromptTemplate:
    """Read a template file; it must be UTF-8 text with at least one placeholder.

    Raises:
        EvalkitError: the file is missing, unreadable, not UTF-8, or holds no placeholder.
    """
    try:
        text = Path(path).expanduser().read_bytes().decode("utf-8")
    except OSError as exc:
        raise EvalkitError(f"--prompt-template {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise EvalkitError(f"--prompt-template {path}: not UTF-8 text (byte {exc.start})") from None
    if not placeholders(text):
        raise EvalkitError(f"{path}: the prompt template has no placeholder; write {{prompt}} where the question goes")
    return PromptTemplate(text=text, source=str(path))


def apply_template(problems: Sequence[Problem], template: PromptTemplate) -> list[Problem]:
    """The problems with their prompts rendered from ``template`` (ids, references and meta unchanged).

    Every task of the run is checked before any prompt is rendered.

    Raises:
        EvalkitError: a task has no prompt fields (its verifier reads the prompt), or the template names a
            field that a task lacks (the message names the file, line and the task's fields).
    """
    from evalkit.tasks.registry import family_class_for

    checked: set[str] = set()
    out = []
    for problem in problems:
        family = family_class_for(problem)()
        if problem.task not in checked:
            fields = family.prompt_fields(problem)
            if fields is None:
                raise EvalkitError(
                    f"--prompt-template {template.source}: task {problem.task} cannot take a prompt template "
                    "(its verifier reads the prompt it was given)"
                )
            check_fields(template.text, fields, template.source, problem.task)
            checked.add(problem.task)
        fields = family.prompt_fields(problem)
        assert fields is not None  # every problem of a task has fields once its first one has
        try:
            prompt = render(template.text, fields)
        except KeyError as exc:  # a problem of the task without a field its first problem had
            raise EvalkitError(f"{template.source}: problem {problem.id} has no prompt field {exc}") from None
        out.append(dataclasses.replace(problem, prompt=prompt))
    return out
