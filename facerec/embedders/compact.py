"""Our own compact embedder pack: a small MobileFaceNet-like network (128-d, 112x112 ArcFace-aligned
input; see ``facerec.training.model``), trained with triplet loss on LFW (folds 1-9 identities) while
distilling from SFace, by ``bench/train_compact.py``. Measured figures: ``bench/results/compact.json``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..alignment import ARCFACE_112
from .base import l2_normalize, run_torch, standardize
from .registry import ModelPack, WeightsSource, register


class TorchEmbedder:
    """Runs a torch weights file (see module docstring) on ArcFace-aligned 112x112 chips. Thread-safe."""

    template = ARCFACE_112

    def __init__(self, weights: Path, model_id: str, threshold: float, batch_size: int = 64):
        from ..training.model import load_weights_file

        self.model, blob = load_weights_file(weights, fuse=True)
        self.model_id = model_id
        self.default_threshold = threshold
        self.batch_size = batch_size
        self.dim = int(blob.get("kwargs", {}).get("dim", 128))
        self.meta = blob.get("meta", {})
        self._lock = threading.Lock()

    def embed(self, chips: np.ndarray) -> np.ndarray:
        return l2_normalize(run_torch(self.model, chips, self.batch_size, self._lock, self.dim, standardize))


register(
    ModelPack(
        name="compact",
        model_id="compact-v1",
        description=(
            "our compact 128-d CNN (0.53 M parameters, 2.2 MB), triplet loss + distillation from SFace on LFW "
            "folds 1-9; ~7x faster than SFace batched but 90.8% vs 99.7% on LFW fold 10 (bench/results/compact.json)"
        ),
        licence="MIT",
        template=ARCFACE_112,
        dim=128,
        # Both measured by bench/train_compact.py on LFW View 2 fold 10 (identities never trained on):
        # FAR 0.1% over all cross-identity pairs of the fold, and the mean 10-way CV verification threshold.
        threshold=0.272,
        verification_threshold=0.470,
        source=WeightsSource(
            filename="compact-v1.pt",
            sha256="3c26315c2851b803986a5cf503c9adaed81d3cdb1226ffe323e19125b2c64bd2",
            resource="models/compact-v1.pt",
        ),
        factory="facerec.embedders.compact:TorchEmbedder",
        needs_torch=True,
    )
)
