"""Face detection with facenet-pytorch's MTCNN: every face, with box, score and 5 landmarks."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from .config import DetectorSettings

log = logging.getLogger(__name__)


@dataclass
class DetectedFace:
    """One detected face, in the pixel coordinates of the image it was found in."""

    box: np.ndarray
    """x1, y1, x2, y2 (float32)."""
    score: float
    landmarks: np.ndarray
    """5 x 2 float32: left eye, right eye, nose, left mouth corner, right mouth corner (as seen in the image)."""

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def scaled(self, factor: float) -> "DetectedFace":
        return DetectedFace(self.box * factor, self.score, self.landmarks * factor)


class MTCNNDetector:
    """MTCNN from facenet-pytorch, loaded lazily on first use (thread-safe)."""

    def __init__(self, settings: DetectorSettings | None = None, device: str = "cpu"):
        self.settings = settings or DetectorSettings()
        self.device = device
        self._mtcnn = None
        self._lock = threading.Lock()

    def _model(self):
        with self._lock:
            if self._mtcnn is None:
                from facenet_pytorch import MTCNN

                self._mtcnn = MTCNN(
                    keep_all=True,
                    min_face_size=self.settings.min_face_size,
                    thresholds=list(self.settings.stage_thresholds),
                    post_process=False,
                    device=self.device,
                )
                log.debug("MTCNN loaded (min_face_size=%s)", self.settings.min_face_size)
            return self._mtcnn

    def set_min_face_size(self, size: int) -> None:
        self.settings.min_face_size = int(size)
        if self._mtcnn is not None:
            self._mtcnn.min_face_size = int(size)

    def detect(self, rgb: np.ndarray, max_side: int | None = None) -> list[DetectedFace]:
        """Detect faces in an H x W x 3 uint8 RGB array, best score first.

        The image is shrunk to ``max_side`` (default from settings) for detection; the returned
        coordinates are in the input array's pixels.
        """
        import cv2
        import torch

        max_side = self.settings.max_side if max_side is None else max_side
        h, w = rgb.shape[:2]
        factor = 1.0
        small = rgb
        if max_side and max(h, w) > max_side:
            factor = max(h, w) / max_side
            small = cv2.resize(rgb, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) < 12:
            return []
        mtcnn = self._model()
        with torch.inference_mode():
            boxes, probs, points = mtcnn.detect(np.ascontiguousarray(small), landmarks=True)
        if boxes is None:
            return []
        boxes = np.asarray(boxes).astype(np.float32).reshape(-1, 4)
        probs = np.asarray(probs).astype(np.float32).reshape(-1)
        points = np.asarray(points).astype(np.float32).reshape(-1, 5, 2)
        faces = [
            DetectedFace(boxes[i] * factor, float(probs[i]), points[i] * factor)
            for i in range(len(boxes))
            if probs[i] >= self.settings.score_threshold
        ]
        faces.sort(key=lambda f: -f.score)
        return faces
