"""Safe image loading: any photo in, an upright RGB array out, or an ``ImageError`` naming the reason.

- formats: JPEG, PNG, WebP, BMP, TIFF, GIF (first frame), PGM/PPM, MPO; read by content, not extension;
- EXIF orientation applied (a broken EXIF block is ignored, not fatal);
- grey, palette, RGBA (composited on white), CMYK, 16-bit and float images converted to 8-bit RGB;
- a pixel limit checked from the header before decoding (decompression bombs);
- large JPEGs decoded reduced (draft mode), so a 12 MP photo costs a fraction of a full decode; the
  full-resolution size is kept so callers can map coordinates back.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageError

log = logging.getLogger(__name__)

# Our own pixel limit (checked from the header, before any decoding) replaces Pillow's global one.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM")  # camera MPO files open as JPEG
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".pnm"}
)
DEFAULT_MAX_PIXELS = 150_000_000
DRAFT_SLACK = 0.75
"""A JPEG may be decoded reduced to as little as this fraction of ``max_side`` (never below it otherwise)."""


@dataclass
class LoadedImage:
    """An upright 8-bit RGB image, possibly reduced from a larger original."""

    rgb: np.ndarray
    """H x W x 3 uint8, C-contiguous."""
    full_size: tuple[int, int]
    """(width, height) of the upright original; equals the array size when not reduced."""
    path: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def scale(self) -> float:
        """Multiply array coordinates by this to get full-resolution coordinates."""
        return self.full_size[0] / self.rgb.shape[1]

    @classmethod
    def from_array(cls, rgb: np.ndarray, path: str | None = None) -> "LoadedImage":
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
        return cls(rgb=rgb, full_size=(rgb.shape[1], rgb.shape[0]), path=path)


def load_image(
    path: str | os.PathLike,
    max_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Read ``path`` as an upright RGB image, reduced so its longer side is about ``max_side``.

    Raises ``ImageError(path, reason)`` for anything that is not a readable image.
    """
    spath = os.fsdecode(path)
    try:
        st = os.stat(spath)
    except FileNotFoundError:
        raise ImageError(spath, "file not found") from None
    except OSError as exc:
        raise ImageError(spath, f"cannot access file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(spath, "not a regular file")
    if st.st_size == 0:
        raise ImageError(spath, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(spath, formats=FORMATS) as img:
                return _decode(img, spath, max_side, max_pixels)
    except ImageError:
        raise
    except UnidentifiedImageError:
        kind = _sniff(spath)
        if kind:
            raise ImageError(spath, f"corrupt {kind} image: the header is damaged and cannot be decoded") from None
        ext = Path(spath).suffix or "no extension"
        raise ImageError(spath, f"not an image: content is not a supported image format (name says {ext})") from None
    except PermissionError:
        raise ImageError(spath, "permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, TypeError, IndexError, KeyError) as exc:
        if isinstance(exc, ValueError) and "decompressed data too large" in str(exc).lower():
            raise ImageError(spath, "a compressed metadata block inflates past the safety limit (possible decompression bomb)") from None
        raise ImageError(spath, f"corrupt or truncated image data ({type(exc).__name__}: {exc})") from None


def _decode(img: Image.Image, path: str, max_side: int | None, max_pixels: int) -> LoadedImage:
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError(path, f"invalid image size {w}x{h}")
    if w * h > max_pixels:
        raise ImageError(
            path,
            f"image is {w}x{h} ({w * h / 1e6:.0f} MP), over the {max_pixels / 1e6:.0f} MP limit "
            "(possible decompression bomb; raise max_pixels to read it)",
        )
    orientation = _orientation(img)
    if max_side and img.format in ("JPEG", "MPO") and max(w, h) > max_side:
        # Draft mode decodes at 1/2, 1/4 or 1/8 scale, the smallest at least as big as asked. Asking for
        # 3/4 of max_side lets a 4000 px photo decode at 2000 px (4x less work) instead of in full.
        factor = DRAFT_SLACK * max_side / max(w, h)
        img.draft("RGB", (math.ceil(w * factor), math.ceil(h * factor)))
    img.load()
    full_w, full_h = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if orientation and orientation != 1:
        try:
            img = ImageOps.exif_transpose(img)
        except Exception as exc:  # broken EXIF must not make a photo unreadable
            log.warning("%s: ignoring unusable EXIF orientation (%s)", path, exc)
    rgb = to_rgb_array(img)
    if max_side and max(rgb.shape[:2]) > max_side:
        import cv2

        f = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return LoadedImage(rgb=np.ascontiguousarray(rgb), full_size=(full_w, full_h), path=path)


_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _sniff(path: str) -> str | None:
    """The image format a file's first bytes claim, if any (to tell corrupt images from non-images)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:
        return 1


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to an H x W x 3 uint8 array (alpha composited on white)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and a.max(initial=0) > 255):
            a = a / 257.0
        elif mode == "F" and a.max(initial=0) <= 1.0:
            a = a * 255.0
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)
