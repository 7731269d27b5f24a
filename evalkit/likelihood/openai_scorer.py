"""Teacher-forced scoring through an OpenAI-compatible server that returns prompt log-probabilities.

The OpenAI API itself has no way to score a given text (its completions endpoint no longer echoes prompt
log-probabilities). vLLM's server does, as an extension: ``POST /v1/completions`` with ``prompt_logprobs: k``
returns, for every prompt position, the log-probability of the token there, its rank and the top ``k``
alternatives, the same raw values as the offline engine's (:mod:`evalkit.likelihood.vllm_scorer`, whose
rebuilding of the sampler's distribution this module uses: exact for temperature 1 without top-k / top-p, any
sampler with top-k, and greedy; other samplers are refused). Token ids come from the server's ``/tokenize``
endpoint (prompt with its special tokens, completion without), so no local copy of the tokenizer is needed.

What the server does not say is which ids end a sequence, so the end of a completion is not scored: each
text's figure is the probability of the text as a prefix (``end`` in the results header says so). A server
without ``prompt_logprobs`` (OpenAI, most hosted APIs) answers with an error, turned into a one-line
EvalkitError saying that it cannot score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.likelihood.scorer import END, Scored
from evalkit.likelihood.vllm_scorer import Entry, Position, position_logprob, prompt_logprobs_needed
from evalkit.sampling.base import SamplingConfig
from evalkit.types import Problem

END_RULE = "not scored: an OpenAI-compatible server does not say which ids end a sequence (texts as prefixes)"


class OpenAIScorer:
    """Scores completions through a vLLM-compatible server (see the module docstring).

    Args:
        model: The served model name.
        base_url: ``http://HOST:PORT`` or ``http://HOST:PORT/v1``.
        api_key: Sent as a bearer token when given.

    Raises:
        EvalkitError: the server is unreachable or has no ``/tokenize`` endpoint.
    """

    def __init__(self, model: str, base_url: str, api_key: str | None = None) -> None:
        from evalkit.sampling.openai_backend import HTTPClient

        self.model = model
        self.client = HTTPClient(base_url, api_key)
        self.root = HTTPClient(base_url, api_key)  # /tokenize lives at the server's root, not under /v1
        self.root.base_url = self.client.base_url.removesuffix("/v1")
        self.end_ids: list[int] = []
        self.max_positions = int(self._tokenize("", True).get("max_model_len") or 0)

    def _tokenize(self, text: str, special: bool) -> dict[str, Any]:
        body = {"model": self.model, "prompt": text, "add_special_tokens": special}
        try:
            data = self.root.request("POST", "/tokenize", body, " (tokenizing for likelihood scoring)")
        except EvalkitError as exc:
            raise EvalkitError(
                f"{exc}; likelihood --backend openai needs a vLLM-compatible server (/tokenize, prompt_logprobs)"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise EvalkitError(f"{self.root.base_url}/tokenize: no token list in the answer; is it a vLLM server?")
        return data

    def prompt_ids(self, problem: Problem, identity: dict[str, Any]) -> list[int]:
        """The prompt's token ids as the server tokenizes it (the openai backend sends the raw prompt text).

        Raises:
            EvalkitError: for a run whose prompts were chat-formatted (the openai backend never does that).
        """
        if identity.get("prompt_format") not in (None, "raw"):
            raise EvalkitError("likelihood --backend openai: only raw prompts can be scored through a server")
        return [int(t) for t in self._tokenize(problem.prompt, True)["tokens"]]

    def target_ids(self, text: str, with_end: bool) -> list[int]:
        """The completion's token ids; the end is never scored here (``with_end`` is ignored: see END_RULE)."""
        return [int(t) for t in self._tokenize(text, False)["tokens"]]

    def score(self, prompt: Sequence[int], targets: Sequence[Sequence[int]], sampling: SamplingConfig) -> list[Scored]:
        """Log-probabilities of each target after ``prompt`` under ``sampling``, one request per target.

        Raises:
            EvalkitError: a sampler that cannot be rebuilt exactly, or a server that returns no prompt
                log-probabilities.
        """
        if not prompt:
            raise EvalkitError("likelihood: an empty prompt (no token to condition on)")
        top = prompt_logprobs_needed(sampling)
        out = []
        for target in targets:
            body = [int(t) for t in target if t != END]
            if not body:
                out.append(Scored(np.zeros(0)))
                continue
            positions = self._prompt_logprobs([*prompt, *body], top)
            start = len(prompt)
            lps = [position_logprob(positions[start + j], body[j], sampling, ()) for j in range(len(body))]
            out.append(Scored(np.array(lps, dtype=np.float64)))
        return out

    def _prompt_logprobs(self, ids: list[int], top: int) -> list[Position]:
        request = {"model": self.model, "prompt": ids, "max_tokens": 1, "temperature": 0, "prompt_logprobs": top}
        data = self.client.request("POST", "/completions", request, " (likelihood scoring)")
        try:
            raw = data["choices"][0]["prompt_logprobs"]
            positions: list[Position] = [
                {} if pos is None else {int(t): Entry(float(v["logprob"]), int(v["rank"])) for t, v in pos.items()}
                for pos in raw
            ]
        except (KeyError, IndexError, TypeError, ValueError):
            raise EvalkitError(
                f"{self.client.base_url}/completions: the server returned no prompt log-probabilities "
                "(prompt_logprobs is a vLLM extension; OpenAI's API cannot score a given text)"
            ) from None
        if len(positions) != len(ids):
            raise EvalkitError(
                f"{self.client.base_url}/completions: prompt log-probabilities of {len(positions)} of {len(ids)} tokens"
            )
        return positions

    def close(self) -> None:
        """Nothing to release (plain HTTP requests)."""
