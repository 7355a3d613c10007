"""Contrastive losses of the ranker, with the negatives they may use.

All losses take cosine similarities between each text and candidate answers and return one
loss per text ``(B,)``; the caller weights and averages them. Negatives are drawn from (or
scored against) the *answer table* — every emoji the model is trained to answer — never from
the batch, because with a small closed answer set in-batch "negatives" are often the
positive's own class. ``allowed`` masks out the positive itself and every emoji sharing its
base key (skin-tone variants, other drawings of the same emoji).

Shapes: ``B`` texts, ``N`` answers in the table, ``K`` sampled negatives per text.

Example:
    >>> import torch
    >>> cos = torch.tensor([[0.9, 0.8, -0.1]])
    >>> hinge_loss(cos[:, 0], cos[:, 1:2], margin=0.2)
    tensor([0.1000])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def negative_mask(targets: torch.Tensor, base_ids: torch.Tensor) -> torch.Tensor:
    """Which answers may serve as negatives for each text.

    Args:
        targets: ``(B,)`` index of each text's answer in the table.
        base_ids: ``(N,)`` id of each answer's base emoji (equal for skin-tone variants).

    Returns:
        ``(B, N)`` bool, False for the positive and every answer with the same base.
    """
    return base_ids[None, :] != base_ids[targets][:, None]


def sample_negatives(allowed: torch.Tensor, k: int, generator: torch.Generator | None = None,
                     weights: torch.Tensor | None = None) -> torch.Tensor:
    """Draw ``k`` negatives per text, with replacement, among the allowed answers.

    Args:
        allowed: ``(B, N)`` bool from :func:`negative_mask`; each row needs a True.
        k: negatives per text.
        generator: source of randomness.
        weights: optional ``(B, N)`` non-negative sampling weights (hard negatives).

    Returns:
        ``(B, K)`` int64 answer indices.
    """
    w = allowed.float() if weights is None else weights.clamp_min(0) * allowed
    w = torch.where(w.sum(1, keepdim=True) > 0, w, allowed.float())
    return torch.multinomial(w, k, replacement=True, generator=generator)


def hinge_loss(pos: torch.Tensor, neg: torch.Tensor, margin: float = 0.2,
               neg_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The seed's hinge ``max(0, margin − cos(q, a⁺) + cos(q, a⁻))``, mean over negatives.

    Args:
        pos: ``(B,)`` cosine of each text with its answer.
        neg: ``(B,)`` or ``(B, K)`` cosines with wrong answers.
        margin: required gap (the seed: 0.2).
        neg_mask: optional ``(B, K)`` bool, which negatives count.

    Returns:
        ``(B,)`` loss per text.

    Example:
        >>> hinge_loss(torch.tensor([0.5]), torch.tensor([0.1]))
        tensor([0.])
    """
    if neg.ndim == 1:
        neg = neg[:, None]
    per = F.relu(margin - pos[:, None] + neg)  # (B, K)
    if neg_mask is None:
        return per.mean(1)
    m = neg_mask.float()
    return (per * m).sum(1) / m.sum(1).clamp_min(1.0)


def info_nce(cos: torch.Tensor, targets: torch.Tensor, temperature: float = 0.05,
             allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax cross-entropy over the whole answer table (InfoNCE), scaled by a temperature.

    Args:
        cos: ``(B, N)`` cosine of every text with every answer of the table.
        targets: ``(B,)`` index of the right answer.
        temperature: logits are ``cos / temperature``.
        allowed: optional ``(B, N)`` negatives mask; disallowed answers (variants of the
            positive) are removed from the softmax. The positive itself is always kept.

    Returns:
        ``(B,)`` loss per text.

    Example:
        >>> info_nce(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), temperature=1.0)
        tensor([0.3133])
    """
    logits = cos / temperature
    if allowed is not None:
        keep = allowed.clone()
        keep[torch.arange(len(targets)), targets] = True
        logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)
    return F.cross_entropy(logits, targets, reduction="none")


def soft_cross_entropy(cos: torch.Tensor, soft: torch.Tensor, temperature: float = 0.05
                       ) -> torch.Tensor:
    """Cross-entropy of the softmax over the answer table with soft answers (knowledge
    distillation: the teachers' answers, :func:`emojiqa.train_ranker.distill_targets`).

    Args:
        cos: ``(B, N)`` cosine of every text with every answer of the table.
        soft: ``(B, N)`` probabilities over the same answers; each row is renormalised to sum
            to 1 (a row cut to the answers scored this step).
        temperature: logits are ``cos / temperature``.

    Returns:
        ``(B,)`` loss per text: ``-sum_j p_j log softmax(cos / temperature)_j``.

    Example:
        >>> soft_cross_entropy(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]), 1.0)
        tensor([0.3133])
    """
    p = soft / soft.sum(1, keepdim=True)
    return -(p * torch.log_softmax(cos / temperature, dim=1)).sum(1)


def hard_negative_weights(latents: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Sampling weights that favour answers close in VAE latent space (e.g. 😀 for 😃).

    Args:
        latents: ``(N, L)`` standardised VAE codes of the answer table.
        temperature: softness; smaller picks nearer neighbours.

    Returns:
        ``(N, N)`` weights, row ``i`` for texts whose answer is ``i`` (diagonal zero).
    """
    z = F.normalize(latents.float(), dim=1)
    w = torch.softmax(z @ z.T / temperature, dim=1)
    return w.fill_diagonal_(0.0)


def ranking_loss(kind: str, cos: torch.Tensor, targets: torch.Tensor, allowed: torch.Tensor, *,
                 margin: float = 0.2, temperature: float = 0.05, num_negatives: int = 1,
                 generator: torch.Generator | None = None,
                 hard_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Dispatch to a loss by name: ``hinge`` (k random wrong answers, the seed with k = 1),
    ``hinge_all`` (every allowed wrong answer) or ``infonce``.

    Args:
        kind: ``"hinge"``, ``"hinge_all"`` or ``"infonce"``.
        cos: ``(B, N)`` cosines with the answer table.
        targets: ``(B,)`` right answers.
        allowed: ``(B, N)`` negatives mask.
        hard_weights: ``(N, N)`` from :func:`hard_negative_weights` to sample hard negatives.

    Returns:
        ``(B,)`` loss per text.
    """
    pos = cos.gather(1, targets[:, None])[:, 0]  # (B,)
    if kind == "hinge":
        w = hard_weights[targets] if hard_weights is not None else None
        idx = sample_negatives(allowed, num_negatives, generator, w)  # (B, K)
        return hinge_loss(pos, cos.gather(1, idx), margin)
    if kind == "hinge_all":
        return hinge_loss(pos, cos, margin, neg_mask=allowed)
    if kind == "infonce":
        return info_nce(cos, targets, temperature, allowed)
    raise ValueError(f"unknown loss {kind!r}; choose hinge, hinge_all or infonce")
