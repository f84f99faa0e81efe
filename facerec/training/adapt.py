"""Personalisation: fit a linear projection head on the user's own gallery with triplet loss, and keep it
only if cross-validated identification on the gallery improves.

Identification score (what cross-validation measures): each held-out sample is searched against the
remaining samples; it counts as correct when its nearest person is the right one *and* within the
identification threshold. The head starts at the identity matrix and is pulled back towards it, so a
small gallery cannot move the space far.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..geometry import l2_normalize
from ..personalisation import ProjectionHead, head_path

log = logging.getLogger(__name__)

MIN_PEOPLE, MIN_SAMPLES = 5, 3


@dataclass
class AdaptConfig:
    steps: int = 150
    lr: float = 5e-3
    margin: float = 0.2
    miner: str = "batch-hard"
    identity_weight: float = 1.0
    """Weight of ``||W - I||^2`` (keeps the head close to no change)."""
    folds: int = 5
    min_gain: float = 0.0
    """Keep the head only if cross-validated accuracy improves by more than this (fraction)."""
    seed: int = 0


@dataclass
class AdaptReport:
    people: int
    samples: int
    eligible_people: int
    baseline: float
    adapted: float
    kept: bool
    reason: str
    path: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def fit_head(emb: np.ndarray, labels: np.ndarray, cfg: AdaptConfig) -> np.ndarray:
    """A D x D projection trained with triplet loss on these unit embeddings (full batch)."""
    import torch

    from .losses import triplet_loss

    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.from_numpy(np.asarray(emb, np.float32))
    y = torch.from_numpy(np.asarray(labels, np.int64))
    d = x.shape[1]
    eye = torch.eye(d)
    w = (eye + 1e-3 * torch.randn(d, d, generator=g)).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=cfg.lr)
    for _ in range(cfg.steps):
        loss, _ = triplet_loss(x @ w, y, cfg.margin, cfg.miner)
        loss = loss + cfg.identity_weight * ((w - eye) ** 2).sum() / d
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy().astype(np.float32)


def distance_scale(raw: np.ndarray, adapted: np.ndarray, labels: np.ndarray, quantile: float = 0.01) -> float:
    """Factor for projected distances that puts the near tail of impostor (different-person) distances
    back where it was before projection, so a fixed threshold keeps its false-accept rate."""
    iu = np.triu_indices(len(labels), 1)
    diff = labels[iu[0]] != labels[iu[1]]
    if not diff.any():
        return 1.0
    d_raw = (1.0 - raw @ raw.T)[iu][diff]
    d_ad = (1.0 - adapted @ adapted.T)[iu][diff]
    q_ad = float(np.quantile(d_ad, quantile))
    return float(np.quantile(d_raw, quantile) / q_ad) if q_ad > 1e-6 else 1.0


def identification_hits(
    gallery: np.ndarray, g_labels: np.ndarray, probes: np.ndarray, p_labels: np.ndarray, threshold: float, scale: float = 1.0
) -> np.ndarray:
    """Per probe: nearest gallery person is the right one and within ``threshold`` (cosine distance x ``scale``)."""
    dist = (1.0 - probes @ gallery.T) * scale
    nearest = dist.argmin(1)
    return (g_labels[nearest] == p_labels) & (dist[np.arange(len(probes)), nearest] <= threshold)


def fold_assignment(labels: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold of each sample (-1: always in the gallery). Each person's samples are spread over the folds,
    and people with a single sample are never held out (they could not be found)."""
    rng = np.random.default_rng(seed)
    out = np.full(len(labels), -1, np.int64)
    for lab in np.unique(labels):
        ix = np.flatnonzero(labels == lab)
        if len(ix) < 2:
            continue
        ix = rng.permutation(ix)
        offset = int(rng.integers(folds))
        for j, i in enumerate(ix):
            out[i] = (j + offset) % folds
    return out


