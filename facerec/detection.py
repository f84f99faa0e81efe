"""Face detection with MTCNN (facenet-pytorch's weights): every face, with box, score and 5 landmarks.

Two interchangeable backends give the same detections (to a fraction of a pixel; tests/test_detection.py):

- ``opencv`` (default on CPU): facerec's numpy/OpenCV port of facenet-pytorch's cascade, the networks run by
  OpenVINO (or ONNX Runtime, or OpenCV's DNN module; :mod:`facerec.dnn`, :mod:`facerec.mtcnn`). Needs neither torch
  nor torchvision, which saves about 3 s and 800 MB per process, and detects faster.
- ``torch``: facenet-pytorch's own ``MTCNN`` (used on GPU devices, and as the reference).
"""

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


def _opencv_imresample(img, sz):
    """Drop-in for facenet-pytorch's ``imresample`` (torch "area" interpolation, which is adaptive average
    pooling and very slow on CPU on large images): the image pyramid is resampled by OpenCV's area
    interpolation instead; small face crops still go through torch."""
    import cv2
    import torch

    from .mtcnn import SMALL_CROP_PIXELS

    out_h, out_w = int(sz[0]), int(sz[1])
    if img.shape[2] * img.shape[3] <= SMALL_CROP_PIXELS:
        # face crops for the refine/output stages: cheap, and kept bit-identical to facenet-pytorch
        return torch.nn.functional.interpolate(img, size=(out_h, out_w), mode="area")
    arr = img.detach().permute(0, 2, 3, 1).cpu().numpy()
    res = np.stack([cv2.resize(np.ascontiguousarray(a), (out_w, out_h), interpolation=cv2.INTER_AREA) for a in arr])
    if res.ndim == 3:  # single-channel input loses its channel axis in cv2.resize
        res = res[..., None]
    return torch.from_numpy(res).permute(0, 3, 1, 2).to(img.dtype)


def _use_opencv_resampling() -> None:
    """Make facenet-pytorch's MTCNN resample its image pyramid (and large face crops) with OpenCV (CPU only).

    Measured (bench/detector_sweep.py, bench/tagging.py): detection CPU time roughly halves; detections and
    tagging accuracy unchanged.
    """
    from facenet_pytorch.models.utils import detect_face

    detect_face.imresample = _opencv_imresample


def detection_size(h: int, w: int, max_side: int | None) -> tuple[int, int, float]:
    """The (height, width) an h x w image is shrunk to for detection (its longer side at most ``max_side``; None or
    0: not shrunk), and the factor that maps the detections back to the image's own pixels."""
    if not max_side or max(h, w) <= max_side:
        return h, w, 1.0
    factor = max(h, w) / max_side
    return max(1, round(h / factor)), max(1, round(w / factor)), factor


BACKENDS = ("opencv", "torch")


class MTCNNDetector:
    """MTCNN, loaded lazily on first use. Thread-safe; with the opencv backend, threads detect in parallel."""

    def __init__(self, settings: DetectorSettings | None = None, device: str = "cpu"):
        self.settings = settings or DetectorSettings()
        self.device = device
        if self.settings.backend not in BACKENDS:
            raise ValueError(f"unknown detector backend {self.settings.backend!r} (choose from {', '.join(BACKENDS)})")
        self.backend = self.settings.backend if device == "cpu" else "torch"
        self._mtcnn = None
        self._lock = threading.Lock()

    def _model(self):
        with self._lock:
            if self._mtcnn is None:
                if self.backend == "opencv":
                    from .mtcnn import OpenCVMTCNN

                    self._mtcnn = OpenCVMTCNN(self.settings.min_face_size, self.settings.stage_thresholds)
                else:
                    from facenet_pytorch import MTCNN

                    self._mtcnn = MTCNN(
                        keep_all=True,
                        min_face_size=self.settings.min_face_size,
                        thresholds=list(self.settings.stage_thresholds),
                        post_process=False,
                        device=self.device,
                    )
                    if self.device == "cpu":
                        _use_opencv_resampling()
                log.debug("MTCNN (%s) loaded (min_face_size=%s)", self.backend, self.settings.min_face_size)
            return self._mtcnn

    def load(self) -> None:
        """Load the MTCNN nets now (otherwise they load on the first detection)."""
        self._model()

    def set_min_face_size(self, size: int) -> None:
        self.settings.min_face_size = int(size)
        if self._mtcnn is not None:
            self._mtcnn.min_face_size = int(size)

    def _detect_torch(self, small: np.ndarray):
        from .threads import torch_module

        feature = "detector backend 'torch'" if self.device == "cpu" else f"detection on device {self.device!r}"
        torch = torch_module(feature)
        with torch.inference_mode():
            boxes, probs, points = self._model().detect(np.ascontiguousarray(small), landmarks=True)
        if boxes is None:
            return None
        return (
            np.asarray(boxes).astype(np.float32).reshape(-1, 4),
            np.asarray(probs).astype(np.float32).reshape(-1),
            np.asarray(points).astype(np.float32).reshape(-1, 5, 2),
        )

    def detect(self, rgb: np.ndarray, max_side: int | None = None) -> list[DetectedFace]:
        """Detect faces in an H x W x 3 uint8 RGB array, best score first.

        The image is shrunk to ``max_side`` (default from settings) for detection; the returned
        coordinates are in the input array's pixels.
        """
        import cv2

        max_side = self.settings.max_side if max_side is None else max_side
        h, w = rgb.shape[:2]
        sh, sw, factor = detection_size(h, w, max_side)
        small = rgb if factor == 1.0 else cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) < 12:
            return []
        found = self._model().detect(small) if self.backend == "opencv" else self._detect_torch(small)
        if found is None:
            return []
        boxes, probs, points = found
        faces = [
            DetectedFace(boxes[i] * factor, float(probs[i]), points[i] * factor)
            for i in range(len(boxes))
            if probs[i] >= self.settings.score_threshold
        ]
        faces.sort(key=lambda f: -f.score)
        return faces
