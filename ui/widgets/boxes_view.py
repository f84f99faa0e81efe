"""``BoxesView``: a picture (photo or video frame) with labelled face boxes; click a box to select it, or (in
draw mode) drag a new box."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

KNOWN = QColor("#2fb36b")
UNKNOWN = QColor("#e0a100")
SELECTED = QColor("#3d8bfd")


@dataclass
class BoxItem:
    key: object
    box: tuple[float, float, float, float]
    """In the image's own pixel coordinates (``image_scale`` maps others)."""
    label: str = ""
    color: QColor = field(default_factory=lambda: QColor(KNOWN))


class BoxesView(QWidget):
    boxClicked = Signal(object)
    boxDoubleClicked = Signal(object)
    boxDrawn = Signal(object)
    """(x1, y1, x2, y2) in the box coordinate frame, dragged in draw mode (``set_draw_mode``)."""

    def __init__(self, parent: QWidget | None = None, placeholder: str = ""):
        super().__init__(parent)
        self._image: QImage | None = None
        self._boxes: list[BoxItem] = []
        self._selected: object = None
        self._coord_size: tuple[float, float] | None = None
        self.placeholder = placeholder
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(320, 240)
        self.setObjectName("boxesView")
        self._draw_mode = False
        self._drag: tuple[QPointF, QPointF] | None = None

    # -- content ------------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, coord_size: tuple[float, float] | None = None) -> None:
        """Show ``image``; boxes are given in a ``coord_size`` (w, h) frame (default: the image's size)."""
        self._image = image
        self._coord_size = coord_size
        self.update()

    def set_boxes(self, boxes: list[BoxItem]) -> None:
        self._boxes = list(boxes)
        self.update()

    def boxes(self) -> list[BoxItem]:
        return list(self._boxes)

    def image(self) -> QImage | None:
        return self._image

    def select(self, key: object) -> None:
        self._selected = key
        self.update()

    @property
    def selected(self) -> object:
        return self._selected

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    # -- geometry -----------------------------------------------------------------------------------
    def _target(self) -> QRectF:
        if self._image is None or self._image.isNull():
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        f = min(self.width() / iw, self.height() / ih)
        w, h = iw * f, ih * f
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _factor(self, target: QRectF) -> float:
        cw = self._coord_size[0] if self._coord_size else self._image.width()
        return target.width() / cw

    def box_rect(self, item: BoxItem) -> QRectF:
        """Where ``item`` is drawn, in widget coordinates."""
        t = self._target()
        if t.isNull():
            return QRectF()
        f = self._factor(t)
        x1, y1, x2, y2 = item.box
        return QRectF(t.x() + x1 * f, t.y() + y1 * f, (x2 - x1) * f, (y2 - y1) * f)

    def key_at(self, pos: QPointF) -> object:
        hits = [b for b in self._boxes if self.box_rect(b).contains(pos)]
        if not hits:
            return None
        return min(hits, key=lambda b: self.box_rect(b).width() * self.box_rect(b).height()).key

    def to_coords(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> the box coordinate frame (clamped to the picture)."""
        t = self._target()
        if t.isNull():
            return 0.0, 0.0
        f = self._factor(t)
        x = min(max(pos.x(), t.left()), t.right())
        y = min(max(pos.y(), t.top()), t.bottom())
        return (x - t.x()) / f, (y - t.y()) / f

    def set_draw_mode(self, on: bool) -> None:
        """In draw mode a drag draws a new box (``boxDrawn``) instead of selecting one."""
        self._draw_mode = on
        self._drag = None
        self.setCursor(Qt.CrossCursor if on else Qt.ArrowCursor)
        self.update()

    @property
    def draw_mode(self) -> bool:
        return self._draw_mode

    # -- events -------------------------------------------------------------------------------------
    def mouseDoubleClickEvent(self, event) -> None:
        key = None if self._draw_mode else self.key_at(event.position())
        if key is not None:
            self._selected = key
            self.update()
            self.boxDoubleClicked.emit(key)
        super().mouseDoubleClickEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._drag is not None:
            self._drag = (self._drag[0], event.position())
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._drag is not None:
            start, end = self._drag[0], event.position()
            self._drag = None
            (x1, y1), (x2, y2) = self.to_coords(start), self.to_coords(end)
            box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            self.update()
            if box[2] - box[0] >= 4 and box[3] - box[1] >= 4:
                self.boxDrawn.emit(box)
        super().mouseReleaseEvent(event)

    def mousePressEvent(self, event) -> None:
        if self._draw_mode and event.button() == Qt.LeftButton:
            self._drag = (event.position(), event.position())
            return
        key = self.key_at(event.position())
        if key is not None:
            self._selected = key
            self.update()
            self.boxClicked.emit(key)
        super().mousePressEvent(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.setRenderHint(QPainter.SmoothPixmapTransform)
        p.fillRect(self.rect(), QColor("#1e2126"))
        t = self._target()
        if t.isNull():
            if self.placeholder:
                p.setPen(QColor("#9aa3ad"))
                p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            return
        p.drawImage(t, self._image)
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        font.setBold(True)
        p.setFont(font)
        fm = p.fontMetrics()
        for item in self._boxes:
            r = self.box_rect(item)
            chosen = self._selected is not None and item.key == self._selected
            color = SELECTED if chosen else item.color
            p.setPen(QPen(color, 3 if chosen else 2))
            p.setBrush(Qt.NoBrush)
            p.drawRoundedRect(r, 3, 3)
            if item.label:
                tw, th = fm.horizontalAdvance(item.label) + 10, fm.height() + 4
                top = r.top() - th if r.top() - th >= t.top() else r.bottom()
                label_rect = QRectF(r.left() - 1, top, tw, th)
                p.fillRect(label_rect, color)
                p.setPen(QColor("#101214"))
                p.drawText(label_rect, Qt.AlignCenter, item.label)
        if self._drag is not None:
            p.setPen(QPen(SELECTED, 2, Qt.DashLine))
            p.setBrush(Qt.NoBrush)
            p.drawRect(QRectF(self._drag[0], self._drag[1]).normalized())
        p.end()
