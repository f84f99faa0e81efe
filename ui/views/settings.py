"""Settings: detector minimum face size, threshold, embedder model, gallery location."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from facerec.config import Settings, is_database_url
from facerec.wording import plural

from .. import prompts
from ..context import AppContext


def model_choices() -> list[tuple[str, str]]:
    """(pack name, label) for every registered embedder pack."""
    from facerec import embedders
    from facerec.threads import torch_available

    no_torch = not torch_available()  # the standalone bundle: the torch-based packs cannot run
    out = []
    for pack in embedders.list_packs():
        if pack.needs_torch and no_torch:
            note = " (needs PyTorch)"
        else:
            note = "" if embedders.is_installed(pack) else " (not installed)"
        out.append((pack.name, f"{pack.name}{note}"))
    return out


class SettingsView(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("settingsView")
        title = QLabel("Settings")
        title.setObjectName("viewTitle")

        self.min_face = QSpinBox()
        self.min_face.setRange(10, 400)
        self.min_face.setSuffix(" px")
        self.min_face.setToolTip("Smaller faces are ignored (measured on the photo as fed to the detector)")
        self.threads = QSpinBox()
        self.threads.setRange(1, max(1, os.cpu_count() or 1))
        self.threads.setToolTip("CPU threads for detection and recognition; a library scan analyses this many photos at once")
        self.default_threshold = QCheckBox("Use the model's calibrated threshold")
        self.threshold = QDoubleSpinBox()
        self.threshold.setDecimals(4)  # the range and step are the model pack's (_fit_threshold_range)
        self.threshold.setToolTip("Cosine distance: a face is named when its nearest person is at most this far")
        self.default_threshold.toggled.connect(lambda on: self.threshold.setEnabled(not on))
        self.model = QComboBox()
        for name, label in model_choices():
            self.model.addItem(label, name)
        self.models_state = QLabel()
        self.models_state.setWordWrap(True)
        self.models_state.setObjectName("subtitle")
        self.install_btn = QPushButton("Install…")
        self.install_btn.setToolTip("Download and check the face detector's and the chosen face model's weights")
        self.install_btn.clicked.connect(self.install_models)
        self.model.currentIndexChanged.connect(lambda _=0: (self._show_models_state(), self._fit_threshold_range()))
        ms = QHBoxLayout()
        ms.addWidget(self.models_state, 1)
        ms.addWidget(self.install_btn)
        self.gallery = QLineEdit()
        self.gallery_btn = QPushButton("Choose…")
        self.gallery_btn.clicked.connect(self._choose_gallery)
        g = QHBoxLayout()
        g.addWidget(self.gallery, 1)
        g.addWidget(self.gallery_btn)
        th = QHBoxLayout()
        th.addWidget(self.threshold)
        th.addWidget(self.default_threshold, 1)

        self.min_face.setMaximumWidth(140)
        self.threads.setMaximumWidth(140)
        self.threshold.setMaximumWidth(110)
        self.model.setMinimumWidth(260)
        self.model.setMaximumWidth(360)
        form = QFormLayout()
        form.setHorizontalSpacing(18)
        form.setVerticalSpacing(12)
        form.addRow("Minimum face size", self.min_face)
        form.addRow("Recognition threshold", th)
        form.addRow("Face model", self.model)
        form.addRow("Model files", ms)
        form.addRow("CPU threads", self.threads)
        form.addRow("Gallery database", g)
        self.xmp_read = QCheckBox("Read face regions other apps wrote (digiKam, Lightroom, Picasa…) when scanning")
        self.xmp_sync = QCheckBox("Keep the XMP files facerec wrote in step with your decisions")
        self.xmp_style = QComboBox()
        self.xmp_style.addItem("photo.jpg.xmp (digiKam, darktable, Immich)", "digikam")
        self.xmp_style.addItem("photo.xmp (Lightroom)", "lightroom")
        self.xmp_style.setMaximumWidth(360)
        xmp = QVBoxLayout()
        xmp.setSpacing(6)
        xmp.addWidget(self.xmp_read)
        xmp.addWidget(self.xmp_sync)
        xmp.addWidget(self.xmp_style)
        form.addRow("Photo metadata (XMP)", xmp)

        self.save_btn = QPushButton("Save")
        self.save_btn.setObjectName("primaryButton")
        self.save_btn.clicked.connect(self.save)
        self.revert_btn = QPushButton("Revert")
        self.revert_btn.clicked.connect(self.load)
        self.note = QLabel(
            "Settings are stored in your user configuration folder. A gallery made with another face model keeps "
            "its samples, but they are only used with that model."
        )
        self.note.setWordWrap(True)
        self.note.setObjectName("subtitle")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_btn)
        buttons.addWidget(self.save_btn)

        panel = QWidget()
        panel.setObjectName("settingsPanel")
        panel.setMaximumWidth(820)
        pl = QVBoxLayout(panel)
        pl.setContentsMargins(0, 8, 0, 0)
        pl.addLayout(form)
        pl.addSpacing(8)
        pl.addWidget(self.note)
        pl.addLayout(buttons)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(panel)
        lay.addStretch(1)
        self.load()
        ctx.settingsChanged.connect(self.load)
        ctx.galleryChanged.connect(self._show_threshold)

    def load(self) -> None:
        s = self.ctx.settings
        self.min_face.setValue(s.detector.min_face_size)
        self.threads.setValue(s.threads)
        i = self.model.findData(s.model)
        self.model.setCurrentIndex(max(0, i))
        self._fit_threshold_range()
        self.default_threshold.setChecked(s.threshold is None)
        self.threshold.setEnabled(s.threshold is not None)
        if s.threshold is not None:
            self.threshold.setValue(s.threshold)
        self._show_threshold()
        self.gallery.setText(str(s.gallery_path))
        self.xmp_read.setChecked(s.xmp_read_on_scan)
        self.xmp_sync.setChecked(s.xmp_sync)
        self.xmp_style.setCurrentIndex(max(0, self.xmp_style.findData(s.xmp_sidecar_style)))
        self._show_models_state()

    def _fit_threshold_range(self) -> None:
        """The threshold box spans the selected model pack's range (ModelPack.threshold_bounds): dlib's
        distances are ten times smaller than SFace's."""
        from facerec.embedders.packs import PACKS

        pack = PACKS.get(self.model.currentData() or self.ctx.settings.model) or PACKS["sface"]
        low, high, step = pack.threshold_bounds()
        self.threshold.setRange(low, high)
        self.threshold.setSingleStep(step)

    def _show_threshold(self) -> None:
        """The threshold box shows the threshold in force (the user's, else the calibrated one for this
        gallery's size: the number Live and ``facerec models list`` show)."""
        in_force, samples = self.ctx.threshold_in_force()
        if self.default_threshold.isChecked():
            self.threshold.setValue(in_force)
        self.default_threshold.setToolTip(
            f"Calibrated for this gallery of {plural(samples, 'sample')}: {in_force:.3f} now; stricter as the gallery grows"
        )

    def _show_models_state(self) -> None:
        """Whether the face detector and the chosen model are installed, and where they are looked for."""
        from facerec import model_setup

        model = self.model.currentData() or self.ctx.settings.model
        missing = model_setup.missing(model)
        places = ", ".join(str(p) for p in model_setup.where_looked())
        if missing:
            self.models_state.setText("Missing: " + "; ".join(r.what for r in missing) + f". Looked for in {places}.")
        else:
            self.models_state.setText(f"Installed (face detector and {model}). Looked for in {places}.")
        self.install_btn.setEnabled(bool(missing))

    def install_models(self) -> None:
        from ..model_install import offer_install

        dialog = offer_install(self.ctx, self, self.model.currentData() or self.ctx.settings.model)
        if dialog is not None:
            dialog.installed.connect(self._show_models_state)
            dialog.finished.connect(lambda _=0: self._show_models_state())

    def edited(self) -> Settings:
        s = copy.deepcopy(self.ctx.settings)
        s.detector.min_face_size = self.min_face.value()
        s.threads = self.threads.value()
        s.threshold = None if self.default_threshold.isChecked() else round(self.threshold.value(), 3)
        s.model = self.model.currentData() or s.model
        s.xmp_read_on_scan = self.xmp_read.isChecked()
        s.xmp_sync = self.xmp_sync.isChecked()
        s.xmp_sidecar_style = self.xmp_style.currentData() or s.xmp_sidecar_style
        path = self.gallery.text().strip()
        if is_database_url(path):  # a shared gallery on a PostgreSQL server
            s.db_path = path
        else:
            s.db_path = Path(path).expanduser() if path and Path(path).expanduser() != s.gallery_path else s.db_path
        return s

    def save(self) -> None:
        try:
            self.ctx.apply_settings(self.edited())
        except Exception as exc:  # a bad gallery path, an unreadable file: keep the old settings
            prompts.error(self, "Settings not saved", str(exc))
            self.load()

    def _choose_gallery(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Gallery database", self.gallery.text(), "Gallery (*.db)", options=QFileDialog.DontConfirmOverwrite)
        if path:
            self.gallery.setText(path)
