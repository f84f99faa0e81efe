"""The embedder interface: aligned face chips in, L2-normalised float32 vectors out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..alignment import Template
from ..geometry import l2_normalize  # noqa: F401  (embedders normalise their output with it)


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


def run_torch(model, chips: np.ndarray, batch_size: int, lock, dim: int, scale=None) -> np.ndarray:
    """A torch model's raw outputs for N x S x S x 3 uint8 chips, in batches (NCHW float32 input,
    ``scale(x)`` applied first when given), under ``lock`` and without autograd."""
    from ..threads import torch_module

    torch = torch_module()

    chips = np.asarray(chips, dtype=np.uint8)
    if len(chips) == 0:
        return np.zeros((0, dim), np.float32)
    out = []
    with lock, torch.inference_mode():
        for i in range(0, len(chips), batch_size):
            batch = np.array(chips[i : i + batch_size], dtype=np.uint8, order="C")  # a writable copy for torch
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
            out.append(model(scale(x) if scale else x).numpy())
    return np.concatenate(out)


def standardize(x):
    """(x - 127.5) / 128, the input scaling of facenet and of our compact model."""
    return (x - 127.5) / 128.0

