"""Teacher-forced likelihood of stored completions under a model's sampling distribution.

How far outside the base model's reach is a solution that only the RL model found? pass@k can only say
"the base never produced it in n samples". This module scores the RL run's correct completions under the
base checkpoint (and the base run's under the RL checkpoint), token by token, as the sampler would have
produced them (Yue et al. 2025, arXiv 2504.13837, measure the same with the base's perplexity of RL
responses):

- **The sampling distribution, not the raw softmax.** Each token's probability is the one evalkit's hf
  sampler draws it with (:func:`evalkit.sampling.decode.choose_tokens`): logits divided by the temperature,
  top-k (ties with the k-th score kept) and top-p (a token is dropped when the mass before it already
  reaches top-p; the first token always stays) applied, then the softmax over what is left. A token
  outside the top-k / top-p set has probability 0: *unreachable by this sampler*. Its log-probability is
  ``-inf``; the completion's total is then ``-inf`` (stored as null), and the number of such tokens is
  counted. Temperature 0 is greedy: log-probability 0 for the argmax token, ``-inf`` for any other.
- **What is scored.** The prompt exactly as the run's manifest says it was formatted, then the completion
  text re-tokenized (``add_special_tokens=False``), then the end-of-sequence token when the completion
  stopped (finish reason "stop") and the run had no stop strings. With stop strings the stored text is cut
  before the stop string, so no end is scored: the result is the probability of the text as a prefix. A
  text whose re-tokenization differs from the tokens the sampler drew gets the probability of its
  canonical tokenization, a lower bound on the probability of the text.
- **What it means.** ``p`` = exp(total) is the probability that one sample of the model is exactly this
  text; ``1/p`` is the expected number of samples before it produces exactly this text (geometric). It is a
  statement about this text only: other correct solutions may exist, so the model may solve the problem
  much sooner. For long completions every exact text has a tiny probability, even the model's own
  samples; the mean log-probability per token (perplexity) is stored beside the total for that reason.
- **Memory.** Rows of one problem share one prompt prefill; rows are batched so that rows x tokens per
  forward stays under ``max_batch_tokens``, and a completion longer than that is fed in segments through the
  key/value cache; log-probabilities are computed from the logits in slices of at most ``logit_bytes``, so a
  16k-token completion under a 150k-token vocabulary never holds its whole logit matrix.

Results live in the scored run's directory, ``RUN/likelihood/under-<model hash>.jsonl``: a header line
(model, sampling configuration, run fingerprint) and one record per problem (:func:`score_run`), rewritten
atomically every few seconds, so an interrupted run resumes where it stopped and never holds a torn file.

Backends (``--backend``): ``hf``, transformers on CPU or CUDA, exact under any sampler
(:mod:`.scorer`); ``vllm``, the offline engine's ``prompt_logprobs`` (:mod:`.vllm_scorer`), and ``openai``, a
vLLM-compatible server's ``prompt_logprobs`` extension with its ``/tokenize`` endpoint (:mod:`.openai_scorer`).
Prompt log-probabilities are the raw softmax, so those two rebuild the sampler's distribution exactly only for
temperature 1 without top-k / top-p, any sampler with top-k, and greedy, and refuse the others; a server does not
say which ids end a sequence, so ``openai`` scores texts as prefixes. OpenAI's own API and most hosted APIs
return no prompt log-probabilities and cannot score a given text (a one-line error says so).
"""

from __future__ import annotations

from evalkit.likelihood.run import LikelihoodRequest, print_result, read_results, results_path, score_run
from evalkit.likelihood.scorer import END, Scored, Scorer, sampler_log_probs

__all__ = [
    "END",
    "LikelihoodRequest",
    "Scored",
    "Scorer",
    "print_result",
    "read_results",
    "results_path",
    "sampler_log_probs",
    "score_run",
]