def cross_validate(emb: np.ndarray, labels: np.ndarray, threshold: float, cfg: AdaptConfig) -> tuple[float, float]:
    """(baseline, adapted) identification accuracy, k-fold over samples; the head is fitted per fold
    on the gallery side only."""
    emb = l2_normalize(np.asarray(emb, np.float32))
    fold = fold_assignment(labels, cfg.folds, cfg.seed)
    base_hits, adapted_hits = [], []
    for k in range(cfg.folds):
        test = fold == k
        train = ~test
        if not test.any():
            continue
        # a held-out sample whose person has no gallery sample left cannot be identified either way
        base_hits.append(identification_hits(emb[train], labels[train], emb[test], labels[test], threshold))
        w = fit_head(emb[train], labels[train], cfg)
        g = l2_normalize(emb[train] @ w)
        scale = distance_scale(emb[train], g, labels[train])
        adapted_hits.append(identification_hits(g, labels[train], l2_normalize(emb[test] @ w), labels[test], threshold, scale))
    if not base_hits:
        return float("nan"), float("nan")
    return float(np.mean(np.concatenate(base_hits))), float(np.mean(np.concatenate(adapted_hits)))


def adapt_gallery(
    emb: np.ndarray, labels: np.ndarray, model_id: str, threshold: float, db_path: str | Path, cfg: AdaptConfig | None = None
) -> AdaptReport:
    """Cross-validate a head on these (raw) gallery embeddings; fit and save it if it helps."""
    cfg = cfg or AdaptConfig()
    labels = np.asarray(labels)
    counts = np.bincount(np.unique(labels, return_inverse=True)[1]) if len(labels) else np.zeros(0, int)
    eligible = int(np.sum(counts >= MIN_SAMPLES))
    n_people = int(len(counts))
    if eligible < MIN_PEOPLE:
        return AdaptReport(n_people, len(labels), eligible, float("nan"), float("nan"), False,
                           f"needs at least {MIN_PEOPLE} people with {MIN_SAMPLES}+ samples; the gallery has {eligible}")
    base, adapted = cross_validate(emb, labels, threshold, cfg)
    if not adapted > base + cfg.min_gain:
        return AdaptReport(n_people, len(labels), eligible, base, adapted, False,
                           "cross-validated identification did not improve; the gallery is left as it is")
    raw = l2_normalize(np.asarray(emb, np.float32))
    w = fit_head(raw, labels, cfg)
    scale = distance_scale(raw, l2_normalize(raw @ w), labels)
    meta = {"baseline": base, "adapted": adapted, "threshold": threshold, "people": n_people, "samples": int(len(labels)), "config": asdict(cfg)}
    path = ProjectionHead(w, model_id, meta, scale).save(head_path(db_path, model_id))
    return AdaptReport(n_people, len(labels), eligible, base, adapted, True, "cross-validated identification improved", str(path))


def revert(db_path: str | Path, model_id: str) -> bool:
    """Delete the gallery's head for this model; True if there was one."""
    path = head_path(db_path, model_id)
    if path.exists():
        path.unlink()
        return True
    return False


def adapt_store(store, analyzer, cfg: AdaptConfig | None = None) -> AdaptReport:
    """Personalise matching for the gallery in ``store`` (the embedder of ``analyzer``): the CLI's and the
    GUI's one entry point. Fits on the raw sample vectors, even when a head is already in place."""
    from ..threads import require_torch
    from ..personalisation import AdaptedGalleryIndex

    require_torch("personalisation (facerec adapt)")

    index = store.gallery_index(analyzer.model_id)
    if isinstance(index, AdaptedGalleryIndex):
        index = index.raw
    emb = index.embeddings if len(index) else np.zeros((0, analyzer.embedder.dim), np.float32)
    return adapt_gallery(emb, index.sample_person, analyzer.model_id, analyzer.threshold, store.path, cfg or AdaptConfig())
