"""``PhotoViewer``: a photo large with its named boxes; click a face to name, confirm, reject or ignore it;
draw a box where the detector missed a face; previous/next through the current list; zoom.

Photos are decoded and decisions made in workers (``ui.library_jobs``); every decision goes through
``facerec.library.api.Library`` (undoable with Ctrl+Z, the library re-matched at once).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from facerec.library.review import Action
from facerec.store import FaceRecord, FaceStatus
from facerec.wording import plural

from .. import library_jobs, prompts
from ..context import AppContext
from ..images import rgb_to_qimage
from ..resources import icon
from ..widgets.boxes_view import KNOWN, UNKNOWN, BoxesView, BoxItem
from ..workers import Latest

ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0)
IGNORED = "#8a9099"


def face_label(f: FaceRecord) -> str:
    if f.status == FaceStatus.IGNORED:
        return "ignored"
    if f.status == FaceStatus.REJECTED:
        return f"not {f.person}" if f.person else "rejected"
    if not f.person:
        return "hand-drawn" if f.source == "manual" else "Unknown"
    if f.status == FaceStatus.CONFIRMED:
        return f"{f.person} ✓"
    return f"{f.person}?" + (f" {max(0.0, f.distance):.2f}" if f.distance is not None else "")


class PhotoViewer(QDialog):
    """The photo viewer over ``paths`` (a person's photos, a search, a group, a folder), at ``index``."""

    photoLoaded = Signal(str)
    """The path, once shown with its faces."""
    decided = Signal(object)
    """A DecisionResult or ManualFace after a change made here."""

    def __init__(self, ctx: AppContext, paths: Sequence[str], index: int = 0, parent: QWidget | None = None,
                 highlight: int | None = None, title: str = ""):
        super().__init__(parent)
        self.ctx = ctx
        self.paths = list(dict.fromkeys(paths))
        self.index = max(0, min(index, len(self.paths) - 1))
        self.list_title = title
        self.highlight = highlight
        self.faces: list[FaceRecord] = []
        self.zoom = 1.0
        self.full_size: tuple[int, int] = (0, 0)
        self._load_task = None
        self._face_reads = Latest()  # re-reads after decisions; only the latest one's faces are shown
        self.setObjectName("photoViewer")
        self.resize(1100, 800)

        self.view = BoxesView(self, placeholder="Loading…")
        self.view.boxClicked.connect(self._clicked)
        self.view.boxDrawn.connect(self.add_face)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.view)
        self.scroll.setWidgetResizable(True)
        self.scroll.setAlignment(Qt.AlignCenter)

        def button(text, icon_name, slot, keys, tip):
            b = QPushButton(icon(icon_name), text)
            b.clicked.connect(slot)
            if keys:
                b.setShortcut(QKeySequence(keys))
                tip = f"{tip} ({QKeySequence(keys).toString()})"
            b.setToolTip(tip)
            return b

        self.prev_btn = button("Previous", "chevron-up", self.previous, Qt.Key_Left, "The previous photo of the list")
        self.next_btn = button("Next", "chevron-down", self.next, Qt.Key_Right, "The next photo of the list")
        self.zoom_in_btn = button("Zoom in", "", lambda: self.set_zoom(self._step(+1)), "Ctrl++", "Enlarge")
        self.zoom_out_btn = button("Fit", "", lambda: self.set_zoom(1.0), "Ctrl+0", "The whole photo in the window")
        self.name_btn = button("Name…", "person", lambda: self.name_selected(), "N", "Name the selected face (an existing or a new person)")
        self.confirm_btn = button("Confirm", "check", lambda: self.decide_selected(Action.CONFIRM), "C", "The suggested name is right")
        self.reject_btn = button("Reject", "cross", lambda: self.decide_selected(Action.REJECT), "R", "The suggested name is wrong")
        self.ignore_btn = button("Ignore", "remove", lambda: self.decide_selected(Action.IGNORE), "I", "Not a face, or nobody to name")
        self.draw_btn = button("Draw a face", "photo-add", self.toggle_draw, "D", "Drag a box around a face the detector missed")
        self.draw_btn.setCheckable(True)
        self.undo_shortcut = QShortcut(QKeySequence.Undo, self, activated=ctx.undo_last)
        self.position = QLabel("")
        self.info = QLabel("")
        self.info.setObjectName("statusLine")
        self.info.setWordWrap(True)

        nav = QHBoxLayout()
        for b in (self.prev_btn, self.next_btn):
            nav.addWidget(b)
        nav.addWidget(self.position, 1)
        for b in (self.zoom_out_btn, self.zoom_in_btn):
            nav.addWidget(b)
        acts = QHBoxLayout()
        for b in (self.name_btn, self.confirm_btn, self.reject_btn, self.ignore_btn, self.draw_btn):
            acts.addWidget(b)
        acts.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(nav)
        lay.addWidget(self.scroll, 1)
        lay.addLayout(acts)
        lay.addWidget(self.info)
        ctx.libraryChanged.connect(self.reload_faces)
        self._update_buttons()
        self.load()

    # -- the list ------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.paths[self.index] if self.paths else ""

    def previous(self) -> None:
        if self.index > 0:
            self.index -= 1
            self.highlight = None
            self.load()

    def next(self) -> None:
        if self.index + 1 < len(self.paths):
            self.index += 1
            self.highlight = None
            self.load()

    def load(self) -> None:
        """Decode the current photo and read its faces in a worker."""
        if not self.paths:
            return
        self.setWindowTitle(self.path)
        where = f" · {self.list_title}" if self.list_title else ""
        self.position.setText(f"{self.index + 1} / {len(self.paths)}{where}")
        self.prev_btn.setEnabled(self.index > 0)
        self.next_btn.setEnabled(self.index + 1 < len(self.paths))
        if self._load_task is not None:
            self._load_task.cancel()
        self._load_task = self.ctx.tasks.start(library_jobs.load_photo, self.ctx.store, self.path, on_result=self._loaded,
                                               on_error=lambda e: self.info.setText(e.message))

    def _loaded(self, data: library_jobs.PhotoData) -> None:
        if data.path != self.path:
            return  # an older photo's result
        self._load_task = None
        if data.rgb is None:
            self.view.set_image(None)
            self.view.placeholder = f"Cannot show this photo: {data.error}"
        else:
            self.view.set_image(rgb_to_qimage(data.rgb), coord_size=data.full_size)
        self.full_size = data.full_size
        self._show_faces(data.faces)
        if self.highlight is not None:
            self.view.select(self.highlight)
        self._update_buttons()
        self.photoLoaded.emit(data.path)

    def reload_faces(self) -> None:
        if not (self.paths and self.isVisible()):
            return
        path = self.path

        def show(faces: list[FaceRecord]) -> None:
            if path == self.path:
                self._show_faces(faces)

        self.ctx.tasks.start(library_jobs.photo_faces, self.ctx.store, path, on_result=self._face_reads.only(show))

    def _show_faces(self, faces: list[FaceRecord]) -> None:
        self.faces = faces
        items = []
        for f in faces:
            color = KNOWN if f.person and f.status in (FaceStatus.CONFIRMED, FaceStatus.SUGGESTED) else UNKNOWN
            if f.status == FaceStatus.IGNORED:
                from PySide6.QtGui import QColor

                color = QColor(IGNORED)
            label = face_label(f)
            if f.status == FaceStatus.IGNORED and any(o.source == "manual" and o.id != f.id for o in faces):
                label = ""  # a face drawn by hand in its place carries the name; keep the labels apart
            items.append(BoxItem(f.id, tuple(f.box), label, color))
        self.view.set_boxes(items)
        if self.view.selected not in {f.id for f in faces}:
            self.view.select(None)
        self.info.setText(f"{plural(len(faces), 'face')} · {self.path}")
        self._update_buttons()

    # -- zoom ------------------------------------------------------------------------------------------
    def _step(self, d: int) -> float:
        i = min(range(len(ZOOMS)), key=lambda k: abs(ZOOMS[k] - self.zoom))
        return ZOOMS[max(0, min(len(ZOOMS) - 1, i + d))]

    def set_zoom(self, zoom: float) -> None:
        """1.0 = the whole photo in the window; more enlarges it inside the scroll area."""
        self.zoom = zoom
        if zoom <= 1.0:
            self.scroll.setWidgetResizable(True)
        else:
            self.scroll.setWidgetResizable(False)
            vp = self.scroll.viewport().size()
            self.view.resize(int(vp.width() * zoom), int(vp.height() * zoom))

    # -- decisions -------------------------------------------------------------------------------------
    def selected_face(self) -> FaceRecord | None:
        return next((f for f in self.faces if f.id == self.view.selected), None)

    def select_face(self, face_id: int) -> None:
        self.view.select(face_id)
        self._update_buttons()

    def _clicked(self, key) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        f = self.selected_face()
        self.name_btn.setEnabled(f is not None)
        self.confirm_btn.setEnabled(f is not None and bool(f.person) and f.status == FaceStatus.SUGGESTED)
        self.reject_btn.setEnabled(f is not None and bool(f.person) and f.status in (FaceStatus.SUGGESTED, FaceStatus.CONFIRMED))
        self.ignore_btn.setEnabled(f is not None and f.status != FaceStatus.IGNORED)

    def toggle_draw(self) -> None:
        on = self.draw_btn.isChecked()
        self.view.set_draw_mode(on)
        if on:
            self.info.setText("Drag a box around the face the detector missed.")

    def name_selected(self, name: str | None = None) -> None:
        f = self.selected_face()
        if f is None:
            return
        if name is None:
            names = sorted((p.name for p in self.ctx.store.list_people()), key=str.casefold)
            name = prompts.ask_choice(self, "Name this face", "Person (or type a new name):", names, editable=True,
                                      current=f.person if f.status != FaceStatus.REJECTED else None)
        if name:
            self._decide([f.id], Action.ASSIGN, name)

    def decide_selected(self, action: Action) -> None:
        f = self.selected_face()
        if f is not None:
            self._decide([f.id], action, None)

    def _decide(self, ids: list[int], action: Action, person: str | None) -> None:
        self.ctx.tasks.start(library_jobs.decide, self.ctx.library, ids, action, person, on_result=self._decided,
                             on_error=lambda e: prompts.error(self, "Photo", e.message, e.details))

    def _decided(self, result) -> None:
        if result.refused:
            self.info.setText("; ".join(f"face {i}: {why}" for i, why in result.refused))
        self.decided.emit(result)
        self.ctx.galleryChanged.emit()  # a new person, a re-match: every view refreshes (this one too)

    def add_face(self, box) -> None:
        """Store the drawn box as a manual face (embedded in a worker), then select it for naming."""
        self.draw_btn.setChecked(False)
        self.view.set_draw_mode(False)
        self.info.setText("Adding the face…")

        def done(face) -> None:
            self.highlight = face.face_id
            self.decided.emit(face)
            self.ctx.libraryChanged.emit()
            self.select_face(face.face_id)
            self.info.setText(f"Face added ({face.how}); name it with Name…")

        self.ctx.tasks.start(library_jobs.add_face, self.ctx.library, self.path, [float(v) for v in box],
                             on_result=done, on_error=lambda e: prompts.error(self, "Draw a face", e.message, e.details))

    def done(self, result: int) -> None:
        try:
            self.ctx.libraryChanged.disconnect(self.reload_faces)
        except (RuntimeError, TypeError):
            pass
        super().done(result)
