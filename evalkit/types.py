"""The records that flow through evalkit: problems, completions and verdicts.

They are plain frozen dataclasses so that they pickle cheaply into verifier workers and serialise to
JSON lines without a schema library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "unknown"]
FINISH_REASONS: tuple[FinishReason, ...] = ("stop", "length", "unknown")
Status = Literal["ok", "empty", "truncated", "timeout", "error"]
STATUSES: tuple[Status, ...] = ("ok", "empty", "truncated", "timeout", "error")


@dataclass(frozen=True)
class Problem:
    """One problem of a task.

    Attributes:
        id: Stable id derived from (task, task config, seed, index); never random.
        task: Name of the task family that made it (the registry key).
        prompt: The text given to the model.
        reference: The reference answer the verifier compares against.
        meta: Whatever else describes the problem (difficulty bucket, operands...). JSON-serialisable.
    """

    id: str
    task: str
    prompt: str
    reference: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"problem_id": self.id, **{k: v for k, v in asdict(self).items() if k != "id"}}


@dataclass(frozen=True)
class Completion:
    """One sampled completion, as stored in the run's shards.

    Attributes:
        problem_id: The problem it answers.
        sample_idx: Index in 0..n-1; (problem_id, sample_idx) is unique within a run.
        text: The generated text, stored losslessly (lone surrogates and NUL included).
        n_tokens: Number of generated tokens (0 when unknown, e.g. imported completions).
        finish_reason: "stop" (end of sequence or stop string), "length" (hit max tokens) or "unknown"
            (imported without one: never assumed to be "stop").
        seed: The seed that produced this sample (-1 when unknown).
        logprob_sampler: Natural log of the probability of the generated tokens under the distribution the
            sampler drew them from (temperature, top-k, top-p applied), recorded while sampling; the
            end-of-sequence token is included when the completion stopped on one (scored as the probability
            of any end id, as :mod:`evalkit.likelihood` does). None when not recorded (other backends,
            older runs).
        logprob_raw: The same under the raw model (temperature 1, no truncation); None when not recorded.
        logprob_tokens: The number of tokens both sums run over (the generated tokens, end token included);
            None when not recorded. The three are not compared: they say how likely the sample was, not what
            it is, and agree across batch shapes only up to floating-point rounding.
    """

    problem_id: str
    sample_idx: int
    text: str
    n_tokens: int = 0
    finish_reason: FinishReason = "stop"
    seed: int = -1
    # not compared: a measurement of the sample, equal across batch shapes only up to float rounding
    logprob_sampler: float | None = field(default=None, compare=False)
    logprob_raw: float | None = field(default=None, compare=False)
    logprob_tokens: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Verdict:
    """The verifier's judgement of one completion.

    Attributes:
        passed: What pass@k counts. Never true for a timeout or an error.
        score: Continuous reward in [0, 1] (equal to ``passed`` for exact-answer tasks).
        status: ok, empty, truncated, timeout or error.
        detail: A short human-readable reason (the extracted answer, the exception message...).
        isolation: The isolation layers that held while the verifier ran, as ``kind:layer,layer,...``:
            ``confined:`` for a confined verifier worker (:mod:`evalkit.verify.confine`), ``sandbox:`` for a
            program run by the code sandbox (:mod:`evalkit.grading.sandbox`). Empty when not recorded: a
            verdict made in the parent (a timeout, a crashed worker), an empty completion that ran nothing,
            a run verified before evalkit recorded it. Not compared: it says how a verdict was reached.
        requires: How the completion must have ended for a pass to stand, for verdicts read by a rule
            that a cut-off text cannot use: ``stop`` (known to have stopped by itself), ``not length``
            (not cut at max tokens), or "" (any). Applied by ``evalkit.verify.with_finish_reason``; not
            stored, and not part of equality.
    """

    passed: bool
    score: float
    status: Status
    detail: str = ""
    isolation: str = field(default="", compare=False)
    requires: str = field(default="", compare=False)
