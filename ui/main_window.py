"""The main window: a sidebar of views (People, Live, Library, Settings), menus, shortcuts and About."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMainWindow, QMessageBox, QStackedWidget, QWidget

from . import jobs, prompts
from .context import AppContext
from .dialogs import about_text
from .resources import icon
from .views.facemap import FaceMapView
from .views.library import LibraryView
from .views.live import LiveView
from .views.people import PeopleView
from .views.photos import PhotosView
from .views.settings import SettingsView


class MainWindow(QMainWindow):
    PAGES = ("people", "live", "library", "map", "photos", "settings")

    def __init__(self, ctx: AppContext):
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle("facerec")
        self.setWindowIcon(icon("app"))
        self.resize(1240, 800)
        self.setMinimumSize(900, 600)

        self.people = PeopleView(ctx)
        self.live = LiveView(ctx)
        self.library = LibraryView(ctx)
        self.facemap = FaceMapView(ctx)
        self.photos = PhotosView(ctx)
        self.facemap.findSimilar.connect(lambda face_id: (self.show_page("library"), self.library.find_similar(face_id)))
        self.settings = SettingsView(ctx)
        self.stack = QStackedWidget()
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setIconSize(QSize(28, 28))
        self.nav.setFixedWidth(150)
        for name, label, view in (
            ("people", "People", self.people), ("live", "Live", self.live),
            ("library", "Library", self.library), ("map", "Map", self.facemap), ("photos", "Photos", self.photos), ("settings", "Settings", self.settings),
        ):
            self.stack.addWidget(view)
            item = QListWidgetItem(icon(name), label)
            item.setSizeHint(QSize(140, 56))
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)

        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.nav)
        body = QWidget()
        body.setObjectName("body")
        bl = QHBoxLayout(body)
        bl.setContentsMargins(14, 12, 14, 8)
        bl.addWidget(self.stack)
        lay.addWidget(body, 1)
        self.setCentralWidget(central)
        self._menus()
        self.busy = QLabel("")
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().showMessage(f"Gallery: {ctx.settings.gallery_path}")
        ctx.tasks.busyChanged.connect(lambda n: self.busy.setText(f"{n} background job{'s' if n != 1 else ''}" if n else ""))
        ctx.settingsChanged.connect(lambda: self.statusBar().showMessage(f"Gallery: {ctx.settings.gallery_path}"))
        self.show_page("people")
        self._restore_state()
        ctx.tasks.modelMissing.connect(self.offer_model_install)
        ctx.settingsChanged.connect(self.check_rescan)
        self.library.scanFinished.connect(lambda _: self.photos.groups.mark_stale())
        self.library.personPageRequested.connect(self.open_person_page)

    def open_person_page(self, name: str) -> None:
        """The Photos view on ``name``'s person page."""
        self.show_page("photos")
        self.photos.show_tab("person")
        self.photos.person.show_person(name)

    def check_rescan(self) -> None:
        """After a settings change: offer to rescan when the model or the minimum face size changed."""
        from .rescan_offer import check_rescan

        check_rescan(self, self.ctx)

    def offer_model_install(self) -> None:
        """Open the install dialog when the face detector or the chosen model is missing (once at a time)."""
        from .model_install import ModelInstallDialog, offer_install

        if not any(isinstance(w, ModelInstallDialog) and w.isVisible() for w in self.findChildren(ModelInstallDialog)):
            offer_install(self.ctx, self)

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(self.PAGES.index(name))

    def _action(self, menu, text: str, slot, shortcut=None, icon_name: str | None = None) -> QAction:
        act = QAction(icon(icon_name) if icon_name else icon(""), text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "&New person from photos…", self.people.new_person, QKeySequence.New, "person-add")
        self._action(f, "&Scan a photo folder…", lambda: (self.show_page("library"), self.library.start_scan()), "Ctrl+I", "folder")
        self._action(f, "&Export tags…", lambda: self.library.export(), "Ctrl+E", "export")
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.Quit)
        e = mb.addMenu("&Edit")
        self.undo_action = self._action(e, "&Undo", self.ctx.undo_last, QKeySequence.Undo)
        self.undo_action.setEnabled(False)
        self.ctx.libraryChanged.connect(self.refresh_undo)
        self.ctx.undone.connect(self._undone)
        self.refresh_undo()
        v = mb.addMenu("&View")
        for i, (name, label) in enumerate((("people", "&People"), ("live", "&Live"), ("library", "Li&brary"), ("map", "&Map of faces"), ("photos", "P&hotos: people, search, groups"), ("settings", "&Settings"))):
            self._action(v, label, lambda _=False, n=name: self.show_page(n), f"Ctrl+{i + 1}", name)
        lv = mb.addMenu("&Live")
        self._action(lv, "&Start / stop", lambda: (self.show_page("live"), self.live.toggle()), "F5", "play")
        self._action(lv, "&Add the selected face to…", lambda: self.live.add_selected_face(), "Ctrl+Shift+A", "person-add")
        t = mb.addMenu("&Tools")
        self._action(t, "&Personalise matching to my gallery…", self.personalise)
        self._action(t, "&Undo personalisation", self.undo_personalisation)
        h = mb.addMenu("&Help")
        self._action(h, "&About facerec", self.about, QKeySequence.HelpContents)

    def refresh_undo(self) -> None:
        """Name the operation Ctrl+Z would undo in the Edit menu ("Undo <summary>"), read in a worker."""
        from . import library_jobs

        def show(summary: str | None) -> None:
            self.undo_action.setText(f"&Undo {summary}" if summary else "&Undo")
            self.undo_action.setEnabled(summary is not None)

        self.ctx.tasks.start(library_jobs.last_operation, self.ctx.library, on_result=show)

    def _undone(self, result) -> None:
        self.statusBar().showMessage(f"Undone: {result.summary}" if result is not None else "Nothing to undo", 8000)

    def personalise(self) -> None:
        """Run ``facerec adapt`` in the background; it keeps the result only if identification improves."""
        if not prompts.confirm(
            self, "Personalise matching",
            "Fine-tune matching on the people in your gallery (5 or more people with 3 or more photos each)?\n"
            "The change is kept only if it identifies your people better in a cross-check, and can be undone.",
        ):
            return
        self.statusBar().showMessage("Personalising matching…")
        self.ctx.tasks.start(
            jobs.personalise, self.ctx.store, self.ctx.analyzer,
            on_result=self._personalised,
            on_error=lambda err: prompts.error(self, "Personalise matching", err.message, err.details),
        )

    def _personalised(self, report) -> None:
        if report.baseline == report.baseline:  # not NaN: a cross-check was possible
            scores = f"\n\nCross-checked identification: {report.baseline:.1%} before, {report.adapted:.1%} after."
        else:
            scores = ""
        verdict = "Kept" if report.kept else "Not kept"
        self.statusBar().showMessage(f"Personalisation: {verdict.lower()}")
        if report.kept:
            self.ctx.galleryChanged.emit()
        prompts.info(self, "Personalise matching", f"{verdict}: {report.reason}.{scores}")

    def undo_personalisation(self) -> None:
        def done(removed: bool) -> None:
            if removed:
                self.ctx.galleryChanged.emit()
            prompts.info(self, "Undo personalisation", "Personalisation removed." if removed else "Matching was not personalised.")

        self.ctx.tasks.start(
            jobs.undo_personalisation, self.ctx.store, self.ctx.analyzer, on_result=done,
            on_error=lambda err: prompts.error(self, "Undo personalisation", err.message, err.details),
        )

    def about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About facerec")
        box.setIconPixmap(icon("app").pixmap(64, 64))
        box.setTextFormat(Qt.RichText)
        box.setText(about_text())
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()
        self.about_box = box

    @staticmethod
    def ui_state() -> QSettings:
        """Window geometry and the last library folder, next to settings.json (FACEREC_HOME aware)."""
        from facerec.config import config_dir

        return QSettings(str(config_dir() / "ui-state.ini"), QSettings.IniFormat)

    def _restore_state(self) -> None:
        st = self.ui_state()
        geometry = st.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.library.folder.setText(str(st.value("library/folder", "") or ""))
        self.library.recursive.setChecked(str(st.value("library/recursive", "true")).lower() == "true")

    def _save_state(self) -> None:
        st = self.ui_state()
        st.setValue("window/geometry", self.saveGeometry())
        st.setValue("library/folder", self.library.folder.text())
        st.setValue("library/recursive", "true" if self.library.recursive.isChecked() else "false")
        st.sync()

    def closeEvent(self, event) -> None:
        self._save_state()
        self.live.shutdown()
        self.library.shutdown()
        self.ctx.tasks.cancel_all()
        self.ctx.tasks.wait(15000)
        super().closeEvent(event)
