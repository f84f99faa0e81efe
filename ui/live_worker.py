"""``LiveWorker``: a QThread that reads a camera or video file and runs ``facerec.live.LiveRecognizer``."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QThread, Signal

from facerec.live import CameraFrames, CameraStopped, LiveConfig, LiveRecognizer


log = logging.getLogger(__name__)


class LiveWorker(QThread):
    frameReady = Signal(object, object)
    """(H x W x 3 uint8 RGB array, facerec.live.LiveFrame): no Qt object is made on this thread."""
    failed = Signal(str)
    ended = Signal()
    ready = Signal(float)
    """The default threshold for this gallery (the calibrated gallery-size curve), once the model is loaded."""

    def __init__(self, analyzer, gallery, source, threshold: float, loop: bool = False, config: LiveConfig | None = None, parent=None):
        """``gallery`` is a ``GalleryIndex``, or a ``GalleryStore`` to read it from once the model is loaded."""
        super().__init__(parent)
        self.analyzer, self.gallery, self.source = analyzer, gallery, source
        self.threshold = threshold
        self.loop = loop
        self.config = config or LiveConfig()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.recognizer: LiveRecognizer | None = None
        self.frames = 0

    def stop(self) -> None:
        self._stop.set()
        self.wait(10000)

    def set_threshold(self, value: float) -> None:
        self.threshold = value
        with self._lock:
            if self.recognizer is not None:
                self.recognizer.set_threshold(value)

    def set_gallery(self, gallery) -> None:
        self.gallery = gallery
        with self._lock:
            if self.recognizer is not None:
                self.recognizer.set_gallery(gallery)

    def face_sample(self, track_id: int):
        with self._lock:
            return self.recognizer.face_sample(track_id) if self.recognizer is not None else None

    def run(self) -> None:
        try:
            camera = CameraFrames(self.source, loop=self.loop, realtime=True)
        except OSError as exc:
            self.failed.emit(f"{exc}. Check that it is connected and not used by another program, or choose a video file.")
            return
        try:
            model_id = self.analyzer.prepare().model_id  # loads the models here, off the GUI thread
            with self._lock:
                if hasattr(self.gallery, "gallery_index"):
                    self.gallery = self.gallery.gallery_index(model_id)
                self.recognizer = LiveRecognizer(self.analyzer, self.gallery, self.config, self.threshold)
            self.ready.emit(float(self.analyzer.threshold_for(self.gallery)))
            for rgb in camera.frames(self._stop):
                with self._lock:
                    frame = self.recognizer.process(rgb)
                self.frames += 1
                self.frameReady.emit(rgb, frame)  # the GUI thread makes the QImage
        except CameraStopped:
            self.failed.emit("The camera stopped sending frames.")
        except Exception as exc:
            log.exception("live view failed")
            self.failed.emit(f"Live recognition stopped: {exc}")
        finally:
            camera.close()
            with self._lock:
                if self.recognizer is not None:
                    self.recognizer.close()
            self.ended.emit()
