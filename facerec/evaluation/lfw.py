"""Labeled Faces in the Wild through the full pipeline (MTCNN, alignment, embedder).

``pairs.txt`` (View 2): first line ``10 300``, then 10 folds of 300 same-person lines (``name i j``) and
300 different-person lines (``name1 i name2 j``). For each fold the threshold is the one with the best
accuracy on the other nine folds, and accuracy is measured on the held-out fold.

LFW images are 250x250 with the subject centred; when MTCNN finds several faces the one nearest the
centre is used. When it finds none, detection is retried with lower thresholds; images still without a
face are aligned with the mean landmark positions of the detected ones (a fixed centre crop), and counted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, field
from pathlib import Path

import numpy as np

from ..chips import central_face_chips
from ..config import data_dir
from ..imaging import LoadedImage
from ..pipeline import FaceAnalyzer

log = logging.getLogger(__name__)


@dataclass
class Pair:
    a: str
    b: str
    same: bool


def lfw_image(root: Path, name: str, index: int) -> Path:
    return root / name / f"{name}_{index:04d}.jpg"


def parse_pairs(pairs_file: Path, root: Path | None = None) -> list[list[Pair]]:
    """The 10 folds of ``pairs.txt`` as lists of ``Pair`` (image paths relative to ``root``)."""
    root = root or pairs_file.parent
    lines = [ln.split() for ln in pairs_file.read_text().splitlines() if ln.strip()]
    n_folds, n = int(lines[0][0]), int(lines[0][1])
    rows = lines[1:]
    if len(rows) != n_folds * 2 * n:
        raise ValueError(f"{pairs_file}: expected {n_folds * 2 * n} pairs, found {len(rows)}")
    folds = []
    for k in range(n_folds):
        fold = []
        for r in rows[k * 2 * n : (k + 1) * 2 * n]:
            if len(r) == 3:
                fold.append(Pair(str(lfw_image(root, r[0], int(r[1]))), str(lfw_image(root, r[0], int(r[2]))), True))
            elif len(r) == 4:
                fold.append(Pair(str(lfw_image(root, r[0], int(r[1]))), str(lfw_image(root, r[2], int(r[3]))), False))
            else:
                raise ValueError(f"{pairs_file}: malformed line {' '.join(r)!r}")
        folds.append(fold)
    return folds


def list_identities(root: Path) -> dict[str, list[str]]:
    """name -> sorted image paths, for every identity folder under ``root``."""
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = sorted(str(p) for p in d.glob("*.jpg"))
        if imgs:
            out[d.name] = imgs
    return out



@dataclass
class EmbeddingSet:
    """Embeddings of a list of images, with how each face was found."""

    model_id: str
    paths: list[str]
    embeddings: np.ndarray
    how: list[str]
    """'detected', 'retried' (found with lower detector thresholds) or 'fallback' (mean landmarks)."""
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {p: i for i, p in enumerate(self.paths)}

    def get(self, path: str) -> np.ndarray:
        return self.embeddings[self.index[path]]

    def counts(self) -> dict[str, int]:
        return {k: self.how.count(k) for k in ("detected", "retried", "fallback")}


def embed_images(
    analyzer: FaceAnalyzer,
    paths: Iterable[str],
    progress: Callable[[int, int], None] | None = None,
    cache: Path | None = None,
    embed_progress: Callable[[int, int], None] | None = None,
) -> EmbeddingSet:
    """Embed the central face of each image (LFW-style), caching the result in an ``.npz`` file. ``progress(i, n)``
    follows detection and alignment, image by image; ``embed_progress(done, n)`` then follows the embedding of
    the n chips, batch by batch (the longer part with a large model)."""
    paths = list(dict.fromkeys(paths))
    model_id = getattr(analyzer.embedder, "cache_id", analyzer.model_id)  # weights and how they are applied (flip)
    found_by = _found_by(analyzer)
    if cache is None:
        key = hashlib.sha1(("\n".join(paths) + model_id + found_by).encode()).hexdigest()[:16]
        cache = data_dir() / "cache" / f"lfw-{model_id}-{key}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        cached = {p: i for i, p in enumerate(z["paths"].tolist())}
        same_faces = "found_by" in z.files and str(z["found_by"]) == found_by
        if str(z["model_id"]) == model_id and same_faces and all(p in cached for p in paths):
            log.info("using cached embeddings %s", cache)
            rows = [cached[p] for p in paths]
            return EmbeddingSet(model_id, paths, z["embeddings"][rows], [str(h) for h in z["how"][rows]])
    chips, how = central_face_chips(
        paths, lambda p: analyzer.load(p).rgb, lambda rgb: analyzer.detect(LoadedImage.from_array(rgb)), analyzer.embedder.template, progress
    )
    parts = []
    for i in range(0, len(chips), 256):
        parts.append(analyzer.embedder.embed(chips[i : i + 256]))
        if embed_progress:
            embed_progress(min(i + 256, len(chips)), len(chips))
    emb = np.concatenate(parts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=np.array(paths), embeddings=emb, how=np.array(how), model_id=np.array(model_id), found_by=np.array(found_by))
    return EmbeddingSet(model_id, paths, emb, how)


def _found_by(analyzer: FaceAnalyzer) -> str:
    """What decides which face of an image is embedded, and where: the detector's settings, the decoding size and
    the version of MTCNN's graphs. Cached vectors found otherwise are not reused (a detector setting changed since
    would otherwise go unnoticed in the figures)."""
    from ..mtcnn_nets import BUILDER_VERSION

    return f"{astuple(analyzer.settings.detector)} decode {analyzer.settings.decode_max_side} mtcnn {BUILDER_VERSION}"


@dataclass
class VerificationResult:
    accuracies: list[float]
    thresholds: list[float]
    mean: float
    std: float
    how: dict[str, int]


def best_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold with the highest accuracy on these pairs (midpoints between sorted distances)."""
    order = np.argsort(dist)
    d, s = dist[order], same[order].astype(np.int64)
    # accept pairs with distance <= t: correct = same accepted + different rejected
    same_below = np.cumsum(s)
    diff_above = (len(s) - s.sum()) - np.cumsum(1 - s)
    acc = same_below + diff_above
    i = int(np.argmax(acc))
    return float((d[i] + d[i + 1]) / 2) if i + 1 < len(d) else float(d[i] + 1e-6)


