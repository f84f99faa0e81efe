"""``SearchView``: photos by people (all of them, any of them, without someone), a folder and a date range
(EXIF date taken); results open in the photo viewer. The search runs in a worker (``Library.search``)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from facerec.library.search import PhotoHit, PhotoQuery
from facerec.wording import plural

from .. import library_jobs, prompts
from ..context import AppContext
from ..resources import icon
from ..workers import Latest
from .gallery_page import GalleryPage

ROLE = Qt.UserRole


def checked(lst: QListWidget) -> list[str]:
    return [lst.item(i).text() for i in range(lst.count()) if lst.item(i).checkState() == Qt.Checked]


class SearchView(GalleryPage):
    searched = Signal(object)
    """The list of ``PhotoHit`` found."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.hits: list[PhotoHit] = []
        self._searches = Latest()  # searches run in the background; only the latest one's hits are shown
        self.with_list = QListWidget()
        self.without_list = QListWidget()
        self.mode = QComboBox()
        self.mode.addItems(["all of them", "any of them"])
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("Any folder")
        self.date_from = QLineEdit()
        self.date_from.setPlaceholderText("YYYY[-MM[-DD]]")
        self.date_to = QLineEdit()
        self.date_to.setPlaceholderText("YYYY[-MM[-DD]]")
        self.confirmed_only = QCheckBox("Confirmed names only")
        self.search_btn = QPushButton(icon("similar"), "Search")
        self.search_btn.setObjectName("primaryButton")
        self.search_btn.setShortcut("Ctrl+Return")
        self.search_btn.clicked.connect(self.run_search)
        self.results = QListWidget()
        self.results.setObjectName("searchResults")
        self.results.itemDoubleClicked.connect(lambda item: self.open_photo(self.results.row(item)))
        self.status = QLabel("Tick people and press Search.")
        self.status.setObjectName("statusLine")

        form = QGridLayout()
        form.addWidget(QLabel("Photos with"), 0, 0)
        form.addWidget(self.mode, 0, 1)
        form.addWidget(self.with_list, 1, 0, 1, 2)
        form.addWidget(QLabel("and without"), 2, 0, 1, 2)
        form.addWidget(self.without_list, 3, 0, 1, 2)
        form.addWidget(QLabel("In folder"), 4, 0)
        form.addWidget(self.folder, 4, 1)
        form.addWidget(QLabel("Taken from"), 5, 0)
        form.addWidget(self.date_from, 5, 1)
        form.addWidget(QLabel("Taken to"), 6, 0)
        form.addWidget(self.date_to, 6, 1)
        form.addWidget(self.confirmed_only, 7, 0, 1, 2)
        form.addWidget(self.search_btn, 8, 0, 1, 2)
        left = QWidget()
        left.setLayout(form)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.addWidget(self.status)
        rl.addWidget(self.results, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([320, 780])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        ctx.galleryChanged.connect(self.mark_stale)

    def reload(self) -> None:
        self.refresh_people()

    def refresh_people(self) -> None:
        self.stale = False

        def fill(people) -> None:
            names = [p.name for p in people]
            for lst in (self.with_list, self.without_list):
                keep = set(checked(lst))
                lst.clear()
                for n in names:
                    item = QListWidgetItem(n)
                    item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                    item.setCheckState(Qt.Checked if n in keep else Qt.Unchecked)
                    lst.addItem(item)

        self.ctx.tasks.start(library_jobs.people, self.ctx.library, True, on_result=fill)

    def set_people(self, with_: list[str], without: list[str] | None = None, any_person: bool = False) -> None:
        """Tick people (tests, the person page's "Photos with…")."""
        for lst, names in ((self.with_list, with_), (self.without_list, without or [])):
            for i in range(lst.count()):
                lst.item(i).setCheckState(Qt.Checked if lst.item(i).text() in names else Qt.Unchecked)
        self.mode.setCurrentIndex(1 if any_person else 0)

    def query(self) -> PhotoQuery:
        return PhotoQuery(
            people=checked(self.with_list), any_person=self.mode.currentIndex() == 1, without=checked(self.without_list),
            folder=self.folder.text().strip() or None, date_from=self.date_from.text().strip() or None,
            date_to=self.date_to.text().strip() or None, confirmed_only=self.confirmed_only.isChecked(),
        )

    def run_search(self) -> None:
        self.status.setText("Searching…")
        self.ctx.tasks.start(library_jobs.search, self.ctx.library, self.query(), on_result=self._searches.only(self._found),
                             on_error=lambda e: (self.status.setText(e.message), prompts.error(self, "Search", e.message, e.details)))

    def _found(self, hits: list[PhotoHit]) -> None:
        self.hits = hits
        self.results.clear()
        for h in hits:
            when = f" · {h.taken_at[:10]}" if h.taken_at else ""
            item = QListWidgetItem(icon("photo"), f"{os.path.basename(h.path)} · {', '.join(h.people) or 'nobody named'}{when}")
            item.setToolTip(h.path)
            self.results.addItem(item)
        self.status.setText(f"{plural(len(hits), 'photo')} found. Double-click one to open it; Left/Right go through them.")
        self.searched.emit(hits)

    def open_photo(self, row: int) -> None:
        from .photo_viewer import PhotoViewer

        if not 0 <= row < len(self.hits):
            return
        dlg = PhotoViewer(self.ctx, [h.path for h in self.hits], row, self, title="search results")
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()
        self.photo_dialog = dlg
