"""Aligned face chips of datasets with one subject per photo (LFW style), for evaluation and training.

The face nearest the image centre is used. Where MTCNN finds none, detection is retried with lower
thresholds; photos still without a face are aligned with the mean landmark positions of the detected ones
(a fixed centre crop), or simply resized when nothing was detected at all. How each chip was made is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .alignment import Template, align
from .config import DetectorSettings
from .detection import DetectedFace, MTCNNDetector
from .geometry import FaceSelection, select_face

RETRY_DETECTOR = DetectorSettings(min_face_size=10, score_threshold=0.0, stage_thresholds=(0.4, 0.5, 0.5))


def resize_chip(rgb: np.ndarray, size: int) -> np.ndarray:
    """Pad an already-cropped face to a square (edge replicate) and resize it to ``size``."""
    import cv2

    h, w = rgb.shape[:2]
    s = max(h, w)
    top, left = (s - h) // 2, (s - w) // 2
    sq = cv2.copyMakeBorder(rgb, top, s - h - top, left, s - w - left, cv2.BORDER_REPLICATE)
    return cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA)


def central_face_chips(
    paths: Sequence[str],
    load: Callable[[str], np.ndarray],
    detect: Callable[[np.ndarray], list[DetectedFace]],
    template: Template,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """N x S x S x 3 chips and, for each, 'detected', 'retried' or 'fallback'.

    ``load(path)`` gives an RGB array, ``detect(rgb)`` the faces in it.
    """
    retry = MTCNNDetector(RETRY_DETECTOR)
    chips = np.zeros((len(paths), template.size, template.size, 3), np.uint8)
    how: list[str] = []
    relative: list[np.ndarray] = []
    misses: list[tuple[int, np.ndarray]] = []
    for i, path in enumerate(paths):
        rgb = load(path)
        size = np.array([rgb.shape[1], rgb.shape[0]], np.float32)
        faces, kind = detect(rgb), "detected"
        if not faces:
            faces, kind = retry.detect(rgb), "retried"
        if faces:
            face = select_face(faces, FaceSelection.CENTRAL, (rgb.shape[1], rgb.shape[0]))
            chips[i] = align(rgb, face.landmarks, template)
            relative.append(face.landmarks / size)
        else:
            misses.append((i, rgb))
            kind = "fallback"
        how.append(kind)
        if progress:
            progress(i + 1, len(paths))
    mean_lm = np.mean(relative, axis=0) if relative else None
    for i, rgb in misses:
        size = np.array([rgb.shape[1], rgb.shape[0]], np.float32)
        chips[i] = align(rgb, mean_lm * size, template) if mean_lm is not None else resize_chip(rgb, template.size)
    return chips, how
