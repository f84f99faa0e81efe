"""Live: a camera (or a video file standing in for one) with a box, a name or "Unknown" and the distance on
each face, the frame rate, a strictness slider that moves the threshold live, and "Add this face to…"."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from facerec.embedders.packs import strictness_range
from facerec.wording import plural

from .. import jobs, prompts
from ..context import AppContext
from ..images import rgb_to_qimage
from ..live_worker import LiveWorker
from ..resources import icon
from ..widgets.boxes_view import KNOWN, UNKNOWN, BoxesView, BoxItem

# The strictness slider runs from lenient to strict: the ends are the model pack's (ModelPack.strictness_range;
# SFace: 0.80 to 0.20; dlib, whose distances are ten times smaller: 0.1125 to 0.0195).
LENIENT, STRICT = strictness_range("sface")


def slider_to_threshold(value: int, ends: tuple[float, float] = (LENIENT, STRICT)) -> float:
    lenient, strict = ends
    return lenient + (strict - lenient) * value / 100.0


def threshold_to_slider(threshold: float, ends: tuple[float, float] = (LENIENT, STRICT)) -> int:
    lenient, strict = ends
    return int(round((threshold - lenient) / (strict - lenient) * 100))


class LiveView(QWidget):
    frameShown = Signal(object)
    """The ``LiveFrame`` just drawn (tests read names and boxes from it)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("liveView")
        self.worker: LiveWorker | None = None
        self.video_path: str | None = None
        self.last_frame = None

        self.source = QComboBox()
        self.source.addItem("Camera")
        self.source.addItem("Video file…")
        self.source.activated.connect(self._source_changed)
        self.camera = QSpinBox()
        self.camera.setRange(0, 16)
        self.camera.setPrefix("Device ")
        self.camera.setToolTip("OpenCV camera index")
        self.start_btn = QPushButton(icon("play"), "Start")
        self.start_btn.setObjectName("primaryButton")
        self.start_btn.clicked.connect(self.toggle)
        self.fps = QLabel("– fps")
        self.fps.setObjectName("fpsLabel")

        self.strictness = QSlider(Qt.Horizontal)
        self.strictness.setRange(0, 100)
        self.strictness.setToolTip("Stricter: fewer false names, more \"Unknown\"")
        self.strictness.valueChanged.connect(self._strictness_changed)
        self.threshold_label = QLabel()

        self.view = BoxesView(self, placeholder="Choose a camera or a video file and press Start.")
        self.view.boxClicked.connect(self._box_clicked)
        self.faces = QListWidget()
        self.faces.setObjectName("liveFaces")
        self.faces.setMaximumWidth(260)
        self.faces.currentItemChanged.connect(self._face_selected)
        self.add_btn = QPushButton(icon("person-add"), "Add this face to…")
        self.add_btn.setEnabled(False)
        self.add_btn.clicked.connect(lambda: self.add_selected_face())
        self.status = QLabel("")
        self.status.setObjectName("statusLine")

        top = QHBoxLayout()
        top.addWidget(QLabel("Source"))
        top.addWidget(self.source)
        top.addWidget(self.camera)
        top.addWidget(self.start_btn)
        top.addSpacing(16)
        top.addWidget(QLabel("Lenient"))
        top.addWidget(self.strictness, 1)
        top.addWidget(QLabel("Strict"))
        top.addWidget(self.threshold_label)
        top.addSpacing(16)
        top.addWidget(self.fps)

        side = QVBoxLayout()
        head = QLabel("Faces in view")
        head.setObjectName("sectionTitle")
        side.addWidget(head)
        side.addWidget(self.faces, 1)
        side.addWidget(self.add_btn)
        body = QHBoxLayout()
        body.addWidget(self.view, 1)
        body.addLayout(side)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(body, 1)
        lay.addWidget(self.status)

        self._auto_threshold = True
        """While the user has not moved the slider, it follows the default for the gallery."""
        self._programmatic = False
        self._exact: float | None = None
        self._sync_threshold()
        ctx.settingsChanged.connect(self._sync_threshold)
        ctx.galleryChanged.connect(self._gallery_changed)

    # -- controls -----------------------------------------------------------------------------------
    @property
    def ends(self) -> tuple[float, float]:
        """(lenient, strict) thresholds at the slider's ends: the selected model pack's."""
        return strictness_range(self.ctx.settings.model)

    def _sync_threshold(self) -> None:
        """The slider and label show the threshold in force (the user's, else the calibrated one for this
        gallery's size): the same number as Settings and ``facerec models list``."""
        self._warn_if_no_samples()
        t = self.ctx.settings.threshold
        self._auto_threshold = t is None
        if t is None:
            t, _ = self.ctx.threshold_in_force()
        self._set_threshold(t)

    def _set_threshold(self, t: float) -> None:
        self._programmatic = True
        try:
            self._exact = float(t)  # the slider has 1/100 steps; the label and the worker get the exact value
            self.strictness.setValue(max(0, min(100, threshold_to_slider(t, self.ends))))
            self._strictness_changed(self.strictness.value())
        finally:
            self._programmatic = False

    def _default_threshold(self, t: float) -> None:
        if self._auto_threshold:
            self._set_threshold(t)

    @property
    def threshold(self) -> float:
        return self._exact if self._exact is not None else slider_to_threshold(self.strictness.value(), self.ends)

    def _strictness_changed(self, value: int) -> None:
        if not self._programmatic:
            self._auto_threshold = False  # the user's choice from now on
            self._exact = None
        self.threshold_label.setText(f"threshold {self.threshold:.3f}")
        if self.worker is not None:
            self.worker.set_threshold(self.threshold)

    def _source_changed(self, index: int) -> None:
        if index == 1:
            path = prompts.ask_video(self)
            if path:
                self.set_video(path)
            elif not self.video_path:
                self.source.setCurrentIndex(0)
        self.camera.setVisible(self.source.currentIndex() == 0)

    def set_video(self, path: str) -> None:
        self.video_path = path
        self.source.setItemText(1, f"Video: {path.rsplit('/', 1)[-1]}")
        self.source.setCurrentIndex(1)
        self.camera.setVisible(False)

    def current_source(self) -> int | str:
        if self.source.currentIndex() == 1 and self.video_path:
            return self.video_path
        return self.camera.value()

    def _warn_if_no_samples(self) -> bool:
        """Say so (as the CLI does) when the gallery has no samples for the selected model: every face would
        be unknown. Returns whether it warned."""
        from facerec.embedders import get_pack

        try:
            pack = get_pack(self.ctx.settings.model)
        except Exception:  # an unknown pack is reported where the model is loaded
            return False
        if self.ctx.store.sample_models().get(pack.model_id):
            if self.status.text().startswith("No samples for"):
                self.status.setText("")
            return False
        self.status.setText(
            f"No samples for the model {pack.name} ({pack.model_id}) in this gallery: every face will be unknown. "
            "Enrol people with this model, or choose the model they were enrolled with in Settings."
        )
        return True

    # -- running ------------------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.worker is None:
            self.start()
        else:
            self.stop()

    def start(self, loop: bool = True) -> None:
        if self.worker is not None:
            return
        source = self.current_source()
        if not self._warn_if_no_samples():
            self.status.setText("Starting…")
        self.worker = LiveWorker(self.ctx.analyzer, self.ctx.store, source, self.threshold, loop=loop, parent=self)
        self.worker.frameReady.connect(self._frame)
        self.worker.failed.connect(self._failed)
        self.worker.ready.connect(self._default_threshold)
        self.worker.finished.connect(self._ended)
        self.worker.start()
        self.start_btn.setText("Stop")
        self.start_btn.setIcon(icon("stop"))

    def stop(self) -> None:
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.stop()
            worker.deleteLater()
        self.start_btn.setText("Start")
        self.start_btn.setIcon(icon("play"))
        self.fps.setText("– fps")

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        prompts.error(self, "Live view", message)

    def _ended(self) -> None:
        if self.worker is not None and self.sender() is self.worker:
            self.stop()
            self.status.setText("Stopped.")

    def _gallery_changed(self) -> None:
        self._warn_if_no_samples()
        if self._auto_threshold:
            self._sync_threshold()  # the calibrated threshold follows the gallery's size
        if self.worker is not None:
            self.worker.set_gallery(self.ctx.gallery_index())

    # -- drawing ------------------------------------------------------------------------------------
    def _frame(self, rgb, frame) -> None:
        if self.worker is None:
            return
        self.last_frame = frame
        self.view.set_image(rgb_to_qimage(rgb))
        self.view.set_boxes([
            BoxItem(f.track_id, tuple(float(v) for v in f.box), f.label, KNOWN if f.known else UNKNOWN) for f in frame.faces
        ])
        self.fps.setText(f"{frame.fps:.0f} fps")
        self.status.setText(f"{plural(len(frame.faces), 'face')} · {frame.latency_ms:.1f} ms per frame")
        selected = self.view.selected
        ids = [f.track_id for f in frame.faces]
        if [self.faces.item(i).data(Qt.UserRole) for i in range(self.faces.count())] != ids:
            self.faces.blockSignals(True)
            self.faces.clear()
            for f in frame.faces:
                item = QListWidgetItem(f"#{f.track_id}  {f.label}")
                item.setData(Qt.UserRole, f.track_id)
                self.faces.addItem(item)
                if f.track_id == selected:
                    self.faces.setCurrentItem(item)
            self.faces.blockSignals(False)
        else:
            for i, f in enumerate(frame.faces):
                self.faces.item(i).setText(f"#{f.track_id}  {f.label}")
        self.add_btn.setEnabled(selected in ids)
        self.frameShown.emit(frame)

    def _box_clicked(self, track_id) -> None:
        self.add_btn.setEnabled(True)
        for i in range(self.faces.count()):
            if self.faces.item(i).data(Qt.UserRole) == track_id:
                self.faces.setCurrentRow(i)

    def _face_selected(self, item, _prev=None) -> None:
        if item is not None:
            self.view.select(item.data(Qt.UserRole))
            self.add_btn.setEnabled(True)

    def add_selected_face(self, name: str | None = None) -> None:
        """Enrol the selected face as a sample of a person chosen (or typed) by the user."""
        track_id = self.view.selected
        sample = self.worker.face_sample(track_id) if self.worker is not None and track_id is not None else None
        if sample is None:
            prompts.info(self, "Add this face", "Select a named or unknown face in the picture first (click its box).")
            return
        names = [p.name for p in self.ctx.store.list_people()]
        name = name or prompts.ask_choice(self, "Add this face to…", "Person (or type a new name):", names, editable=True)
        if not name:
            return
        emb, chip, box = sample
        self.ctx.tasks.start(
            jobs.enrol_embedding, self.ctx.store, self.ctx.analyzer.model_id, name, emb, chip, box,
            on_result=lambda _sid: (self.status.setText(f"Face added to {name}."), self.ctx.galleryChanged.emit()),
            on_error=lambda err: prompts.error(self, "Add this face", err.message, err.details),
        )

    def shutdown(self) -> None:
        self.stop()
