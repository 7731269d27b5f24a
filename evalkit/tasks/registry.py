"""Task registry: task families by name, task specs from the command line, problem generation.

A task family is a class with a name, a config dataclass (its parameters) and two methods. Either
``make(config, rng, index)`` builds one problem's prompt, reference and metadata from a seeded
``random.Random`` (a *procedural* family), or ``load(config)`` returns every problem of a data set,
validated, with its own ids (a *loader* family, e.g. ``math`` reading a JSONL file). ``verify(problem,
text)`` judges one completion from the Problem alone: it runs in a spawned worker process that receives
the family class (pickled by reference, constructed with no arguments) and the Problem. ``dedup_key(problem,
text)`` (optional) names what that verdict depends on (the extracted answer, the program that runs), so
that completions of a problem with equal keys are verified once (:mod:`evalkit.verify`).

Names resolve in three places:

- classes registered with :func:`register`: the built-in families in the ``tasks/`` folder of the
  repository (installed as the ``evalkit_tasks`` package) register themselves when it is imported;
- factories registered with :func:`register_factory`: one per file of a user task folder
  (``--tasks-dir``, see :mod:`evalkit.tasks.taskdir`);
- prefix families registered with :func:`register_prefix`: ``PREFIX:NAME`` resolves through a module
  imported only when such a name is used, e.g. ``rg:leg_counting`` (every reasoning-gym dataset).
  :func:`task_names` does not expand them (there are about a hundred); :func:`prefix_names` does.

Problem ids: procedural ``{name}-{confighash}-s{seed}-{index:05d}``; loaded problems keep their data
set's ids (prefixed with the task name by the loader), and ``--limit`` takes a seeded random subset:
problems ordered by ``sha256(f"{seed}:{problem_id}")``, the first ``limit`` kept. The subset depends only
on the seed and the ids, not on the file order, and a larger limit extends a smaller one.

A task spec on the command line is ``NAME`` or ``NAME@key=value,key=value``, e.g. ``add@digits=4``.
Values are coerced to the config field's type (bool, int, float, str, or JSON for anything else); commas
inside brackets or double quotes do not split, so ``rg:composite@datasets=[{...},{...}]`` works.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import difflib
import enum
import hashlib
import importlib
import json
import random
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from evalkit.errors import EvalkitError
from evalkit.types import Problem, Verdict

_REGISTRY: dict[str, type[TaskFamily]] = {}
# name -> (factory, where it came from): tasks of user task folders
_FACTORIES: dict[str, tuple[Callable[[], TaskFamily], str]] = {}
# prefix -> (module, description); the module defines family(name) -> TaskFamily and names() -> list[str]
_PREFIXES: dict[str, tuple[str, str]] = {}
# meta["verifier"] keys -> "module:Class" of families that verify from the Problem alone, so that a run of
# a task that is not registered in this process (a user folder task, rescored later) can still be verified
_STANDALONE_VERIFIERS = {
    "tasks-dir:answer": "evalkit.tasks.taskdir:AnswerFileTask",
    "tasks-dir:code": "evalkit.tasks.taskdir:CodeFileTask",
}
_BUILTINS_LOADED = False


class TaskFamily:
    """Base class of a task family. Subclasses set ``name``, ``description`` and ``Config``, and define
    ``make`` (procedural) or ``load`` (loader).

    ``name``, ``description`` and ``Config`` are class attributes for the built-in families; families that
    serve many tasks through one class (``rg:*``, user folder files) set them per instance, but their
    ``verify`` must still work on an instance made with no arguments.
    """

    name: str
    description: str
    Config: type[Any]
    # Config fields that evalkit sets itself and a task spec may not (name -> what to use instead).
    reserved_params: ClassVar[dict[str, str]] = {}
    # True only for a family whose ``verify`` runs model text solely through :mod:`evalkit.grading.sandbox` (it
    # builds a program from the text and calls ``run_tests``; nothing of the text is evaluated, parsed by a
    # math library or scored otherwise). Such families are verified in unconfined workers, where the sandbox
    # gets every layer (its own uids, PID namespace, minimal root); every other family runs in confined
    # workers (:mod:`evalkit.verify.confine`). Read from the class itself (:func:`sandbox_only`), never inherited,
    # so a subclass that overrides ``verify`` must set it again to say so.
    sandbox_only_verifier: ClassVar[bool] = False
    # The prompt template of the family's problems (syntax: evalkit.tasks.prompting; fields: prompt_fields) and the
    # completion length it is run with by default, in tokens: `evalkit sample` without --max-tokens samples up
    # to the largest default_max_tokens of its tasks. Both are shown by `evalkit tasks`.
    prompt_template: ClassVar[str] = "{prompt}"
    default_max_tokens: ClassVar[int] = 32
    # True for a family whose verifier never reads Problem.prompt, so that --prompt-template may replace it
    # (humaneval continues the prompt's code, reasoning-gym regenerates it: they keep the default False).
    takes_prompt_template: ClassVar[bool] = False
    # How many answers a problem of the family can have, when that is small and known (AIME: 1000, the integers
    # 0-999): `evalkit audit guess` compares pass@k with random guessing among them. None: not known.
    answer_space: ClassVar[int | None] = None

    def make(self, config: Any, rng: random.Random, index: int) -> tuple[str, str, dict[str, Any]]:
        """Return (prompt, reference answer, metadata) for problem ``index``."""
        raise NotImplementedError

    def make_batch(self, config: Any, key: str, indices: range) -> list[tuple[str, str, dict[str, Any]]]:
        """(prompt, reference, metadata) of problems ``indices``; ``key`` is ``"{name}:{confighash}:{seed}"``.

        The default seeds each problem with ``random.Random(f"{key}:{index}")`` and calls :meth:`make`.
        Families whose generator wants its own seeding (reasoning-gym) override this; problem i must still
        depend only on (key, i).
        """
        return [self.make(config, random.Random(f"{key}:{index}"), index) for index in indices]

    def load(self, config: Any) -> list[Problem]:
        """Loader families: every problem of the data set, validated (errors name file, line, id, field)."""
        raise NotImplementedError

    def is_loader(self) -> bool:
        """Whether this family loads its problems (it overrides :meth:`load`) rather than generating them."""
        return type(self).load is not TaskFamily.load

    def build_config(self, params: dict[str, Any]) -> Any:
        """The config object for a task spec's params (raise ValueError or TypeError for bad values)."""
        return self.Config(**params)

    def config_json(self, config: Any) -> dict[str, Any]:
        """The full config as JSON-serialisable values: what the config hash and the run manifest hold."""
        return dataclasses.asdict(config)

    def data_identity(self, config: Any) -> str | None:
        """What else the problems depend on (a data file's content hash, a generator package's version).

        Recorded in the run manifest, so a resume after the data changed is refused; None for none.
        """
        return None

    def prompt_fields(self, problem: Problem) -> dict[str, str] | None:
        """The fields a ``--prompt-template`` may use for ``problem``; None when the prompt cannot be replaced.

        ``prompt`` is the question before the family's template; a family whose problems carry
        ``meta["prompt_fields"]`` (the named benchmarks: the data set's own field names) returns those.
        """
        if not self.takes_prompt_template:
            return None
        fields = problem.meta.get("prompt_fields")
        if isinstance(fields, dict):
            return {str(k): str(v) for k, v in fields.items()}
        return {"prompt": problem.prompt}

    def reference_completion(self, problem: Problem) -> str:
        """A completion that gives the reference answer the way the prompt asks for it (contract tests)."""
        return problem.reference + "\n"

    def verify(self, problem: Problem, text: str) -> Verdict:
        """Judge one completion. The default is the exact-answer check on the first line."""
        return exact_answer_verdict(problem.reference, text)

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        """What the verdict of ``text`` depends on: completions of one problem with equal keys are verified once.

        The contract: for two texts of the same problem with equal, non-None keys, :meth:`verify` returns
        equal verdicts (passed, score, status and detail). The finish reason is not part of it: evalkit
        applies it after :meth:`verify` (a non-passing ``ok`` cut at max tokens becomes ``truncated``).
        Families that extract an answer or a program return it (tagged, so that "no answer" and an empty
        completion get keys of their own); None means no key, and the completion is then shared only with
        identical texts.

        It runs in the evalkit process, not in a verifier worker, so no timeout protects it: keep it
        linear in the length of the text and free of side effects. An exception falls back to the text.
        The default is the text itself, or, for a family that keeps the default exact-answer
        :meth:`verify`, the first line it reads (:func:`exact_answer_key`).
        """
        if type(self).verify is TaskFamily.verify:
            return exact_answer_key(text)
        return text


