"""Safe image loading: any photo in, an upright RGB array out, or an ``ImageError`` naming the reason.

- formats: JPEG, PNG, WebP, BMP, TIFF, GIF (first frame), PGM/PPM, MPO; read by content, not extension;
- EXIF orientation applied (a broken EXIF block is ignored, not fatal);
- grey, palette, RGBA (composited on white), CMYK, 16-bit and float images converted to 8-bit RGB;
- a pixel limit checked from the header before decoding (decompression bombs), and a byte budget: what the
  decoder will hold is estimated from the header (after JPEG draft reduction) and a photo over
  ``DEFAULT_MAX_DECODE_BYTES`` is refused with the reason; concurrent decodes share ``DECODE_BUDGET``, so
  threads wait rather than stack several large decodes; conversion to RGB and reduction run in strips, so a
  16-bit, RGBA or palette image costs its decoded size plus a strip, never float copies of the whole image;
- large JPEGs decoded reduced (draft mode), so a 12 MP photo costs a fraction of a full decode; the
  full-resolution size is kept so callers can map coordinates back.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass
from typing import cast
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import ImageError

log = logging.getLogger(__name__)

_pillow_ready = False


def setup_pillow() -> None:
    """Pillow's process-wide settings for facerec, set on purpose (not on import): our own pixel limit (checked
    from the header before any decoding, ``max_pixels``) replaces Pillow's global one, and truncated files are
    refused. Called by every facerec function that opens an image with Pillow; idempotent."""
    global _pillow_ready
    if not _pillow_ready:
        Image.MAX_IMAGE_PIXELS = None
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        _pillow_ready = True

def _optional_formats() -> tuple[tuple[str, ...], set[str]]:
    """Formats read where a maintained library serves: AVIF through Pillow's own plugin (Pillow >= 11.3 wheels),
    HEIC/HEIF through pillow-heif when it is installed."""
    formats, extensions = [], set()
    try:
        from PIL import features

        if features.check("avif"):
            formats.append("AVIF")
            extensions.add(".avif")
    except Exception:  # an old Pillow without the feature registry entry
        pass
    try:
        import pillow_heif  # type: ignore[import-not-found]

        pillow_heif.register_heif_opener()
        formats.append("HEIF")
        extensions.update({".heic", ".heif"})
    except Exception:  # not installed: such photos are reported (files.UNSUPPORTED_EXTENSIONS)
        pass
    return tuple(formats), extensions


_MORE_FORMATS, _MORE_EXTENSIONS = _optional_formats()
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM", *_MORE_FORMATS)  # camera MPO files open as JPEG
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".pnm"}
    | _MORE_EXTENSIONS
)
DEFAULT_MAX_PIXELS = 150_000_000
DEFAULT_MAX_DECODE_BYTES = 512 * 1024 * 1024
"""The most memory one photo's decoded pixels may take (estimated from the header before decoding)."""
STRIP_BYTES = 8 * 1024 * 1024
"""Conversion to RGB and reduction work on horizontal strips of about this many decoded bytes."""
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
    taken_at: str = ""
    """The EXIF date taken, 'YYYY-MM-DD HH:MM:SS' ('' when the photo has none; facerec.library.dates)."""

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def scale(self) -> float:
        """Multiply array coordinates by this to get full-resolution coordinates."""
        return self.full_size[0] / self.rgb.shape[1]

    @classmethod
    def from_array(cls, rgb: np.ndarray, path: str | None = None) -> LoadedImage:
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
        return cls(rgb=rgb, full_size=(rgb.shape[1], rgb.shape[0]), path=path)


FILE_SYSTEM_REASONS = ("file not found", "cannot access file", "cannot read file", "permission denied")
"""``ImageError.reason`` prefixes of failures of the file system rather than of the image: worth retrying."""


