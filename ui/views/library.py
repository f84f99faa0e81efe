"""Library: scan a photo folder (progress, time left, cancel and resume), review suggestions, name unknown
faces, promote confirmed faces to samples, open photos large, export the tags."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from facerec.library.grouping import grouping_threshold, pack_model_id
from facerec.library.review import Action
from facerec.store import FaceRecord, FaceStatus
from facerec.tagging import TagProgress

from .. import jobs, prompts
from ..context import AppContext
from ..images import placeholder_pixmap, rgb_to_pixmap
from facerec.wording import plural

from ..resources import icon, icon_button
from ..widgets.flow_layout import FlowLayout
from ..workers import TaskError

ROLE = Qt.UserRole
THUMB = 96


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min left"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s left"
    return f"{seconds} s left"


def progress_text(p: TagProgress) -> str:
    parts = [f"{p.done} / {p.total} photos", f"{p.faces} faces"]
    if p.skipped:
        parts.append(f"{p.skipped} unchanged")
    if p.errors:
        parts.append(f"{p.errors} unreadable")
    eta = format_eta(p.eta)
    if eta:
        parts.append(eta)
    return " · ".join(parts)


class LibraryView(QWidget):
    scanFinished = Signal(object)
    """``jobs.ScanSummary`` when a scan ends (finished or cancelled)."""
    groupsLoaded = Signal(object)
    decided = Signal(object)
    personPageRequested = Signal(str)
    """A person's row was double-clicked: open their person page (the Photos view)."""
    """facerec.library.review.DecisionResult after a decision made here."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("libraryView")
        self.scan_task = None
        self.groups: jobs.LibraryGroups | None = None
        self._thumbs: dict[int, QPixmap] = {}
        self._faces_shown: list[FaceRecord] = []
        self._thumb_task = None
        self._groups_task = None
        self._groups_again = False

        self.folder = QLineEdit()
        self.folder.setPlaceholderText("A folder of photos…")
        self.browse_btn = QPushButton(icon("folder"), "Browse…")
        self.browse_btn.clicked.connect(self.browse)
        self.recursive = QCheckBox("Include subfolders")
        self.recursive.setChecked(True)
        self.scan_btn = QPushButton(icon("scan"), "Scan")
        self.scan_btn.setObjectName("primaryButton")
        self.scan_btn.setToolTip("Scan the folder; photos already scanned and unchanged are skipped, so a cancelled scan resumes")
        self.scan_btn.clicked.connect(self.start_scan)
        self.cancel_btn = QPushButton(icon("stop"), "Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel_scan)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.progress.setValue(0)
        self.progress_label = QLabel("Pick a folder and press Scan.")
        self.progress_label.setObjectName("statusLine")

        self.tree = QTreeWidget()
        self.tree.setObjectName("libraryTree")
        self.tree.setHeaderHidden(True)
        self.tree.currentItemChanged.connect(lambda *_: self._show_group())
        self.tree.itemDoubleClicked.connect(self._tree_double_clicked)

        self.grid = QListWidget()
        self.grid.setObjectName("facesGrid")
        self.grid.setViewMode(QListView.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 54, THUMB + 46))
        self.grid.setResizeMode(QListView.Adjust)
        self.grid.setMovement(QListView.Static)
        self.grid.setSelectionMode(QListWidget.ExtendedSelection)
        self.grid.setWordWrap(True)
        self.grid.itemDoubleClicked.connect(lambda item: self.open_photo(item.data(ROLE)))
        self.group_title = QLabel("")
        self.group_title.setObjectName("viewTitle")

        self.confirm_btn = icon_button("Confirm", "check", self.confirm_selected, "The suggested name is right")
        self.reject_btn = icon_button("Reject", "cross", self.reject_selected, "The suggested name is wrong")
        self.ignore_btn = icon_button("Ignore", "remove", self.ignore_selected, "Not a face, or nobody to name: out of groups and suggestions (undo with Ctrl+Z)")
        self.assign_btn = icon_button("Assign to…", "person", self.assign_selected, "Name the selected faces (an existing or a new person)")
        self.open_btn = icon_button("Open photo", "photo", lambda: self.open_photo(self._first_selected()), "Show the photo with its faces")
        self.similar_btn = icon_button("Find similar", "similar", lambda: self.find_similar(self._first_selected()), "Find this face: the library faces most like the selected one, nearest first")
        self.similar: jobs.SimilarFaces | None = None
        self.promote_btn = icon_button("Use confirmed as samples", "promote", self.promote_person, "Add this person's confirmed faces to their enrolment samples")
        self.export_btn = icon_button("Export…", "export", self.export, "Export the tags to CSV or JSON")
        self.xmp_btn = icon_button(
            "Write XMP", "export", self.write_xmp,
            "Write the confirmed names into XMP sidecars next to the photos (MWG and Microsoft face regions, "
            "people keywords) for digiKam, Lightroom, Immich…; other fields in them are kept",
        )
        for button, keys in ((self.confirm_btn, "Ctrl+Return"), (self.reject_btn, "Ctrl+Backspace"), (self.assign_btn, "Ctrl+T"), (self.open_btn, "Ctrl+O")):
            button.setShortcut(keys)
            button.setToolTip(f"{button.toolTip()} ({keys})")

        top = QHBoxLayout()
        top.addWidget(self.folder, 1)
        top.addWidget(self.browse_btn)
        top.addWidget(self.recursive)
        top.addWidget(self.scan_btn)
        top.addWidget(self.cancel_btn)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.progress_label, 1)

        left = QWidget()
        left.setMinimumWidth(240)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.tree, 1)
        ll.addWidget(self.export_btn)
        ll.addWidget(self.xmp_btn)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(8, 0, 0, 0)
        rl.addWidget(self.group_title)
        bar = FlowLayout()  # wraps onto a second row in a narrow window; labels are never cut
        for b in (self.confirm_btn, self.reject_btn, self.ignore_btn, self.assign_btn, self.open_btn, self.similar_btn, self.promote_btn):
            bar.addWidget(b)
        rl.addLayout(bar)
        rl.addWidget(self.grid, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([240, 860])

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(prog)
        lay.addWidget(split, 1)
        ctx.libraryChanged.connect(self.refresh)
        self.refresh()

    # -- scanning -----------------------------------------------------------------------------------
    def browse(self) -> None:
        folder = prompts.ask_folder(self, "Folder of photos", self.folder.text())
        if folder:
            self.folder.setText(folder)

    @property
    def scanning(self) -> bool:
        return self.scan_task is not None

    def start_scan(self, folder: str | None = None) -> None:
        folder = folder or self.folder.text().strip()
        if not folder:
            self.browse()
            folder = self.folder.text().strip()
            if not folder:
                return
        if not os.path.isdir(folder):
            prompts.error(self, "Scan", f"{folder}: not a folder.")
            return
        if self.scanning:
            return
        self.folder.setText(folder)
        self.scan_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Listing photos…")
        self._scan_started = time.monotonic()
        self.scan_task = self.ctx.tasks.start(
            jobs.scan_folder, self.ctx.store, self.ctx.analyzer, os.path.abspath(folder), self.recursive.isChecked(),
            on_progress=self._scan_progress, on_result=self._scan_done, on_error=self._scan_failed,
            on_finished=self._scan_finished,
        )

    def cancel_scan(self) -> None:
        if self.scan_task is not None:
            self.scan_task.cancel()
            self.progress_label.setText("Cancelling after the current photo…")
            self.cancel_btn.setEnabled(False)

    def _scan_progress(self, p: TagProgress) -> None:
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.done)
        self.progress_label.setText(progress_text(p))
        self.last_progress = p
        now = time.monotonic()
        if now - getattr(self, "_last_refresh", 0.0) > 3.0:  # show results as they come in
            self._last_refresh = now
            self.refresh()

    def _scan_done(self, summary: jobs.ScanSummary) -> None:
        self._scan_finished()  # the result comes before the task's "finished": ready for Resume now
        if summary.cancelled:
            self.scan_btn.setText("Resume")
            self.progress_label.setText(
                f"Cancelled after {summary.photos} photos; the finished ones are saved. Press Resume to go on."
            )
        else:
            self.scan_btn.setText("Scan")
            self.progress.setRange(0, max(1, summary.photos))
            self.progress.setValue(summary.photos)
            self.progress_label.setText(
                f"Done: {summary.photos} photos ({summary.skipped} unchanged), {summary.faces} faces, {summary.errors} unreadable."
            )
        self.scanFinished.emit(summary)

    def _scan_failed(self, err: TaskError) -> None:
        self._scan_finished()
        self.progress_label.setText("The scan stopped with an error; finished photos are saved.")
        prompts.error(self, "Scan failed", err.message, err.details)

    def _scan_finished(self) -> None:
        if self.scan_task is None:
            return
        self.scan_task = None
        self.scan_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.refresh()

    # -- groups -------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the groups (in the background; clustering unknown faces can take a moment)."""
        if self._groups_task is not None:
            self._groups_again = True
            return
        model = self.ctx.settings.model
        self._groups_task = self.ctx.tasks.start(
            jobs.library_groups, self.ctx.store, pack_model_id(model), grouping_threshold(model), not self.scanning,
            on_result=self._groups_ready, on_error=lambda e: prompts.error(self, "Library", e.message, e.details),
            on_finished=self._groups_finished,
        )

    def _groups_finished(self) -> None:
        self._groups_task = None
        if self._groups_again:
            self._groups_again = False
            self.refresh()

    def _groups_ready(self, groups: jobs.LibraryGroups) -> None:
        self.groups = groups
        current = self.tree.currentItem().data(0, ROLE) if self.tree.currentItem() else ("review", None)
        self.tree.blockSignals(True)
        self.tree.clear()
        review = QTreeWidgetItem([f"To review ({len(groups.review)})"])
        review.setIcon(0, icon("review"))
        review.setData(0, ROLE, ("review", None))
        people = QTreeWidgetItem([f"People ({len(groups.by_person)})"])
        people.setIcon(0, icon("people"))
        people.setData(0, ROLE, ("people", None))
        for name in sorted(groups.by_person, key=str.casefold):
            faces = groups.by_person[name]
            photos = len({f.path for f in faces})
            child = QTreeWidgetItem([f"{name} ({photos} photo{'s' if photos != 1 else ''})"])
            child.setData(0, ROLE, ("person", name))
            people.addChild(child)
        n_unknown = sum(len(c) for c in groups.unknown_clusters)
        unknown = QTreeWidgetItem([f"Unknown faces ({n_unknown})"])
        unknown.setIcon(0, icon("unknown"))
        unknown.setData(0, ROLE, ("unknown", None))
        for i, cluster in enumerate(groups.unknown_clusters if groups.clustered else []):
            gid = groups.group_ids[i] if i < len(groups.group_ids) else 0
            if len(cluster) < 2 or not gid:
                continue
            child = QTreeWidgetItem([f"Look-alike group {gid} ({len(cluster)})"])
            child.setData(0, ROLE, ("cluster", i))
            unknown.addChild(child)
        self.tree.addTopLevelItems([review, people, unknown])
        if self.similar is not None:
            self.tree.addTopLevelItem(self._similar_item())
        people.setExpanded(True)
        unknown.setExpanded(True)
        target = self._find_item(current) or review
        self.tree.setCurrentItem(target)
        self.tree.blockSignals(False)
        self._show_group()
        self.groupsLoaded.emit(groups)

    def _tree_double_clicked(self, item: QTreeWidgetItem) -> None:
        key = item.data(0, ROLE)
        if key and key[0] == "person":
            self.personPageRequested.emit(key[1])

    def _find_item(self, key) -> QTreeWidgetItem | None:
        stack = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop()
            if item.data(0, ROLE) == key:
                return item
            stack.extend(item.child(i) for i in range(item.childCount()))
        return None

    def select_group(self, kind: str, value=None) -> None:
        item = self._find_item((kind, value))
        if item is not None:
            self.tree.setCurrentItem(item)

    def current_group(self):
        item = self.tree.currentItem()
        return item.data(0, ROLE) if item else None

    def faces_in_group(self, key) -> list[FaceRecord]:
        g = self.groups
        if g is None or key is None:
            return []
        kind, value = key
        if kind == "review":
            return g.review
        if kind == "people":
            return [f for faces in g.by_person.values() for f in faces]
        if kind == "person":
            return g.by_person.get(value, [])
        if kind == "unknown":
            return [f for c in g.unknown_clusters for f in c]
        if kind == "similar":
            return self.similar.faces if self.similar is not None and self.similar.face_id == value else []
        if kind == "cluster":
            return g.unknown_clusters[value] if value < len(g.unknown_clusters) else []
        return []

    def _show_group(self) -> None:
        key = self.current_group()
        faces = self.faces_in_group(key)
        self._faces_shown = faces
        titles = {"similar": "Faces most like the chosen one, nearest first", "review": "Suggestions to review", "people": "Everyone found", "unknown": "Unknown faces", "cluster": "Unknown faces that look alike"}
        if key:
            title = key[1] if key[0] == "person" else titles.get(key[0], "")
            self.group_title.setText(f"{title} · {len(faces)} face{'s' if len(faces) != 1 else ''}")
        self.promote_btn.setEnabled(bool(key) and key[0] == "person")
        self.grid.clear()
        missing = []
        for f in faces:
            if f.status == FaceStatus.CONFIRMED:
                text = f"{f.person} ✓"
            elif f.status == FaceStatus.SUGGESTED:
                text = f"{f.person}?\n{max(0.0, f.distance):.2f}" if f.distance is not None else f"{f.person}?"
            else:
                text = "Unknown" if f.status == FaceStatus.UNKNOWN else "Rejected"
            if key and key[0] == "similar" and self.similar is not None:
                text = f"{f.person or text}\n{self.similar.distances.get(f.id, 0.0):.3f}"
            item = QListWidgetItem(self._thumbs.get(f.id) or placeholder_pixmap(THUMB), text)
            item.setData(ROLE, f.id)
            item.setToolTip(f"{text}\n{f.path}\n{f.status}")
            self.grid.addItem(item)
            if f.id not in self._thumbs:
                missing.append((f.id, f.path, f.box))
        if missing:
            self._load_thumbs(missing)

    def _load_thumbs(self, items) -> None:
        if self._thumb_task is not None:
            self._thumb_task.cancel()
        self._thumb_task = self.ctx.tasks.start(jobs.face_thumbnails, items[:2000], THUMB, on_progress=self._thumbs_ready)

    def _thumbs_ready(self, batch) -> None:
        rows = {self.grid.item(i).data(ROLE): self.grid.item(i) for i in range(self.grid.count())}
        for face_id, rgb in batch:
            pix = rgb_to_pixmap(rgb)
            self._thumbs[face_id] = pix
            if face_id in rows:
                rows[face_id].setIcon(pix)

    # -- decisions ----------------------------------------------------------------------------------
    def select_faces(self, face_ids: list[int]) -> None:
        wanted = set(face_ids)
        for i in range(self.grid.count()):
            item = self.grid.item(i)
            item.setSelected(item.data(ROLE) in wanted)

    def selected_faces(self) -> list[FaceRecord]:
        ids = {it.data(ROLE) for it in self.grid.selectedItems()}
        return [f for f in self._faces_shown if f.id in ids]

    def _first_selected(self) -> int | None:
        faces = self.selected_faces()
        return faces[0].id if faces else None

    def _need_selection(self) -> list[FaceRecord]:
        faces = self.selected_faces()
        if not faces:
            prompts.info(self, "Library", "Select one or more faces first.")
        return faces

    def confirm_selected(self) -> None:
        faces = self._need_selection()
        unnamed = [f for f in faces if not f.person]
        if unnamed:
            prompts.info(self, "Confirm", "Some selected faces have no suggested name; use Assign to… for them.")
        self._decide([f.id for f in faces if f.person], Action.CONFIRM)

    def reject_selected(self) -> None:
        self._decide([f.id for f in self._need_selection()], Action.REJECT)

    def ignore_selected(self) -> None:
        self._decide([f.id for f in self._need_selection()], Action.IGNORE)

    def assign_selected(self, name: str | None = None) -> None:
        faces = self._need_selection()
        if not faces:
            return
        names = sorted((p.name for p in self.ctx.store.list_people()), key=str.casefold)
        likely = next((f.person for f in faces if f.person and f.status != FaceStatus.REJECTED), None)
        name = name or prompts.ask_choice(self, "Assign to…", "Person (or type a new name):", names, editable=True, current=likely)
        if name:
            self._decide([f.id for f in faces], Action.ASSIGN, name)

    def _decide(self, face_ids: list[int], action: Action, person: str | None = None) -> None:
        """One undoable decision through facerec.library (re-matches the library at once), in a worker."""
        if not face_ids:
            return
        from .. import library_jobs

        def done(result) -> None:
            if result.refused:
                prompts.info(self, "Library", "; ".join(f"face {i}: {why}" for i, why in result.refused))
            self.decided.emit(result)
            (self.ctx.galleryChanged if person else self.ctx.libraryChanged).emit()

        self.ctx.tasks.start(library_jobs.decide, self.ctx.library, face_ids, action, person, on_result=done,
                             on_error=lambda e: prompts.error(self, "Library", e.message, e.details))

    def promote_person(self) -> None:
        key = self.current_group()
        if not key or key[0] != "person":
            return
        name = key[1]
        self.ctx.tasks.start(
            jobs.promote, self.ctx.store, name,
            on_result=lambda n: (self.progress_label.setText(f"{plural(n, 'confirmed face')} of {name} added as samples."), self.ctx.galleryChanged.emit()),
            on_error=lambda e: prompts.error(self, "Use confirmed as samples", e.message, e.details),
        )

    def find_similar(self, face_id: int | None) -> None:
        """Find this face: list the library faces most like ``face_id`` (facerec.library.similar), in a worker."""
        if face_id is None:
            prompts.info(self, "Library", "Select a face first.")
            return
        self.ctx.tasks.start(
            jobs.similar_faces, self.ctx.store, face_id, 30,
            on_result=self._similar_ready, on_error=lambda e: prompts.error(self, "Find similar", e.message, e.details),
        )

    def _similar_item(self) -> QTreeWidgetItem:
        item = QTreeWidgetItem([f"Like face {self.similar.face_id} ({len(self.similar.faces)})"])
        item.setIcon(0, icon("similar"))
        item.setData(0, ROLE, ("similar", self.similar.face_id))
        return item

    def _similar_ready(self, result: jobs.SimilarFaces) -> None:
        self.similar = result
        for i in reversed(range(self.tree.topLevelItemCount())):
            if (self.tree.topLevelItem(i).data(0, ROLE) or ("",))[0] == "similar":
                self.tree.takeTopLevelItem(i)
        item = self._similar_item()
        self.tree.addTopLevelItem(item)
        self.tree.setCurrentItem(item)

    def open_photo(self, face_id: int | None) -> None:
        """The photo viewer on this face's photo; previous/next go through the photos of the group shown."""
        from .photo_viewer import PhotoViewer

        face = next((f for f in self._faces_shown if f.id == face_id), None)
        if face is None:
            return
        paths = list(dict.fromkeys(f.path for f in self._faces_shown))
        dlg = PhotoViewer(self.ctx, paths, paths.index(face.path), self, highlight=face.id, title=self.group_title.text())
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()
        self.photo_dialog = dlg

    def export(self, path: str | None = None) -> None:
        path = path or prompts.ask_save(self, "Export tags", "facerec-tags.csv", "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        self.ctx.tasks.start(
            jobs.export_tags, self.ctx.store, path,
            on_result=lambda p: self.progress_label.setText(f"Tags exported to {p}."),
            on_error=lambda e: prompts.error(self, "Export", e.message, e.details),
        )

    def write_xmp(self) -> None:
        """Write XMP sidecars for the photos of the folder above (every scanned photo when it is empty)."""
        folder = self.folder.text().strip()
        folder = os.path.abspath(folder) if folder else None
        self.xmp_btn.setEnabled(False)
        self.progress_label.setText("Writing XMP sidecars…")

        def done(summary) -> None:
            failed = f", {len(summary.errors)} failed (first: {summary.errors[0][0]}: {summary.errors[0][1]})" if summary.errors else ""
            self.progress_label.setText(
                f"XMP: {plural(summary.written, 'sidecar')} written, {summary.unchanged} already current, {summary.removed} removed{failed}."
            )

        self.ctx.tasks.start(
            jobs.write_xmp, self.ctx.store, folder, self.ctx.settings.xmp_sidecar_style,
            on_progress=lambda p: self.progress_label.setText(f"Writing XMP sidecars… {p[0]} / {p[1]}"),
            on_result=done, on_error=lambda e: prompts.error(self, "Write XMP", e.message, e.details),
            on_finished=lambda: self.xmp_btn.setEnabled(True),
        )

    def shutdown(self) -> None:
        if self.scan_task is not None:
            self.scan_task.cancel()
