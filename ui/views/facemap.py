"""The map of faces: every sample and library face placed by likeness (PCA, or t-SNE for a closer look),
coloured by person, unknown faces grey; hovering a point shows its face, clicking a face opens its photo.

The map is computed by a worker (jobs.face_map -> facerec.library.facemap.FaceMap, plain data); thumbnails
are cut by a worker too; a right click on a face offers "Find similar faces" (the Library view lists them) (jobs.face_thumbnails, RGB arrays); pixmaps and widgets are made on the GUI thread only.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from facerec.library.facemap import FaceMap, MapPoint, person_colour
from facerec.library.grouping import pack_model_id

from .. import jobs, prompts
from ..context import AppContext
from ..images import rgb_to_pixmap
from ..resources import icon

THUMB = 96
MARGIN = 24


class MapCanvas(QWidget):
    """Draws the points; reports the point under the mouse and clicks on points (indices into ``points``)."""

    hovered = Signal(int)
    """Index of the point under the mouse, or -1."""
    clicked = Signal(int)
    contextClicked = Signal(int)
    """Right click on a point (index)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mapCanvas")
        self.setMouseTracking(True)
        self.setMinimumSize(400, 300)
        self.points: list[MapPoint] = []
        self._xy = np.zeros((0, 2))
        self.hover = -1
        self.colours: dict[str, tuple[int, int, int]] = {}
        self.highlight: str | None = None
        """A person whose points are drawn on top, larger."""
        self.message = "Computing the map…"

    def set_points(self, points: list[MapPoint], colours: dict[str, tuple[int, int, int]] | None = None) -> None:
        self.points = points
        self.colours = colours or {}
        self._xy = np.array([[p.x, p.y] for p in points], float).reshape(-1, 2)
        self.hover = -1
        self.update()

    def area(self) -> QRectF:
        return QRectF(self.rect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)

    def screen_xy(self) -> np.ndarray:
        a = self.area()
        return np.column_stack([a.left() + self._xy[:, 0] * a.width(), a.top() + (1.0 - self._xy[:, 1]) * a.height()])

    def point_at(self, x: float, y: float, radius: float = 7.0) -> int:
        if not len(self._xy):
            return -1
        d = np.hypot(*(self.screen_xy() - np.array([x, y])).T)
        i = int(np.argmin(d))
        return i if d[i] <= radius else -1

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt)
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor("#161b22"))
        if not self.points:
            p.setPen(QColor("#8b949e"))
            p.drawText(self.rect(), Qt.AlignCenter, self.message)
            return
        xy = self.screen_xy()
        order = sorted(range(len(self.points)), key=lambda i: (self.points[i].person is not None, self.points[i].person == self.highlight))
        for i in order:
            pt, (x, y) = self.points[i], xy[i]
            colour = QColor(*(self.colours.get(pt.person) or person_colour(pt.person)))
            big = self.highlight is not None and pt.person == self.highlight
            r = 6.0 if big else (4.0 if pt.person else 3.0)
            if pt.kind == "sample":
                p.setPen(QPen(colour, 2.0))
                p.setBrush(Qt.NoBrush)
                r += 1.5
            else:
                p.setPen(Qt.NoPen)
                p.setBrush(colour)
            p.drawEllipse(QPointF(x, y), r, r)
        if 0 <= self.hover < len(self.points):
            x, y = xy[self.hover]
            p.setPen(QPen(QColor("#f0f6fc"), 2.0))
            p.setBrush(Qt.NoBrush)
            p.drawEllipse(QPointF(x, y), 9.0, 9.0)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        i = self.point_at(event.position().x(), event.position().y())
        if i != self.hover:
            self.hover = i
            self.update()
            self.hovered.emit(i)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        i = self.point_at(event.position().x(), event.position().y())
        if i >= 0 and event.button() == Qt.LeftButton:
            self.clicked.emit(i)
        elif i >= 0 and event.button() == Qt.RightButton:
            self.contextClicked.emit(i)

    def leaveEvent(self, event) -> None:  # noqa: N802
        if self.hover != -1:
            self.hover = -1
            self.update()
            self.hovered.emit(-1)


