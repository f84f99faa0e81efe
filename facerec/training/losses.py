"""Triplet loss with online mining inside a P x K batch.

Distances are Euclidean between L2-normalised embeddings (``sqrt(2 - 2 cos)``, 0..2), as in FaceNet.
Miners return index triplets ``(anchor, positive, negative)`` so they can be tested on their own:

- ``batch_hard`` (Hermans et al. 2017): per anchor, the farthest positive and the nearest negative.
- ``semi_hard`` (Schroff et al. 2015): per anchor-positive pair, the nearest negative that is still
  farther than the positive (``d_ap < d_an``); if there is none, the farthest negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MINERS = ("semi-hard", "batch-hard")


def pairwise_distances(emb: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """N x N Euclidean distances between the rows of ``emb`` (normalised here)."""
    e = F.normalize(emb, dim=1)
    sq = (2.0 - 2.0 * (e @ e.t())).clamp_min(0.0)
    sq = sq.masked_fill(torch.eye(len(e), dtype=torch.bool, device=e.device), 0.0)
    # sqrt has an infinite gradient at 0 (the diagonal): keep the gradient finite there
    return torch.sqrt(sq + eps) * (sq > 0).to(sq.dtype)


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def mine_batch_hard(dist: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One triplet per anchor that has a positive and a negative in the batch."""
    pos, neg = _masks(labels)
    d = dist.detach()
    hardest_pos = torch.where(pos, d, torch.full_like(d, -1.0)).argmax(1)
    hardest_neg = torch.where(neg, d, torch.full_like(d, float("inf"))).argmin(1)
    valid = pos.any(1) & neg.any(1)
    a = torch.nonzero(valid).flatten()
    return a, hardest_pos[a], hardest_neg[a]


def mine_semi_hard(
    dist: torch.Tensor, labels: torch.Tensor, margin: float | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One triplet per anchor-positive pair (see the module docstring); ``margin`` is not needed to choose."""
    pos, neg = _masks(labels)
    d = dist.detach()
    a, p = torch.nonzero(pos, as_tuple=True)
    if len(a) == 0:
        empty = torch.zeros(0, dtype=torch.long, device=dist.device)
        return empty, empty, empty
    d_ap = d[a, p][:, None]
    d_an = d[a]
    negs = neg[a]
    farther = negs & (d_an > d_ap)
    inf = torch.full_like(d_an, float("inf"))
    semi = torch.where(farther, d_an, inf).argmin(1)
    easiest = torch.where(negs, d_an, torch.full_like(d_an, -1.0)).argmax(1)
    n = torch.where(farther.any(1), semi, easiest)
    keep = negs.any(1)
    return a[keep], p[keep], n[keep]


@dataclass
class TripletStats:
    loss: float
    triplets: int
    active: float
    """Fraction of the mined triplets that violate the margin (non-zero loss)."""
    d_ap: float
    d_an: float


def triplet_loss(
    emb: torch.Tensor, labels: torch.Tensor, margin: float = 0.2, miner: str = "semi-hard"
) -> tuple[torch.Tensor, TripletStats]:
    """Mean hinge ``max(0, d_ap - d_an + margin)`` over the mined triplets."""
    dist = pairwise_distances(emb)
    if miner == "batch-hard":
        a, p, n = mine_batch_hard(dist, labels)
    elif miner == "semi-hard":
        a, p, n = mine_semi_hard(dist, labels, margin)
    else:
        raise ValueError(f"unknown miner {miner!r}; choose from {', '.join(MINERS)}")
    if len(a) == 0:
        zero = emb.sum() * 0.0
        return zero, TripletStats(0.0, 0, 0.0, 0.0, 0.0)
    d_ap, d_an = dist[a, p], dist[a, n]
    hinge = F.relu(d_ap - d_an + margin)
    loss = hinge.mean()
    stats = TripletStats(
        float(loss.detach()), len(a), float((hinge > 0).float().mean()), float(d_ap.detach().mean()), float(d_an.detach().mean())
    )
    return loss, stats


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cos(student, teacher)``."""
    return (1.0 - F.cosine_similarity(student, teacher, dim=1)).mean()
