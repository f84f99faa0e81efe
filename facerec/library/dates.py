"""The date a photo was taken, from its EXIF block, as stored in ``photos.taken_at``.

Stored as text ``'YYYY-MM-DD HH:MM:SS'`` (camera local time, as EXIF gives it), so ranges compare as
strings; ``''`` when the photo has no usable date; NULL until read. Scans read it (``facerec.tagging``);
photos scanned before the library existed get it lazily (``fill_missing_dates``, run by a date search). The EXIF
reading itself (``exif_date``, ``normalise_date``) lives in facerec.imaging, which decodes the photos.
"""

from __future__ import annotations

import logging
import os
import re

from ..imaging import exif_date, normalise_date
from ..store import GalleryStore

log = logging.getLogger(__name__)

__all__ = ["exif_date", "fill_missing_dates", "normalise_date", "parse_bound", "read_date_taken"]


def read_date_taken(path: str | os.PathLike) -> str:
    """'YYYY-MM-DD HH:MM:SS' from EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime); '' when
    the file has none or cannot be read (reading stops at the header: no pixels are decoded)."""
    from PIL import Image

    from ..imaging import setup_pillow

    setup_pillow()
    try:
        with Image.open(path) as img:
            return exif_date(img)
    except Exception as exc:  # an unreadable file: no date, never an error
        log.debug("%s: no EXIF date (%s)", path, exc)
    return ""


def parse_bound(text: str, end: bool = False) -> str:
    """A --from/--to value ('2019', '2019-06', '2019-06-01', or with a time) as a comparable bound: the
    start of that period, or with ``end`` its last second. Raises ValueError for anything else."""
    text = text.strip()
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?)?)?", text)
    if not m:
        raise ValueError(f"not a date: {text!r} (use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD HH:MM)")
    y, mo, d, h, mi, s = m.groups()
    if end:
        return f"{y}-{mo or '12'}-{d or '31'} {h or '23'}:{mi or '59'}:{s or '59'}"
    return f"{y}-{mo or '01'}-{d or '01'} {h or '00'}:{mi or '00'}:{s or '00'}"


def fill_missing_dates(store: GalleryStore, limit: int | None = None) -> int:
    """Read the date taken of stored photos that have not had it read yet (scanned before version 3).
    Returns how many were filled."""
    rows = store.photos_without_date(limit)
    if not rows:
        return 0
    dates = [(read_date_taken(path), photo_id) for photo_id, path in rows]
    store.set_dates_taken(dates)
    return len(dates)
