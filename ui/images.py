"""Conversions between numpy images, JPEG bytes and Qt images, and face crops for thumbnails."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QImage, QPixmap

from facerec.imaging import load_image


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An independent QImage copy of an H x W x 3 uint8 RGB array (safe to pass between threads)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def jpeg_to_qimage(data: bytes | None, size: int = 96) -> QImage | None:
    """JPEG bytes as a QImage scaled to fit ``size`` (None when absent or unreadable); unlike a QPixmap,
    safe to make on a worker thread and hand to the GUI thread."""
    if not data:
        return None
    image = QImage()
    if not image.loadFromData(QByteArray(data)):
        return None
    return image.scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


def jpeg_to_pixmap(data: bytes | None, size: int = 96) -> QPixmap:
    pix = QPixmap()
    if data:
        pix.loadFromData(QByteArray(data))
    if pix.isNull():
        return placeholder_pixmap(size)
    return pix.scaled(size, size, Qt.KeepAspectRatio, Qt.SmoothTransformation)


def placeholder_pixmap(size: int = 96) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(Qt.lightGray)
    return pix


def face_crop(rgb: np.ndarray, box, scale: float = 1.0, size: int = 96, margin: float = 0.25) -> np.ndarray:
    """A square crop around a face box (given in full-resolution coordinates; ``scale`` maps them to ``rgb``)."""
    import cv2

    x1, y1, x2, y2 = (float(v) / scale for v in box)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = rgb.shape[:2]
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    crop = rgb[b:d, a:c]
    if crop.size == 0:
        return np.full((size, size, 3), 200, np.uint8)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def load_face_crops(paths_boxes: list[tuple[int, str, list[float]]], size: int = 96, cancelled=lambda: False):
    """Yield (key, QImage) crops for (key, photo path, box) triples, loading each photo once."""
    by_path: dict[str, list[tuple[int, list[float]]]] = {}
    for key, path, box in paths_boxes:
        by_path.setdefault(path, []).append((key, box))
    for path, items in by_path.items():
        if cancelled():
            return
        try:
            img = load_image(path, max_side=1024)
        except Exception:
            continue
        for key, box in items:
            yield key, rgb_to_qimage(face_crop(img.rgb, box, img.scale, size))
