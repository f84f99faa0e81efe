"""People: enrolled people with thumbnails and sample counts; enrol, add/remove samples, rename, merge, delete."""

from __future__ import annotations

import logging

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from facerec.errors import FacerecError
from facerec.store import NAMED_STATUSES

from .. import jobs, prompts
from ..context import AppContext
from ..images import jpeg_to_pixmap, placeholder_pixmap, rgb_to_pixmap
from facerec.wording import plural

from ..resources import icon_button
from ..widgets.flow_layout import FlowLayout
from ..workers import TaskError

log = logging.getLogger(__name__)
ROLE_ID = Qt.UserRole
THUMB = 56


class PeopleView(QWidget):
    enrolFinished = Signal(object)
    """An ``EnrolReport`` after the user's choices were applied (tests wait on it)."""
    peopleLoaded = Signal()
    """The list shows the gallery as read by the latest reload."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setAcceptDrops(True)
        self.setObjectName("peopleView")

        self.people = QListWidget()
        self.people.setObjectName("peopleList")
        self.people.setIconSize(QSize(THUMB, THUMB))
        self.people.setSpacing(2)
        self.people.setUniformItemSizes(True)  # every row is a thumbnail and two lines: cheap layout for thousands
        self.people.currentItemChanged.connect(lambda *_: self._show_person())

        self.title = QLabel("No one enrolled yet")
        self.title.setObjectName("viewTitle")
        self.subtitle = QLabel("Add a person from photos (or drop photos here) to start.")
        self.subtitle.setObjectName("subtitle")
        self.subtitle.setWordWrap(True)
        self.samples = QListWidget()
        self.samples.setObjectName("samplesGrid")
        self.samples.setViewMode(QListView.IconMode)
        self.samples.setIconSize(QSize(112, 112))
        self.samples.setGridSize(QSize(132, 150))
        self.samples.setResizeMode(QListView.Adjust)
        self.samples.setMovement(QListView.Static)
        self.samples.setSelectionMode(QListWidget.ExtendedSelection)

        self.new_btn = icon_button("New person…", "person-add", self.new_person, "Enrol a new person from photos")
        self.add_btn = icon_button("Add photos…", "photo-add", self.add_photos, "Add photos of the selected person")
        self.folder_btn = icon_button("Add folder…", "folder", self.add_folder, "Add every photo in a folder")
        self.webcam_btn = icon_button("Webcam…", "camera", self.add_webcam, "Capture samples with a webcam")
        self.remove_btn = icon_button("Remove", "remove", self.remove_samples, "Remove the selected samples")
        self.rename_btn = icon_button("Rename…", "rename", self.rename_person, "Rename the selected person")
        self.merge_btn = icon_button("Merge…", "merge", self.merge_person, "Merge the selected person into another")
        self.delete_btn = icon_button("Delete…", "delete", self.delete_person, "Delete the person and their face data")
        self.delete_btn.setObjectName("dangerButton")

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("statusLine")
        self.status.setWordWrap(True)
        self.loading_label = QLabel("Loading…")
        self.loading_label.setObjectName("statusLine")
        self.loading_label.setVisible(False)

        left = QWidget()
        left.setMinimumWidth(220)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        head = QLabel("People")
        head.setObjectName("sectionTitle")
        ll.addWidget(head)
        ll.addWidget(self.loading_label)
        ll.addWidget(self.people, 1)
        ll.addWidget(self.new_btn)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 0, 0, 0)
        rl.addWidget(self.title)
        rl.addWidget(self.subtitle)
        bar = FlowLayout()  # wraps onto a second row in a narrow window; labels are never cut
        for b in (self.add_btn, self.folder_btn, self.webcam_btn, self.remove_btn, self.rename_btn, self.merge_btn, self.delete_btn):
            bar.addWidget(b)
        rl.addLayout(bar)
        rl.addWidget(self.samples, 1)
        rl.addWidget(self.progress)
        rl.addWidget(self.status)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 860])
        lay = QHBoxLayout(self)
        lay.addWidget(split)

        self._task = None
        self._load_task = None
        self._generation = self._load_generation = self._shown_generation = 0
        self._wanted: str | None = None
        ctx.galleryChanged.connect(self.refresh)
        self.refresh()

    # -- reading ------------------------------------------------------------------------------------
    def selected_person(self) -> str | None:
        item = self.people.currentItem()
        return item.data(ROLE_ID) if item else None

    @property
    def loading(self) -> bool:
        """The list does not show the latest reload yet."""
        return self._shown_generation != self._generation

    def refresh(self) -> None:
        """Reload the list in the background (reading thousands of people and thumbnails takes a while).

        A reload requested while one runs supersedes it: the running one is cancelled, its result dropped,
        and the newest one starts when it ends (one at a time, like the Library view's groups)."""
        self._generation += 1
        self._set_loading(True)
        if self._load_task is not None:
            self._load_task.cancel()
            return
        self._start_load()

    def _start_load(self) -> None:
        self._load_generation = self._generation
        self._load_task = self.ctx.tasks.start(
            jobs.people_list, self.ctx.store, THUMB,
            on_result=self._loaded, on_error=self._load_failed, on_finished=self._load_finished,
        )

    def _stale(self) -> bool:
        return self._load_generation != self._generation

    def _load_finished(self) -> None:
        self._load_task = None
        if self._stale():  # a newer reload was asked for while this one ran
            self._start_load()
        elif self.loading:  # cancelled (the app is closing): nothing more is coming
            self._done_loading()

    def _done_loading(self) -> None:
        self._shown_generation = self._load_generation
        self._set_loading(False)

    def _load_failed(self, err: TaskError) -> None:
        if self._stale():
            return
        self._done_loading()
        self.status.setText("Could not read the people in the gallery.")
        prompts.error(self, "People", err.message, err.details)

    def _loaded(self, rows: list[jobs.PersonRow] | None) -> None:
        if rows is None or self._stale():  # cancelled, or a newer reload is coming
            return
        current = self._wanted or self.selected_person()
        self._wanted = None
        self.people.blockSignals(True)
        self.people.setUpdatesEnabled(False)
        self.people.clear()
        placeholder = placeholder_pixmap(THUMB)
        chosen = None
        for row in rows:
            pix = rgb_to_pixmap(row.thumbnail) if row.thumbnail is not None else placeholder
            item = QListWidgetItem(pix, f"{row.name}\n{plural(row.samples, 'sample')}", self.people)
            item.setData(ROLE_ID, row.name)
            if current is not None and chosen is None and row.name.casefold() == current.casefold():
                chosen = item
        if chosen is not None:
            self.people.setCurrentItem(chosen)
        elif self.people.count():
            self.people.setCurrentRow(0)
        self.people.setUpdatesEnabled(True)
        self.people.blockSignals(False)
        self._done_loading()
        self._show_person()
        self.peopleLoaded.emit()

    def _set_loading(self, on: bool) -> None:
        self.loading_label.setVisible(on)
        if on and self.people.count() == 0:  # nothing to show yet (the first load): say so
            self.title.setText("Loading…")
            self.subtitle.setText("Reading the people in the gallery.")
            for b in self._person_buttons():
                b.setEnabled(False)

    def _person_buttons(self) -> tuple[QPushButton, ...]:
        return (self.add_btn, self.folder_btn, self.webcam_btn, self.remove_btn, self.rename_btn, self.merge_btn, self.delete_btn)

    def _show_person(self) -> None:
        name = self.selected_person()
        self.samples.clear()
        has = name is not None
        for b in self._person_buttons():
            b.setEnabled(has)
        if not has:
            self.title.setText("No one enrolled yet")
            self.subtitle.setText("Add a person from photos (or drop photos here) to start.")
            return
        person = self.ctx.store.find_person(name)
        if person is None:
            return
        samples = self.ctx.store.list_samples(person.id)
        faces = len(self.ctx.store.faces(person=person.id, status=NAMED_STATUSES))
        self.title.setText(person.name)
        self.subtitle.setText(
            f"{plural(len(samples), 'sample')} · found in {plural(faces, 'library face')}. "
            "Drop photos here to add more."
        )
        for s in samples:
            item = QListWidgetItem(jpeg_to_pixmap(s.thumbnail, 112), _short(s.source_path) if s.source_path else "capture")
            item.setData(ROLE_ID, s.id)
            item.setToolTip(s.source_path or "captured from a camera")
            self.samples.addItem(item)

    # -- enrolment ----------------------------------------------------------------------------------
    def new_person(self) -> None:
        name = prompts.ask_text(self, "New person", "Name:")
        if not name:
            return
        files = prompts.ask_files(self, f"Photos of {name}")
        if files:
            self.enrol(name, files)

    def add_photos(self) -> None:
        name = self.selected_person()
        if name:
            files = prompts.ask_files(self, f"Photos of {name}")
            if files:
                self.enrol(name, files)

    def add_folder(self) -> None:
        name = self.selected_person()
        if name:
            folder = prompts.ask_folder(self, f"Folder of photos of {name}")
            if folder:
                self.enrol(name, [folder])

    def add_webcam(self) -> None:
        from ..dialogs import CaptureDialog

        name = self.selected_person()
        if not name:
            return
        dlg = CaptureDialog(name, parent=self)
        if dlg.exec() and dlg.frames:
            self._start(jobs.enrol_frames, name, list(dlg.frames))

    def enrol(self, name: str, paths: list[str]) -> None:
        """Enrol ``name`` from photo files and folders (in the background)."""
        self._start(jobs.enrol_paths, name, list(paths))

    def _start(self, fn, name: str, payload) -> None:
        if self._task is not None:
            prompts.info(self, "Busy", "An enrolment is still running; wait for it to finish.")
            return
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText(f"Enrolling {name}…")
        self._task = self.ctx.tasks.start(
            fn, self.ctx.store, self.ctx.analyzer, name, payload,
            on_result=self._enrolled, on_error=self._failed, on_progress=self._progress,
            on_finished=self._task_done,
        )

    def _progress(self, value) -> None:
        done, total, path = value
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        if path:
            self.status.setText(f"Reading {_short(path)} ({done + 1}/{total})")

    def _task_done(self) -> None:
        self._task = None
        self.progress.setVisible(False)

    def _failed(self, err: TaskError) -> None:
        self._task_done()
        self.status.setText("Enrolment failed.")
        prompts.error(self, "Enrolment failed", err.message, err.details)
        self.ctx.galleryChanged.emit()

    def _enrolled(self, report: jobs.EnrolReport) -> None:
        self._task_done()  # the result comes before the task's "finished": free the view for the next one now
        for choice in report.choices:
            index = prompts.pick_face(self, choice.image, choice.faces)
            if index is None:
                report.errors.append((choice.path, "skipped: no face chosen"))
                continue
            other = self.looks_like_other(report.person, choice.faces[index])
            if other is not None and not prompts.confirm(
                self, "Enrol this face?",
                f"This face looks like {other[0]} (distance {other[1]:.2f}), who is already enrolled.\n"
                f"Enrol it as {report.person} anyway?",
            ):
                report.errors.append((choice.path, f"skipped: looks like {other[0]}"))
                continue
            try:
                jobs.enrol_chosen(None, self.ctx.store, self.ctx.analyzer, report.person, choice, index)
                report.enrolled.append(choice.path)
            except FacerecError as exc:
                report.errors.append((choice.path, str(exc)))
        report.choices = []
        self.ctx.galleryChanged.emit()
        self._select(report.person)
        n = len(report.enrolled)
        self.status.setText(f"{report.person}: {plural(n, 'sample')} added.")
        problems = [f"{_short(p)}: no face found" for p in report.no_face] + [f"{_short(p)}: {why}" for p, why in report.errors]
        if problems:
            head = "No face was found in this photo." if len(problems) == 1 and report.no_face and not report.errors else (
                f"{plural(len(problems), 'photo')} {'was' if len(problems) == 1 else 'were'} not enrolled."
            )
            prompts.info(self, "Some photos were not used", f"{head}\n\n" + "\n".join(problems[:12]) + (
                "\n…" if len(problems) > 12 else ""
            ))
        self.enrolFinished.emit(report)

    def looks_like_other(self, person: str, face) -> tuple[str, float] | None:
        """(name, distance) when ``face`` matches another enrolled person than ``person`` (the enrolment warns
        first), else None."""
        if getattr(face, "embedding", None) is None:
            return None
        index = self.ctx.gallery_index()
        match = self.ctx.analyzer.identify(face.embedding[None], index)[0]
        if match.known and match.name != person:
            return match.name, float(match.distance)
        return None

    def _select(self, name: str) -> None:
        """Select ``name``; while the list reloads, also once the new list is in (it may not be in the old one)."""
        if self.loading:
            self._wanted = name
        for i in range(self.people.count()):
            if self.people.item(i).data(ROLE_ID).casefold() == name.casefold():
                self.people.setCurrentRow(i)
                return

    # -- drag and drop ------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        self.drop_paths(paths)

    def drop_paths(self, paths: list[str]) -> None:
        name = self.selected_person()
        names = [p.name for p in self.ctx.store.list_people()]
        choice = prompts.ask_choice(self, "Whose photos?", "Add these photos to (or type a new name):", names if not name else [name] + [n for n in names if n != name], editable=True)
        if choice:
            self.enrol(choice, paths)

    # -- editing ------------------------------------------------------------------------------------
    def remove_samples(self) -> None:
        ids = [it.data(ROLE_ID) for it in self.samples.selectedItems()]
        if not ids:
            prompts.info(self, "Remove samples", "Select the samples to remove first.")
            return
        library = self.ctx.library  # the CLI's rules: undoable, the library re-matched
        for sid in ids:
            library.remove_sample(sid)
        self.status.setText(f"{plural(len(ids), 'sample')} removed.")
        self.ctx.galleryChanged.emit()

    def rename_person(self) -> None:
        name = self.selected_person()
        if not name:
            return
        new = prompts.ask_text(self, "Rename", f"New name for {name}:", name)
        if not new or new == name:
            return
        try:
            self.ctx.library.rename(name, new)
        except FacerecError as exc:
            prompts.error(self, "Cannot rename", str(exc))
            return
        self.ctx.galleryChanged.emit()
        self._select(new)

    def merge_person(self) -> None:
        name = self.selected_person()
        others = [p.name for p in self.ctx.store.list_people() if p.name != name]
        if not name or not others:
            prompts.info(self, "Merge", "There is no one else to merge with.")
            return
        target = prompts.ask_choice(self, "Merge", f"Merge {name} into:", others)
        if not target:
            return
        if not prompts.confirm(self, "Merge", f"Move every sample and face of {name} to {target}, and remove {name}?"):
            return
        self.ctx.library.merge(name, target)
        self.ctx.galleryChanged.emit()
        self._select(target)

    def delete_person(self) -> None:
        name = self.selected_person()
        if not name:
            return
        if not prompts.confirm(
            self, "Delete person",
            f"Delete {name}? Their face samples (biometric data) are erased and their photos become unknown. "
            "This cannot be undone.",
        ):
            return
        self.ctx.library.remove_person(name)
        if self.ctx.store.erase_complete:
            self.status.setText(f"{name} deleted.")
        else:
            self.status.setText(
                f"{name} deleted; another program is reading the gallery, so their old data stays in the file until "
                "it stops (erased when facerec next opens the gallery)."
            )
        self.ctx.galleryChanged.emit()


def _short(path: str, n: int = 28) -> str:
    import os

    base = os.path.basename(path)
    return base if len(base) <= n else base[: n - 1] + "…"
