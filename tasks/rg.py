"""``rg:<dataset>``: every reasoning-gym dataset as an evalkit task, e.g. ``rg:leg_counting@min_animals=3``.

Registered as the ``rg`` prefix family (:func:`evalkit.tasks.register_prefix`); this module, and with it
``reasoning_gym``, is imported only when an ``rg:`` task is used. One module-level class,
:class:`ReasoningGym`, serves every dataset, so verifier workers can unpickle it by reference.

Config: the dataset's own config dataclass. Spec values are coerced to the field's type (bool, int, float,
str, JSON for lists, tuples and dicts). ``seed`` and ``size`` are evalkit's: ``--problem-seed`` and
``--limit`` set them. ``rg:composite`` takes ``datasets`` as JSON, e.g.
``rg:composite@datasets=[{"name":"leg_counting","weight":1,"config":{}}]``.

Problems: problem ``index`` is item ``index % 500`` of the dataset built with ``size=500`` and a seed derived
from (task, config hash, problem seed, ``index // 500``): ``int(sha256(f"{key}:block{b}")[:4 bytes])``.
Upstream datasets draw item i from ``Random(seed + i)``, so deriving a fresh seed per evalkit seed keeps
seed s and s+1 from sharing items, and the fixed size keeps item i independent of ``--limit`` (some
datasets, e.g. ``acre``, build their items in ``__init__`` from ``size``). Ids are evalkit's usual
``rg:<dataset>-<confighash>-s<seed>-<index>``, never the dataset's random ``_rgid`` or uuids.

Prompt: the dataset's question, a blank line, then :data:`INSTRUCTION` (answer between ``<answer>`` and
``</answer>``). Reference: the entry's ``answer``; datasets without one (several correct answers, checked
by simulation) give the example solution from the entry's metadata when there is one
(``example_correct_answer``, ``example_answer``, ``possible_answer``; non-strings as JSON), else "".

Verification, from the Problem alone: the answer is read after the reasoning block, as for the math
task (:func:`evalkit.grading.extraction.final_region` with ``think=strip``: after the last ``</think>``, with or
without its opening tag; a block that never closes gives no answer), so an ``<answer>`` tried inside the
reasoning never counts. It is the last ``<answer>...</answer>`` block there, stripped (an unclosed
``<answer>`` after the last closed block, as left by a ``</answer>`` stop string or a completion cut at max
tokens, counts as the last block and runs to the end of the text: the newest answer decides, and an
earlier block never stands in for it); no block at all is a miss without calling the scorer; completions
of a problem with the same reading are scored once (it is the dedup key). The verdict's detail names the
rule, e.g. ``<answer>[last] after </think>: 42``. ``score`` is the dataset's ``score_answer(answer, entry)`` (partial
credit kept) and ``passed`` is ``score == 1.0``. The entry is stored in ``meta["rg"]["entry"]`` with a
tagged JSON encoding that round-trips tuples, sets, fractions, non-string dict keys, dataclasses, enums,
dates and non-finite floats exactly (numpy scalars become Python scalars); an entry that still cannot be
stored (a value of another type) is stored as null and the worker regenerates it from the dataset name,
params, seed and index, refusing (verdict ``error``) if the regenerated question differs from the prompt.

Scorers evalkit tightens (:data:`TIGHTENED`): an answer is checked by evalkit first, and one it refuses gets
score 0 and ``passed`` False with the reason in the detail, without reaching the scorer.

- Every dataset (:func:`refusal`): an answer that calls a sympy operation (:data:`SYMPY_CALLS`:
  ``integrate(<the integrand>, x)``, ``Integral(...)``, ``expand(<the question's product>)``, ``diff``,
  ``simplify``, ``factor``, ``solve``, ``.doit()``...) is refused, since the scorers that sympify answers
  would carry the operation out and score the question itself as solved; where the scorer reads sympy
  (:data:`SYMPY_SCORED`), so is the question's own expression left unevaluated.

- ``countdown`` and ``puzzle24``: the scorers hand the answer to sympy's ``parse_expr``, which accepts
  symbols and constants (``x/oo`` is 0, ``E/E`` is 1: a sum of those reaches any target with the numbers
  "used"), and puzzle24's checks neither that the numbers are the puzzle's (``6*4*1*1`` passed every
  puzzle) nor that the value is exactly 24 (it truncates with ``int``). evalkit requires only digits,
  ``+ - * / ( )`` and spaces, the dataset's operators (a minus sign where ``-`` is one; no ``**`` or
  ``//``), exactly the given numbers, each once, and the exact target in rational arithmetic; then the
  scorer runs.

Other scorers are used as they are (the answer checks run in confined workers, :mod:`evalkit.verify.confine`).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime
import difflib
import enum
import fractions
import functools
import hashlib
import importlib
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from fractions import Fraction
from importlib import metadata
from typing import Any, ClassVar

import reasoning_gym  # noqa: F401  (imported at the top: workers load it before their first item)
from reasoning_gym.factory import DATASETS

from evalkit.errors import EvalkitError
from evalkit.grading.extraction import final_region
from evalkit.grading.restated import restates
from evalkit.tasks import TaskFamily
from evalkit.types import Problem, Verdict

BLOCK = 500  # items per upstream dataset instance (reasoning-gym's default size)
INSTRUCTION = "Put your final answer between <answer> and </answer> tags; write only the answer inside the tags."
EXAMPLE_KEYS = ("example_correct_answer", "example_answer", "possible_answer")
RG_VERSION = metadata.version("reasoning-gym")

_TAG = "$rg"


def names() -> list[str]:
    """Every registered reasoning-gym dataset name, sorted."""
    return sorted(DATASETS)


def family(name: str) -> ReasoningGym:
    """The family of dataset ``name`` (the part after ``rg:``), or an EvalkitError with suggestions."""
    if name not in DATASETS:
        close = difflib.get_close_matches(name, names(), n=3)
        hint = f"; did you mean {', '.join('rg:' + c for c in close)}?" if close else ""
        raise EvalkitError(f"unknown task 'rg:{name}': no such reasoning-gym dataset{hint} (see `evalkit tasks`)")
    return ReasoningGym(name)


def extract_tagged_answer(text: str) -> str | None:
    """The last ``<answer>`` block of a completion, stripped (see the module docstring); None if none."""
    # What re.finditer(r"<answer>(.*?)</answer>", re.S) finds, with str.find: the regex retries its lazy
    # scan to the end of the text from every unclosed "<answer>" (quadratic), and this also runs in the
    # evalkit process as the dedup key. After an opening tag with no closing tag, no later one has one.
    last: tuple[int, int] | None = None  # content span of the last closed block
    tail_start = 0  # end of the last closed block
    while True:
        start = text.find("<answer>", tail_start)
        if start == -1:
            break
        end = text.find("</answer>", start + len("<answer>"))
        if end == -1:
            break
        last, tail_start = (start + len("<answer>"), end), end + len("</answer>")
    unclosed = text.find("<answer>", tail_start)
    if unclosed != -1:
        return text[unclosed + len("<answer>") :].strip()
    return text[last[0] : last[1]].strip() if last is not None else None


def read_answer(text: str) -> tuple[str | None, str]:
    """(the answer of a completion, the verdict detail that says how it was read; see the module docstring)."""
    region, where = final_region(text, "strip")
    where = f" {where}" if where else ""
    if region is None:
        return None, "no <answer> block: the reasoning block never closed"
    answer = extract_tagged_answer(region)
    if answer is None:
        return None, f"no <answer> block{where}"
    return answer, f"<answer>[last]{where}: {answer[:80]}"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Some generators print progress dots; keep them out of ``evalkit problems --jsonl`` and the logs."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# -- tagged JSON: exact round trip of the Python values reasoning-gym entries and configs hold ------------


def encode(obj: Any) -> Any:
    """A JSON-serialisable form of ``obj`` that :func:`decode` turns back into an equal value.

    Raises:
        TypeError: a value of a type not covered (see the module docstring).
    """
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, enum.Enum):
        return {_TAG: "enum", "type": _type_name(obj), "value": encode(obj.value)}
    if isinstance(obj, str):
        return str(obj)  # numpy.str_ and other subclasses become plain str
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else {_TAG: "float", "value": repr(float(obj))}
    if type(obj).__module__ == "numpy" and hasattr(obj, "item"):
        return encode(obj.item())
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, tuple):
        return {_TAG: "tuple", "items": [encode(v) for v in obj]}
    if isinstance(obj, set | frozenset):
        items = sorted((encode(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
        return {_TAG: "frozenset" if isinstance(obj, frozenset) else "set", "items": items}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and _TAG not in obj:
            return {str(k): encode(v) for k, v in obj.items()}
        return {_TAG: "dict", "items": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, fractions.Fraction):
        return {_TAG: "fraction", "value": str(obj)}
    if isinstance(obj, complex):
        return {_TAG: "complex", "value": [encode(obj.real), encode(obj.imag)]}
    if isinstance(obj, datetime.datetime | datetime.date | datetime.time):
        return {_TAG: type(obj).__name__, "value": obj.isoformat()}
    if isinstance(obj, datetime.timedelta):
        return {_TAG: "timedelta", "value": obj.total_seconds()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {_TAG: "dataclass", "type": _type_name(obj), "fields": fields}
    raise TypeError(f"cannot store a {type(obj).__module__}.{type(obj).__qualname__} value")


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    tag = obj.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in obj.items()}
    value: Any = obj.get("value")
    if tag == "tuple":
        return tuple(decode(v) for v in obj["items"])
    if tag == "set":
        return {decode(v) for v in obj["items"]}
    if tag == "frozenset":
        return frozenset(decode(v) for v in obj["items"])
    if tag == "dict":
        return {decode(k): decode(v) for k, v in obj["items"]}
    if tag == "float":
        return float(value)
    if tag == "fraction":
        return fractions.Fraction(value)
    if tag == "complex":
        return complex(value[0], value[1])
    if tag in ("datetime", "date", "time"):
        return getattr(datetime, tag).fromisoformat(value)
    if tag == "timedelta":
        return datetime.timedelta(seconds=value)
    if tag == "enum":
        return _import_type(obj["type"])(decode(value))
    if tag == "dataclass":
        return _import_type(obj["type"])(**{k: decode(v) for k, v in obj["fields"].items()})
    raise ValueError(f"unknown tagged value {tag!r}")


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def _import_type(name: str) -> Any:
    module, _, qualname = name.partition(":")
    if module.split(".")[0] != "reasoning_gym":  # only types of the package itself, never arbitrary code
        raise ValueError(f"refusing to import {name!r}")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# -- datasets --------------------------------------------------------------------------------------------


def _params_key(params: dict[str, Any]) -> str:
    return json.dumps(encode(params), sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=16)
def _dataset(name: str, params_key: str, seed: int, size: int) -> Any:
    """The upstream dataset instance (cached: some build hundreds of items or load files in __init__)."""
    dataset_cls, _ = DATASETS[name]
    config = ReasoningGym(name).build_config(decode(json.loads(params_key)))
    config = dataclasses.replace(config, seed=seed, size=size)
    with _quiet():
        return dataset_cls(config=config)


def _reference(entry: dict[str, Any]) -> tuple[str, str]:
    """(reference answer, where it came from)."""
    if entry.get("answer") is not None:
        return str(entry["answer"]), "answer"
    meta = entry.get("metadata") or {}
    for key in EXAMPLE_KEYS:
        if meta.get(key) is not None:
            value = meta[key]
            return (value if isinstance(value, str) else json.dumps(value)), f"metadata.{key}"
    return "", "none"


def _prompt(entry: dict[str, Any]) -> str:
    return f"{str(entry['question']).rstrip()}\n\n{INSTRUCTION}"


def _storable(entry: dict[str, Any]) -> Any:
    """The tagged entry, or None when it does not round-trip exactly (then the worker regenerates it)."""
    try:
        encoded = encode(entry)
        json.dumps(encoded)
        return encoded if decode(encoded) == entry else None
    except (TypeError, ValueError):
        return None


# -- evalkit's own answer checks, run before a dataset's scorer (see the module docstring) -----------------

_ARITHMETIC_RE = re.compile(r"[0-9+\-*/() ]+")
_OPERATORS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def arithmetic_problem(answer: str, numbers: list[int], target: Fraction, operators: tuple[str, ...]) -> str | None:
    """Why ``answer`` is not an expression that makes ``target`` from ``numbers``, each used once (None if it is).

    The answer may hold only digits, ``+ - * / ( )`` and spaces, use only ``operators`` (and a minus sign
    where ``-`` is one; never ``**`` or ``//``), name exactly the given numbers, each as often as given, and
    equal ``target`` exactly (rational arithmetic, no rounding).
    """
    if not _ARITHMETIC_RE.fullmatch(answer):
        return "only digits, + - * / ( ) and spaces may appear"
    used = [int(n) for n in re.findall(r"[0-9]+", answer)]
    if sorted(used) != sorted(int(n) for n in numbers):
        return f"must use exactly the numbers {sorted(int(n) for n in numbers)}, each once"
    try:
        tree = ast.parse(answer.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "not an arithmetic expression"

    def value(node: ast.expr) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.BinOp) and _OPERATORS.get(type(node.op)) in operators:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            return left / right  # ZeroDivisionError: refused below
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and "-" in operators:
            return -value(node.operand)  # countdown's own solutions may start with a negated number
        raise ValueError(f"operators allowed: {' '.join(operators)}")

    try:
        got = value(tree.body)
    except ZeroDivisionError:
        return "divides by zero"
    except (ValueError, RecursionError) as e:
        return str(e) or "not an arithmetic expression"
    return None if got == target else f"equals {got}, not {target}"


def _countdown(answer: str, entry: dict[str, Any], config: Any) -> str | None:
    meta = entry["metadata"]
    operators = tuple(getattr(config, "operators", ("+", "-", "*", "/")))
    return arithmetic_problem(answer, list(meta["numbers"]), Fraction(meta["target"]), operators)


def _puzzle24(answer: str, entry: dict[str, Any], config: Any) -> str | None:
    operators = tuple(getattr(config, "operators", ("+", "-", "*", "/")))
    return arithmetic_problem(answer, list(entry["metadata"]["numbers"]), Fraction(24), operators)


# Datasets whose scorer evalkit tightens (the module docstring says why): dataset -> check returning why an
# answer is refused, or None to hand it to the scorer.
# sympy operations that a scorer's parse_expr/sympify would carry out for the model: integrate(f, x) passes
# simple_integration, expand(<the question's product>) passes polynomial_multiplication
SYMPY_CALLS = (
    "integrate", "Integral", "diff", "Derivative", "expand", "simplify", "factor", "solve", "solveset",
    "dsolve", "limit", "Limit", "summation", "Sum", "Product", "series", "apart", "together", "cancel",
    "collect", "nsimplify", "trigsimp", "powsimp", "radsimp", "expand_trig", "roots", "Subs", "sympify",
    "parse_expr", "lambdify", "doit", "evalf", "subs",
)  # fmt: skip
_SYMPY_CALL_RE = re.compile(rf"(?<![\w])(?:{'|'.join(SYMPY_CALLS)})\s*\(")
# datasets whose scorer reads the answer as a sympy expression (a restated question would be evaluated)
SYMPY_SCORED = frozenset({"simple_integration", "intermediate_integration", "polynomial_multiplication"})


def operation_call(answer: str) -> str | None:
    """Why an answer that calls a sympy operation is refused (``integrate(x**2, x)``, ``expand((x+1)*(x-1))``,
    ``Integral(...).doit()``), or None: it asks the scorer to do the work it names."""
    match = _SYMPY_CALL_RE.search(answer)
    if match is None:
        return None
    call = match.group(0).lstrip(".").rstrip("( ").strip()
    return f"sympy call: {call}() is an operation left to the scorer, not an answer"


def refusal(dataset: str, answer: str, prompt: str, reference: str) -> str | None:
    """Why evalkit refuses an answer of any reasoning-gym dataset before its scorer sees it, or None: a sympy
    operation call (:func:`operation_call`), or, where the scorer reads sympy, the question's own expression
    left unevaluated (:func:`evalkit.grading.restated.restates`)."""
    why = operation_call(answer)
    if why is None and dataset in SYMPY_SCORED:
        caret = [text.replace("**", "^") for text in (answer, prompt, reference)]  # powers written one way
        if restates(*caret):
            why = "restated question: the question's expression, unevaluated"
    return why


TIGHTENED: dict[str, Callable[[str, dict[str, Any], Any], str | None]] = {
    "countdown": _countdown,
    "puzzle24": _puzzle24,
}


class ReasoningGym(TaskFamily):
    """All reasoning-gym datasets; an instance made with no arguments can still verify (from the meta)."""

    name = "rg"
    description = "reasoning-gym dataset"
    Config = object
    reserved_params: ClassVar[dict[str, str]] = {
        "seed": "use --problem-seed (evalkit derives the dataset seeds from it)",
        "size": "use --limit",
    }

    def __init__(self, dataset: str | None = None) -> None:
        self.dataset = dataset
        if dataset is not None:
            self.name = f"rg:{dataset}"
            self.Config = DATASETS[dataset][1]
            self.description = f"reasoning-gym {dataset}"

    def build_config(self, params: dict[str, Any]) -> Any:
        params = dict(params)
        if self.dataset == "composite" and isinstance(params.get("datasets"), list):
            from reasoning_gym.composite import DatasetSpec

            params["datasets"] = [DatasetSpec(**d) if isinstance(d, dict) else d for d in params["datasets"]]
        try:
            config: Any = self.Config(**params)
            if callable(getattr(config, "validate", None)):
                config.validate()
        except AssertionError as exc:  # reasoning-gym validates with assert
            raise ValueError(str(exc) or "invalid config") from None
        return config

    def config_json(self, config: Any) -> dict[str, Any]:
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        return {k: encode(v) for k, v in values.items() if k not in self.reserved_params}

    def data_identity(self, config: Any) -> str | None:
        return f"reasoning-gym=={RG_VERSION}"

    def _user_params(self, config: Any) -> dict[str, Any]:
        """The config's fields that differ from their defaults (enough to rebuild it in a worker)."""
        out = {}
        for f in dataclasses.fields(config):
            if f.name in self.reserved_params:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            value = getattr(config, f.name)
            if default is dataclasses.MISSING or value != default:
                out[f.name] = value
        return out

    def make_batch(self, config: Any, key: str, indices: range) -> list[tuple[str, str, dict[str, Any]]]:
        assert self.dataset is not None
        params = self._user_params(config)
        params_key = _params_key(params)
        out = []
        for index in indices:
            block, offset = divmod(index, BLOCK)
            seed = int.from_bytes(hashlib.sha256(f"{key}:block{block}".encode()).digest()[:4], "big")
            dataset = _dataset(self.dataset, params_key, seed, BLOCK)
            with _quiet():
                entry = dataset[offset]
            reference, reference_from = _reference(entry)
            info = {
                "dataset": self.dataset,
                "params": json.loads(params_key),
                "seed": seed,
                "size": BLOCK,
                "index": offset,
                "version": RG_VERSION,
                "reference_from": reference_from,
                "entry": _storable(entry),
            }
            out.append((_prompt(entry), reference, {"rg": info}))
        return out

    def reference_completion(self, problem: Problem) -> str:
        return f"<answer>{problem.reference}</answer>"

    def verify(self, problem: Problem, text: str) -> Verdict:
        if not text.strip():
            return Verdict(passed=False, score=0.0, status="empty", detail="empty completion")
        answer, detail = read_answer(text)
        if answer is None:
            return Verdict(passed=False, score=0.0, status="ok", detail=detail)
        info = problem.meta["rg"]
        params_key = json.dumps(info["params"], sort_keys=True, separators=(",", ":"))
        dataset = _dataset(info["dataset"], params_key, info["seed"], info["size"])
        if info.get("entry") is not None:
            entry = decode(info["entry"])
        else:
            with _quiet():
                entry = dataset[info["index"]]
            if _prompt(entry) != problem.prompt:
                return Verdict(False, 0.0, "error", "regenerated reasoning-gym entry differs from the stored prompt")
        why = refusal(info["dataset"], answer, problem.prompt, problem.reference)
        tightened = TIGHTENED.get(info["dataset"])
        if why is None and tightened is not None:
            why = tightened(answer, entry, getattr(dataset, "config", None))
        if why is not None:
            return Verdict(passed=False, score=0.0, status="ok", detail=f"{detail} (refused by evalkit: {why})")
        with _quiet():
            score = float(dataset.score_answer(answer, entry))
        return Verdict(passed=score == 1.0, score=score, status="ok", detail=detail)

    def dedup_key(self, problem: Problem, text: str) -> str | None:
        if not text.strip():
            return "empty"
        answer, detail = read_answer(text)
        return "none:" + detail if answer is None else "answer:" + detail + "\0" + answer
