"""Face quality from what the pipeline already has: the landmarks (size and pose) and the aligned chip (sharpness).

- size: the distance between the eyes, in pixels of the full-resolution photo;
- pose: yaw and pitch estimated from where the nose and mouth lie relative to the eyes, in the frame
  of the eye line: 0 for a frontal face; |yaw| near 1 when the nose reaches the outer eye (a profile);
- sharpness: the variance of the Laplacian of the chip's grey levels (the chip has a fixed size, so
  this does not depend on how large the face was in the photo), divided by the grey-level variance so
  that low contrast alone does not count as blur.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceQuality:
    """Quality measures of one face."""

    eye_distance: float
    """Pixels between the eye centres (full-resolution photo)."""
    yaw: float
    """Nose offset from the eyes' midpoint along the eye line, in half eye distances (0 frontal, about 1 profile)."""
    pitch: float
    """(eyes to nose) / (eyes to mouth) along the face's vertical axis, minus its frontal value 0.5."""
    sharpness: float
    """Laplacian variance / grey variance of the aligned chip (lower = blurrier); nan when not measured."""


def pose_from_landmarks(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(eye distance, yaw, pitch) from 5 landmarks (left eye, right eye, nose, mouth left, mouth right).

    Shape: 5 x 2 in, three floats out; for N x 5 x 2 in, three length-N arrays out.
    """
    lm = np.asarray(landmarks, np.float64)
    single = lm.ndim == 2
    lm = lm.reshape(-1, 5, 2)
    le, re, nose = lm[:, 0], lm[:, 1], lm[:, 2]
    mouth = (lm[:, 3] + lm[:, 4]) / 2
    axis = re - le
    eye = np.linalg.norm(axis, axis=1)
    u = axis / np.maximum(eye, 1e-6)[:, None]
    v = np.stack([-u[:, 1], u[:, 0]], 1)  # pointing down the face
    mid = (le + re) / 2
    yaw = np.sum((nose - mid) * u, axis=1) / np.maximum(eye / 2, 1e-6)
    down_nose = np.sum((nose - mid) * v, axis=1)
    down_mouth = np.sum((mouth - mid) * v, axis=1)
    pitch = down_nose / np.where(np.abs(down_mouth) < 1e-6, 1e-6, down_mouth) - 0.5
    if single:
        return float(eye[0]), float(yaw[0]), float(pitch[0])
    return eye, yaw, pitch


def chip_sharpness(chip: np.ndarray) -> float:
    """Laplacian variance over grey-level variance of an S x S x 3 uint8 aligned chip (the central part,
    away from the replicated border). Shape: one float."""
    import cv2

    grey = cv2.cvtColor(np.asarray(chip, np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    s = grey.shape[0]
    core = grey[s // 8 : s - s // 8, s // 8 : s - s // 8]
    lap = cv2.Laplacian(core, cv2.CV_32F, ksize=3)
    return float(lap.var() / max(float(core.var()), 1.0))


def face_quality(landmarks: np.ndarray, chip: np.ndarray | None = None) -> FaceQuality:
    """All quality measures of one face (``landmarks`` 5 x 2 in full-resolution pixels)."""
    eye, yaw, pitch = pose_from_landmarks(landmarks)
    return FaceQuality(eye, yaw, pitch, chip_sharpness(chip) if chip is not None else float("nan"))

