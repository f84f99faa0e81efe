"""``TorchEmbedder``: runs a torch weights file written by ``facerec train`` (``facerec.training.model``) as an
embedder on ArcFace-aligned 112x112 chips. The compact pack's factory (``facerec.embedders.compact.load``) uses it
for ``.pt`` files; the shipped weights are ONNX and need no torch."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..alignment import ARCFACE_112
from ..embedders.base import l2_normalize, run_torch, standardize


class TorchEmbedder:
    """Runs a torch weights file (see module docstring) on ArcFace-aligned 112x112 chips. Thread-safe."""

    template = ARCFACE_112

    def __init__(self, weights: Path, model_id: str, threshold: float, batch_size: int = 64):
        from .model import load_weights_file

        self.model, blob = load_weights_file(weights, fuse=True)
        self.model_id = model_id
        self.default_threshold = threshold
        self.batch_size = batch_size
        self.dim = int(blob.get("kwargs", {}).get("dim", 128))
        self.meta = blob.get("meta", {})
        self._lock = threading.Lock()

    def embed(self, chips: np.ndarray) -> np.ndarray:
        return l2_normalize(run_torch(self.model, chips, self.batch_size, self._lock, self.dim, standardize))