def exact_answer_verdict(reference: str, text: str) -> Verdict:
    """Exact-answer verdict: the answer is the completion's first line, stripped of whitespace. The detail names
    the rule, the answer read and the comparison (``first line: 861 (equal as text)``, at most 80 characters of
    the answer), as the answer verdicts of :mod:`evalkit.grading.answers` do, so the report can show both."""
    if not text.strip():
        return Verdict(passed=False, score=0.0, status="empty", detail="empty completion")
    answer = text.split("\n", 1)[0].strip()
    passed = answer == reference
    compared = "equal" if passed else "not equal"  # exact text, as Comparison(passed, "text").describe() says
    return Verdict(passed, float(passed), "ok", f"first line: {answer[:80]} ({compared} as text)")


def exact_answer_key(text: str) -> str:
    """The dedup key of :func:`exact_answer_verdict`: everything that verdict reads from the text."""
    if not text.strip():
        return "empty"
    return "answer:" + text.split("\n", 1)[0].strip()


def register(cls: type[TaskFamily]) -> type[TaskFamily]:
    """Class decorator that adds a task family to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"task name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def register_factory(name: str, factory: Callable[[], TaskFamily], origin: str) -> None:
    """Register a task made by ``factory`` (a user folder's file); ``origin`` names it in error messages.

    Registering the same name from the same origin again is a no-op; a clash is an EvalkitError.
    """
    _load_builtins()
    if ":" in name or "@" in name or "," in name or not name.strip():
        raise EvalkitError(f"{origin}: {name!r} cannot be a task name (no ':', '@' or ','); rename the file")
    if name in _REGISTRY:
        raise EvalkitError(f"{origin}: task name {name!r} is taken by a built-in task; rename the file")
    if name in _FACTORIES and _FACTORIES[name][1] != origin:
        raise EvalkitError(f"{origin}: task name {name!r} is already defined by {_FACTORIES[name][1]}")
    _FACTORIES[name] = (factory, origin)


def unregister_factory(name: str) -> None:
    """Forget a task registered with :func:`register_factory` (tests)."""
    _FACTORIES.pop(name, None)


def register_prefix(prefix: str, module: str, description: str) -> None:
    """Register a prefix family: ``PREFIX:NAME`` resolves through ``module`` (imported on first use).

    The module defines ``family(name: str) -> TaskFamily`` (raising EvalkitError with suggestions for an
    unknown name) and ``names() -> list[str]``.
    """
    _PREFIXES[prefix] = (module, description)


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        import evalkit_tasks  # noqa: F401  (registers the built-in families)

        _BUILTINS_LOADED = True


def _prefix_module(prefix: str) -> Any:
    module, _ = _PREFIXES[prefix]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EvalkitError(f"tasks {prefix}:* need a package that is not installed ({exc})") from None


def task_names() -> list[str]:
    """Names of the registered tasks (built-in and user folder), sorted; prefix families are not expanded."""
    _load_builtins()
    return sorted([*_REGISTRY, *_FACTORIES])


def prefix_names() -> dict[str, str]:
    """Registered prefix families: prefix -> description (``{"rg": "reasoning-gym datasets..."}``)."""
    _load_builtins()
    return {prefix: desc for prefix, (_, desc) in sorted(_PREFIXES.items())}


def prefix_task_names(prefix: str) -> list[str]:
    """Every task name of a prefix family, e.g. ``["rg:ab", "rg:acre", ...]``."""
    _load_builtins()
    return [f"{prefix}:{n}" for n in _prefix_module(prefix).names()]


def get_family(name: str) -> TaskFamily:
    """The task family registered as ``name``, or an EvalkitError with "did you mean" suggestions."""
    _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]()
    if name in _FACTORIES:
        return _FACTORIES[name][0]()
    prefix, colon, rest = name.partition(":")
    if colon and prefix in _PREFIXES:
        family: TaskFamily = _prefix_module(prefix).family(rest)
        return family
    known = task_names()
    candidates = known + [f"{p}:*" for p in _PREFIXES]
    close = difflib.get_close_matches(name, known, n=3)
    for p in _PREFIXES:  # "leg_counting" -> "rg:leg_counting", when the prefix's package is installed
        with contextlib.suppress(EvalkitError):
            close += difflib.get_close_matches(f"{p}:{rest or prefix}", prefix_task_names(p), n=3 - len(close))
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise EvalkitError(f"unknown task {name!r}{hint} (known: {', '.join(candidates)})")


def family_class_for(problem: Problem) -> type[TaskFamily]:
    """The family class that verifies ``problem``: its task's, or the standalone verifier its meta names."""
    try:
        return type(get_family(problem.task))
    except EvalkitError:
        key = problem.meta.get("verifier")
        if not isinstance(key, str) or key not in _STANDALONE_VERIFIERS:
            raise
    module, _, cls_name = _STANDALONE_VERIFIERS[key].partition(":")
    cls: type[TaskFamily] = getattr(importlib.import_module(module), cls_name)
    return cls


def sandbox_only(family: type[TaskFamily]) -> bool:
    """Whether ``family`` declares, on the class itself, that its verifier runs model text only through the
    code sandbox (see :attr:`TaskFamily.sandbox_only_verifier`)."""
    return family.__dict__.get("sandbox_only_verifier") is True


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
        fields = {f.name: f for f in dataclasses.fields(family.Config) if f.name not in family.reserved_params}
        params: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in _split_items(rest))):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq:
                raise EvalkitError(f"task spec {text!r}: expected key=value, got {item!r}")
            if key in family.reserved_params:
                raise EvalkitError(f"task {name!r}: parameter {key!r} is set by evalkit; {family.reserved_params[key]}")
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
            return family.build_config(self.params)
        except (TypeError, ValueError) as exc:
            raise EvalkitError(f"task {self.label()}: {exc}") from None

    def full_params(self) -> dict[str, Any]:
        """All config values, defaults included: what the problem ids and the fingerprint depend on."""
        return get_family(self.name).config_json(self.config())

    def label(self) -> str:
        """The spec as the user would write it: ``add@digits=4``."""
        if not self.params:
            return self.name
        return self.name + "@" + ",".join(f"{k}={_fmt(v)}" for k, v in sorted(self.params.items()))

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "params": self.full_params()}
        data = get_family(self.name).data_identity(self.config())
        if data is not None:  # absent for procedural tasks, so their manifests (and fingerprints) are unchanged
            out["data"] = data
        return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _split_items(text: str) -> list[str]:
    """Split ``key=value,key=value`` at the commas outside brackets and double quotes."""
    items, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch in "[{(":
            depth += 1
        elif not quoted and ch in "]})":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and ch == ",":
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _kind(tp: Any) -> tuple[str, bool, Any]:
    """(kind, optional, detail) of a config field's annotation (a type, or a string under PEP 563).

    kind is bool, int, float, str, literal (detail: the choices), enum or date/time/datetime (detail: the
    type) or json (anything else: lists, tuples, dicts, unions).
    """
    if isinstance(tp, str):
        text, optional = tp.replace(" ", ""), False
        if text.startswith("Optional[") and text.endswith("]"):
            text, optional = text[len("Optional[") : -1], True
        parts = text.split("|")
        if len(parts) == 2 and "None" in parts:
            parts.remove("None")
            text, optional = parts[0], True
        return (text if text in ("bool", "int", "float", "str") else "json"), optional, None
    if tp in (bool, int, float, str):
        return tp.__name__, False, None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) and type(None) in args and len(args) == 2:
        kind, _, detail = _kind(next(a for a in args if a is not type(None)))
        return kind, True, detail
    if origin is typing.Literal and all(isinstance(a, str) for a in args):
        return "literal", False, args
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "enum", False, tp
    if tp in (datetime.date, datetime.time, datetime.datetime):
        return tp.__name__, False, tp
    return "json", False, None


