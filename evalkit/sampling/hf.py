"""The transformers backend: batched sampling on CPU or CUDA with per-sample seeds.

Rows of a batch are samples of one or more problems; samples of the same problem share one prompt
prefill (see :mod:`evalkit.sampling.decode`). Finish reason is "stop" when the model emits any of its
end-of-sequence tokens (the tokenizer's and every id ``generation_config.eos_token_id`` lists, see
:func:`eos_token_ids`) or a stop string, "length" at ``max_tokens``. A tokenizer without a pad token
pads with its end-of-sequence id (rows are masked, so the pad id is never attended to).

``chat=True`` formats each prompt with the tokenizer's chat template (one user message, after an
optional ``system`` message), through :func:`evalkit.sampling.base.format_prompt_ids`, the same function
the vLLM backend uses. Not implemented: the model's recommended sampling settings (temperature, top-p
from ``generation_config``) are not applied; evalkit's own flags decide them.

Each completion carries the log-probability of its generated tokens under the sampler's distribution and under
the raw model, summed while they are drawn (``logprobs=True``, the default; see
:func:`evalkit.sampling.decode.step_log_probs`): the end token is included when the completion stopped on one,
as :mod:`evalkit.likelihood` scores it, so without stop strings the two agree. With stop strings the sum runs
over every drawn token, the stop string's included, while the stored text is cut before it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig, sample_seed
from evalkit.sampling.hub import check_hub_model, is_local_name, no_such_folder
from evalkit.sampling.identity import ModelIdentity, resolve_model
from evalkit.types import Completion, Problem


def resolve_device(device: str) -> str:
    """The torch device to use for ``device``: "auto" is cuda when this torch can use it, else cpu; any other
    name is returned as given once a tensor could be placed on it.

    Raises:
        EvalkitError: one line, when the name is not a torch device or this torch cannot use it (``cuda``
            on a CPU-only build or without a GPU, ``cuda:3`` on a machine with two GPUs).
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise EvalkitError(f"--device {device!r}: not a torch device; use auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cpu":
        return device
    if parsed.type == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
        raise EvalkitError(
            f"--device {device}: CUDA is not available (torch {torch.__version__}, {build}); use --device cpu (or auto)"
        )
    try:
        torch.empty(1, device=parsed)
    except Exception as exc:  # torch raises RuntimeError, AssertionError... depending on the device type
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise EvalkitError(
            f"--device {device}: this torch cannot use it ({reason}); use --device cpu (or auto)"
        ) from None
    return device


def load_model_and_tokenizer(
    model: str, device: str = "auto", dtype: str = "auto", revision: str | None = None
) -> tuple[Any, Any, str]:
    """Load a causal LM and its tokenizer from a directory or a hub id; returns (model, tokenizer, device).

    A hub id is loaded at ``revision`` (a branch, tag or commit; default ``main``), resolved to its commit
    first (:func:`evalkit.sampling.hub.check_hub_model`), so tokenizer and weights come from one commit.

    Raises:
        EvalkitError: when the path does not exist and the hub cannot provide the id, or when ``device``
            cannot be used (see :func:`resolve_device`).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    device = resolve_device(device)
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    local = Path(model).expanduser()
    if is_local_name(model) and not local.is_dir():
        raise no_such_folder(model)
    source = str(local) if local.is_dir() else model
    commit = None
    if not local.is_dir():
        # seconds, where transformers would retry for about a minute offline
        commit = check_hub_model(model, revision)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=commit)
        lm: Any = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, revision=commit)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        where = "checkpoint directory" if local.is_dir() else "hub id (is the network reachable?)"
        raise EvalkitError(f"model {model!r}: could not load it as a {where}: {reason}") from None
    lm.to(device)
    lm.eval()
    return lm, tokenizer, device


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every end-of-sequence id the checkpoint declares, sorted: the tokenizer's ``eos_token_id`` and the
    ids of ``model.generation_config.eos_token_id`` (an int or a list; instruct models often list
    several, e.g. ``<|endoftext|>`` and ``<|im_end|>``). Empty when none is declared."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    declared = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(declared, int):
        ids.add(declared)
    elif isinstance(declared, (list, tuple)):
        ids.update(int(i) for i in declared if isinstance(i, int))
    return sorted(ids)


def pad_token_id(tokenizer: Any, eos_ids: Sequence[int]) -> int:
    """The tokenizer's pad id, or, for checkpoints without one (GPT-2 and many base models), its
    end-of-sequence id (the tokenizer's own first, else the first of ``eos_ids``). Padding is always
    masked out, so the id only has to be a valid token.

    Raises:
        EvalkitError: when the tokenizer has neither a pad nor an end-of-sequence token.
    """
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    if eos_ids:
        return int(eos_ids[0])
    raise EvalkitError("the tokenizer has neither a pad token nor an end-of-sequence token to pad with")


class HFBackend:
    """Sampler backed by transformers.

    Args:
        model: Checkpoint directory or hub id.
        device: "auto", "cpu", "cuda", "cuda:1"...
        dtype: "auto" (bf16 on CUDA, fp32 on CPU) or a torch dtype name.
        batch_size: Rows decoded together.
        chat: Format prompts with the tokenizer's chat template (one user message).
        system: A system message placed before the user message (needs ``chat``).
        revision: For a hub id, the branch, tag or commit to load (default ``main``), pinned to its commit.
        logprobs: Record each completion's log-probability under the sampler and the raw model, and its token
            count (:attr:`evalkit.types.Completion.logprob_sampler`, ``logprob_raw``, ``logprob_tokens``;
            see :func:`evalkit.sampling.decode.step_log_probs`). The drawn samples are the same either way.

    Raises:
        EvalkitError: when the checkpoint cannot be loaded, declares no end-of-sequence token, or ``chat``
            is asked of a tokenizer without a chat template.
    """

    name = "hf"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 512,
        chat: bool = False,
        system: str | None = None,
        revision: str | None = None,
        identity: ModelIdentity | None = None,
        logprobs: bool = True,
    ) -> None:
        from evalkit.sampling.base import check_prompt_format

        check_prompt_format(chat, system)
        # the model is identified once (by the caller, or here): checked, pinned to a commit, hashed
        self.identity = identity or resolve_model("hf", model, {"revision": revision})
        revision = self.identity.revision
        self.model_name = model
        self.chat, self.system = chat, system
        self.model, self.tokenizer, self.device = load_model_and_tokenizer(model, device, dtype, revision)
        if chat:
            from evalkit.sampling.base import require_chat_template

            require_chat_template(self.tokenizer, model)
        self.batch_size = max(1, batch_size)
        self.logprobs = logprobs
        from evalkit.sampling.decode import Workspace

        self._workspace = Workspace()  # decode buffers reused across batches
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)
        self.eos_ids = eos_token_ids(self.model, self.tokenizer)
        if not self.eos_ids:
            raise EvalkitError(
                f"model {model!r}: neither its tokenizer nor its generation_config has an end-of-sequence token"
            )
        self.pad_id = pad_token_id(self.tokenizer, self.eos_ids)

    def describe(self) -> dict[str, Any]:
        return self.identity.manifest()

    def encode_prompt(self, problem: Problem, sampling: SamplingConfig) -> list[int]:
        """Prompt token ids (chat template applied with ``chat``); refuses a prompt that cannot fit with
        ``max_tokens`` in the context."""
        from evalkit.sampling.base import check_fits, format_prompt_ids

        ids = format_prompt_ids(self.tokenizer, problem.prompt, self.chat, self.system)
        check_fits(problem.id, len(ids), sampling.max_tokens, self.max_positions)
        return ids

    def generate(
        self, jobs: Sequence[tuple[Problem, Sequence[int]]], sampling: SamplingConfig, run_seed: int
    ) -> Iterator[list[Completion]]:
        """Yield one list of completions per decoded batch."""
        from evalkit.sampling.decode import completion_text, decode

        encoded = {problem.id: self.encode_prompt(problem, sampling) for problem, _ in jobs}
        rows = ((problem, idx) for problem, indices in jobs for idx in indices)  # lazily: memory stays flat
        stop_check = self._stop_checker(sampling.stop) if sampling.stop else None
        while batch := list(itertools.islice(rows, self.batch_size)):
            seeds = [sample_seed(run_seed, p.id, idx) for p, idx in batch]
            outs = decode(
                self.model,
                [encoded[p.id] for p, _ in batch],
                seeds,
                sampling,
                self.eos_ids,
                self.pad_id,
                stop_check,
                workspace=self._workspace,
                logprobs=self.logprobs,
            )
            chunk = []
            for (problem, idx), seed, out in zip(batch, seeds, outs, strict=True):
                text = completion_text(self.tokenizer, out.token_ids, self.eos_ids)
                text = _cut_at_stop(text, sampling.stop)
                n = len(out.token_ids)
                recorded = out.logprob_sampler is not None
                chunk.append(
                    Completion(
                        problem.id,
                        idx,
                        text,
                        n,
                        out.finish_reason,  # type: ignore[arg-type]
                        seed,
                        out.logprob_sampler,
                        out.logprob_raw,
                        n if recorded else None,
                    )
                )
            yield chunk

    def _stop_checker(self, stops: Sequence[str]) -> Any:
        tokenizer = self.tokenizer

        def check(token_ids: list[int]) -> bool:
            text = tokenizer.decode(token_ids[-64:], skip_special_tokens=True)
            return any(s in text for s in stops)

        return check


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]