class DecodeBudget:
    """Bytes of decoded pixels that the threads of this process may hold at once: a decode waits until its
    share is free (one decode always proceeds alone, however large it is)."""

    def __init__(self, total: int):
        self.total = int(total)
        self.in_use = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, nbytes: int):
        nbytes = int(nbytes)
        with self._cond:
            while self.in_use and self.in_use + nbytes > self.total:
                self._cond.wait()
            self.in_use += nbytes
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= nbytes
                self._cond.notify_all()


DECODE_BUDGET = DecodeBudget(DEFAULT_MAX_DECODE_BYTES)


def load_image(
    path: str | os.PathLike,
    max_side: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> LoadedImage:
    """Read ``path`` as an upright RGB image, reduced so its longer side is about ``max_side``.

    Raises ``ImageError(path, reason)`` for anything that is not a readable image, or whose decoding would
    take more than ``max_bytes`` of memory.
    """
    setup_pillow()
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
                return _decode(img, spath, max_side, max_pixels, max_bytes)
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
        if isinstance(exc, OSError) and exc.errno is not None:  # the file system failed, not the image data
            raise ImageError(spath, f"cannot read file ({exc.strerror or exc})") from None
        if isinstance(exc, ValueError) and "decompressed data too large" in str(exc).lower():
            raise ImageError(spath, "a compressed metadata block inflates past the safety limit (possible decompression bomb)") from None
        raise ImageError(spath, f"corrupt or truncated image data ({type(exc).__name__}: {exc})") from None


_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL, _DATE_TIME_DIGITIZED, _DATE_TIME = 0x9003, 0x9004, 0x0132
_DATE_PATTERN = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def exif_date(img) -> str:
    """The date an opened Pillow image was taken, 'YYYY-MM-DD HH:MM:SS', from its EXIF DateTimeOriginal (else
    DateTimeDigitized, else DateTime); '' when it has none (``photos.taken_at``, facerec.library.dates). Read from
    the header, which ``load_image`` has open anyway: a scan need not open the file a second time."""
    try:
        exif = img.getexif()
        sub = exif.get_ifd(_EXIF_IFD) if exif else {}
        for raw in (sub.get(_DATE_TIME_ORIGINAL), sub.get(_DATE_TIME_DIGITIZED), exif.get(_DATE_TIME) if exif else None):
            date = normalise_date(raw)
            if date:
                return date
    except Exception as exc:  # a broken EXIF block: no date, never an error
        log.debug("%s: no EXIF date (%s)", getattr(img, "filename", "image"), exc)
    return ""


def normalise_date(raw) -> str:
    """An EXIF or ISO date-time as 'YYYY-MM-DD HH:MM:SS'; '' when it is not one (e.g. '0000:00:00 00:00:00')."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    m = _DATE_PATTERN.search(str(raw or ""))
    if not m or m.group(1) == "0000":
        return ""
    y, mo, d, h, mi, s = m.groups()
    return f"{y}-{mo}-{d} {h}:{mi}:{s}"


def decoded_bytes(img: Image.Image) -> int:
    """About what decoding ``img`` (after any draft reduction) will hold at its peak, in bytes: Pillow's
    pixels (one byte per pixel for 1/L/P, two for 16-bit, four for every multi-band mode, which it stores
    padded) times what the format's decoder adds (measured by tests/test_decode_memory.py: PNG's and GIF's
    decoders keep line buffers and a second frame buffer; libwebp decodes into buffers of its own that
    Pillow copies)."""
    w, h = img.size
    mode = img.mode
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    factor = {"WEBP": 4.0, "AVIF": 2.0, "HEIF": 2.0, "GIF": 2.0, "PNG": 1.5}.get(img.format or "", 1.0)
    return int(w * h * per_pixel * factor)


def _decode(img: Image.Image, path: str, max_side: int | None, max_pixels: int, max_bytes: int = DEFAULT_MAX_DECODE_BYTES) -> LoadedImage:
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
    taken_at = exif_date(img)
    if max_side and img.format in ("JPEG", "MPO") and max(w, h) > max_side:
        # Draft mode decodes at 1/2, 1/4 or 1/8 scale, the smallest at least as big as asked. Asking for
        # 3/4 of max_side lets a 4000 px photo decode at 2000 px (4x less work) instead of in full.
        factor = DRAFT_SLACK * max_side / max(w, h)
        img.draft("RGB", (math.ceil(w * factor), math.ceil(h * factor)))
    need = decoded_bytes(img)
    if need > max_bytes:
        raise ImageError(
            path,
            f"decoding this {w}x{h} {img.format or ''} image ({img.mode}) needs about {need / 2**20:.0f} MB, over the "
            f"{max_bytes / 2**20:.0f} MB limit for one photo (the format cannot be decoded reduced)",
        )
    with DECODE_BUDGET.hold(need):
        img.load()
        rgb = _to_rgb_reduced(img, max_side)
    rgb = _orient(rgb, orientation)
    full_w, full_h = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    if max_side and max(rgb.shape[:2]) > max_side:
        import cv2

        f = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return LoadedImage(rgb=np.ascontiguousarray(rgb), full_size=(full_w, full_h), path=path, taken_at=taken_at)


def _to_rgb_reduced(img: Image.Image, max_side: int | None) -> np.ndarray:
    """The loaded image as H x W x 3 uint8 RGB, converted strip by strip and, when it is more than twice
    ``max_side``, reduced by an integer factor on the way (box filter), so no full-size copy is made."""
    w, h = img.size
    k = max(1, int(max(w, h) // max_side)) if max_side else 1
    if k == 1 and (w * h * 4 <= STRIP_BYTES or img.mode == "RGB"):  # RGB is only packed: strips would add copies
        return to_rgb_array(img)
    import cv2

    rows = max(k, (STRIP_BYTES // max(1, w * 4)) // k * k)
    out_w, out_h = w // k, h // k
    if out_w == 0 or out_h == 0:
        return to_rgb_array(img)
    scale = value_scale(img)
    out = np.empty((out_h, out_w, 3), np.uint8)
    y_out = 0
    for y in range(0, out_h * k, rows):
        strip = to_rgb_array(img.crop((0, y, out_w * k, min(y + rows, out_h * k))), scale)
        n = strip.shape[0] // k
        if k > 1:
            strip = cv2.resize(strip, (out_w, n), interpolation=cv2.INTER_AREA)
        out[y_out : y_out + n] = strip
        y_out += n
    return out


def _orient(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (as Pillow's ``exif_transpose`` does) to an RGB array."""
    if orientation == 2:
        return rgb[:, ::-1]
    if orientation == 3:
        return rgb[::-1, ::-1]
    if orientation == 4:
        return rgb[::-1]
    if orientation == 5:
        return rgb.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(rgb, -1)
    if orientation == 7:
        return rgb[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(rgb, 1)
    return rgb


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


def to_rgb_array(img: Image.Image, scale: float | None = None) -> np.ndarray:
    """Convert any Pillow mode to an H x W x 3 uint8 array (alpha composited on white). ``scale``: the factor
    that maps 16/32-bit and float values to 0..255 (default: from the image's own range; pass the whole
    image's when converting it strip by strip)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        if scale is None:
            scale = value_scale(img)
        a = np.asarray(img).astype(np.float32) * np.float32(scale)
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def value_scale(img: Image.Image) -> float:
    """The factor mapping a 16/32-bit or float image's values to 0..255 (1 for 8-bit data)."""
    mode = img.mode
    if mode.startswith("I;16"):
        return 1 / 257
    if mode in ("I", "F"):
        _lo, hi = cast(tuple[float, float], img.getextrema())  # one band: (min, max)
        if mode == "I" and hi > 255:
            return 1 / 257
        if mode == "F" and hi <= 1.0:
            return 255.0
    return 1.0
