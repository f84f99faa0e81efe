"""Synthetic camera clips for the live view (tests, benchmarks, screenshots): 640x480 videos made from photos
(never stored in the repo).

``make_clip(path, photos)`` places each photo, scaled to fit a column, side by side on a 640x480 frame and
moves them gently (a slow sway and zoom) so that tracking has real motion to follow. Column ``i`` of the
clip holds ``photos[i]``: the ground truth for "the name is on the right face".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FRAME_SIZE = (640, 480)


def _fit(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    f = min(w / rgb.shape[1], h / rgb.shape[0])
    return cv2.resize(rgb, (max(1, int(rgb.shape[1] * f)), max(1, int(rgb.shape[0] * f))), interpolation=cv2.INTER_AREA)


def render_frames(photos: list[str | Path], frames: int = 150, size: tuple[int, int] = FRAME_SIZE, amplitude: int = 20):
    """Yield ``frames`` RGB frames of the photos side by side, swaying horizontally and vertically."""
    from facerec.imaging import load_image

    w, h = size
    cols = len(photos)
    col_w = w // cols
    tiles = [_fit(load_image(p, max_side=1024).rgb, col_w - 2 * amplitude, h - 2 * amplitude) for p in photos]
    base = np.zeros((h, w, 3), np.uint8)
    base[:] = np.linspace(40, 90, w, dtype=np.uint8)[None, :, None]
    for k in range(frames):
        frame = base.copy()
        for i, tile in enumerate(tiles):
            dx = int(amplitude * math.sin(2 * math.pi * k / 60 + i))
            dy = int(amplitude / 2 * math.cos(2 * math.pi * k / 90 + i))
            x = i * col_w + (col_w - tile.shape[1]) // 2 + dx
            y = (h - tile.shape[0]) // 2 + dy
            x, y = max(0, min(w - tile.shape[1], x)), max(0, min(h - tile.shape[0], y))
            frame[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        yield frame


def make_clip(path: str | Path, photos: list[str | Path], frames: int = 150, fps: float = 30.0, size: tuple[int, int] = FRAME_SIZE) -> Path:
    """Write an MJPG AVI clip of ``render_frames`` to ``path``."""
    import cv2

    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise OSError(f"cannot write video {path}")
    try:
        for frame in render_frames(photos, frames, size):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
