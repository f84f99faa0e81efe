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

MAX_EXACT = 3000
"""Up to this many faces, exact average linkage (an n x n float64 matrix: 72 MB at 3,000); above, a leader pass."""


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
    max_exact: int = MAX_EXACT,
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
    """Merge the closest pair of groups until none is within ``threshold``.

    Each row's nearest column is cached, so a merge rescans only the rows that pointed at the merged
    groups instead of the whole matrix: the same merges, in the same order (ties included), as taking
    the argmin of the full matrix every time, at O(n) per merge for most rows.
    """
    n = len(emb)
    dist = (1.0 - emb @ emb.T).astype(np.float64)
    np.fill_diagonal(dist, np.inf)
    sizes = np.ones(n)
    labels = np.arange(n)
    row_arg = dist.argmin(axis=1)
    row_min = dist[np.arange(n), row_arg]
    while True:
        i = int(np.argmin(row_min))
        j = int(row_arg[i])
        if not np.isfinite(row_min[i]) or row_min[i] > threshold:
            break
        # merge j into i: Lance-Williams update for average linkage
        new = (sizes[i] * dist[i] + sizes[j] * dist[j]) / (sizes[i] + sizes[j])
        dist[i, :], dist[:, i] = new, new
        dist[i, i] = np.inf
        dist[j, :], dist[:, j] = np.inf, np.inf
        sizes[i] += sizes[j]
        labels[labels == j] = i
        row_min[j], row_arg[j] = np.inf, j
        # rows whose nearest group was i or j: rescan; the others: is the merged group now nearer?
        stale = np.flatnonzero((row_arg == i) | (row_arg == j))
        stale = np.union1d(stale, [i])
        col = dist[:, i]
        closer = (col < row_min) | ((col == row_min) & (i < row_arg))
        closer[stale] = False
        row_min[closer], row_arg[closer] = col[closer], i
        row_arg[stale] = dist[stale].argmin(axis=1)
        row_min[stale] = dist[stale, row_arg[stale]]
    return labels


def _leader(emb: np.ndarray, threshold: float) -> np.ndarray:
    """One pass: each face joins the nearest group centre within ``threshold``, or starts a group."""
    labels = np.full(len(emb), -1)
    centres = np.empty_like(emb)
    sums = np.empty_like(emb)
    k = 0
    for i, v in enumerate(emb):
        if k:
            d = 1.0 - centres[:k] @ v
            best = int(np.argmin(d))
            if d[best] <= threshold:
                labels[i] = best
                sums[best] += v
                centres[best] = _unit(sums[best])
                continue
        labels[i] = k
        centres[k] = v
        sums[k] = v
        k += 1
    return labels
