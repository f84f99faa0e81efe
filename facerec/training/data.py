"""Training data: aligned face chips of a folder-of-identities dataset, made once and cached.

Layout: ``DIR/<identity>/<image>``. Each image goes through the real pipeline once (MTCNN, the face
nearest the centre, similarity alignment to the embedder's template, retry with lower detector
thresholds, fallback to the mean landmarks) and the chips are cached as one uint8 ``.npy`` file with a
``.npz`` index beside it, so epochs never re-detect. ``mode="resize"`` skips detection for datasets that
are already cropped faces (e.g. AT&T/ORL): the image is padded to a square and resized.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..alignment import ARCFACE_112, Template
from ..chips import central_face_chips, resize_chip
from ..imaging import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)


@dataclass
class ChipSet:
    """Aligned chips with their identity labels (indices into ``names``)."""

    chips: np.ndarray
    """N x S x S x 3 uint8 RGB (possibly a read-only memory map)."""
    labels: np.ndarray
    """N int64."""
    names: list[str]
    paths: list[str]
    how: list[str]
    """'detected', 'retried', 'fallback' or 'resized', per chip."""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, identities: Sequence[str]) -> ChipSet:
        """Only the chips of these identities (labels renumbered)."""
        keep_names = [n for n in self.names if n in set(identities)]
        remap = {self.names.index(n): i for i, n in enumerate(keep_names)}
        idx = np.array([i for i, lab in enumerate(self.labels) if int(lab) in remap], dtype=np.int64)
        return ChipSet(
            self.chips[idx] if len(idx) else self.chips[:0],
            np.array([remap[int(self.labels[i])] for i in idx], dtype=np.int64),
            keep_names,
            [self.paths[i] for i in idx],
            [self.how[i] for i in idx],
        )

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.names))


def scan_identities(root: Path, min_images: int = 1, names: Sequence[str] | None = None) -> dict[str, list[str]]:
    """identity -> sorted image paths for the identity folders under ``root``."""
    root = Path(root)
    wanted = set(names) if names is not None else None
    out: dict[str, list[str]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is not None and d.name not in wanted:
            continue
        imgs = sorted(str(p) for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if len(imgs) >= min_images:
            out[d.name] = imgs
    return out



def make_chips(
    identities: dict[str, list[str]],
    template: Template = ARCFACE_112,
    mode: str = "align",
    progress: Callable[[int, int], None] | None = None,
) -> ChipSet:
    """Detect, align and crop every image once (``mode`` 'align' runs MTCNN; 'resize' does not)."""
    from ..config import Settings
    from ..detection import MTCNNDetector
    from ..imaging import load_image

    names = sorted(identities)
    items = [(n, p) for n in names for p in identities[n]]
    labels = np.array([names.index(n) for n, _ in items], dtype=np.int64)
    paths = [p for _, p in items]
    if mode == "resize":
        chips = np.zeros((len(items), template.size, template.size, 3), np.uint8)
        for i, path in enumerate(paths):
            chips[i] = resize_chip(load_image(path).rgb, template.size)
            if progress:
                progress(i + 1, len(items))
        how = ["resized"] * len(items)
    else:
        detector = MTCNNDetector(Settings().detector)
        chips, how = central_face_chips(paths, lambda p: load_image(p).rgb, detector.detect, template, progress)
    return ChipSet(chips, labels, names, [p for _, p in items], how)


def cache_key(identities: dict[str, list[str]], template: Template, mode: str) -> str:
    h = hashlib.sha1()
    for n in sorted(identities):
        h.update(n.encode())
        for p in identities[n]:
            h.update(p.encode())
    h.update(f"{template.name}|{template.size}|{mode}".encode())
    return h.hexdigest()[:16]


def save_chips(chipset: ChipSet, stem: Path) -> None:
    """``stem.npy`` (chips) and ``stem.npz`` (labels, names, paths, how)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    tmp = stem.with_name(stem.name + ".part.npy")
    np.save(tmp, chipset.chips)
    np.savez(
        stem.with_suffix(".npz"),
        labels=chipset.labels,
        names=np.array(chipset.names),
        paths=np.array(chipset.paths),
        how=np.array(chipset.how),
    )
    tmp.replace(stem.with_suffix(".npy"))


def load_chips(stem: Path, mmap: bool = True) -> ChipSet:
    meta = np.load(stem.with_suffix(".npz"), allow_pickle=False)
    chips = np.load(stem.with_suffix(".npy"), mmap_mode="r" if mmap else None)
    return ChipSet(chips, meta["labels"].astype(np.int64), [str(n) for n in meta["names"]], [str(p) for p in meta["paths"]], [str(h) for h in meta["how"]])


def cached_chips(
    identities: dict[str, list[str]],
    cache_dir: Path,
    template: Template = ARCFACE_112,
    mode: str = "align",
    progress: Callable[[int, int], None] | None = None,
) -> ChipSet:
    """The chips of these images, from ``cache_dir`` when made before, else made now and cached."""
    stem = Path(cache_dir) / f"chips-{mode}-{template.size}-{cache_key(identities, template, mode)}"
    if stem.with_suffix(".npy").is_file() and stem.with_suffix(".npz").is_file():
        log.info("using cached chips %s", stem.with_suffix(".npy"))
        return load_chips(stem)
    log.info("making %d chips (%s) into %s", sum(map(len, identities.values())), mode, stem)
    cs = make_chips(identities, template, mode, progress)
    save_chips(cs, stem)
    log.info("chips: %s", json.dumps({k: cs.how.count(k) for k in sorted(set(cs.how))}))
    return cs
