"""OpenCV Zoo's SFace (Apache-2.0): a 128-d MobileFaceNet-style ArcFace model, run by OpenCV's DNN module."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..alignment import ARCFACE_112
from ..dnn import NetPool
from .base import l2_normalize


class SFaceEmbedder:
    """SFace on 112x112 chips aligned to the ArcFace template. Batched; thread-safe: up to ``max_copies``
    threads embed at once (each copy holds its own 37 MB of weights and working buffers; embedding is a
    smaller share of a photo's work than detection)."""

    template = ARCFACE_112
    dim = 128

    def __init__(
        self, weights: Path, model_id: str, threshold: float, batch_size: int = 32, max_copies: int = 2, flip: bool = False,
    ):
        self.model_id = model_id
        self.default_threshold = threshold
        self.batch_size = batch_size
        self.flip = flip
        """Test-time flipping: a face's vector is the mean of its chip's and its mirror image's (re-normalised)."""
        self._net = NetPool(Path(weights).read_bytes(), model_id, max_copies=max_copies)

    @property
    def cache_id(self) -> str:
        """What an embedding cache must match: the weights and how they are applied."""
        return self.model_id + ("+flip" if self.flip else "")

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """N x 112 x 112 x 3 uint8 RGB chips -> N x 128 float32 unit vectors."""
        chips = np.asarray(chips, dtype=np.uint8)
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if not self.flip:
            return self._embed(chips)
        both = self._embed(np.concatenate([chips, chips[:, :, ::-1]]))
        return l2_normalize(both[: len(chips)] + both[len(chips) :])

    def _embed(self, chips: np.ndarray) -> np.ndarray:
        import cv2

        out = []
        for i in range(0, len(chips), self.batch_size):
            # The network takes RGB in 0..255 (OpenCV's FaceRecognizerSF swaps its BGR input to RGB).
            blob = cv2.dnn.blobFromImages(list(chips[i : i + self.batch_size]), 1.0, (112, 112), (0, 0, 0), swapRB=False)
            out.append(self._net.run(blob)[0].reshape(len(blob), -1).copy())
        return l2_normalize(np.concatenate(out))
