"""What every command module of the ``facerec`` CLI shares: exit codes, output helpers and the ``Context``.

Command handlers take ``(args, ctx)`` and return an exit code; they import heavy modules (torch, OpenCV)
inside the handler so that ``facerec --help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings
    from ..pipeline import FaceAnalyzer
    from ..store import GalleryStore

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
"""0 success; 1 done, but some inputs failed; 2 usage error (or the command needs PyTorch, which is
missing); 3 cannot run (model not installed, gallery unusable, unknown person...); 130 interrupted."""


def out(text: str = "") -> None:
    """Print a result line to stdout (flushed, so piped output streams); names and paths are shown safely
    (``printable``)."""
    print(printable(text), flush=True)


def err(text: str) -> None:
    """Print an error or a hint to stderr (``printable``)."""
    print(printable(text), file=sys.stderr, flush=True)


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)}
_CONTROL.update({c: f"\\u{c:04x}" for c in range(0x80, 0xA0)})


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (escape sequences in a name or a file name could move
    the cursor, hide text or retitle the window) are shown as ``\\xNN``; bytes that are not UTF-8 (a file name
    Python holds with surrogate escapes) as ``\\xNN`` too, so printing never fails. Newlines and tabs stay."""
    text = str(text).translate(_CONTROL)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = "".join(f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch for ch in text)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fmt_dist(d: float | None) -> str:
    """A distance as text: ``-`` for none, NaN or infinity; never ``-0.000`` (``facerec.wording.distance``)."""
    from ..wording import distance

    return distance(d)


class Context:
    """What a command needs, built lazily from the global options: the settings (read once per command),
    the gallery store and the analyzer."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._store: GalleryStore | None = None
        self._analyzer: FaceAnalyzer | None = None

    @cached_property
    def settings(self) -> Settings:
        """The settings file with the global command-line options applied (read once)."""
        from ..config import Settings

        s = Settings.load()
        if getattr(self.args, "db", None):
            from ..config import is_database_url

            s.db_path = self.args.db if is_database_url(self.args.db) else Path(self.args.db)  # a file, or postgresql://...
        if getattr(self.args, "model", None):
            s.model = self.args.model
        if getattr(self.args, "threshold", None) is not None:
            s.threshold = self.args.threshold
        if getattr(self.args, "min_face_size", None):
            s.detector.min_face_size = self.args.min_face_size
        if getattr(self.args, "threads", None):
            s.threads = self.args.threads
        return s

    @property
    def store(self) -> GalleryStore:
        if self._store is None:
            from ..store import GalleryStore

            # a read-only command (``read_only`` set by its parser) creates no gallery where there is none
            self._store = GalleryStore(self.settings.gallery_path, create=not getattr(self.args, "read_only", False))
        return self._store

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            from ..pipeline import FaceAnalyzer

            self._analyzer = FaceAnalyzer(self.settings, weights=getattr(self.args, "weights", None))
        return self._analyzer

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def sync_xmp_after_decisions(ctx: Context) -> None:
    """Rewrite the XMP files facerec wrote that a decision made stale (the ``xmp_sync`` setting)."""
    from ..library.xmp_sync import after_decisions

    summary = after_decisions(ctx.store, ctx.settings)
    if summary is not None and (summary.written or summary.removed):
        out(f"XMP kept in sync: {summary.written} files rewritten, {summary.removed} removed")
    for path, reason in summary.errors if summary else []:
        err(f"error: {path}: {reason}")
