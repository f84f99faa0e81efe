"""``PersonPageView``: all of a person's photos (confirmed faces first, then suggestions to confirm or reject in
place), the counts, the feature face, hide/unhide. Loaded in workers through ``facerec.library.api.Library``."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from facerec.library.people import PersonPage
from facerec.library.review import Action
from facerec.wording import plural

from .. import library_jobs, prompts
from ..context import AppContext
from ..resources import icon
from ..workers import Latest
from .face_grid import FaceGrid
from .gallery_page import GalleryPage

PAGE_LIMIT = 500


class PersonPageView(GalleryPage):
    pageLoaded = Signal(object)
    """The ``PersonPage`` shown."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.page: PersonPage | None = None
        self._loads = Latest()  # page loads run in the background; only the latest one's page is shown
        self.person = QComboBox()
        self.person.setMinimumWidth(220)
        self.person.currentTextChanged.connect(lambda name: self.load(name) if name else None)
        self.show_hidden = QCheckBox("Show hidden people")
        self.show_hidden.toggled.connect(lambda _: self.refresh_people())
        self.title = QLabel("")
        self.title.setObjectName("viewTitle")
        self.counts = QLabel("")
        self.counts.setObjectName("statusLine")
        self.feature = QLabel()
        self.feature.setFixedSize(96, 96)
        self.feature.setAlignment(Qt.AlignCenter)
        self.grid = FaceGrid(ctx)
        self.grid.itemDoubleClicked.connect(lambda item: self.open_photo(item.data(Qt.UserRole)))

        def button(text, name, slot, tip):
            b = QPushButton(icon(name), text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            return b

        self.confirm_btn = button("Confirm", "check", lambda: self.decide(Action.CONFIRM), "The selected suggestions are this person")
        self.reject_btn = button("Reject", "cross", lambda: self.decide(Action.REJECT), "The selected faces are not this person (never suggested again)")
        self.feature_btn = button("Feature face", "person", self.choose_feature, "Show the selected face for this person")
        self.hide_btn = button("Hide", "remove", self.toggle_hidden, "Hide this person from the people lists (still recognised)")
        self.open_btn = button("Open photo", "photo", lambda: self.open_photo(next(iter(self.grid.selected_ids()), None)), "The photo viewer, through this person's photos")

        top = QHBoxLayout()
        top.addWidget(QLabel("Person:"))
        top.addWidget(self.person)
        top.addWidget(self.show_hidden)
        top.addStretch(1)
        head = QHBoxLayout()
        head.addWidget(self.feature)
        info = QVBoxLayout()
        info.addWidget(self.title)
        info.addWidget(self.counts)
        info.addStretch(1)
        head.addLayout(info, 1)
        bar = QHBoxLayout()
        for b in (self.confirm_btn, self.reject_btn, self.feature_btn, self.hide_btn, self.open_btn):
            bar.addWidget(b)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(head)
        lay.addLayout(bar)
        lay.addWidget(self.grid, 1)
        ctx.libraryChanged.connect(self.mark_stale)

    def reload(self) -> None:
        self.refresh_people()

    def refresh_people(self) -> None:
        """Reload the people list (hidden ones only when asked for), then the page shown."""
        self.stale = False

        def done(people) -> None:
            current = self.person.currentText()
            names = [p.name for p in people]
            self.person.blockSignals(True)
            self.person.clear()
            self.person.addItems(names)
            self.person.blockSignals(False)
            target = current if current in names else (names[0] if names else "")
            if target:
                self.person.setCurrentText(target)
                self.load(target)

        self.ctx.tasks.start(library_jobs.people, self.ctx.library, self.show_hidden.isChecked(), on_result=done)

    def show_person(self, name: str) -> None:
        """Open ``name``'s page (hidden people too)."""
        if self.person.findText(name) < 0:
            self.person.addItem(name)
        self.person.setCurrentText(name)
        self.load(name)

    def load(self, name: str) -> None:
        self.ctx.tasks.start(library_jobs.person_page, self.ctx.library, name, PAGE_LIMIT, on_result=self._loads.only(self._loaded),
                             on_error=lambda e: prompts.error(self, "Person", e.message, e.details))

    def _loaded(self, page: PersonPage) -> None:
        if page.person.name != self.person.currentText():
            return
        self.page = page
        c = page.counts
        hidden = " (hidden)" if page.hidden else ""
        self.title.setText(f"{page.person.name}{hidden}")
        self.counts.setText(
            f"{plural(c.photos, 'photo')} · {c.confirmed} confirmed · {plural(c.suggested, 'suggestion')} to check · "
            f"{c.rejected} rejected · {plural(c.samples, 'enrolment sample')}"
        )
        self.hide_btn.setText("Unhide" if page.hidden else "Hide")
        faces = []
        for f in page.faces:
            mark = "✓" if f.status == "confirmed" else f"? {max(0.0, f.distance or 0.0):.2f}"
            star = "★ " if f.face_id == page.feature_face_id else ""
            faces.append((f.face_id, f.path, f.box, f"{star}{mark}", f"{f.path}\n{f.taken_at or ''}\n{f.status}"))
        self.grid.set_faces(faces)
        self._show_feature()
        self.pageLoaded.emit(page)

    def _show_feature(self) -> None:
        fid = self.page.feature_face_id if self.page else None
        pix = self.grid.cache.get(fid) if fid is not None else None
        if pix is None and fid is not None:
            self.grid.model().dataChanged.connect(self._feature_later, Qt.UniqueConnection)
        self.feature.setPixmap(pix) if pix is not None else self.feature.setText("no feature face")

    def _feature_later(self, *_):
        fid = self.page.feature_face_id if self.page else None
        if fid is not None and fid in self.grid.cache:
            self.feature.setPixmap(self.grid.cache[fid])

    # -- actions ---------------------------------------------------------------------------------------
    def decide(self, action: Action) -> None:
        ids = self.grid.selected_ids()
        if not ids or self.page is None:
            return
        person = self.page.person.name if action is Action.ASSIGN else None
        self.ctx.tasks.start(library_jobs.decide, self.ctx.library, ids, action, person,
                             on_result=lambda _: self.ctx.galleryChanged.emit(),
                             on_error=lambda e: prompts.error(self, "Person", e.message, e.details))

    def choose_feature(self) -> None:
        ids = self.grid.selected_ids()
        if ids and self.page is not None:
            self.ctx.tasks.start(library_jobs.set_feature_face, self.ctx.library, self.page.person.name, ids[0],
                                 on_result=lambda _: self.ctx.galleryChanged.emit(),
                                 on_error=lambda e: prompts.error(self, "Person", e.message, e.details))

    def toggle_hidden(self) -> None:
        if self.page is None:
            return
        if not self.page.hidden:
            self.show_hidden.setChecked(True)  # keep the page in the list while it is shown
        self.ctx.tasks.start(library_jobs.set_hidden, self.ctx.library, self.page.person.name, not self.page.hidden,
                             on_result=lambda _: self.ctx.galleryChanged.emit(),
                             on_error=lambda e: prompts.error(self, "Person", e.message, e.details))

    def open_photo(self, face_id: int | None) -> None:
        from .photo_viewer import PhotoViewer

        if self.page is None or face_id is None:
            return
        paths = list(dict.fromkeys(f.path for f in self.page.faces))
        path = next(f.path for f in self.page.faces if f.face_id == face_id)
        dlg = PhotoViewer(self.ctx, paths, paths.index(path), self, highlight=face_id, title=self.page.person.name)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()
        self.photo_dialog = dlg
