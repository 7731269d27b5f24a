"""Batched autoregressive decoding with a KV cache and per-row, batch-independent randomness.

Every row carries its own 63-bit seed. The random draw for row b at step t over token v is a hash of
(seed_b, t, v) turned into Gumbel noise, and the sampled token is ``argmax(logits / T + noise)`` over the
tokens that survive top-k / top-p: an exact draw from the tempered, truncated softmax. Because the noise
depends only on the row's own seed, a sample's text does not depend on which other samples share its
batch, so an interrupted run that is resumed produces the same samples as an uninterrupted one (up to
floating-point differences between batch shapes).

Rows with the same prompt share one prefill (the prompt's KV cache is computed once and repeated);
finished rows are dropped from the batch as it shrinks. Different prompts are left-padded.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from evalkit.sampling.base import SamplingConfig

_MASK32 = 0xFFFFFFFF


@dataclass
class Generated:
    """One decoded row: generated token ids (end-of-sequence included) and why it stopped."""

    token_ids: list[int]
    finish_reason: str


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


def choose_tokens(logits: torch.Tensor, seeds: torch.Tensor, step: int, sampling: SamplingConfig) -> torch.Tensor:
    """Pick one token per row from last-position logits (rows, vocab)."""
    logits = logits.float()
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    scores = logits / sampling.temperature
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
    return (scores + gumbel_noise(seeds, step, scores.shape[-1])).argmax(dim=-1)


class _Stepper:
    """Calls the model with a cache it updates in place, under the keyword this transformers version
    uses (``cache`` in 5.x, ``past_key_values`` before), and returns last-position logits."""

    def __init__(self, model: Any) -> None:
        self.model = model
        params = inspect.signature(model.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.keep_kw = "logits_to_keep" if "logits_to_keep" in params else None

    def __call__(self, cache: Any, **inputs: torch.Tensor) -> torch.Tensor:
        kwargs: dict[str, Any] = {self.cache_kw: cache, "use_cache": True, **inputs}
        if self.keep_kw:
            kwargs[self.keep_kw] = 1
        return self.model(**kwargs).logits[:, -1, :]


@torch.no_grad()
def decode(
    model: Any,
    prompts: Sequence[Sequence[int]],
    seeds: Sequence[int],
    sampling: SamplingConfig,
    eos_id: int,
    pad_id: int,
    stop_check: Any = None,
) -> list[Generated]:
    """Decode one batch; row i starts from ``prompts[i]`` and uses ``seeds[i]``.

    Args:
        model: A causal LM (transformers) in eval mode.
        prompts: Token ids per row (the tokenizer's special tokens included).
        seeds: One seed per row.
        sampling: Temperature, top-p, top-k, max tokens.
        eos_id: End-of-sequence token id; generating it finishes a row with reason "stop".
        pad_id: Padding id for left padding when prompts differ.
        stop_check: Optional ``f(row_token_ids) -> bool`` saying that a stop string was produced.
    """
    from transformers import DynamicCache

    step_fn = _Stepper(model)
    device = next(model.parameters()).device
    rows = len(prompts)
    seed_t = torch.tensor([s & ((1 << 63) - 1) for s in seeds], dtype=torch.int64, device=device)
    cache = DynamicCache()
    if all(list(p) == list(prompts[0]) for p in prompts):
        ids = torch.tensor([list(prompts[0])], dtype=torch.long, device=device)
        logits = step_fn(cache, input_ids=ids)
        cache.batch_repeat_interleave(rows)
        last_logits = logits.expand(rows, -1)
        attn = torch.ones((rows, ids.shape[1]), dtype=torch.long, device=device)
    else:
        width = max(len(p) for p in prompts)
        ids = torch.full((rows, width), pad_id, dtype=torch.long, device=device)
        attn = torch.zeros((rows, width), dtype=torch.long, device=device)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(list(p), dtype=torch.long, device=device)
            attn[i, width - len(p) :] = 1
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        last_logits = step_fn(cache, input_ids=ids, attention_mask=attn, position_ids=pos)
    next_pos = attn.sum(-1)  # position of the next token per row

    # generated tokens live in one tensor; a row's length is fixed when it finishes
    out = torch.zeros((rows, sampling.max_tokens), dtype=torch.long, device=device)
    lengths = torch.full((rows,), sampling.max_tokens, dtype=torch.long, device=device)
    stopped = torch.zeros(rows, dtype=torch.bool, device=device)
    alive = torch.arange(rows, device=device)  # original row index of each current batch row
    for step in range(sampling.max_tokens):
        tokens = choose_tokens(last_logits, seed_t, step, sampling)
        out[alive, step] = tokens
        done = tokens == eos_id
        if stop_check is not None:
            for j, row in enumerate(alive.tolist()):
                if not done[j] and stop_check(out[row, : step + 1].tolist()):
                    done[j] = True
        if bool(done.any()):
            finished = alive[done]
            lengths[finished] = step + 1
            stopped[finished] = True
        if step == sampling.max_tokens - 1 or bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            tokens, attn, next_pos, seed_t, alive = tokens[keep], attn[keep], next_pos[keep], seed_t[keep], alive[keep]
        attn = torch.cat([attn, torch.ones((alive.shape[0], 1), dtype=torch.long, device=device)], dim=1)
        last_logits = step_fn(cache, input_ids=tokens[:, None], attention_mask=attn, position_ids=next_pos[:, None])
        next_pos = next_pos + 1
    out_rows, length_list, stop_list = out.tolist(), lengths.tolist(), stopped.tolist()
    return [Generated(out_rows[i][: length_list[i]], "stop" if stop_list[i] else "length") for i in range(rows)]
