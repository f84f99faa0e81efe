"""Where a photo's XMP lives and how it is read and written: sidecars and the image's own XMP block.

- Sidecars: ``photo.jpg.xmp`` (digiKam's default, ``SidecarStyle.DIGIKAM``) or ``photo.xmp`` (Lightroom's,
  ``SidecarStyle.LIGHTROOM``); reading looks for both.
- Embedded XMP is read from the image header (Pillow reads the metadata segments only, no pixels) and
  written by ExifTool (``exiftool``, a separate program: it replaces the XMP block, never the pixel data).
- Every write is atomic: a temporary file in the same folder, flushed to disk, then renamed over the
  target (an interrupted write leaves the old file, never half a file); the old file's permissions are kept.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .xmp import XmpError, XmpPacket

log = logging.getLogger(__name__)

EXIFTOOL_TIMEOUT_S = 120


class SidecarStyle(StrEnum):
    DIGIKAM = "digikam"
    """``photo.jpg.xmp``: the full file name plus ``.xmp`` (digiKam, darktable, Immich)."""
    LIGHTROOM = "lightroom"
    """``photo.xmp``: the extension replaced (Lightroom, Capture One, RawTherapee's readers)."""


def sidecar_path(photo: str | os.PathLike, style: SidecarStyle | str = SidecarStyle.DIGIKAM) -> Path:
    """The sidecar file name for ``photo`` in a naming style (it may not exist)."""
    p = Path(photo)
    return p.with_name(p.name + ".xmp") if SidecarStyle(style) == SidecarStyle.DIGIKAM else p.with_suffix(".xmp")


def find_sidecar(photo: str | os.PathLike, prefer: SidecarStyle | str = SidecarStyle.DIGIKAM) -> Path | None:
    """An existing sidecar of ``photo`` (the preferred style first, then the other; ``.XMP`` too), or None."""
    first = SidecarStyle(prefer)
    styles = [first] + [s for s in SidecarStyle if s != first]
    for style in styles:
        base = sidecar_path(photo, style)
        for candidate in (base, base.with_name(base.name[:-4] + ".XMP")):
            if _is_file(candidate):
                return candidate
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. the name plus ".xmp" is too long for the file system
        return False


@dataclass
class PhotoXmp:
    """The XMP facerec read for a photo."""

    packet: XmpPacket
    source: str
    """The sidecar's path, or ``embedded``."""
    signature: str
    """Changes whenever the file it came from changes (path, size and modification time)."""


def file_signature(path: str | os.PathLike) -> str:
    st = os.stat(path)
    return f"{os.fsdecode(path)}:{st.st_size}:{st.st_mtime_ns}"


def read_sidecar(path: str | os.PathLike) -> XmpPacket:
    """Parse a sidecar file; raises ``XmpError(path, reason)``."""
    spath = os.fsdecode(path)
    try:
        data = Path(spath).read_bytes()
    except OSError as exc:
        raise XmpError(spath, f"cannot read the sidecar ({exc.strerror or exc})") from None
    return XmpPacket.parse(data, spath)


def embedded_packet(photo: str | os.PathLike) -> bytes | None:
    """The raw XMP block of an image file (JPEG, PNG, WebP, TIFF), or None when it has none."""
    from PIL import Image, UnidentifiedImageError

    from ..imaging import setup_pillow

    setup_pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(photo) as img:
                raw = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        log.debug("%s: no readable embedded XMP (%s)", photo, exc)
        return None
    if not raw:
        return None
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)


def read_embedded(photo: str | os.PathLike) -> XmpPacket | None:
    """The image's own XMP as a packet, or None when it has none; raises ``XmpError`` when it is unreadable."""
    raw = embedded_packet(photo)
    return None if raw is None else XmpPacket.parse(raw, f"{os.fsdecode(photo)} (embedded XMP)")


