"""Teacher-forced scoring with vLLM's ``prompt_logprobs``: the completion is appended to the prompt and vLLM
returns, for every prompt position, the log-probability of the token there, its rank, and the top ``k``
alternatives. One engine pass per text, no sampling.

vLLM computes prompt log-probabilities from the raw model output: the log-softmax at temperature 1, before
any top-k or top-p (vLLM's ``logprobs_mode`` default ``raw_logprobs``; its prompt path applies no
temperature). evalkit scores under the *sampler's* distribution (:mod:`evalkit.likelihood`), so this scorer
rebuilds that distribution from what vLLM returns, exactly, where that is possible:

- **temperature 1, no top-k, no top-p**: the raw log-probability is the sampler's (``prompt_logprobs=0``).
- **top-k set** (any temperature, any top-p): the sampler draws only among the top-k tokens, so the
  top-k raw log-probabilities (``prompt_logprobs=k``) hold everything: divided by the temperature, then
  top-p within them, then the softmax, exactly as :func:`evalkit.sampling.decode.sampler_scores` does (it is
  the function used). A token whose raw log-probability ties the k-th is kept, as the sampler keeps it;
  tied tokens vLLM did not return are not counted in the normaliser (a rare, tiny difference).
- **temperature 0** (greedy): log-probability 0 for the token of rank 1, ``-inf`` otherwise.
- **otherwise** (temperature other than 1, or top-p, without top-k): the normaliser needs the whole
  vocabulary, which ``prompt_logprobs`` does not give; refused with a one-line error that says to score with
  the transformers backend (``--backend hf``), which computes the full distribution.

The end of a completion that stopped is scored as the probability of any end-of-sequence id (the
tokenizer's and every id in ``generation_config.json``): with top-k or greedy from the one pass; at
temperature 1 untruncated, one pass per end id (the text is sent again ending in each id; vLLM's prefix
cache keeps that cheap).

Not implemented: scoring through an OpenAI-compatible server (``--backend openai``); vLLM servers return
``prompt_logprobs`` as an extension, other servers return none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.likelihood.scorer import END, Scored, TextTokens
from evalkit.sampling.base import SamplingConfig

if TYPE_CHECKING:
    from evalkit.sampling.vllm_backend import VLLMBackend


class Entry(NamedTuple):
    """One token's raw log-probability (natural log, temperature 1) and its rank (1 = most likely)."""

    logprob: float
    rank: int


Position = Mapping[int, Entry]  # token id -> entry: the top-k tokens of one position, and the token there


def prompt_logprobs_needed(sampling: SamplingConfig) -> int:
    """How many top tokens per position vLLM must return to rebuild ``sampling``'s distribution.

    Raises:
        EvalkitError: for a sampler whose distribution needs the whole vocabulary (temperature other than 0
            and 1, or top-p, without top-k).
    """
    if sampling.temperature == 0:
        return 1
    if sampling.top_k:
        return sampling.top_k
    if sampling.temperature == 1 and sampling.top_p == 1:
        return 0
    raise EvalkitError(
        f"likelihood --backend vllm: the run sampled at temperature {sampling.temperature}, top-p {sampling.top_p} "
        "without top-k; vLLM's prompt log-probabilities give the top tokens of the raw softmax only, which cannot "
        "rebuild that distribution exactly; score with --backend hf (the same checkpoint, full distribution)"
    )


def position_logprob(position: Position, token: int, sampling: SamplingConfig, end_ids: Sequence[int]) -> float:
    """Log-probability under ``sampling`` of ``token`` (or of any end id, for :data:`END`) at one position.

    Args:
        position: What vLLM returned for this position (at least :func:`prompt_logprobs_needed` top tokens, and
            the token that stands there).
        token: A token id, or :data:`END`.
        sampling: The sampler's temperature, top-k and top-p.
        end_ids: The checkpoint's end-of-sequence ids (for :data:`END`).
    """
    wanted = list(end_ids) if token == END else [token]
    if sampling.temperature == 0:
        top = min(position.items(), key=lambda kv: kv[1].rank)[0]
        return 0.0 if top in wanted else -math.inf
    if not sampling.top_k:  # temperature 1, untruncated: raw is the sampler's
        found = [position[t].logprob for t in wanted if t in position]
        return float(np.logaddexp.reduce(found)) if found else -math.inf
    import torch

    from evalkit.sampling.decode import sampler_scores

    ids = list(position)
    raw = torch.tensor([[position[t].logprob for t in ids]], dtype=torch.float64)
    if raw.shape[1] > sampling.top_k:  # the token there, outside the top k: the sampler's own mask drops it
        kth = torch.topk(raw, sampling.top_k, dim=-1).values[:, -1:]
        raw = raw.masked_fill(raw < kth, float("-inf"))
    scores = sampler_scores(raw, SamplingConfig(temperature=sampling.temperature, top_p=sampling.top_p))
    lp = torch.log_softmax(scores, dim=-1)[0]
    found = [float(lp[ids.index(t)]) for t in wanted if t in position]
    return float(np.logaddexp.reduce(found)) if found else -math.inf


