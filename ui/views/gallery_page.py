"""``GalleryPage``: a page that shows gallery data and reloads it only when it is, or next becomes, visible."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


class GalleryPage(QWidget):
    """A change to the gallery marks the page stale (``mark_stale``, connect it to the context's signal); a stale
    page reloads at once if it is visible, otherwise when it is next shown. Subclasses define ``reload()``,
    which clears ``stale`` when it starts."""

    stale = True

    def mark_stale(self) -> None:
        self.stale = True
        if self.isVisible():
            self.reload()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.stale:
            self.reload()

    def reload(self) -> None:
        raise NotImplementedError
