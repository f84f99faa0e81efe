"""``AppContext``: the settings, gallery store and analyzer shared by every view, and change signals."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from facerec.config import Settings
from facerec.pipeline import FaceAnalyzer
from facerec.store import GalleryStore

from .workers import TaskRunner

log = logging.getLogger(__name__)


class AppContext(QObject):
    galleryChanged = Signal()
    """People or samples changed (the People view and the live gallery refresh)."""
    libraryChanged = Signal()
    """Scanned photos or face decisions changed."""
    settingsChanged = Signal()
    undone = Signal(object)
    """``facerec.library.undo.UndoResult`` (or None: nothing to undo) after ``undo_last``."""

    def __init__(self, settings: Settings | None = None, settings_path: Path | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.settings_path = settings_path
        self.settings = settings or Settings.load(settings_path)
        self.store = GalleryStore(self.settings.gallery_path)
        self._analyzer: FaceAnalyzer | None = None
        self._lock = threading.Lock()
        self.tasks = TaskRunner(self)
        self.galleryChanged.connect(self.libraryChanged)
        self._xmp_task = None
        self._xmp_again = False
        self.libraryChanged.connect(self.sync_xmp)

    @property
    def analyzer(self) -> FaceAnalyzer:
        """Created on first use; its models load lazily on the first (background) analysis."""
        with self._lock:
            if self._analyzer is None:
                self._analyzer = FaceAnalyzer(self.settings)
            return self._analyzer

    @property
    def library(self):
        """``facerec.library.api.Library`` over this gallery (Qt-free; its calls run in workers)."""
        from facerec.library.api import Library

        return Library(self.store, self.analyzer)

    def undo_last(self) -> None:
        """Undo the last library operation (Ctrl+Z) in a worker; every view refreshes, ``undone`` says what."""
        from . import library_jobs

        def done(result) -> None:
            self.undone.emit(result)
            if result is not None:
                self.galleryChanged.emit()

        def failed(e) -> None:
            from . import prompts

            log.warning("undo failed: %s", e.message)
            prompts.error(None, "Undo", f"Could not undo: {e.message}", e.details)

        self.tasks.start(library_jobs.undo, self.library, on_result=done, on_error=failed)

    def gallery_index(self):
        a = self.analyzer
        return self.store.gallery_index(a.model_id)

    def threshold_in_force(self) -> tuple[float, int]:
        """(the identification threshold in force for this gallery and model, the gallery's sample count),
        without loading a model (``facerec.pipeline.threshold_in_force``)."""
        from facerec.embedders import get_pack
        from facerec.pipeline import threshold_in_force

        size = self.store.gallery_size(get_pack(self.settings.model).model_id)
        return threshold_in_force(self.settings, size), size

    def apply_settings(self, new: Settings) -> None:
        """Save ``new`` and reopen what it changes (the gallery file, the analyzer)."""
        old = self.settings
        new.save(self.settings_path)
        self.settings = new
        if Path(new.gallery_path) != Path(old.gallery_path):
            self.store.close()
            self.store = GalleryStore(new.gallery_path)
            self.galleryChanged.emit()
        with self._lock:
            if self._analyzer is not None:
                if new.model != old.model:
                    self._analyzer = None  # another embedder: reloaded on first use
                else:
                    self._analyzer.settings = new
                    self._analyzer.detector.set_min_face_size(new.detector.min_face_size)
        self.settingsChanged.emit()
        self.libraryChanged.emit()

    def sync_xmp(self) -> None:
        """After decisions: rewrite the XMP files facerec wrote that are now stale (in the background;
        the ``xmp_sync`` setting; a no-op when facerec has written none)."""
        if not self.settings.xmp_sync:
            return
        if self._xmp_task is not None:
            self._xmp_again = True
            return
        from . import jobs

        def finished() -> None:
            self._xmp_task = None
            if self._xmp_again:
                self._xmp_again = False
                self.sync_xmp()

        def done(summary) -> None:
            for path, reason in summary.errors if summary else []:
                log.warning("%s: XMP not rewritten: %s", path, reason)

        self._xmp_task = self.tasks.start(jobs.sync_xmp, self.store, self.settings, on_result=done, on_finished=finished)

    def close(self) -> None:
        self.tasks.cancel_all()
        self.tasks.wait(30000)
        self.store.close()
