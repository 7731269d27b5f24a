"""The sampler protocol, sampling parameters and per-sample seed allocation."""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evalkit.errors import EvalkitError
from evalkit.types import Completion, Problem

SEED_BLOCK_BITS = 20  # 2**20 samples per problem: seeds of one problem never overlap another's


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling parameters shared by every backend.

    Attributes:
        temperature: 0 means greedy decoding.
        top_p: Nucleus sampling mass (1.0 disables it).
        top_k: Keep the k most likely tokens (0 disables it).
        max_tokens: Generated tokens per completion, end-of-sequence token included.
        stop: Strings that end a completion; the stop string itself is not kept in the text.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int = 32
    stop: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not math.isfinite(self.temperature) or not math.isfinite(self.top_p):
            raise EvalkitError(
                f"--temperature and --top-p must be finite numbers (got {self.temperature} and {self.top_p})"
            )
        if self.temperature < 0:
            raise EvalkitError(f"--temperature must be >= 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise EvalkitError(f"--top-p must be in (0, 1] (got {self.top_p})")
        if self.top_k < 0:
            raise EvalkitError(f"--top-k must be >= 0 (got {self.top_k})")
        if self.max_tokens < 1:
            raise EvalkitError(f"--max-tokens must be >= 1 (got {self.max_tokens})")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data


def sample_seed(run_seed: int, problem_id: str, sample_idx: int) -> int:
    """The seed of one sample: a per-problem block base (from a hash of run seed and problem id) plus
    the sample index, so that an engine that seeds child i of a request with ``seed + i`` (vLLM)
    reproduces exactly these seeds, and no two samples of a run share a seed."""
    if not 0 <= sample_idx < (1 << SEED_BLOCK_BITS):
        raise ValueError(f"sample_idx {sample_idx} out of range")
    digest = hashlib.blake2b(f"{run_seed}:{problem_id}".encode(), digest_size=8).digest()
    base = (int.from_bytes(digest, "little") >> (64 - 63 + SEED_BLOCK_BITS)) << SEED_BLOCK_BITS
    return base + sample_idx


class Backend(Protocol):
    """What every sampler provides."""

    name: str

    def describe(self) -> dict[str, Any]:
        """Identity of the model behind the backend (path, content hash...) for the run manifest."""
        ...

    def generate(
        self, jobs: Sequence[tuple[Problem, Sequence[int]]], sampling: SamplingConfig, run_seed: int
    ) -> Iterator[list[Completion]]:
        """Yield completions for every (problem, sample indices) job, in chunks ready to persist.

        ``jobs`` lists every problem of the run, in order, with the indices it still lacks (none for a
        problem that is complete), so a backend always sees the whole run."""
        ...


BACKENDS = ("hf", "vllm", "openai", "replay")


def check_prompt_format(chat: bool, system: str | None) -> None:
    """Refuse a system message without chat formatting (only a chat template has a place for one).

    Raises:
        EvalkitError: ``system`` given without ``chat``.
    """
    if system is not None and not chat:
        raise EvalkitError(
            "--system needs --chat: a system message is placed by the tokenizer's chat template "
            "(without --chat the raw prompt text is sent as it is)"
        )


def require_chat_template(tokenizer: Any, model: str) -> None:
    """Refuse chat formatting for a tokenizer without a chat template (base models often have none).

    Raises:
        EvalkitError: naming the model and suggesting the raw prompt mode.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise EvalkitError(
            f"model {model!r}: its tokenizer has no chat template, so --chat cannot format prompts; "
            "drop --chat to send the raw prompt text (and --system with it)"
        )


def chat_messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    """The chat messages of one prompt: an optional system message, then the prompt as the user's."""
    messages = [{"role": "system", "content": system}] if system is not None else []
    return [*messages, {"role": "user", "content": prompt}]


def format_prompt_ids(tokenizer: Any, prompt: str, chat: bool, system: str | None = None) -> list[int]:
    """Token ids of a prompt as the hf and vllm backends send it.

    Raw mode (``chat`` false) tokenizes the text with the tokenizer's special tokens (a BOS where the
    tokenizer adds one). Chat mode renders :func:`chat_messages` with the tokenizer's chat template and
    ``add_generation_prompt=True``, then tokenizes the rendered text without adding special tokens again
    (the template writes them).

    Raises:
        EvalkitError: when the chat template refuses the messages (some templates have no system role).
    """
    if not chat:
        return list(tokenizer(prompt)["input_ids"])
    try:
        text = tokenizer.apply_chat_template(chat_messages(prompt, system), add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # jinja2's TemplateError, or ValueError, depending on the template
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        hint = " (this template may not accept a system message; drop --system)" if system is not None else ""
        raise EvalkitError(f"the tokenizer's chat template failed: {reason}{hint}") from None
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def config_context_length(model: str, revision: str | None = None) -> int:
    """The model's context length from its config (``max_position_embeddings``, of the text config for
    multimodal models), 0 when unknown (``revision``: the commit of a hub id)."""
    from transformers import AutoConfig

    local = Path(model).expanduser()
    try:
        config = AutoConfig.from_pretrained(str(local) if local.is_dir() else model, revision=revision)
    except (OSError, ValueError):
        return 0
    text_config = getattr(config, "get_text_config", lambda: config)()
    return int(getattr(text_config, "max_position_embeddings", 0) or 0)


def check_fits(problem_id: str, prompt_tokens: int, max_tokens: int, context: int) -> None:
    """Refuse a prompt that cannot be followed by ``max_tokens`` tokens in a context of ``context`` positions
    (0: unknown, not checked), saying what would help.

    Raises:
        EvalkitError: naming the problem, the sizes, and the way out (a lower --max-tokens when the prompt
            itself fits; otherwise a shorter prompt or a model with a longer context).
    """
    if not context or prompt_tokens + max_tokens <= context:
        return
    if prompt_tokens >= context:
        raise EvalkitError(
            f"problem {problem_id}: the prompt alone is {prompt_tokens} tokens, more than the model's context of "
            f"{context}; no --max-tokens fits (use a model with a longer context, or a shorter --prompt-template)"
        )
    raise EvalkitError(
        f"problem {problem_id}: prompt is {prompt_tokens} tokens; with --max-tokens {max_tokens} it exceeds the "
        f"model's context of {context} tokens (lower --max-tokens to at most {context - prompt_tokens})"
    )


def make_backend(name: str, model: str, **options: Any) -> Backend:
    """Build a backend by name; an unknown name is an EvalkitError with suggestions."""
    if name == "hf":
        from evalkit.sampling.hf import HFBackend

        return HFBackend(model, **options)
    if name == "vllm":
        from evalkit.sampling.vllm_backend import VLLMBackend

        return VLLMBackend(model, **options)
    if name == "openai":
        from evalkit.sampling.openai_backend import OpenAIBackend

        return OpenAIBackend(model, **options)
    if name == "replay":
        from evalkit.sampling.replay import ReplayBackend

        return ReplayBackend(Path(model), **options)
    close = difflib.get_close_matches(name, BACKENDS, n=2)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise EvalkitError(f"unknown backend {name!r}{hint} (known: {', '.join(BACKENDS)})")
