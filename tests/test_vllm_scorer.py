"""The vLLM scorer rebuilds the sampler's distribution from the raw top-k log-probabilities vLLM returns:
checked against the transformers scorer's full-vocabulary computation on random logits (no engine needed;
the real engine is compared with the hf scorer in tests/test_vllm_backend.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.likelihood.scorer import END, sampler_log_probs
from evalkit.likelihood.vllm_scorer import Entry, position_logprob, prompt_logprobs_needed
from evalkit.sampling.base import SamplingConfig

VOCAB = 64


def _as_vllm(raw: torch.Tensor, token: int, top: int) -> dict[int, Entry]:
    """What vLLM returns for one position: the ``top`` most likely tokens and the token there, with ranks."""
    lp = torch.log_softmax(raw.double(), dim=-1)
    order = torch.argsort(lp, descending=True).tolist()
    rank = {t: r + 1 for r, t in enumerate(order)}
    keep = set(order[:top]) | {token}
    return {t: Entry(float(lp[t]), rank[t]) for t in keep}


SAMPLERS = [
    SamplingConfig(temperature=1.0),
    SamplingConfig(temperature=0.0),
    SamplingConfig(temperature=0.7, top_k=5),
    SamplingConfig(temperature=1.3, top_k=8, top_p=0.8),
    SamplingConfig(temperature=1.0, top_k=3, top_p=0.5),
    SamplingConfig(temperature=0.5, top_k=1),
]


@pytest.mark.parametrize("sampling", SAMPLERS, ids=lambda s: f"T{s.temperature}-k{s.top_k}-p{s.top_p}")
def test_token_log_probs_match_the_full_distribution(sampling: SamplingConfig) -> None:
    gen = torch.Generator().manual_seed(7)
    top = prompt_logprobs_needed(sampling)
    checked = 0
    for _ in range(200):
        raw = torch.randn(VOCAB, generator=gen) * 3
        token = int(torch.randint(VOCAB, (1,), generator=gen))
        if _ % 3 == 0:  # often a likely token, so that reachable ones are checked too
            token = int(torch.topk(raw, 3).indices[int(torch.randint(3, (1,), generator=gen))])
        expected = float(sampler_log_probs(raw[None, :], sampling)[0, token])
        got = position_logprob(_as_vllm(raw, token, top), token, sampling, ())
        if math.isinf(expected):
            assert got == expected
        else:
            assert got == pytest.approx(expected, abs=1e-5)
            checked += 1
    assert checked >= 20  # reachable tokens were compared, not only -inf ones


@pytest.mark.parametrize("sampling", SAMPLERS, ids=lambda s: f"T{s.temperature}-k{s.top_k}-p{s.top_p}")
def test_end_is_the_probability_of_any_end_id(sampling: SamplingConfig) -> None:
    gen = torch.Generator().manual_seed(11)
    top = prompt_logprobs_needed(sampling)
    for _ in range(100):
        raw = torch.randn(VOCAB, generator=gen) * 2
        ends = sorted({int(torch.argmax(raw)), 5}) if _ % 2 else [3, 5]  # distinct ids, as eos_token_ids gives
        full = sampler_log_probs(raw[None, :], sampling)[0]
        expected = float(torch.logsumexp(full[ends].double(), dim=-1))
        if top == 0:  # untruncated T = 1: one pass per end id, each with its own token
            parts = [position_logprob(_as_vllm(raw, e, top), e, sampling, ()) for e in ends]
            got = float(np.logaddexp.reduce(parts))
        else:
            got = position_logprob(_as_vllm(raw, ends[0], top), END, sampling, ends)
        assert got == pytest.approx(expected, abs=1e-5) if not math.isinf(expected) else got == expected


@pytest.mark.parametrize(
    "sampling", [SamplingConfig(temperature=0.7), SamplingConfig(temperature=1.0, top_p=0.9)], ids=["T0.7", "p0.9"]
)
def test_samplers_that_need_the_whole_vocabulary_are_refused(sampling: SamplingConfig) -> None:
    with pytest.raises(EvalkitError, match="score with --backend hf"):
        prompt_logprobs_needed(sampling)