def read_photo_xmp(photo: str | os.PathLike, prefer: SidecarStyle | str = SidecarStyle.DIGIKAM) -> PhotoXmp | None:
    """The photo's XMP with face regions: its sidecar when that has regions, else the image's own XMP,
    else whichever exists (None when neither does). Raises ``XmpError`` naming the file that is unreadable."""
    sidecar = find_sidecar(photo, prefer)
    found: PhotoXmp | None = None
    if sidecar is not None:
        found = PhotoXmp(read_sidecar(sidecar), str(sidecar), file_signature(sidecar))
        if found.packet.regions():
            return found
    embedded = read_embedded(photo)
    if embedded is not None and (found is None or embedded.regions()):
        return PhotoXmp(embedded, "embedded", "embedded:" + file_signature(photo))
    return found


def xmp_signature(photo: str | os.PathLike, prefer: SidecarStyle | str = SidecarStyle.DIGIKAM) -> str:
    """A cheap fingerprint of every place the photo's XMP may come from (no parsing): changes when a
    sidecar appears, changes or goes, or the image file changes."""
    sidecar = find_sidecar(photo, prefer)
    parts = ["-"]
    with contextlib.suppress(OSError):
        parts = [file_signature(sidecar) if sidecar else "-"]
        parts.append(file_signature(photo))
    return "|".join(parts)


# -- writing ----------------------------------------------------------------------------------------
def write_atomic(path: str | os.PathLike, data: bytes, mode_like: str | os.PathLike | None = None, sync_folder: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file in the same folder, rename). An existing
    file is replaced only once the new content is synced to disk (a power cut cannot leave it empty); a
    new file is not synced (all it can lose is facerec's own output, written again by the next write).
    An existing file keeps its permission bits; a new one takes those of ``mode_like`` (the photo), less
    any execute bits, else owner read/write only. ``sync_folder`` off: the caller calls ``fsync_folder``
    once after many files (the rename is atomic either way; the folder sync makes it durable)."""
    target = Path(path)
    replacing = target.exists()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if replacing:  # the old file may hold other apps' data: the new one is on disk before it goes
                f.flush()
                os.fsync(f.fileno())
        if replacing:
            shutil.copymode(target, tmp)
        elif mode_like is not None:
            os.chmod(tmp, os.stat(mode_like).st_mode & 0o666)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_folder:
        fsync_folder(target.parent)


def exiftool_path() -> str | None:
    """The ``exiftool`` program (``FACEREC_EXIFTOOL`` overrides the one on PATH), or None."""
    return os.environ.get("FACEREC_EXIFTOOL") or shutil.which("exiftool")


def embed_packet(photo: str | os.PathLike, packet: bytes) -> None:
    """Replace the XMP block inside an image with ``packet`` through ExifTool (metadata only, the pixel
    data is copied unchanged), atomically. Raises ``XmpError(photo, reason)``."""
    spath = os.fsdecode(photo)
    tool = exiftool_path()
    if tool is None:
        raise XmpError(spath, "writing into the image needs ExifTool (install exiftool / libimage-exiftool-perl), or write sidecars")
    target = Path(spath)
    with tempfile.TemporaryDirectory(prefix=".facerec-xmp-", dir=target.parent) as tmpdir:
        xmp_file = Path(tmpdir) / "packet.xmp"
        xmp_file.write_bytes(packet)
        out = Path(tmpdir) / ("out" + target.suffix)
        cmd = [tool, "-q", "-m", "-P", f"-XMP<={xmp_file}", "-o", str(out), "--", spath]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=EXIFTOOL_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise XmpError(spath, f"ExifTool failed to run ({exc})") from None
        if proc.returncode != 0 or not out.is_file():
            msg = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
            raise XmpError(spath, f"ExifTool could not write the XMP ({msg[-1] if msg else f'exit code {proc.returncode}'})")
        with open(out, "rb+") as f:
            os.fsync(f.fileno())
        shutil.copymode(target, out)
        os.replace(out, target)
    fsync_folder(target.parent)


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (POSIX; elsewhere a no-op)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
