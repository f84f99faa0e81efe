"""Face alignment: a similarity transform (rotation, uniform scale, translation) from the 5 detected
landmarks to an embedder's landmark template, then a warp to the embedder's input size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Template:
    """Where an embedder expects the 5 landmarks (eyes, nose, mouth corners) in its input chip."""

    name: str
    size: int
    points: tuple[tuple[float, float], ...]

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64)


ARCFACE_112 = Template(
    "arcface-112",
    112,
    ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041)),
)
"""The standard ArcFace / insightface 112x112 five-point template (SFace, MobileFaceNet...)."""


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping ``src`` points onto ``dst``; 2 x 3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    r = u @ np.diag(d) @ vt
    var_s = (s_c**2).sum() / n
    scale = (sig * d).sum() / var_s if var_s > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    m = np.empty((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = t
    return m


def align(rgb: np.ndarray, landmarks: np.ndarray, template: Template) -> np.ndarray:
    """Warp the face with these 5 landmarks to a ``template.size`` square RGB chip."""
    import cv2

    m = similarity_transform(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), template.array)
    return cv2.warpAffine(
        rgb, m, (template.size, template.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def align_many(rgb: np.ndarray, landmarks: list[np.ndarray], template: Template) -> np.ndarray:
    """Aligned chips for several faces of one image: N x size x size x 3 uint8."""
    if not landmarks:
        return np.zeros((0, template.size, template.size, 3), np.uint8)
    return np.stack([align(rgb, lm, template) for lm in landmarks])
