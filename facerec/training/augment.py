"""Batch augmentation on the training device: horizontal flip, small crop/scale jitter, colour jitter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    flip: float = 0.5
    """Probability of a horizontal flip."""
    shift: float = 0.04
    """Maximum translation, as a fraction of the chip size."""
    scale: float = 0.05
    """Maximum relative zoom in or out."""
    brightness: float = 0.2
    contrast: float = 0.2
    grey: float = 0.05
    """Probability of converting to greyscale."""


def to_tensor(chips: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """N x S x S x 3 uint8 RGB -> N x 3 x S x S float32 in about [-1, 1] (``(x - 127.5) / 128``)."""
    arr = np.ascontiguousarray(chips)
    if not arr.flags.writeable:  # a read-only memory map: torch wants a writable buffer
        arr = arr.copy()
    t = torch.from_numpy(arr).to(device)
    return (t.permute(0, 3, 1, 2).float() - 127.5) / 128.0


def augment(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a normalised N x 3 x S x S batch (new tensor)."""
    n = x.shape[0]
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev)

    if cfg.flip > 0:
        flip = rand(n) < cfg.flip
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if cfg.shift > 0 or cfg.scale > 0:
        s = 1.0 + (rand(n) * 2 - 1) * cfg.scale
        tx = (rand(n) * 2 - 1) * cfg.shift * 2
        ty = (rand(n) * 2 - 1) * cfg.shift * 2
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0] = 1.0 / s
        theta[:, 1, 1] = 1.0 / s
        theta[:, 0, 2] = tx
        theta[:, 1, 2] = ty
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if cfg.brightness > 0 or cfg.contrast > 0:
        b = (rand(n, 1, 1, 1) * 2 - 1) * cfg.brightness
        c = 1.0 + (rand(n, 1, 1, 1) * 2 - 1) * cfg.contrast
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * c + mean + b
    if cfg.grey > 0:
        g = rand(n) < cfg.grey
        grey = x.mean(1, keepdim=True).expand_as(x)
        x = torch.where(g[:, None, None, None], grey, x)
    return x.clamp(-1.0, 1.0)
