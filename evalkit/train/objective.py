"""GRPO's objective, as plain tensor functions: group advantages, the k3 KL estimate, the clipped objective
with clip-higher, token log-probabilities, and the reference reset of ProRL.

Shapes: rewards (groups, G); log-probabilities and masks (rows, tokens - 1), one row per rollout.
Sources: GRPO (Shao et al., arXiv 2402.03300), DAPO's clip-higher (arXiv 2503.14476), ProRL's reference
resets (arXiv 2505.24864); the k3 estimator is Schulman's "Approximating KL divergence" (2020).
"""

from __future__ import annotations

from typing import Any

import torch


def group_advantages(rewards: torch.Tensor, scale_std: bool, eps: float = 1e-4) -> torch.Tensor:
    """Advantages for rewards of shape (groups, G): centred per group, optionally scaled by its std."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if scale_std:
        return centred / (rewards.std(dim=1, keepdim=True, unbiased=True) + eps)
    return centred


def k3_kl(ref_logp: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(policy || ref): exp(r) - r - 1 with r = ref_logp - logp (>= 0)."""
    r = ref_logp - logp
    return torch.exp(r) - r - 1


def clipped_objective(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, eps_low: float, eps_high: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token PPO surrogate to maximise, min(ratio * A, clip(ratio, 1-eps_low, 1+eps_high) * A),
    and masks of tokens clipped at the low and at the high bound."""
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    objective = torch.minimum(ratio * adv, clipped * adv)
    low = (ratio < 1 - eps_low) & (adv < 0)
    high = (ratio > 1 + eps_high) & (adv > 0)
    return objective, low, high


def token_logprobs(model: Any, ids: torch.Tensor, attn: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-probability of each token given the ones before it, under the softmax at ``temperature``.

    Args:
        model: A causal LM; called once on the whole batch (the caller picks train or eval mode).
        ids: Token ids, shape (rows, len).
        attn: Attention mask, shape (rows, len), 1 on real tokens.
        temperature: The sampling temperature the tokens were drawn at (> 0): the logits are divided by
            it before the log-softmax, the distribution :func:`evalkit.sampling.decode.choose_tokens`
            samples from when top-k and top-p are off.

    Returns:
        Shape (rows, len - 1): entry t is log p_T(ids[:, t + 1] | ids[:, : t + 1]).
    """
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
    if temperature != 1.0:
        logits = logits / temperature
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)


def reset_reference(policy: torch.nn.Module, reference: torch.nn.Module) -> None:
    """ProRL's hard reset, reference half: the reference becomes an exact copy of the current policy.
    The caller also replaces the optimizer, so that Adam's moments start fresh."""
    reference.load_state_dict(policy.state_dict())
