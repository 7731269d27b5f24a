"""Batched autoregressive decoding with a KV cache and per-row, batch-independent randomness.

Every row carries its own 63-bit seed. The random draw for row b at step t over token v is a hash of
(seed_b, t, v) turned into Gumbel noise, and the sampled token is ``argmax(logits / T + noise)`` over the
tokens that survive top-k / top-p: an exact draw from the tempered, truncated softmax. Because the noise
depends only on the row's own seed, a sample's text does not depend on which other samples share its
batch, so an interrupted run that is resumed produces the same samples as an uninterrupted one (up to
floating-point differences between batch shapes).

Rows with the same prompt share one prefill (each distinct prompt's keys and values are computed once
and copied to its rows); finished rows are dropped from the batch as it shrinks; keys and values are
written in place into buffers sized for the prompt plus ``max_tokens`` and reused across batches (see
``_buffer_layer_class`` and :class:`Workspace`). Different prompts are left-padded.

With ``logprobs=True`` each row also carries the log-probability of its drawn tokens, accumulated as they are
drawn (see :class:`Generated`), at the cost of two log-sum-exps over the vocabulary per step.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from evalkit.sampling.base import SamplingConfig

_MASK32 = 0xFFFFFFFF


@dataclass
class Generated:
    """One decoded row: generated token ids (end-of-sequence included) and why it stopped.

    Attributes:
        token_ids: The drawn ids, the end-of-sequence id last when the row stopped on one.
        finish_reason: "stop" (an end id or a stop string) or "length".
        logprob_sampler: With ``logprobs``: the natural log of the probability of ``token_ids`` under the
            distribution the sampler drew from (:func:`sampler_scores`: temperature, top-k, top-p; at
            temperature 0 the point mass on the argmax, so 0), summed over tokens. The end-of-sequence token
            is scored as in :mod:`evalkit.likelihood`: the probability of drawing any of the end ids there.
            None without ``logprobs``.
        logprob_raw: The same under the raw model (softmax of the logits: temperature 1, no truncation).
    """

    token_ids: list[int]
    finish_reason: str
    logprob_sampler: float | None = None
    logprob_raw: float | None = None


def completion_text(tokenizer: Any, token_ids: Sequence[int], end_ids: Collection[int]) -> str:
    """The text of one generated row: the end-of-sequence token that ended it is not part of the text, even when
    it is an ordinary token that a ``generation_config`` lists as an end id (vLLM leaves it out as well); other
    special tokens are skipped."""
    ids = list(token_ids[:-1]) if token_ids and token_ids[-1] in end_ids else list(token_ids)
    return str(tokenizer.decode(ids, skip_special_tokens=True))


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer on int64 tensors (xorshift-multiply rounds; multipliers < 2**31 keep
    every product below 2**63, so nothing overflows)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x68E31DA5) & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x2C1B3C6D) & _MASK32
    return x ^ (x >> 15)


def gumbel_noise(seeds: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """Gumbel(0, 1) noise of shape (rows, vocab), a pure function of (seed, step, token)."""
    lo = seeds & _MASK32
    hi = (seeds >> 32) & _MASK32
    row = _hash32(lo ^ _hash32(hi + 0x3C6EF372))
    row = _hash32(row ^ ((step * 0x1B873593 + 0x165667B1) & _MASK32))
    tokens = torch.arange(vocab, device=seeds.device, dtype=torch.int64)
    h = _hash32(row[:, None] ^ ((tokens[None, :] * 0x27D4EB2F) & _MASK32))
    u = (h.to(torch.float64) + 0.5) / 4294967296.0
    return (-torch.log(-torch.log(u))).to(torch.float32)


def sampler_scores(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """Logits (rows, vocab) as the sampler draws from them at temperature > 0: divided by the temperature,
    then -inf outside top-k and outside the top-p nucleus (in that order). The sampler adds Gumbel noise to
    these; :mod:`evalkit.likelihood` takes their log-softmax, so both use one definition of the sampler."""
    scores = logits.float() / sampling.temperature
    if sampling.top_k and sampling.top_k < scores.shape[-1]:
        kth = torch.topk(scores, sampling.top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        # drop a token when the mass before it already reaches top_p (the first token always stays)
        drop_sorted = (torch.cumsum(probs, dim=-1) - probs) >= sampling.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    return scores


def choose_tokens(logits: torch.Tensor, seeds: torch.Tensor, step: int, sampling: SamplingConfig) -> torch.Tensor:
    """Pick one token per row from last-position logits (rows, vocab)."""
    return _choose(logits, seeds, step, sampling)[0]


def _choose(
    logits: torch.Tensor, seeds: torch.Tensor, step: int, sampling: SamplingConfig
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The chosen tokens (rows,) and the sampler's scores they were drawn from (None at temperature 0)."""
    if sampling.temperature == 0:
        return logits.float().argmax(dim=-1), None
    scores = sampler_scores(logits, sampling)
    return (scores + gumbel_noise(seeds, step, scores.shape[-1])).argmax(dim=-1), scores


