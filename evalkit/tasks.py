"""Task registry: task families by name, task specs from the command line, problem generation.

A task family is a class with a name, a config dataclass (its difficulty parameters) and two methods:
``make(config, rng, index)`` builds one problem's prompt, reference and metadata from a seeded
``random.Random``, and ``verify(problem, text)`` judges one completion. Built-in families live in the
``tasks/`` folder of the repository (installed as the ``evalkit_tasks`` package) and register
themselves with :func:`register` when it is imported.

A task spec on the command line is ``NAME`` or ``NAME@key=value,key=value``, e.g. ``add@digits=4``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from evalkit.errors import EvalkitError
from evalkit.types import Problem, Verdict

_REGISTRY: dict[str, type[TaskFamily]] = {}
_BUILTINS_LOADED = False


class TaskFamily:
    """Base class of a procedural task family. Subclasses set ``name``, ``description`` and ``Config``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Config: ClassVar[type[Any]]

    def make(self, config: Any, rng: random.Random, index: int) -> tuple[str, str, dict[str, Any]]:
        """Return (prompt, reference answer, metadata) for problem ``index``."""
        raise NotImplementedError

    def verify(self, problem: Problem, text: str) -> Verdict:
        """Judge one completion. The default is the exact-answer check on the first line."""
        return exact_answer_verdict(problem.reference, text)


def exact_answer_verdict(reference: str, text: str) -> Verdict:
    """Exact-answer verdict: the answer is the completion's first line, stripped of whitespace."""
    if not text.strip():
        return Verdict(passed=False, score=0.0, status="empty", detail="empty completion")
    answer = text.split("\n", 1)[0].strip()
    passed = answer == reference
    return Verdict(passed=passed, score=float(passed), status="ok", detail=answer[:80])


def register(cls: type[TaskFamily]) -> type[TaskFamily]:
    """Class decorator that adds a task family to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"task name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        import evalkit_tasks  # noqa: F401  (registers the built-in families)

        _BUILTINS_LOADED = True


def task_names() -> list[str]:
    """Names of all registered task families, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_family(name: str) -> TaskFamily:
    """The task family registered as ``name``, or an EvalkitError with "did you mean" suggestions."""
    _load_builtins()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EvalkitError(f"unknown task {name!r}{hint} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]()


@dataclass(frozen=True)
class TaskSpec:
    """A task family name plus its config values, as given on the command line or stored in a manifest."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> TaskSpec:
        """Parse ``NAME`` or ``NAME@key=value,key=value`` and check the keys and values against the config."""
        name, _, rest = text.strip().partition("@")
        family = get_family(name)
        fields = {f.name: f for f in dataclasses.fields(family.Config)}
        params: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq:
                raise EvalkitError(f"task spec {text!r}: expected key=value, got {item!r}")
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=2)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise EvalkitError(f"task {name!r} has no parameter {key!r}{hint} (parameters: {', '.join(fields)})")
            params[key] = _coerce(raw.strip(), fields[key], text)
        spec = cls(name, params)
        spec.config()  # validates ranges
        return spec

    def config(self) -> Any:
        """The family's config dataclass built from the params (defaults filled in)."""
        family = get_family(self.name)
        try:
            return family.Config(**self.params)
        except (TypeError, ValueError) as exc:
            raise EvalkitError(f"task {self.label()}: {exc}") from None

    def full_params(self) -> dict[str, Any]:
        """All config values, defaults included: what the problem ids and the fingerprint depend on."""
        return dataclasses.asdict(self.config())

    def label(self) -> str:
        """The spec as the user would write it: ``add@digits=4``."""
        if not self.params:
            return self.name
        return self.name + "@" + ",".join(f"{k}={_fmt(v)}" for k, v in sorted(self.params.items()))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.full_params()}


def _fmt(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _coerce(raw: str, fld: dataclasses.Field[Any], spec: str) -> Any:
    kind = fld.type if isinstance(fld.type, str) else getattr(fld.type, "__name__", str(fld.type))
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise EvalkitError(f"task spec {spec!r}: {fld.name} must be {kind}, got {raw!r}") from None
    return raw


def config_hash(name: str, params: dict[str, Any]) -> str:
    """Eight hex digits identifying a task family and its full config."""
    blob = json.dumps({"task": name, "config": params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def make_problems(spec: TaskSpec, seed: int, count: int, start: int = 0) -> list[Problem]:
    """Problems ``start .. start+count-1`` of a task spec under a seed.

    Problem i uses ``random.Random(f"{seed}:{i}")``-style seeding through a string key, so each problem
    depends only on (task, config, seed, index) and ids are stable across runs and machines.
    """
    if count < 1:
        raise EvalkitError(f"task {spec.label()}: --limit must be >= 1 (got {count}); nothing to evaluate")
    family = get_family(spec.name)
    config = spec.config()
    chash = config_hash(spec.name, spec.full_params())
    problems = []
    for index in range(start, start + count):
        rng = random.Random(f"{spec.name}:{chash}:{seed}:{index}")
        prompt, reference, meta = family.make(config, rng, index)
        pid = f"{spec.name}-{chash}-s{seed}-{index:05d}"
        problems.append(Problem(id=pid, task=spec.name, prompt=prompt, reference=reference, meta=meta))
    return problems


def problems_for(specs: Iterable[TaskSpec], seed: int, limit: int) -> list[Problem]:
    """Problems of several task specs; ids must be unique across them (duplicate specs are refused)."""
    out: list[Problem] = []
    seen: dict[str, str] = {}
    for spec in specs:
        for problem in make_problems(spec, seed, limit):
            if problem.id in seen:
                raise EvalkitError(f"task {spec.label()} repeats problem {problem.id} (same task given twice?)")
            seen[problem.id] = spec.label()
            out.append(problem)
    return out
