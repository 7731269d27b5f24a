"""``math``: final-answer math problems from a JSONL file (or a Hugging Face dataset), judged by math-verify.

Each line of the file is ``{"problem_id": ..., "prompt": ... (or "question"), "answer": ...}``; other
fields are kept in ``meta["extra"]``. The prompt is used as written (the bundled sample asks for
``\\boxed{}``). Validation errors name the file, line, problem id and field, and are raised before any
model loads (see :mod:`evalkit.tasks.datafile`).

Config:

- ``path``: a JSONL file; the default ``bundled:math_sample.jsonl`` is a 24-problem sample shipped in the
  package (integers, decimals, fractions, ``\\frac``, ``\\sqrt``, ``\\pi``, sets and intervals). A value that
  is not a local file is loaded as a Hugging Face dataset id when the ``datasets`` package is installed
  and the network allows (split ``split``; fields as above, with the fallbacks of
  :func:`evalkit.tasks.datafile.read_hf_dataset`: ``unique_id``/``id`` for ``problem_id``, ``problem`` for the prompt).
- ``answer_format``: how the answer is taken from a completion: ``auto`` (last ``\\boxed{}``, else "the
  answer is X", else the last number), ``boxed``, ``answer_is`` or ``last_number`` (:mod:`evalkit.grading.answers`).
- ``think``: ``strip`` (default) reads the answer after the reasoning block (the last ``</think>``; a block
  that never closes gives no answer), ``keep`` reads the whole completion.
- ``strict``: ``true`` never guesses: no last-number fallback, only a box or an "answer is" phrase.
- ``split``: the split of a Hugging Face dataset.

Problem ids are ``math:<file stem>:<problem_id>`` (``math:<dataset id>:<problem_id>`` for a Hugging Face
dataset): the file's own ids, prefixed so that two files' ids cannot collide. ``--limit`` takes a seeded
random subset (:func:`evalkit.tasks.seeded_subset`). The data file's sha256 is recorded in the run
manifest, so resuming after the file changed is refused.

Verification: :func:`evalkit.grading.answers.answer_verdict` — extraction (:mod:`evalkit.grading.extraction`), then
equivalence (:mod:`evalkit.grading.equivalence`: normal forms, the reference's shape, exact numbers, math-verify with
its signal timeouts off); the verifier pool's hard timeout ends hangs such as ``5^{5^{5^{5^5}}}`` with
verdict ``timeout``. The verdict's detail names the rule that read the answer
(``boxed[last] after </think>: 72``). The prompt is read only to refuse an answer that restates the
question unevaluated (:mod:`evalkit.grading.restated`); the fallback readings (the last number, an answer
phrase or unclosed box that ends the text) never pass a completion cut at max tokens or that loops. The dedup
key is the extraction (:func:`evalkit.grading.answers.answer_key`): completions of a problem that give the same
answer are checked once.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import math_verify  # noqa: F401  (imported here so that verifier workers load it before their first item)

from evalkit.errors import EvalkitError
from evalkit.grading.answers import AnswerVerified, check_reading, quiet_math_verify
from evalkit.tasks import TaskFamily, register
from evalkit.tasks.datafile import Row, answer_problems, file_sha256, read_hf_dataset, read_jsonl
from evalkit.types import Problem

BUNDLED = "bundled:"
DEFAULT_PATH = "bundled:math_sample.jsonl"

quiet_math_verify()


@dataclass(frozen=True)
class MathConfig:
    path: str = DEFAULT_PATH
    answer_format: str = "auto"
    split: str = "test"
    think: str = "strip"
    strict: bool = False

    def __post_init__(self) -> None:
        check_reading(self.answer_format, self.think, self.strict)
        if not self.path.strip():
            raise ValueError("path must name a JSONL file or a dataset")


def resolve(path: str) -> Path | None:
    """The local file a ``path`` config names (bundled files included), or None for a dataset id."""
    if path.startswith(BUNDLED):
        name = path[len(BUNDLED) :]
        bundled = importlib.resources.files("evalkit_tasks") / "data" / name
        if not bundled.is_file():
            raise EvalkitError(f"math: no bundled data file {name!r}")
        return Path(str(bundled))
    local = Path(path).expanduser()
    if local.is_file():
        return local
    if local.exists():
        raise EvalkitError(f"math: {path} is not a file")
    # "org/name" without a local file is a dataset id; anything that looks like a path is a missing file
    if path.endswith((".jsonl", ".json")) or path.startswith((".", "/", "~")) or path.count("/") > 1:
        raise EvalkitError(f"math: no such file {path!r}")
    return None


@functools.lru_cache(maxsize=8)
def _load(
    path: str, answer_format: str, split: str, stamp: tuple[int, int] | None, think: str = "strip", strict: bool = False
) -> tuple[Problem, ...]:
    local = resolve(path)
    meta: dict[str, Any] = {"answer_format": answer_format, "think": think, "strict": strict}
    rows: list[Row]
    if local is not None:
        rows, prefix = read_jsonl(local), f"math:{local.stem}:"
    else:
        rows, prefix = read_hf_dataset(path, split), f"math:{path}:"
    return tuple(answer_problems(rows, "math", prefix, meta))


def _stamp(path: str) -> tuple[int, int] | None:
    local = resolve(path)
    if local is None:
        return None
    st = local.stat()
    return (st.st_mtime_ns, st.st_size)


@register
class Math(AnswerVerified, TaskFamily):
    name = "math"
    description = "final-answer math from a JSONL file (default: a bundled sample), checked with math-verify"
    Config = MathConfig
    default_max_tokens = 4096  # step-by-step solutions
    takes_prompt_template = True  # answer_verdict reads the prompt only to refuse a restated question

    def load(self, config: MathConfig) -> list[Problem]:
        # cached per (file, mtime, size): GRPO and the tests build problems many times
        return list(
            _load(config.path, config.answer_format, config.split, _stamp(config.path), config.think, config.strict)
        )

    def data_identity(self, config: MathConfig) -> str | None:
        local = resolve(config.path)
        return file_sha256(local) if local is not None else f"hf:{config.path}:{config.split}"
