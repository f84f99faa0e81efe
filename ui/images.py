"""Conversions between numpy images, JPEG bytes and Qt images.

Threads: every function here makes Qt objects and runs on the GUI thread only. Workers use the Qt-free crops of
``facerec.library.thumbnails`` and hand numpy arrays to the GUI thread: a worker that makes a QImage holds the
GIL while it waits for a Qt lock the GUI thread holds while it waits for the GIL (a deadlock)."""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QImage, QPixmap


log = logging.getLogger(__name__)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An independent QImage copy of an H x W x 3 uint8 RGB array. GUI thread only."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    """A QPixmap of an H x W x 3 uint8 RGB array. GUI thread only."""
    return QPixmap.fromImage(rgb_to_qimage(rgb))


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
