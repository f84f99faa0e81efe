"""``FaceGrid``: a grid of face thumbnails (cropped in a worker, pixmaps made on the GUI thread)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from .. import jobs
from ..context import AppContext
from ..images import placeholder_pixmap, rgb_to_pixmap

ROLE = Qt.UserRole


class FaceGrid(QListWidget):
    """Face thumbnails with a caption each; ``set_faces`` fills it, crops arrive in batches from a worker."""

    def __init__(self, ctx: AppContext, thumb: int = 96, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        self.thumb = thumb
        self.cache: dict[int, QPixmap] = {}
        self._task = None
        self.setViewMode(QListView.IconMode)
        self.setIconSize(QSize(thumb, thumb))
        self.setGridSize(QSize(thumb + 40, thumb + 40))
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setSelectionMode(QListWidget.ExtendedSelection)
        self.setWordWrap(True)

    def set_faces(self, faces: Sequence[tuple[int, str, Sequence[float], str, str]]) -> None:
        """``faces``: (face id, photo path, box, caption, tooltip)."""
        self.clear()
        missing = []
        for face_id, path, box, caption, tip in faces:
            item = QListWidgetItem(self.cache.get(face_id) or placeholder_pixmap(self.thumb), caption)
            item.setData(ROLE, face_id)
            item.setToolTip(tip)
            self.addItem(item)
            if face_id not in self.cache:
                missing.append((face_id, path, list(box)))
        if missing:
            if self._task is not None:
                self._task.cancel()
            self._task = self.ctx.tasks.start(jobs.face_thumbnails, missing[:2000], self.thumb, on_progress=self._ready)

    def _ready(self, batch) -> None:
        rows = {self.item(i).data(ROLE): self.item(i) for i in range(self.count())}
        for face_id, rgb in batch:
            pix = rgb_to_pixmap(rgb)
            self.cache[face_id] = pix
            if face_id in rows:
                rows[face_id].setIcon(pix)

    def face_ids(self) -> list[int]:
        return [self.item(i).data(ROLE) for i in range(self.count())]

    def selected_ids(self) -> list[int]:
        return [it.data(ROLE) for it in self.selectedItems()]

    def select_ids(self, ids: Sequence[int]) -> None:
        wanted = set(ids)
        for i in range(self.count()):
            self.item(i).setSelected(self.item(i).data(ROLE) in wanted)