def verify_folds(folds: list[list[Pair]], emb: EmbeddingSet) -> VerificationResult:
    """Standard 10-fold LFW verification accuracy with a per-fold threshold from the other folds."""
    dists, sames = [], []
    for fold in folds:
        a = np.stack([emb.get(p.a) for p in fold])
        b = np.stack([emb.get(p.b) for p in fold])
        dists.append(1.0 - np.sum(a * b, axis=1))
        sames.append(np.array([p.same for p in fold]))
    accs, thrs = [], []
    for k in range(len(folds)):
        train_d = np.concatenate([d for j, d in enumerate(dists) if j != k])
        train_s = np.concatenate([s for j, s in enumerate(sames) if j != k])
        t = best_threshold(train_d, train_s)
        accs.append(float(np.mean((dists[k] <= t) == sames[k])))
        thrs.append(t)
    return VerificationResult(accs, thrs, float(np.mean(accs)), float(np.std(accs)), emb.counts())


def tar_at_far(dist_same: np.ndarray, dist_diff: np.ndarray, far: float) -> tuple[float, float]:
    """True-accept rate at the threshold where the false-accept rate is at most ``far``; (tar, threshold)."""
    d = np.sort(dist_diff)
    k = int(np.floor(far * len(d)))  # this many impostors may be accepted
    t = float(d[k]) - 1e-6 if k < len(d) else float(d[-1])
    return float(np.mean(dist_same <= t)), t
