"""Teacher-forced scoring with a transformers model under the hf sampler's distribution (see
:mod:`evalkit.likelihood` for what is scored and what it means)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.sampling.base import SamplingConfig
from evalkit.types import Problem

END = -1  # a target id that stands for "the sampler stops here" (any end-of-sequence id)


def sampler_log_probs(logits: Any, sampling: SamplingConfig) -> Any:
    """Log-probabilities (rows, vocab) of the distribution evalkit's hf sampler draws from; ``-inf`` for tokens
    it cannot draw.

    Args:
        logits: (rows, vocab) raw logits (any float dtype; computed in float32 as the sampler does).
        sampling: Temperature, top-p and top-k (max_tokens and stop are not used).
    """
    import torch

    from evalkit.sampling.decode import sampler_scores

    scores = logits.float()
    if sampling.temperature == 0:
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, scores.argmax(dim=-1, keepdim=True), 0.0)
    scores = sampler_scores(scores, sampling)  # the sampler's own temperature, top-k and top-p
    return torch.log_softmax(scores, dim=-1)


@dataclass(frozen=True)
class Scored:
    """One completion's teacher-forced log-probabilities.

    Attributes:
        token_logprobs: (tokens,) float64 natural-log probabilities, ``-inf`` where the sampler cannot draw
            the token; the end-of-sequence token is last when it was scored.
    """

    token_logprobs: np.ndarray

    @property
    def n_tokens(self) -> int:
        return int(self.token_logprobs.size)

    @property
    def unreachable(self) -> int:
        """Tokens outside the sampler's top-k / top-p set (probability 0)."""
        return int(np.isneginf(self.token_logprobs).sum())

    @property
    def total(self) -> float:
        """Natural log of the probability of the whole sequence (``-inf`` when a token is unreachable)."""
        return float(self.token_logprobs.sum()) if self.n_tokens else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-safe figures: ``logprob`` (null when unreachable), the sum over reachable tokens, the mean per
        token, the least likely token and its position."""
        lp = self.token_logprobs
        finite = lp[np.isfinite(lp)]
        low = int(np.argmin(lp)) if lp.size else None
        return {
            "n_tokens": self.n_tokens,
            "unreachable_tokens": self.unreachable,
            "logprob": None if self.unreachable else self.total,
            "logprob_reachable": float(finite.sum()),
            "mean_logprob": None if self.unreachable or not lp.size else self.total / lp.size,
            "min_token_logprob": None if low is None or not np.isfinite(lp[low]) else float(lp[low]),
            "min_token_position": low,
        }


class TextTokens:
    """Prompt and completion token ids as the run's sampler saw them (shared by the transformers and vLLM
    scorers; ``tokenizer`` is set by the subclass)."""

    tokenizer: Any

    def prompt_ids(self, problem: Problem, identity: dict[str, Any]) -> list[int]:
        """The prompt as the run's sampler formatted it (:func:`evalkit.sampling.base.format_prompt_ids`): raw
        text, or the chat template (``prompt_format: chat`` in the run's identity, with its ``system`` message).

        Raises:
            EvalkitError: for a prompt format this module does not know.
        """
        from evalkit.sampling.base import format_prompt_ids

        fmt = identity.get("prompt_format")
        if fmt not in (None, "raw", "chat"):
            raise EvalkitError(f"likelihood: the run's prompt format {fmt!r} is not supported; raw and chat are")
        system = identity.get("system")
        return format_prompt_ids(
            self.tokenizer, problem.prompt, fmt == "chat", system if isinstance(system, str) else None
        )

    def target_ids(self, text: str, with_end: bool) -> list[int]:
        """Completion token ids, then :data:`END` when ``with_end``."""
        ids = [int(i) for i in self.tokenizer(text, add_special_tokens=False)["input_ids"]]
        return [*ids, END] if with_end else ids


class Scorer(TextTokens):
    """Teacher-forced scoring with a transformers causal LM (:func:`evalkit.sampling.hf.load_model_and_tokenizer`).

    Args:
        model: A causal LM in eval mode.
        tokenizer: Its tokenizer.
        max_batch_tokens: Rows x tokens fed to one forward pass (rows of a longer completion go alone, in
            segments of this many tokens).
        logit_bytes: Bytes of float32 logits (and the sort that top-p needs) processed at once.
    """

    def __init__(self, model: Any, tokenizer: Any, max_batch_tokens: int = 8192, logit_bytes: int = 1 << 28) -> None:
        import inspect

        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_tokens = max(1, int(max_batch_tokens))
        self.logit_bytes = max(1, int(logit_bytes))
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"  # transformers 5.x vs 4.x
        self._keep_kw = "logits_to_keep" if "logits_to_keep" in params else None
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        from evalkit.sampling.hf import eos_token_ids, pad_token_id

        self.end_ids = eos_token_ids(model, tokenizer)  # the sampler stops on any of them
        self.pad_id = pad_token_id(tokenizer, self.end_ids)
        # the forward pass holds (tokens, vocab) logits: keep them within 4 x logit_bytes of float32
        vocab = int(getattr(model.config, "vocab_size", 0) or len(tokenizer))
        self.forward_tokens = max(1, min(self.max_batch_tokens, self.logit_bytes // max(1, vocab)))

    @classmethod
    def load(
        cls, model: str, device: str = "auto", dtype: str = "auto", revision: str | None = None, **options: Any
    ) -> Scorer:
        """Load a checkpoint with the hf sampler's loader (the same device and dtype rules; ``revision`` for a
        hub id)."""
        from evalkit.sampling.hf import load_model_and_tokenizer

        lm, tokenizer, _device = load_model_and_tokenizer(model, device, dtype, revision)
        return cls(lm, tokenizer, **options)

    def _forward(self, ids: Any, cache: Any, start: int, last_only: bool = False) -> Any:
        import torch

        pos = torch.arange(start, start + ids.shape[1], device=ids.device)[None, :].expand(ids.shape[0], -1)
        kwargs: dict[str, Any] = {self._cache_kw: cache, "use_cache": True, "position_ids": pos}
        if last_only and self._keep_kw:
            kwargs[self._keep_kw] = 1
        logits = self.model(input_ids=ids, **kwargs).logits
        return logits[:, -1:, :] if last_only else logits

    def score(self, prompt: Sequence[int], targets: Sequence[Sequence[int]], sampling: SamplingConfig) -> list[Scored]:
        """Log-probabilities of each target token sequence after ``prompt``, under ``sampling``.

        Args:
            prompt: Prompt token ids (special tokens included), shared by every target.
            targets: Token ids per completion; :data:`END` as the last id scores the end: the probability that
                the sampler draws any of the checkpoint's end-of-sequence ids (:attr:`end_ids`) there.
            sampling: The sampler's temperature, top-p and top-k.

        Returns:
            One :class:`Scored` per target, in order.
        """
        import torch
        from transformers import DynamicCache

        if not prompt:
            raise EvalkitError("likelihood: an empty prompt (no token to condition on)")
        device = next(self.model.parameters()).device
        out: list[Scored | None] = [None] * len(targets)
        order = sorted(range(len(targets)), key=lambda i: -len(targets[i]))
        for i in order:
            if not targets[i]:
                out[i] = Scored(np.zeros(0))
        order = [i for i in order if targets[i]]
        prompt_t = torch.tensor([list(prompt)], dtype=torch.long, device=device)
        pos = 0
        with torch.no_grad():
            while pos < len(order):
                # rows sorted longest first; a chunk ends at its token budget or where rows get shorter than
                # 3/4 of its longest, so padding wastes at most a quarter of a forward pass
                longest = len(targets[order[pos]])
                rows = max(1, self.forward_tokens // longest)
                end = pos + 1
                while end < min(len(order), pos + rows) and 4 * len(targets[order[end]]) >= 3 * longest:
                    end += 1
                chunk = order[pos:end]
                pos = end
                for i, lp in zip(
                    chunk, self._score_chunk(prompt_t, [targets[i] for i in chunk], sampling, DynamicCache), strict=True
                ):
                    out[i] = Scored(lp)
        return [s if s is not None else Scored(np.zeros(0)) for s in out]

    def _score_chunk(
        self, prompt_t: Any, targets: list[Sequence[int]], sampling: SamplingConfig, cache_cls: Any
    ) -> list[np.ndarray]:
        import torch

        device = prompt_t.device
        rows, width = len(targets), max(len(t) for t in targets)
        tgt = torch.full((rows, width), self.pad_id, dtype=torch.long, device=device)
        for r, t in enumerate(targets):
            tgt[r, : len(t)] = torch.tensor(list(t), dtype=torch.long, device=device)
        result = torch.zeros((rows, width), dtype=torch.float64, device=device)
        cache = cache_cls()
        logits = self._forward(prompt_t, cache, 0, last_only=True)  # (1, 1, vocab): predicts target 0
        cache.batch_repeat_interleave(rows)
        # every row's first target comes from the same prompt: its distribution is computed once
        first = torch.zeros((1, 1), dtype=torch.float64, device=device)
        lp0 = sampler_log_probs(logits[0], sampling)[0]
        result[:, 0] = lp0[tgt[:, 0].clamp(min=0)].double()
        if bool((tgt[:, 0] == END).any()):
            self._gather(logits, torch.full((1, 1), END, device=device), sampling, first, 0)
            result[:, 0] = torch.where(tgt[:, 0] == END, first[0, 0], result[:, 0])
        # right padding needs no attention mask: a real token never attends to a later position. END is a
        # row's last target: what follows it is padding, so it is fed as padding.
        fed = tgt.masked_fill(tgt == END, self.pad_id)
        seg = max(1, self.forward_tokens // rows)
        start = 0
        while start < width - 1:
            stop = min(width - 1, start + seg)
            logits = self._forward(fed[:, start:stop], cache, prompt_t.shape[1] + start)
            self._gather(logits, tgt[:, start + 1 : stop + 1], sampling, result, start + 1)
            start = stop
        lengths = [len(t) for t in targets]
        cpu = result.cpu().numpy()
        return [cpu[r, : lengths[r]].copy() for r in range(rows)]

    def _gather(self, logits: Any, tokens: Any, sampling: SamplingConfig, result: Any, offset: int) -> None:
        """Write log p(tokens[r, j]) under ``sampling`` into ``result[r, offset + j]`` (END: log of the total
        probability of the end ids), a slice of positions at a time (at most ``logit_bytes`` of float32 logits
        and their sort)."""
        import torch

        rows, span, vocab = logits.shape
        flat_logits, flat_tokens = logits.reshape(-1, vocab), tokens.reshape(-1)
        picked = torch.empty(flat_tokens.shape, dtype=torch.float64, device=logits.device)
        per = max(1, self.logit_bytes // (vocab * 16))  # float32 scores, plus top-p's sorted values and order
        for j in range(0, flat_tokens.numel(), per):
            lp = sampler_log_probs(flat_logits[j : j + per], sampling)
            tok = flat_tokens[j : j + per]
            got = lp.gather(-1, tok.clamp(min=0)[:, None])[:, 0]
            is_end = tok == END
            if bool(is_end.any()):
                if not self.end_ids:
                    raise EvalkitError("likelihood: the checkpoint declares no end-of-sequence token to score")
                got = torch.where(is_end, torch.logsumexp(lp[:, self.end_ids], dim=-1), got)
            picked[j : j + per] = got.double()
        result[:, offset : offset + span] = picked.reshape(rows, span)
