"""Photos in flight during a scan, written down so that a photo that kills scans (out of memory, a decoder
crash) is skipped, with the reason, instead of killing every rerun at the same place.

Each running scan appends to its own journal (``<gallery folder>/.facerec-scans/scan-<pid>-<n>.log``, owner
only, locked while the scan runs): ``S<TAB>path`` when a worker starts on a photo, ``E<TAB>path`` when it has
finished with it, and at its start ``P<TAB>path`` for each photo that already has a strike. A journal whose
lock is free belongs to a scan that died; the photos it started and never finished are the suspects, and the
next scan analyses every suspect alone, first. A kill from outside (``kill -9``, a power cut) looks exactly
like the photo's own doing, so one death never condemns a photo: a suspect that was the only photo in flight
when its scan died gets a strike, and a photo that was alone in flight at the death of two scans is the
culprit, recorded with ``KILLED_REASON`` and skipped until the file changes. So a photo that kills the process
is skipped from the second rerun on (the third, when it first died among others); a user's kill never costs a
photo. The journal holds paths only (no face data) and is deleted when its scan ends.

API::

    journal = ScanJournal.open(folder)              # a new journal for this scan (and the dead ones' verdict)
    journal.culprits, journal.suspects              # -> set[str], set[str] (from scans that died)
    journal.struck                                  # -> set[str]: the suspects with a strike (subset of suspects)
    journal.start(path); journal.end(path)          # around each photo's analysis
    journal.close()                                 # the scan ended (normally or not): journal removed
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import private_dir

log = logging.getLogger(__name__)

KILLED_REASON = (
    "the scan stopped while reading this photo (the process was killed: out of memory, or a decoder crash); "
    "it is skipped until the file changes"
)
_counter = itertools.count()


def journal_folder(gallery_location: str | os.PathLike | None) -> Path:
    """Where scan journals live: next to a gallery file, else in the data folder (a PostgreSQL gallery)."""
    if gallery_location is not None and not str(gallery_location).startswith(("postgres://", "postgresql://")):
        return Path(gallery_location).parent / ".facerec-scans"
    from ..config import data_dir

    return Path(data_dir()) / "scans"


@dataclass
class ScanJournal:
    path: Path
    fd: int
    culprits: set[str] = field(default_factory=set)
    """Photos alone in flight at the death of two scans: skip them (``KILLED_REASON``)."""
    suspects: set[str] = field(default_factory=set)
    """Photos in flight when a scan died: analyse them one at a time, first."""
    struck: set[str] = field(default_factory=set)
    """The suspects that were alone in flight once already: alone at a second death, they are culprits."""

    @classmethod
    def open(cls, folder: str | os.PathLike) -> ScanJournal:
        from .scratch import sweep

        sweep()  # copies left by a killed backup or restore go now
        folder = Path(folder)
        private_dir(folder)
        culprits: set[str] = set()
        suspects: set[str] = set()
        struck: set[str] = set()
        for old in sorted(folder.glob("scan-*.log")):
            verdict = _read_dead(old)
            if verdict is None:  # a live scan's journal
                continue
            if len(verdict.unfinished) == 1:  # alone in flight when the scan died: a strike, or the second one
                (photo,) = verdict.unfinished
                (culprits if photo in verdict.struck else struck).add(photo)
            else:
                suspects |= verdict.unfinished
            # a struck photo keeps its strike until it is analysed to the end (a scan may die before reaching it)
            struck |= {p for p in verdict.struck - verdict.finished - verdict.unfinished if os.path.exists(p)}
            struck |= verdict.struck & verdict.unfinished
            with contextlib.suppress(OSError):
                old.unlink()
        struck -= culprits
        suspects = (suspects | struck) - culprits
        path = folder / f"scan-{os.getpid()}-{next(_counter)}.log"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_TRUNC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        journal = cls(path, fd, culprits, suspects, struck)
        for photo in sorted(struck):
            journal._write("P", photo)
        if culprits or suspects:
            log.warning(
                "a scan died with photos in flight: %d skipped (alone in flight at two deaths), %d analysed one at a time",
                len(culprits), len(suspects),
            )
        return journal

    def start(self, photo: str | os.PathLike) -> None:
        self._write("S", photo)

    def end(self, photo: str | os.PathLike) -> None:
        self._write("E", photo)

    def _write(self, kind: str, photo: str | os.PathLike) -> None:
        line = f"{kind}\t{os.fsdecode(photo)}\n".encode("utf-8", "surrogateescape")
        with contextlib.suppress(OSError):  # a full disk must not stop the scan: only this safety net is lost
            os.write(self.fd, line)

    def close(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = -1


@dataclass(frozen=True)
class _Verdict:
    unfinished: set[str]
    """Started and never finished: in flight when the scan died."""
    finished: set[str]
    struck: set[str]
    """The photos the scan started with a strike (``P`` lines)."""


def _read_dead(path: Path) -> _Verdict | None:
    """What a dead scan's journal says (photos in flight at its death, finished, struck); None while its scan is alive."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
    finally:
        os.close(fd)
    open_photos: dict[str, int] = {}
    finished: set[str] = set()
    struck: set[str] = set()
    for raw in data.split(b"\n"):
        kind, _, name = raw.partition(b"\t")
        photo = name.decode("utf-8", "surrogateescape")
        if kind == b"S":
            open_photos[photo] = open_photos.get(photo, 0) + 1
        elif kind == b"E" and open_photos.get(photo):
            open_photos[photo] -= 1
            finished.add(photo)
        elif kind == b"P":
            struck.add(photo)
    unfinished = {p for p, n in open_photos.items() if n > 0}
    return _Verdict(unfinished, finished - unfinished, struck)
