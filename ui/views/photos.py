"""``PhotosView``: the library as a people-tagged photo collection: person pages, search, look-alike groups."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ..context import AppContext
from ..resources import icon
from .lookalikes import LookalikesView
from .person_page import PersonPageView
from .search import SearchView


class PhotosView(QWidget):
    TABS = ("person", "search", "groups")

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("photosView")
        self.person = PersonPageView(ctx)
        self.search = SearchView(ctx)
        self.groups = LookalikesView(ctx)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.person, icon("person"), "Person pages")
        self.tabs.addTab(self.search, icon("similar"), "Search")
        self.tabs.addTab(self.groups, icon("unknown"), "Look-alike groups")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tabs)

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(self.TABS.index(name))
