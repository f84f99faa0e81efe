"""Dialogs: pick a face in a group photo, a photo shown large with its boxes, webcam capture, About."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Qt, QThread, Signal

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import facerec
from facerec.imaging import LoadedImage
from facerec.store import FaceStatus
from facerec.wording import plural

from .images import rgb_to_qimage
from .widgets.boxes_view import KNOWN, UNKNOWN, BoxesView, BoxItem


class FacePickerDialog(QDialog):
    """Shows a photo with numbered boxes; the user clicks the face to enrol."""

    def __init__(self, image: LoadedImage, faces, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Which face?")
        self.resize(820, 640)
        self.faces = faces
        self.view = BoxesView(self)
        self.view.set_image(rgb_to_qimage(image.rgb), coord_size=image.full_size)
        self.view.set_boxes([BoxItem(i, tuple(float(v) for v in f.box), str(i + 1), UNKNOWN) for i, f in enumerate(faces)])
        self.hint = QLabel(f"{len(faces)} faces in {image.path or 'this photo'}. Click the face to enrol "
                           "(or press its number), then Enter; a double-click enrols it at once.")
        self.hint.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.view.boxClicked.connect(self._clicked)
        self.view.boxDoubleClicked.connect(lambda key: (self._clicked(key), self.accept()))
        self.buttons.button(QDialogButtonBox.Ok).setDefault(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.hint)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.buttons)

    def _clicked(self, key) -> None:
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(True)
        self.hint.setText(f"Face {key + 1} selected.")

    def choose(self, index: int) -> None:
        self.view.select(index)
        self._clicked(index)

    def selected_index(self) -> int | None:
        return self.view.selected

    def keyPressEvent(self, event) -> None:
        """Number keys choose a face; Enter accepts the chosen one (never a face the user did not pick)."""
        text = event.text()
        if text.isdigit() and 1 <= int(text) <= len(self.faces):
            self.choose(int(text) - 1)
            return
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            if self.view.selected is not None:
                self.accept()
            return
        super().keyPressEvent(event)


class PhotoDialog(QDialog):
    """A photo opened large, with its face boxes and names."""

    def __init__(self, path: str, faces, parent: QWidget | None = None, highlight: int | None = None):
        super().__init__(parent)
        from facerec.imaging import load_image

        self.setWindowTitle(path)
        self.resize(1000, 760)
        self.view = BoxesView(self)
        try:
            img = load_image(path, max_side=2048)
            self.view.set_image(rgb_to_qimage(img.rgb), coord_size=img.full_size)
        except facerec.ImageError as exc:
            self.view.placeholder = f"Cannot show this photo: {exc.reason}"
        items = []
        for f in faces:
            label = f.person or "Unknown"
            if f.distance is not None and f.person:
                label += f" {max(0.0, f.distance):.2f}"
            if f.status == FaceStatus.CONFIRMED:
                label += " ✓"
            items.append(BoxItem(f.id, tuple(f.box), label, KNOWN if f.person else UNKNOWN))
        self.view.set_boxes(items)
        if highlight is not None:
            self.view.select(highlight)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view, 1)
        lay.addWidget(QLabel(f"{plural(len(faces), 'face')} · {path}"))
        lay.addWidget(buttons)


class FrameGrabber(QThread):
    """Reads frames from a camera (or video file) and emits them as RGB arrays."""

    frame = Signal(object)
    failed = Signal(str)

    def __init__(self, source, parent=None):
        super().__init__(parent)
        self.source = source
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        self.wait(5000)

    def run(self) -> None:
        from facerec.live import CameraFrames, CameraStopped

        try:
            camera = CameraFrames(self.source, loop=True)  # a video file standing in for a camera loops
        except OSError as exc:
            self.failed.emit(str(exc))
            return
        try:
            for rgb in camera.frames(self._stop):
                self.frame.emit(rgb)
                self.msleep(30)
        except CameraStopped:
            self.failed.emit("the camera stopped sending frames")
        finally:
            camera.close()


class CaptureDialog(QDialog):
    """Webcam captures for enrolment: preview, press Capture a few times, then Enrol."""

    def __init__(self, person: str, camera: int = 0, parent: QWidget | None = None, source: str | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Webcam captures for {person}")
        self.resize(760, 620)
        self.frames: list[np.ndarray] = []
        self._last: np.ndarray | None = None
        self.view = BoxesView(self, placeholder="Starting the camera…")
        self.camera = QSpinBox()
        self.camera.setRange(0, 16)
        self.camera.setValue(camera)
        self.camera.setPrefix("Camera ")
        self.capture_btn = QPushButton("Capture")
        self.capture_btn.setShortcut(Qt.Key_Space)
        self.count = QLabel("0 captures")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Enrol captures")
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.camera)
        row.addWidget(self.capture_btn)
        row.addWidget(self.count, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view, 1)
        lay.addLayout(row)
        lay.addWidget(self.buttons)
        self.capture_btn.clicked.connect(self.capture)
        self.camera.valueChanged.connect(self._restart)
        self.grabber: FrameGrabber | None = None
        self.source = source
        """A video file to use instead of the camera (tests, demos)."""
        if source:
            self.camera.setVisible(False)
        self._restart()

    def _restart(self) -> None:
        if self.grabber is not None:
            self.grabber.stop()
        self.grabber = FrameGrabber(self.source or self.camera.value(), self)
        self.grabber.frame.connect(self._frame)
        self.grabber.failed.connect(self._failed)
        self.grabber.start()

    def _frame(self, rgb: np.ndarray) -> None:
        self._last = rgb
        self.view.set_image(rgb_to_qimage(rgb))

    def _failed(self, message: str) -> None:
        self.view.set_image(None)
        self.view.placeholder = f"{message}.\nChoose another camera number."
        self.view.update()

    def capture(self) -> None:
        if self._last is not None:
            self.frames.append(self._last.copy())
            self.count.setText(plural(len(self.frames), "capture"))
            self.buttons.button(QDialogButtonBox.Ok).setEnabled(True)

    def done(self, result: int) -> None:
        if self.grabber is not None:
            self.grabber.stop()
            self.grabber = None
        super().done(result)


def about_text() -> str:
    return (
        f"<h2>facerec {facerec.__version__}</h2>"
        "<p>Local-first face recognition: enrol your friends, recognise them live, tag photo folders.</p>"
        "<p>Everything stays on this computer: photos, face embeddings and the gallery database are never "
        "uploaded anywhere.</p>"
        "<p>Detection: MTCNN (facenet-pytorch). Embeddings: OpenCV SFace by default.</p>"
    )


