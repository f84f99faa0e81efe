"""Conversions between numpy images, JPEG bytes and Qt images, and face crops for thumbnails.

Threads: the functions that make Qt objects (``rgb_to_qimage``, ``rgb_to_pixmap``, ``jpeg_to_pixmap``,
``placeholder_pixmap``) run on the GUI thread only. Workers use the Qt-free ones (``decode_thumbnail``,
``face_crop``, ``load_face_crops``) and hand numpy arrays to the GUI thread: a worker that makes a QImage
holds the GIL while it waits for a Qt lock the GUI thread holds while it waits for the GIL (a deadlock)."""

from __future__ import annotations

import io
import logging

import numpy as np
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QImage, QPixmap

from facerec.imaging import load_image


log = logging.getLogger(__name__)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An independent QImage copy of an H x W x 3 uint8 RGB array. GUI thread only."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    """A QPixmap of an H x W x 3 uint8 RGB array. GUI thread only."""
    return QPixmap.fromImage(rgb_to_qimage(rgb))


def decode_thumbnail(data: bytes | None, size: int = 96) -> np.ndarray | None:
    """JPEG (or PNG) bytes decoded to an H x W x 3 uint8 RGB array that fits ``size`` x ``size`` (None when
    absent or unreadable). Qt-free: safe on a worker thread."""
    if not data:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (size, size))
            img = img.convert("RGB")
            img.thumbnail((size, size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8).copy()
    except Exception as exc:  # a damaged thumbnail shows the placeholder, it does not stop the list
        log.debug("unreadable thumbnail (%s)", exc)
        return None


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
    """Yield (key, size x size x 3 uint8 RGB array) crops for (key, photo path, box) triples, loading each photo
    once. Qt-free: safe on a worker thread."""
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
            yield key, face_crop(img.rgb, box, img.scale, size)
