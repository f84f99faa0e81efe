"""Grouping unknown faces by embedding, so a user can name a whole group at once.

Average-linkage agglomerative clustering on cosine distance, stopped at ``threshold``: two groups merge
only while the mean distance between their members is at most the threshold, which does not chain
different people together the way single linkage does. Exact and O(n^2) in memory; above ``max_exact``
faces, a greedy leader pass (each face joins the nearest group centroid within the threshold) is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Cluster:
    members: list[int]
    """Indices (or ids, with ``ids=``) of the faces in this group, closest to the centre first."""
    centroid: np.ndarray = field(repr=False)
    spread: float
    """Mean cosine distance of the members to the centroid direction."""

    def __len__(self) -> int:
        return len(self.members)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cluster_embeddings(
    embeddings: np.ndarray,
    threshold: float,
    ids: Sequence[int] | None = None,
    min_size: int = 1,
    max_exact: int = 3000,
) -> list[Cluster]:
    """Group unit vectors whose average pairwise cosine distance stays within ``threshold``.

    Returns clusters largest first; clusters smaller than ``min_size`` are dropped.
    """
    emb = _unit(np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)) if len(embeddings) else np.zeros((0, 0), np.float32)
    n = len(emb)
    if n == 0:
        return []
    labels = _average_linkage(emb, threshold) if n <= max_exact else _leader(emb, threshold)
    ids = list(range(n)) if ids is None else list(ids)
    out = []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        if len(idx) < min_size:
            continue
        centre = _unit(emb[idx].mean(axis=0))
        d = 1.0 - emb[idx] @ centre
        order = np.argsort(d, kind="stable")
        out.append(Cluster([ids[i] for i in idx[order]], centre, float(d.mean())))
    out.sort(key=lambda c: (-len(c), c.spread))
    return out


def _average_linkage(emb: np.ndarray, threshold: float) -> np.ndarray:
    n = len(emb)
    dist = (1.0 - emb @ emb.T).astype(np.float64)
    np.fill_diagonal(dist, np.inf)
    sizes = np.ones(n)
    active = np.ones(n, bool)
    labels = np.arange(n)
    while True:
        flat = int(np.argmin(dist))
        i, j = divmod(flat, n)
        if not np.isfinite(dist[i, j]) or dist[i, j] > threshold:
            break
        # merge j into i: Lance-Williams update for average linkage
        new = (sizes[i] * dist[i] + sizes[j] * dist[j]) / (sizes[i] + sizes[j])
        dist[i, :], dist[:, i] = new, new
        dist[i, i] = np.inf
        dist[j, :], dist[:, j] = np.inf, np.inf
        sizes[i] += sizes[j]
        active[j] = False
        labels[labels == j] = i
    return labels


def _leader(emb: np.ndarray, threshold: float) -> np.ndarray:
    labels = np.full(len(emb), -1)
    centres: list[np.ndarray] = []
    sums: list[np.ndarray] = []
    for i, v in enumerate(emb):
        if centres:
            d = 1.0 - np.stack(centres) @ v
            k = int(np.argmin(d))
            if d[k] <= threshold:
                labels[i] = k
                sums[k] = sums[k] + v
                centres[k] = _unit(sums[k])
                continue
        labels[i] = len(centres)
        centres.append(v.copy())
        sums.append(v.copy())
    return labels