def _coerce(raw: str, fld: dataclasses.Field[Any], spec: str) -> Any:
    kind, optional, detail = _kind(fld.type)
    if optional and raw.lower() in ("none", "null"):
        return None
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
        if kind in ("date", "time", "datetime"):
            return detail.fromisoformat(raw)
    except ValueError:
        raise EvalkitError(f"task spec {spec!r}: {fld.name} must be {kind}, got {raw!r}") from None
    if kind == "literal" and raw not in detail:
        raise EvalkitError(f"task spec {spec!r}: {fld.name} must be one of {', '.join(detail)}, got {raw!r}")
    if kind == "enum":
        for member in detail:  # by value or by name, case-insensitively
            if raw.lower() in (str(member.value).lower(), member.name.lower()):
                return member
        choices = ", ".join(str(m.value) for m in detail)
        raise EvalkitError(f"task spec {spec!r}: {fld.name} must be one of {choices}, got {raw!r}")
    if kind == "json":
        try:
            value = json.loads(raw)
        except ValueError:
            return raw  # a bare word for a field of another type (a name)
        # a JSON list for a field whose default is a tuple: keep the default's type (same config hash)
        return tuple(value) if isinstance(value, list) and isinstance(fld.default, tuple) else value
    return raw


def default_max_tokens(specs: Iterable[TaskSpec]) -> int:
    """The completion length a run of these tasks samples by default: the largest family default, in tokens."""
    return max((get_family(spec.name).default_max_tokens for spec in specs), default=TaskFamily.default_max_tokens)


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
    if family.is_loader():
        return seeded_subset(spec.label(), family.load(config), seed, count, start)
    chash = config_hash(spec.name, spec.full_params())
    indices = range(start, start + count)
    made = family.make_batch(config, f"{spec.name}:{chash}:{seed}", indices)
    return [
        Problem(id=f"{spec.name}-{chash}-s{seed}-{index:05d}", task=spec.name, prompt=prompt, reference=ref, meta=meta)
        for index, (prompt, ref, meta) in zip(indices, made, strict=True)
    ]


def seeded_subset(label: str, problems: list[Problem], seed: int, count: int, start: int = 0) -> list[Problem]:
    """Problems ``start .. start+count-1`` of a loaded data set in the seed's order (never the first n).

    The order sorts by ``sha256(f"{seed}:{problem_id}")``: it depends only on the seed and the ids (not on
    the file order), and ``count`` larger than the data set takes all of it.
    """
    if not problems:
        raise EvalkitError(f"task {label}: the data set has no problems")
    ordered = sorted(problems, key=lambda p: hashlib.sha256(f"{seed}:{p.id}".encode()).digest())
    chosen = ordered[start : start + count]
    if not chosen:
        raise EvalkitError(f"task {label}: start {start} is past the {len(problems)} problems; nothing selected")
    return chosen


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
