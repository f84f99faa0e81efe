"""``LookalikesView``: the library's look-alike groups of unknown faces as face mosaics (one per group, stable
group ids), to name or ignore a whole group in place, merge groups and split faces off. Updated after each scan
and decision (``grouping.update_groups`` in a worker)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from facerec.wording import plural

from .. import library_jobs, prompts
from ..context import AppContext
from ..resources import icon
from .face_grid import FaceGrid
from .gallery_page import GalleryPage

MAX_GROUPS = 60
THUMB = 72


class GroupBox(QFrame):
    """One group: a title with a merge tick, its faces, and Name / Ignore / Split off."""

    def __init__(self, view: LookalikesView, group: library_jobs.GroupMosaic):
        super().__init__()
        self.group = group
        self.setObjectName("groupMosaic")
        self.setFrameShape(QFrame.StyledPanel)
        self.tick = QCheckBox(f"Group {group.id} · {plural(len(group.faces), 'face')}" + (" · edited" if group.manual else ""))
        self.tick.setToolTip("Tick two or more groups, then Merge ticked groups")
        self.grid = FaceGrid(view.ctx, THUMB)
        self.grid.setGridSize(self.grid.gridSize().__class__(THUMB + 8, THUMB + 8))
        self.grid.setFlow(FaceGrid.LeftToRight)
        self.grid.setWrapping(True)
        rows = max(1, min(3, -(-len(group.faces) // 10)))
        self.grid.setFixedHeight(rows * (THUMB + 8) + 8)
        self.grid.set_faces([(f.id, f.path, f.box, "", f.path) for f in group.faces])
        self.grid.itemDoubleClicked.connect(lambda item: view.open_photo(group, item.data(Qt.UserRole)))
        name = QPushButton(icon("person"), "Name…")
        name.setToolTip("Name every face of this group (an existing or a new person)")
        name.clicked.connect(lambda: view.name_group(group.id))
        ignore = QPushButton(icon("remove"), "Ignore")
        ignore.setToolTip("Not faces, or nobody to name: out of groups and suggestions (Ctrl+Z undoes)")
        ignore.clicked.connect(lambda: view.ignore_group(group.id))
        split = QPushButton(icon("cross"), "Split off selected")
        split.setToolTip("Move the selected faces into a new group of their own")
        split.clicked.connect(lambda: view.split_group(group.id, self.grid.selected_ids()))
        head = QHBoxLayout()
        head.addWidget(self.tick, 1)
        for b in (name, ignore, split):
            head.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.grid)


class LookalikesView(GalleryPage):
    groupsLoaded = Signal(object)
    """The list of ``library_jobs.GroupMosaic`` shown."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.groups: list[library_jobs.GroupMosaic] = []
        self.boxes: dict[int, GroupBox] = {}
        self._task = None
        self._again = False
        self.status = QLabel("")
        self.status.setObjectName("statusLine")
        self.merge_btn = QPushButton(icon("merge"), "Merge ticked groups")
        self.merge_btn.clicked.connect(self.merge_ticked)
        self.body = QWidget()
        self.body_lay = QVBoxLayout(self.body)
        self.body_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.merge_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(scroll, 1)
        ctx.libraryChanged.connect(self.mark_stale)

    def reload(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Bring the groups up to date with the library (new scans, decisions) and show them."""
        self.stale = False
        if self._task is not None:
            self._again = True
            return
        self.status.setText("Grouping unknown faces…")

        def finished() -> None:
            self._task = None
            if self._again:
                self._again = False
                self.refresh()

        self._task = self.ctx.tasks.start(library_jobs.look_alike_groups, self.ctx.store, self.ctx.settings.model,
                                          on_result=self._loaded, on_finished=finished,
                                          on_error=lambda e: self.status.setText(f"Grouping failed: {e.message}"))

    def _loaded(self, groups: list[library_jobs.GroupMosaic]) -> None:
        self.groups = groups
        for box in self.boxes.values():
            box.setParent(None)
            box.deleteLater()
        self.boxes = {}
        for g in groups[:MAX_GROUPS]:
            box = GroupBox(self, g)
            self.boxes[g.id] = box
            self.body_lay.insertWidget(self.body_lay.count() - 1, box)
        more = f" (the {MAX_GROUPS} largest shown)" if len(groups) > MAX_GROUPS else ""
        faces = sum(len(g.faces) for g in groups)
        self.status.setText(f"{plural(len(groups), 'look-alike group')}, {plural(faces, 'unknown face')}{more}. "
                            "Double-click a face to open its photo.")
        self.groupsLoaded.emit(groups)

    # -- actions ---------------------------------------------------------------------------------------
    def _run(self, fn, *args) -> None:
        self.ctx.tasks.start(fn, *args, on_result=lambda _: self.ctx.galleryChanged.emit(),
                             on_error=lambda e: prompts.error(self, "Look-alike groups", e.message, e.details))

    def name_group(self, group_id: int, name: str | None = None) -> None:
        if name is None:
            names = sorted((p.name for p in self.ctx.store.list_people()), key=str.casefold)
            name = prompts.ask_choice(self, f"Name group {group_id}", "Person (or type a new name):", names, editable=True)
        if name:
            self._run(library_jobs.decide_group, self.ctx.store, self.ctx.library, group_id, "assign", name)

    def ignore_group(self, group_id: int) -> None:
        self._run(library_jobs.decide_group, self.ctx.store, self.ctx.library, group_id, "ignore", None)

    def merge_ticked(self, ids: list[int] | None = None) -> None:
        ids = ids or [gid for gid, box in self.boxes.items() if box.tick.isChecked()]
        if len(ids) < 2:
            prompts.info(self, "Look-alike groups", "Tick two or more groups to merge.")
            return
        self._run(library_jobs.merge_groups, self.ctx.store, ids)

    def split_group(self, group_id: int, face_ids: list[int]) -> None:
        if not face_ids:
            prompts.info(self, "Look-alike groups", "Select the faces to split off first.")
            return
        self._run(library_jobs.split_group, self.ctx.store, group_id, face_ids)

    def open_photo(self, group: library_jobs.GroupMosaic, face_id: int) -> None:
        from .photo_viewer import PhotoViewer

        paths = list(dict.fromkeys(f.path for f in group.faces))
        path = next(f.path for f in group.faces if f.id == face_id)
        dlg = PhotoViewer(self.ctx, paths, paths.index(path), self, highlight=face_id, title=f"group {group.id}")
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()
        self.photo_dialog = dlg
