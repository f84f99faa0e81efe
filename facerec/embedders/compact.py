"""The embedder of our own compact pack (defined in ``packs``): a small MobileFaceNet-like network (128-d,
112x112 ArcFace-aligned input; see ``facerec.training.model``), trained with triplet loss on LFW (folds 1-9 identities) while
distilling from SFace, by ``bench/train_compact.py``. Measured figures: ``bench/results/compact.json``.

The pack ships as ONNX (``resources/models/compact-v1.onnx``, exported from ``compact-v1.pt`` by
``python -m facerec.training.export``) and runs through OpenVINO (or OpenCV DNN; facerec.dnn), without torch; a ``.pt`` weights file
(``--weights FILE`` from ``facerec train``) runs as a torch module through
``facerec.training.embedder.TorchEmbedder``, which the core reaches only by name (training sits above the core).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..alignment import ARCFACE_112
from ..dnn import EMBEDDER_RUNTIMES, load_preferred
from .base import l2_normalize


class OnnxEmbedder:
    """An ONNX embedder exported by ``facerec.training.export`` (RGB 0..255 in, scaling inside the graph), run
    by facerec.dnn on ArcFace-aligned 112x112 chips. Batched; thread-safe (up to ``max_copies`` threads at once)."""

    template = ARCFACE_112

    def __init__(self, weights: Path, model_id: str, threshold: float, batch_size: int = 64, max_copies: int = 2):
        self.model_id = model_id
        self.default_threshold = threshold
        self.batch_size = batch_size
        self._net = load_preferred(Path(weights), model_id, EMBEDDER_RUNTIMES, max_copies=max_copies)
        self.dim = int(self._net.run(np.zeros((1, 3, 112, 112), np.float32))[0].reshape(1, -1).shape[1])

    def embed(self, chips: np.ndarray) -> np.ndarray:
        chips = np.asarray(chips, dtype=np.uint8)
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = []
        for i in range(0, len(chips), self.batch_size):
            blob = np.ascontiguousarray(chips[i : i + self.batch_size].transpose(0, 3, 1, 2), dtype=np.float32)
            out.append(self._net.run(blob)[0].reshape(len(blob), -1).copy())
        return l2_normalize(np.concatenate(out))


def load(weights: Path, model_id: str, threshold: float):
    """The pack's factory: ``OnnxEmbedder`` for an ``.onnx`` file (the shipped weights; no torch), else
    ``TorchEmbedder`` (a ``.pt`` file from ``facerec train``; needs torch)."""
    if Path(weights).suffix.lower() == ".onnx":
        return OnnxEmbedder(weights, model_id, threshold)
    from ..threads import require_torch
    from .installer import resolve

    require_torch(f"the torch weights file {weights}")
    return resolve("facerec.training.embedder:TorchEmbedder")(weights, model_id, threshold)