class FaceMapView(QWidget):
    mapLoaded = Signal(object)
    """The FaceMap shown (after each computation)."""
    findSimilar = Signal(int)
    """A face id the user asked to find faces like (right click on a face point)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("faceMapView")
        self.fmap: FaceMap | None = None
        self._task = None
        self._again = False
        self._thumbs: dict[int, QPixmap] = {}
        self._thumb_task = None
        self.photo_dialog = None

        title = QLabel("Map of faces")
        title.setObjectName("viewTitle")
        self.method = QComboBox()
        self.method.addItem("PCA (every face)", "pca")
        self.method.addItem("t-SNE (a closer look)", "tsne")
        self.method.currentIndexChanged.connect(lambda *_: self.refresh())
        self.refresh_btn = QPushButton(icon("map"), "Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        self.status = QLabel("")
        self.status.setObjectName("statusLine")
        self.canvas = MapCanvas()
        self.canvas.hovered.connect(self._hovered)
        self.canvas.clicked.connect(self.open_point)
        self.canvas.contextClicked.connect(self._point_menu)
        self.card = QLabel(self.canvas)
        self.card.setObjectName("mapCard")
        self.card.setStyleSheet("background: #0d1117; color: #e6edf3; border: 1px solid #30363d; padding: 6px;")
        self.card.hide()
        self.legend = QListWidget()
        self.legend.setObjectName("mapLegend")
        self.legend.setFixedWidth(220)
        self.legend.currentItemChanged.connect(self._legend_changed)

        bar = QHBoxLayout()
        bar.addWidget(title)
        bar.addStretch(1)
        bar.addWidget(self.method)
        bar.addWidget(self.refresh_btn)
        body = QHBoxLayout()
        body.addWidget(self.canvas, 1)
        body.addWidget(self.legend)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.status)
        lay.addLayout(body, 1)
        ctx.libraryChanged.connect(self.refresh_if_shown)

    # -- computing ----------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self.fmap is None:
            self.refresh()

    def refresh_if_shown(self) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self.fmap = None  # recomputed when shown

    def refresh(self) -> None:
        if self._task is not None:
            self._again = True
            return
        method = self.method.currentData()
        self.canvas.message = "Computing the map…"
        self.status.setText("Computing the map…")
        self._task = self.ctx.tasks.start(
            jobs.face_map, self.ctx.store, pack_model_id(self.ctx.settings.model), method,
            on_result=self._map_ready, on_error=lambda e: prompts.error(self, "Map of faces", e.message, e.details),
            on_finished=self._finished,
        )

    def _finished(self) -> None:
        self._task = None
        if self._again:
            self._again = False
            self.refresh()

    def _map_ready(self, fmap: FaceMap) -> None:
        self.fmap = fmap
        self.canvas.message = "No faces yet: enrol people or scan a folder in the Library."
        colours = fmap.colours()
        self.canvas.set_points(fmap.points, colours)
        unknown = sum(1 for p in fmap.points if not p.person)
        text = f"{len(fmap.points)} faces"
        if fmap.mapped_of > len(fmap.points):
            text += f" (a random {len(fmap.points)} of {fmap.mapped_of}: t-SNE)"
        if fmap.explained:
            text += f" · the two axes hold {100 * sum(fmap.explained):.0f}% of the variance"
        self.status.setText(f"{text} · {unknown} unknown (grey) · rings are enrolment samples · click a face to open its photo")
        self.legend.blockSignals(True)
        self.legend.clear()
        item = QListWidgetItem(f"All people ({len(fmap.people())})")
        item.setData(Qt.UserRole, None)
        self.legend.addItem(item)
        for name, n in fmap.people():
            pix = QPixmap(12, 12)
            pix.fill(QColor(*colours[name]))
            item = QListWidgetItem(icon(""), f"{name} ({n})")
            item.setIcon(pix)
            item.setData(Qt.UserRole, name)
            self.legend.addItem(item)
        grey = QPixmap(12, 12)
        grey.fill(QColor(*person_colour(None)))
        item = QListWidgetItem(f"Unknown ({unknown})")
        item.setIcon(grey)
        item.setData(Qt.UserRole, None)
        self.legend.addItem(item)
        self.legend.blockSignals(False)
        self.mapLoaded.emit(fmap)

    def _legend_changed(self, item, _old=None) -> None:
        self.canvas.highlight = item.data(Qt.UserRole) if item is not None else None
        self.canvas.update()

    # -- hover and click ----------------------------------------------------------------------------
    def _hovered(self, index: int) -> None:
        if index < 0 or self.fmap is None:
            self.card.hide()
            return
        pt = self.canvas.points[index]
        who = pt.person or "Unknown"
        what = "enrolment sample" if pt.kind == "sample" else f"face {pt.id} · {pt.status if pt.status != 'auto' else 'suggested'}"
        self.card.setText(f"<b>{who}</b><br>{what}")
        if pt.kind == "face":
            pix = self._thumbs.get(pt.id)
            if pix is not None:
                self._show_card(index, pix, who, what)
                return
            self._load_thumb(pt)
        self._show_card(index, None, who, what)

    def _show_card(self, index: int, pix: QPixmap | None, who: str, what: str) -> None:
        if pix is not None:
            self.card.setPixmap(pix)
            self.card.setToolTip(f"{who} · {what}")
        else:
            self.card.setText(f"<b>{who}</b><br>{what}")
        self.card.adjustSize()
        x, y = self.canvas.screen_xy()[index]
        cx = int(min(x + 14, self.canvas.width() - self.card.width() - 4))
        cy = int(min(y + 14, self.canvas.height() - self.card.height() - 4))
        self.card.move(max(4, cx), max(4, cy))
        self.card.show()
        self.card.raise_()

    def _load_thumb(self, pt: MapPoint) -> None:
        if self._thumb_task is not None:
            self._thumb_task.cancel()
        self._thumb_task = self.ctx.tasks.start(
            jobs.face_thumbnails, [(pt.id, pt.path, pt.box)], THUMB, on_progress=self._thumbs_ready
        )

    def _thumbs_ready(self, batch) -> None:
        for face_id, rgb in batch:
            self._thumbs[face_id] = rgb_to_pixmap(rgb)
        h = self.canvas.hover
        if 0 <= h < len(self.canvas.points) and self.canvas.points[h].id in self._thumbs and self.canvas.points[h].kind == "face":
            self._hovered(h)

    def open_point(self, index: int) -> None:
        from .photo_viewer import PhotoViewer

        pt = self.canvas.points[index]
        if pt.kind != "face" or not pt.path:
            return
        dlg = PhotoViewer(self.ctx, [pt.path], 0, self, highlight=pt.id, title="map of faces")
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()
        self.photo_dialog = dlg

    def _point_menu(self, index: int) -> None:
        from PySide6.QtGui import QCursor
        from PySide6.QtWidgets import QMenu

        pt = self.canvas.points[index]
        if pt.kind != "face":
            return
        menu = QMenu(self)
        menu.addAction(icon("photo"), "Open photo", lambda: self.open_point(index))
        menu.addAction(icon("similar"), "Find similar faces", lambda: self.findSimilar.emit(pt.id))
        menu.popup(QCursor.pos())
        self.point_menu = menu

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(900, 640)
