"""Finding photos in folders and fingerprinting files, robust to links, loops and vanishing folders."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .imaging import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

OnError = Callable[[str, str], None]


_RAW = "a camera RAW file: not read (use the camera's JPEG, or export one from your photo editor)"
UNSUPPORTED_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys((".heic", ".heif"), "a HEIC/HEIF photo: not read here (install pillow-heif to read it: pip install pillow-heif)"),
    ".avif": "an AVIF photo: this Pillow cannot read AVIF (upgrade Pillow to 11.3 or later)",
    **dict.fromkeys((".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".orf", ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".kdc", ".mrw", ".erf", ".rwl", ".iiq"), _RAW),
}
"""Photo files facerec does not read (here): a scan reports each with the reason instead of skipping it."""


def unsupported_reason(name: str) -> str | None:
    """Why a photo file with this name is not read, or None (an image facerec reads, or not a photo)."""
    ext = os.path.splitext(name)[1].lower()
    return None if ext in IMAGE_EXTENSIONS else UNSUPPORTED_EXTENSIONS.get(ext)


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def iter_image_files(folder: str | os.PathLike, recursive: bool = True, on_error: OnError | None = None) -> Iterator[Path]:
    """Yield image files under ``folder`` in a stable (sorted) order.

    Symbolic links are followed, but each real directory is visited once (no loops). A dangling link,
    an unreadable directory, a folder deleted during the walk or a photo in a format facerec does not read
    (HEIC without pillow-heif, camera RAW: ``UNSUPPORTED_EXTENSIONS``) is reported through
    ``on_error(path, reason)`` and skipped.
    """
    report = on_error or (lambda p, r: log.warning("%s: %s", p, r))
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            st = directory.stat()
            key = (st.st_dev, st.st_ino)
            if key in seen:
                report(str(directory), "symbolic link loop or repeated folder; skipped")
                continue
            seen.add(key)
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            report(str(directory), "folder disappeared during the scan")
            continue
        except OSError as exc:
            report(str(directory), f"cannot read folder ({exc.strerror or exc})")
            continue
        subdirs = []
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=True):
                    if recursive:
                        subdirs.append(path)
                    continue
                if not is_image_name(entry.name):
                    reason = unsupported_reason(entry.name)
                    if reason:
                        report(str(path), reason)
                    continue
                if entry.is_symlink() and not path.exists():
                    report(str(path), "dangling symbolic link")
                    continue
            except OSError as exc:
                report(str(path), f"cannot inspect ({exc.strerror or exc})")
                continue
            yield path
        stack.extend(reversed(subdirs))


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """A content fingerprint (BLAKE2b-128 hex) used to notice changed or moved files."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_file_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: written to a temporary file in the same folder, synced to disk, given
    ``mode``, then renamed over ``path``, so a reader sees the old file or the new one, never part of one. Raises
    OSError (the temporary file is removed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
