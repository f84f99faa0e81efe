"""Face thumbnails: square crops around face boxes (the Library and the map show them; samples made from
confirmed faces store them as JPEG). Qt-free, safe on worker threads: the GUI turns the arrays into pixmaps."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..errors import ImageError
from ..imaging import load_image

log = logging.getLogger(__name__)


def face_crop(rgb: np.ndarray, box: Sequence[float], scale: float = 1.0, size: int = 96, margin: float = 0.25) -> np.ndarray:
    """A ``size`` x ``size`` x 3 uint8 RGB square around a face box given in full-resolution coordinates
    (``scale`` maps them to ``rgb``), ``margin`` of the box's side added on each side; grey when the box is outside."""
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


def load_face_crops(
    paths_boxes: Sequence[tuple[int, str, Sequence[float]]], size: int = 96, cancelled: Callable[[], bool] = lambda: False
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (key, ``face_crop``) for (key, photo path, box) triples, loading each photo once; unreadable photos
    are skipped."""
    by_path: dict[str, list[tuple[int, Sequence[float]]]] = {}
    for key, path, box in paths_boxes:
        by_path.setdefault(path, []).append((key, box))
    for path, items in by_path.items():
        if cancelled():
            return
        try:
            img = load_image(path, max_side=1024)
        except ImageError as exc:
            log.debug("%s: no thumbnails (%s)", path, exc.reason)
            continue
        for key, box in items:
            yield key, face_crop(img.rgb, box, img.scale, size)


def face_thumbnail_jpeg(path: str, box: Sequence[float], size: int = 96, margin: float = 0.1) -> bytes | None:
    """A ``size`` px JPEG of the face at ``box`` in the photo at ``path`` (a sample's thumbnail); None when the
    photo cannot be read."""
    from PIL import Image

    try:
        img = load_image(path, max_side=1024)
    except ImageError:
        return None
    buf = io.BytesIO()
    Image.fromarray(face_crop(img.rgb, box, img.scale, size, margin=margin)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def decode_thumbnail(data: bytes | None, size: int = 96) -> np.ndarray | None:
    """JPEG (or PNG) bytes decoded to an H x W x 3 uint8 RGB array that fits ``size`` x ``size`` (None when
    absent or unreadable)."""
    if not data:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (size, size))
            rgb = img.convert("RGB")
            rgb.thumbnail((size, size), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8).copy()
    except Exception as exc:  # a damaged thumbnail shows the placeholder, it does not stop the list
        log.debug("unreadable thumbnail (%s)", exc)
        return None
