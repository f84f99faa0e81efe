"""The embedder interface: aligned face chips in, L2-normalised float32 vectors out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..alignment import Template


@runtime_checkable
class Embedder(Protocol):
    """What every face embedder provides. Distances between its vectors are cosine distances (1 - cos)."""

    model_id: str
    """Identifies the weights; the store never compares vectors of different model ids."""
    template: Template
    """Landmark template and input size the chips must be aligned to."""
    dim: int
    default_threshold: float
    """Calibrated open-set identification threshold (cosine distance)."""

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 RGB chips -> N x dim float32 unit vectors."""
        ...


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)