def step_log_probs(
    logits: torch.Tensor,
    scores: torch.Tensor | None,
    tokens: torch.Tensor,
    ends: torch.Tensor | None,
    end_t: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities (rows,) of one step's drawn tokens under the sampler and under the raw model.

    Args:
        logits: (rows, vocab) raw logits.
        scores: (rows, vocab) the sampler's scores (:func:`sampler_scores`), or None for greedy decoding,
            whose distribution is the point mass on the drawn argmax (log-probability 0).
        tokens: (rows,) the drawn ids.
        ends: (rows,) bool, rows whose token is an end-of-sequence id (None: no row ended). Such a row is
            scored as the event "the sampler stops here": the log of the summed probability of every id in
            ``end_t``, as :mod:`evalkit.likelihood` scores its end marker.
        end_t: (ends,) the end-of-sequence ids.

    Returns:
        (sampler, raw), float64 tensors of shape (rows,).
    """
    raw_all = logits.float()
    raw_lse = torch.logsumexp(raw_all, dim=-1)
    raw = raw_all.gather(-1, tokens[:, None])[:, 0]
    if scores is None:
        sampler = torch.zeros_like(raw)
    else:
        lse = torch.logsumexp(scores, dim=-1)
        sampler = scores.gather(-1, tokens[:, None])[:, 0]
    if ends is not None and end_t.numel() > 1:
        raw = torch.where(ends, torch.logsumexp(raw_all[:, end_t], dim=-1), raw)
        if scores is not None:
            sampler = torch.where(ends, torch.logsumexp(scores[:, end_t], dim=-1), sampler)
    if scores is not None:
        sampler = sampler - lse
    return sampler.double(), (raw - raw_lse).double()


class _Stepper:
    """Calls the model with a cache it updates in place, under the keyword this transformers version
    uses (``cache`` in 5.x, ``past_key_values`` before), and returns last-position logits."""

    def __init__(self, model: Any) -> None:
        self.model = model
        params = inspect.signature(model.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.keep_kw = "logits_to_keep" if "logits_to_keep" in params else None

    def __call__(self, cache: Any, **inputs: torch.Tensor | None) -> torch.Tensor:
        kwargs: dict[str, Any] = {self.cache_kw: cache, "use_cache": True, **inputs}
        if self.keep_kw:
            kwargs[self.keep_kw] = 1
        return self.model(**kwargs).logits[:, -1, :]


class Workspace:
    """Buffers kept between decode calls, so that each batch reuses the memory of the last one.

    On CPU every fresh multi-megabyte tensor is new memory from the operating system that has to be
    faulted in page by page; a sampler that decodes thousands of batches of the same shape saves that
    cost by keeping its key/value buffers. Holds two buffers per model layer for keys and two for values
    (the largest batch's size); drop the object to free them. One decode call at a time may use it.
    """

    def __init__(self) -> None:
        self._flat: dict[str, torch.Tensor] = {}

    def take(self, slot: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor of ``shape`` with ``like``'s dtype and device, backed by the slot's buffer."""
        numel = 1
        for size in shape:
            numel *= size
        flat = self._flat.get(slot)
        if flat is None or flat.numel() < numel or flat.dtype != like.dtype or flat.device != like.device:
            flat = like.new_empty((numel,))
            self._flat[slot] = flat
        return flat[:numel].view(shape)


@functools.cache
def _buffer_layer_class() -> type | None:
    """A transformers cache layer that writes into a preallocated buffer instead of concatenating.

    transformers' ``DynamicLayer`` grows keys and values with ``torch.cat`` at every step, copying the
    whole cache each time. This layer allocates room for the prompt plus ``max_tokens`` once, writes each
    step's keys and values in place and hands attention a view of the filled part. Dropping finished rows
    compacts the buffer in place. Returns None on transformers versions without cache layers (before
    4.56); the decoder then uses the stock ``DynamicCache``.
    """
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None

    class BufferLayer(DynamicLayer):
        def __init__(self, capacity: int, workspace: Workspace, name: str) -> None:
            super().__init__()
            self.capacity = capacity
            self.workspace = workspace
            self.name = name
            self.generation = 0
            self.length = 0
            self.rows = 0
            self.k_buf: torch.Tensor | None = None
            self.v_buf: torch.Tensor | None = None

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            self.device = key_states.device
            self.is_initialized = True

        def _views(self) -> tuple[torch.Tensor, torch.Tensor]:
            assert self.k_buf is not None and self.v_buf is not None
            self.keys = self.k_buf[: self.rows, :, : self.length]
            self.values = self.v_buf[: self.rows, :, : self.length]
            return self.keys, self.values

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if self.k_buf is None or end > self.k_buf.shape[-2]:
                self._reallocate(key_states.shape[0], max(self.capacity, end), key_states, value_states)
            assert self.k_buf is not None and self.v_buf is not None
            self.k_buf[: self.rows, :, self.length : end] = key_states
            self.v_buf[: self.rows, :, self.length : end] = value_states
            self.length = end
            return self._views()

        def _fresh(
            self, shape: tuple[int, ...], like_k: torch.Tensor, like_v: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            # two generations per slot, so that the buffer being copied from is never the one written to
            self.generation += 1
            tag = f"{self.name}:{self.generation % 2}"
            return self.workspace.take("k" + tag, shape, like_k), self.workspace.take("v" + tag, shape, like_v)

        def _reallocate(self, rows: int, width: int, like_k: torch.Tensor, like_v: torch.Tensor) -> None:
            k_new, v_new = self._fresh((rows, like_k.shape[1], width, like_k.shape[3]), like_k, like_v)
            if self.k_buf is not None and self.v_buf is not None and self.length:
                k_new[:, :, : self.length] = self.k_buf[:rows, :, : self.length]
                v_new[:, :, : self.length] = self.v_buf[:rows, :, : self.length]
            self.k_buf, self.v_buf, self.rows = k_new, v_new, rows

        def get_seq_length(self) -> int:
            return self.length

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.k_buf is None or self.v_buf is None or not self.length:
                return
            picked_k = self.k_buf[indices, :, : self.length]  # advanced indexing copies
            picked_v = self.v_buf[indices, :, : self.length]
            rows = int(indices.shape[0])
            if rows > self.k_buf.shape[0]:  # a repeat (prefill shared by several rows): new buffer
                shape = (rows, *self.k_buf.shape[1:])
                self.k_buf, self.v_buf = self._fresh(shape, picked_k, picked_v)
            self.k_buf[:rows, :, : self.length] = picked_k
            self.v_buf[:rows, :, : self.length] = picked_v
            self.rows = rows
            self._views()

        def batch_repeat_interleave(self, repeats: int) -> None:
            device = self.k_buf.device if self.k_buf is not None else None
            self.batch_select_indices(torch.arange(self.rows, device=device).repeat_interleave(repeats))

        def crop(self, tokens_to_remove: int) -> None:
            raise NotImplementedError("evalkit's decoding cache is not croppable")

    return BufferLayer


def _new_cache(model: Any, capacity: int, workspace: Workspace | None) -> Any:
    """A cache for one decode call: buffer layers with room for ``capacity`` positions, or the stock
    ``DynamicCache`` where this transformers version has no cache layers."""
    from transformers import DynamicCache

    layer_cls = _buffer_layer_class()
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if layer_cls is None or not isinstance(n_layers, int):
        return DynamicCache()
    cache = DynamicCache()
    workspace = workspace if workspace is not None else Workspace()
    cache.layers = [layer_cls(capacity, workspace, str(i)) for i in range(n_layers)]
    return cache


@torch.no_grad()
def decode(
    model: Any,
    prompts: Sequence[Sequence[int]],
    seeds: Sequence[int],
    sampling: SamplingConfig,
    eos_id: int | Sequence[int],
    pad_id: int,
    stop_check: Any = None,
    workspace: Workspace | None = None,
    logprobs: bool = False,
) -> list[Generated]:
    """Decode one batch; row i starts from ``prompts[i]`` and uses ``seeds[i]``.

    Each distinct prompt is prefilled once; its keys and values are then copied to every row that
    starts from it. Distinct prompts of different lengths are left-padded.

    Args:
        model: A causal LM (transformers) in eval mode.
        prompts: Token ids per row (the tokenizer's special tokens included).
        seeds: One seed per row.
        sampling: Temperature, top-p, top-k, max tokens.
        eos_id: End-of-sequence token id, or several (instruct models list more than one in their
            ``generation_config``); generating any of them finishes a row with reason "stop".
        pad_id: Padding id for left padding when prompts differ.
        stop_check: Optional ``f(row_token_ids) -> bool`` saying that a stop string was produced.
        workspace: Buffers to reuse from earlier calls (see :class:`Workspace`); None allocates afresh.
        logprobs: Record each row's log-probability under the sampler and the raw model (see
            :class:`Generated`); the drawn tokens are the same either way.
    """
    step_fn = _Stepper(model)
    device = next(model.parameters()).device
    rows = len(prompts)
    seed_t = torch.tensor([s & ((1 << 63) - 1) for s in seeds], dtype=torch.int64, device=device)
    eos_ids = sorted({eos_id} if isinstance(eos_id, int) else set(eos_id))
    if not eos_ids:
        raise ValueError("decode: give at least one end-of-sequence id")
    eos_t = torch.tensor(eos_ids, dtype=torch.long, device=device)

    distinct: dict[tuple[int, ...], int] = {}
    row_map = torch.tensor([distinct.setdefault(tuple(p), len(distinct)) for p in prompts], device=device)
    width = max(len(p) for p in distinct)
    padded = any(len(p) != width for p in distinct)
    ids = torch.full((len(distinct), width), pad_id, dtype=torch.long, device=device)
    prompt_attn = torch.zeros((len(distinct), width), dtype=torch.long, device=device)
    for p, u in distinct.items():
        ids[u, width - len(p) :] = torch.tensor(p, dtype=torch.long, device=device)
        prompt_attn[u, width - len(p) :] = 1
    cache = _new_cache(model, width + sampling.max_tokens, workspace)
    if padded:
        pos = (prompt_attn.cumsum(-1) - 1).clamp(min=0)
        logits = step_fn(cache, input_ids=ids, attention_mask=prompt_attn, position_ids=pos)
    else:
        logits = step_fn(cache, input_ids=ids)
    cache.batch_select_indices(row_map)
    last_logits = logits[row_map]
    next_pos = prompt_attn.sum(-1)[row_map]  # position of the next token per row
    # the attention mask is only needed when some rows are left-padded; it is allocated at full width once
    attn: torch.Tensor | None = None
    if padded:
        attn = torch.ones((rows, width + sampling.max_tokens), dtype=torch.long, device=device)
        attn[:, :width] = prompt_attn[row_map]

    # generated tokens live in one tensor; a row's length is fixed when it finishes
    out = torch.zeros((rows, sampling.max_tokens), dtype=torch.long, device=device)
    lengths = torch.full((rows,), sampling.max_tokens, dtype=torch.long, device=device)
    stopped = torch.zeros(rows, dtype=torch.bool, device=device)
    alive = torch.arange(rows, device=device)  # original row index of each current batch row
    lp_sampler = torch.zeros(rows, dtype=torch.float64, device=device) if logprobs else None
    lp_raw = torch.zeros(rows, dtype=torch.float64, device=device) if logprobs else None
    for step in range(sampling.max_tokens):
        tokens, scores = _choose(last_logits, seed_t, step, sampling)
        out[alive, step] = tokens
        done = tokens == eos_t[0] if len(eos_ids) == 1 else torch.isin(tokens, eos_t)
        if lp_sampler is not None and lp_raw is not None:
            step_sampler, step_raw = step_log_probs(last_logits, scores, tokens, done, eos_t)
            lp_sampler[alive] += step_sampler
            lp_raw[alive] += step_raw
        if stop_check is not None:
            for j, row in enumerate(alive.tolist()):
                if not done[j] and stop_check(out[row, : step + 1].tolist()):
                    done[j] = True
        any_done = bool(done.any())
        if any_done:
            finished = alive[done]
            lengths[finished] = step + 1
            stopped[finished] = True
        if step == sampling.max_tokens - 1 or (any_done and bool(done.all())):
            break
        if any_done:
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            tokens, next_pos, seed_t, alive = tokens[keep], next_pos[keep], seed_t[keep], alive[keep]
            if attn is not None:
                attn = attn[keep]
        mask = None if attn is None else attn[:, : width + step + 1]
        last_logits = step_fn(cache, input_ids=tokens[:, None], attention_mask=mask, position_ids=next_pos[:, None])
        next_pos = next_pos + 1
    out_rows, length_list, stop_list = out.tolist(), lengths.tolist(), stopped.tolist()
    samp_list = lp_sampler.tolist() if lp_sampler is not None else [None] * rows
    raw_list = lp_raw.tolist() if lp_raw is not None else [None] * rows
    return [
        Generated(out_rows[i][: length_list[i]], "stop" if stop_list[i] else "length", samp_list[i], raw_list[i])
        for i in range(rows)
    ]