class VLLMScorer(TextTokens):
    """Scores completions with a ``vllm.LLM`` (see the module docstring for what is exact).

    Args:
        model: Checkpoint directory or hub id.
        dtype: vLLM's dtype ("auto", "float32", ...).
        revision: For a hub id, the branch, tag or commit (pinned to its commit).
        engine_options: Further keyword arguments for ``vllm.LLM``.

    Raises:
        EvalkitError: vLLM missing or failing to start, no end-of-sequence id declared.
    """

    def __init__(
        self,
        model: str,
        dtype: str = "auto",
        revision: str | None = None,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        from evalkit.sampling.vllm_backend import VLLMBackend

        self._use(VLLMBackend(model, dtype=dtype, revision=revision, engine_options=engine_options))

    @classmethod
    def from_backend(cls, backend: VLLMBackend) -> VLLMScorer:
        """A scorer sharing the engine of a vLLM sampling backend (one engine for sampling and scoring)."""
        scorer = cls.__new__(cls)
        scorer._use(backend)
        return scorer

    def _use(self, backend: VLLMBackend) -> None:
        self._backend = backend
        self.tokenizer = backend.tokenizer
        self.end_ids = _end_ids(backend.model_name, self.tokenizer, backend.revision)
        self.max_positions = backend.context_length

    def score(self, prompt: Sequence[int], targets: Sequence[Sequence[int]], sampling: SamplingConfig) -> list[Scored]:
        """Log-probabilities of each target after ``prompt`` under ``sampling`` (see :meth:`Scorer.score`).

        Raises:
            EvalkitError: an empty prompt, or a sampler this scorer cannot rebuild exactly.
        """
        if not prompt:
            raise EvalkitError("likelihood: an empty prompt (no token to condition on)")
        top = prompt_logprobs_needed(sampling)
        if top > 20:
            self._backend.engine_options.setdefault("max_logprobs", top)  # vLLM's default cap is 20
        requests: list[tuple[int, list[int]]] = []
        for i, target in enumerate(targets):
            body = [t for t in target if t != END]
            ends = bool(target) and target[-1] == END
            if ends and not self.end_ids:
                raise EvalkitError("likelihood: the checkpoint declares no end-of-sequence token to score")
            # untruncated T = 1 needs each end id's own log-probability: one pass per end id
            variants: list[int | None] = (
                list(self.end_ids) if ends and top == 0 else [self.end_ids[0]] if ends else [None]
            )
            for end in variants:
                requests.append((i, [*prompt, *body, *([] if end is None else [end])]))
        positions = self._prompt_logprobs([ids for _, ids in requests], top)
        out = [np.zeros(0) for _ in targets]
        end_parts: dict[int, list[float]] = {}
        for (i, ids), plp in zip(requests, positions, strict=True):
            target = targets[i]
            body_len = len(target) - (1 if target and target[-1] == END else 0)
            if not out[i].size and target:
                start = len(prompt)
                body_lps = [position_logprob(plp[start + j], ids[start + j], sampling, ()) for j in range(body_len)]
                out[i] = np.array(body_lps + ([0.0] if body_len < len(target) else []), dtype=np.float64)
            if body_len < len(target):
                at = plp[len(prompt) + body_len]
                if top == 0:  # this pass scores the one end id it carries
                    end_parts.setdefault(i, []).append(position_logprob(at, ids[-1], sampling, ()))
                else:
                    end_parts[i] = [position_logprob(at, END, sampling, self.end_ids)]
        for i, parts in end_parts.items():
            out[i][-1] = float(np.logaddexp.reduce(parts))
        return [Scored(lp) for lp in out]

    def _prompt_logprobs(self, prompts: list[list[int]], top: int) -> list[list[Position]]:
        """vLLM's prompt log-probabilities per prompt: a list over positions (position 0 empty)."""
        if not prompts:
            return []
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=top, detokenize=False)
        outputs = self._backend.engine().generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in prompts], params, use_tqdm=False
        )
        return [
            [
                {} if pos is None else {int(t): Entry(float(v.logprob), int(v.rank)) for t, v in pos.items()}
                for pos in out.prompt_logprobs
            ]
            for out in outputs
        ]

    def close(self) -> None:
        """Stop the engine's processes."""
        self._backend.close()


def _end_ids(model: str, tokenizer: Any, revision: str | None) -> list[int]:
    """The end-of-sequence ids the vLLM sampler stops on: the tokenizer's and ``generation_config.json``'s."""
    from pathlib import Path
    from types import SimpleNamespace

    from transformers import GenerationConfig

    from evalkit.sampling.hf import eos_token_ids

    local = Path(model).expanduser()
    try:
        config = GenerationConfig.from_pretrained(str(local) if local.is_dir() else model, revision=revision or "main")
    except (OSError, ValueError):
        config = None
    return eos_token_ids(SimpleNamespace(generation_config=config), tokenizer)
