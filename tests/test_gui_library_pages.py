"""The library pages of the GUI on real photos: undo (Ctrl+Z), the photo viewer (name, confirm, reject, ignore,
draw a missed face, previous/next, zoom), person pages, search, look-alike mosaics, the rescan offer, safe
defaults in choosers, and a heartbeat showing the window is never blocked while they work."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import pytest
from guikit import close_messages, make_ctx, messages, wait_tasks

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def library_db(tmp_path_factory, fr_faces, analyzer):
    """A gallery with Obama and Biden enrolled and face_recognition's photos scanned (built once, copied)."""
    from facerec.enrolment import enrol_image
    from facerec.store import GalleryStore
    from facerec.tagging import tag_folder

    db = tmp_path_factory.mktemp("library") / "gallery.db"
    store = GalleryStore(db)
    enrol_image(store, analyzer, "Obama", fr_faces / "obama" / "obama1.jpg")
    enrol_image(store, analyzer, "Biden", fr_faces / "biden" / "biden2.jpg")
    results = list(tag_folder(fr_faces, store, analyzer, recursive=True))
    assert results and all(r.error is None for r in results)
    store.close()
    return db


@pytest.fixture
def lib_gui(qtbot, tmp_path, analyzer, library_db):
    """(window, ctx) on a copy of ``library_db``."""
    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    shutil.copy(library_db, tmp_path / "gallery.db")
    ctx = make_ctx(tmp_path / "gallery.db", analyzer)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    yield window, ctx
    close_messages()
    window.close()
    ctx.close()


def open_viewer(qtbot, window, ctx, paths, index=0, highlight=None):
    from ui.views.photo_viewer import PhotoViewer

    dlg = PhotoViewer(ctx, paths, index, window, highlight=highlight, title="test")
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.view.image() is not None and dlg._load_task is None, timeout=30_000)
    return dlg


def test_viewer_names_a_face_teaches_at_once_and_ctrl_z_undoes(lib_gui, qtbot, fr_faces):
    from PySide6.QtCore import Qt

    window, ctx = lib_gui
    kit = sorted((f for f in ctx.store.faces(status="unknown") if "/kit_harington/" in f.path), key=lambda f: f.path)
    assert len(kit) >= 2 and ctx.store.find_person("Kit Harington") is None
    paths = [f.path for f in kit]
    dlg = open_viewer(qtbot, window, ctx, paths, 0)
    assert [b.label for b in dlg.view.boxes()] == ["Unknown"]
    # click the face: the buttons follow its state
    qtbot.mouseClick(dlg.view, Qt.LeftButton, pos=dlg.view.box_rect(dlg.view.boxes()[0]).center().toPoint())
    assert dlg.view.selected == kit[0].id and dlg.name_btn.isEnabled() and not dlg.confirm_btn.isEnabled()
    with qtbot.waitSignal(dlg.decided, timeout=60_000):
        dlg.name_selected("Kit Harington")
    wait_tasks(qtbot, ctx)
    faces = {f.id: f for f in ctx.store.faces(person="Kit Harington")}
    assert faces[kit[0].id].status == "confirmed"
    # decisions teach at once: his other photos are suggested for him without a rescan
    assert {f.id for f in faces.values() if f.status == "auto"} >= {f.id for f in kit[1:]} - {kit[0].id} != set()
    qtbot.waitUntil(lambda: dlg.view.boxes() and dlg.view.boxes()[0].label == "Kit Harington ✓", timeout=30_000)
    # the Edit menu names what Ctrl+Z undoes
    qtbot.waitUntil(lambda: "Kit Harington" in window.undo_action.text() and window.undo_action.isEnabled(), timeout=30_000)
    # next photo: a suggestion, confirmed in place
    with qtbot.waitSignal(dlg.photoLoaded, timeout=30_000):
        dlg.next()
    assert dlg.path == paths[1] and dlg.position.text().startswith("2 / ")
    dlg.select_face(dlg.faces[0].id)
    assert dlg.confirm_btn.isEnabled()
    with qtbot.waitSignal(dlg.decided, timeout=60_000):
        dlg.decide_selected("confirm")
    wait_tasks(qtbot, ctx)
    assert ctx.store.faces(where="f.id = ?", params=(dlg.faces[0].id,))[0].status == "confirmed"
    # Ctrl+Z twice: back to the state before, exactly
    with qtbot.waitSignal(ctx.undone, timeout=60_000):
        window.undo_action.trigger()
    with qtbot.waitSignal(ctx.undone, timeout=60_000):
        window.undo_action.trigger()
    wait_tasks(qtbot, ctx)
    assert ctx.store.find_person("Kit Harington") is None or not ctx.store.faces(person="Kit Harington", status=("confirmed", "auto"))
    assert {f.id for f in ctx.store.faces(status="unknown") if "/kit_harington/" in f.path} == {f.id for f in kit}
    qtbot.waitUntil(lambda: dlg.view.boxes() and dlg.view.boxes()[0].label == "Unknown", timeout=30_000)
    dlg.close()


def test_undo_after_the_face_s_group_was_regrouped(lib_gui, qtbot):
    """Undo puts a face back even when its look-alike group was dropped since (regrouping after the decision)."""
    from facerec.library.review import Action

    window, ctx = lib_gui
    conn = ctx.store._conn()
    face = next(f for f in ctx.store.faces(status="unknown") if "/kit_harington/" in f.path)
    gid = conn.execute("SELECT group_id FROM faces WHERE id = ?", (face.id,)).fetchone()[0]
    if gid is None:
        conn.execute("INSERT INTO face_groups(manual, created_at) VALUES (0, 0)")
        gid = conn.execute("SELECT MAX(id) FROM face_groups").fetchone()[0]
        conn.execute("UPDATE faces SET group_id = ? WHERE id = ?", (gid, face.id))
        conn.commit()
    ctx.library.decide([face.id], Action.ASSIGN, "Kit Harington")
    with ctx.store.transaction() as c:  # what a regrouping does: the group is gone
        c.execute("UPDATE faces SET group_id = NULL WHERE group_id = ?", (gid,))
        c.execute("DELETE FROM face_groups WHERE id = ?", (gid,))
    with qtbot.waitSignal(ctx.undone, timeout=60_000) as blocker:
        window.undo_action.setEnabled(True)
        window.undo_action.trigger()
    assert blocker.args[0] is not None
    back = ctx.store.faces(where="f.id = ?", params=(face.id,))[0]
    assert back.status == "unknown" and back.person is None


def test_viewer_reject_ignore_draw_zoom_and_preselect(lib_gui, qtbot, fr_faces, monkeypatch):
    from ui import prompts

    window, ctx = lib_gui
    group = str(fr_faces / "_group" / "obama_and_biden.jpg")
    dlg = open_viewer(qtbot, window, ctx, [group])
    suggested = next(f for f in dlg.faces if f.person == "Biden")
    other = next(f for f in dlg.faces if not f.person)
    # the name chooser pre-selects the face's suggested person, never the alphabetical first
    seen = {}
    monkeypatch.setattr(prompts, "ask_choice", lambda *a, **k: seen.update(k) or None)
    dlg.select_face(suggested.id)
    dlg.name_selected()
    assert seen["current"] == "Biden"
    # reject it: never suggested for Biden again
    with qtbot.waitSignal(dlg.decided, timeout=60_000):
        dlg.decide_selected("reject")
    wait_tasks(qtbot, ctx)
    after = ctx.store.faces(where="f.id = ?", params=(suggested.id,))[0]
    assert after.status == "rejected" and after.person != "Biden"
    # ignore the stranger
    dlg.select_face(other.id)
    with qtbot.waitSignal(dlg.decided, timeout=60_000):
        dlg.decide_selected("ignore")
    wait_tasks(qtbot, ctx)
    assert ctx.store.faces(where="f.id = ?", params=(other.id,))[0].status == "ignored"
    qtbot.waitUntil(lambda: "ignored" in [b.label for b in dlg.view.boxes()], timeout=30_000)
    # draw a box where the detector "missed" a face (here: around the ignored one), then name it
    box = tuple(other.box)
    dlg.draw_btn.click()
    assert dlg.view.draw_mode
    with qtbot.waitSignal(dlg.decided, timeout=60_000) as blocker:
        dlg.view.boxDrawn.emit(box)
    manual = blocker.args[0]
    assert not dlg.view.draw_mode
    qtbot.waitUntil(lambda: manual.face_id in {f.id for f in dlg.faces}, timeout=30_000)
    assert dlg.view.selected == manual.face_id and "hand-drawn" in [b.label for b in dlg.view.boxes()]
    with qtbot.waitSignal(dlg.decided, timeout=60_000):
        dlg.name_selected("Stranger")
    wait_tasks(qtbot, ctx)
    named = ctx.store.faces(where="f.id = ?", params=(manual.face_id,))[0]
    assert (named.person, named.status, named.source) == ("Stranger", "confirmed", "manual")
    # zoom in: the photo grows beyond the window (scrollable); Fit brings it back
    dlg.set_zoom(2.0)
    assert dlg.view.width() > dlg.scroll.viewport().width() * 1.5
    dlg.set_zoom(1.0)
    qtbot.waitUntil(lambda: dlg.view.width() <= dlg.scroll.viewport().width() + 2)
    assert not [m for m in messages() if m[0] in ("Photo", "Draw a face")]
    dlg.close()


def held_results(monkeypatch, ctx):
    """Hold the result callbacks of the tasks a view starts instead of running them: a list the test delivers
    from, in any order."""
    held: list = []
    monkeypatch.setattr(ctx.tasks, "start", lambda fn, *a, on_result=None, **k: held.append(on_result))
    return held


def test_views_show_the_latest_load_when_loads_finish_out_of_order(lib_gui, qtbot, monkeypatch, fr_faces):
    """Loads run on a pool of threads and can finish out of order: a result read before a decision that arrives
    after the one read after it must not replace it (a person page's button went back to "Hide" in one CI run)."""
    import dataclasses

    from facerec.library.search import PhotoQuery

    window, ctx = lib_gui
    # the person page
    view = window.photos.person
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: p.person.name == "Obama"):
        view.show_person("Obama")
    before = ctx.library.person_page("Obama")
    after = dataclasses.replace(before, hidden=True)
    with monkeypatch.context() as m:
        held = held_results(m, ctx)
        view.load("Obama")
        view.load("Obama")
    held[1](after)  # the newer load finishes first
    held[0](before)  # the older one last: ignored
    assert view.page is after and view.hide_btn.text() == "Unhide"
    # search: an older, slower search does not replace the newer one's hits
    search = window.photos.search
    obama = ctx.library.search(PhotoQuery(people=["Obama"]))
    nobody: list = []
    with monkeypatch.context() as m:
        held = held_results(m, ctx)
        search.run_search()
        search.run_search()
    held[1](obama)
    held[0](nobody)
    assert obama and search.hits == obama and search.results.count() == len(obama)
    # the photo viewer's re-read of a photo's faces after decisions
    path = str(fr_faces / "_group" / "obama_and_biden.jpg")
    dlg = open_viewer(qtbot, window, ctx, [path])
    faces = ctx.store.photo_faces(path)
    assert len(faces) >= 2
    with monkeypatch.context() as m:
        held = held_results(m, ctx)
        dlg.reload_faces()
        dlg.reload_faces()
    held[1](faces)
    held[0](faces[:1])
    assert [f.id for f in dlg.faces] == [f.id for f in faces] and len(dlg.view.boxes()) == len(faces)
    dlg.close()
    wait_tasks(qtbot, ctx)


def test_person_page_confirms_in_place_feature_face_and_hide(lib_gui, qtbot):
    window, ctx = lib_gui
    view = window.photos.person
    # a person's row in the Library view opens their page
    window.show_page("library")
    qtbot.waitUntil(lambda: window.library._find_item(("person", "Obama")) is not None, timeout=60_000)
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: p.person.name == "Obama"):
        window.library.tree.itemDoubleClicked.emit(window.library._find_item(("person", "Obama")), 0)
    assert window.stack.currentWidget() is window.photos and window.photos.tabs.currentWidget() is view
    page = view.page
    assert page.counts.photos >= 3 and page.counts.suggested == len(page.faces) and page.counts.confirmed == 0
    assert view.grid.count() == len(page.faces) and "suggestion" in view.counts.text()
    qtbot.waitUntil(lambda: len(view.grid.cache) >= len(page.faces), timeout=60_000)  # thumbnails came from a worker
    # confirm two suggestions in place: they move to the top, confirmed
    pick = [f.face_id for f in page.faces[:2]]
    view.grid.select_ids(pick)
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: p.counts.confirmed == 2):
        view.decide("confirm")
    assert {f.face_id for f in view.page.faces if f.status == "confirmed"} == set(pick)
    assert [f.status for f in view.page.faces][:2] == ["confirmed", "confirmed"]
    # reject a suggestion: it leaves the page
    wrong = view.page.faces[-1].face_id
    view.grid.select_ids([wrong])
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: wrong not in {f.face_id for f in p.faces}):
        view.decide("reject")
    assert view.page.counts.rejected == 1
    # choose the feature face
    view.grid.select_ids([pick[1]])
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: p.feature_chosen):
        view.choose_feature()
    assert view.page.feature_face_id == pick[1] and ctx.library.person_page("Obama").feature_face_id == pick[1]
    # hide: out of the default lists, still has its page
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: p.hidden):
        view.toggle_hidden()
    assert "Obama" not in [p.name for p in ctx.library.people()] and view.hide_btn.text() == "Unhide"
    view.show_hidden.setChecked(False)
    qtbot.waitUntil(lambda: view.person.findText("Obama") < 0, timeout=30_000)
    view.show_hidden.setChecked(True)
    qtbot.waitUntil(lambda: view.person.findText("Obama") >= 0, timeout=30_000)
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: p.person.name == "Obama"):
        view.show_person("Obama")
    with qtbot.waitSignal(view.pageLoaded, timeout=60_000, check_params_cb=lambda p: not p.hidden):
        view.toggle_hidden()
    # the person page opens its photos in the viewer, previous/next through them
    view.open_photo(pick[0])
    dlg = view.photo_dialog
    qtbot.waitUntil(lambda: dlg.view.image() is not None and bool(dlg.faces), timeout=30_000)
    assert dlg.paths == list(dict.fromkeys(f.path for f in view.page.faces)) and dlg.view.selected == pick[0]
    dlg.close()
    assert not messages()


def test_search_by_people_folder_and_date_opens_the_viewer(lib_gui, qtbot, fr_faces):
    window, ctx = lib_gui
    window.show_page("photos")
    window.photos.show_tab("search")
    view = window.photos.search
    qtbot.waitUntil(lambda: view.with_list.count() == 2, timeout=30_000)
    named: dict[str, set] = {}
    for f in ctx.store.faces(status=("confirmed", "auto")):
        named.setdefault(f.path, set()).add(f.person)
    both = {p for p, who in named.items() if {"Obama", "Biden"} <= who}
    assert str(fr_faces / "_group" / "obama_and_biden.jpg") in both
    view.set_people(["Obama", "Biden"])
    with qtbot.waitSignal(view.searched, timeout=30_000) as blocker:
        view.run_search()
    assert {h.path for h in blocker.args[0]} == both and view.results.count() == len(both)
    view.set_people(["Obama", "Biden"], any_person=True)
    with qtbot.waitSignal(view.searched, timeout=30_000) as blocker:
        view.run_search()
    anyone = {h.path for h in blocker.args[0]}
    assert both < anyone and all(set(h.people) & {"Obama", "Biden"} for h in blocker.args[0])
    view.set_people(["Obama"], without=["Biden"])
    with qtbot.waitSignal(view.searched, timeout=30_000) as blocker:
        view.run_search()
    assert both.isdisjoint({h.path for h in blocker.args[0]}) and blocker.args[0]
    # a folder and a date range narrow it
    view.set_people(["Obama"], any_person=True)
    view.folder.setText(str(fr_faces / "obama"))
    with qtbot.waitSignal(view.searched, timeout=30_000) as blocker:
        view.run_search()
    assert blocker.args[0] and all("/obama/" in h.path for h in blocker.args[0])
    view.date_from.setText("2999")
    with qtbot.waitSignal(view.searched, timeout=30_000) as blocker:
        view.run_search()
    assert blocker.args[0] == []
    view.date_from.setText("")
    view.folder.setText("")
    view.set_people(["Obama", "Biden"], any_person=True)
    with qtbot.waitSignal(view.searched, timeout=30_000) as blocker:
        view.run_search()
    # results open in the photo viewer; Next goes through them
    view.open_photo(0)
    dlg = view.photo_dialog
    qtbot.waitUntil(lambda: dlg.view.image() is not None and dlg._load_task is None, timeout=30_000)
    assert dlg.paths == [h.path for h in view.hits]
    with qtbot.waitSignal(dlg.photoLoaded, timeout=30_000):
        dlg.next()
    assert dlg.path == view.hits[1].path
    dlg.close()


def test_look_alike_mosaics_name_ignore_merge_split(lib_gui, qtbot, monkeypatch):
    from ui import prompts

    window, ctx = lib_gui
    window.show_page("photos")
    view = window.photos.groups
    with qtbot.waitSignal(view.groupsLoaded, timeout=120_000):
        window.photos.show_tab("groups")
    wait_tasks(qtbot, ctx)  # the Library view groups too: let both settle, then read the stored groups
    with qtbot.waitSignal(view.groupsLoaded, timeout=120_000):
        view.refresh()
    groups = view.groups
    assert len(groups) >= 2 and all(len(g.faces) >= 2 for g in groups)
    box = view.boxes[groups[0].id]
    assert box.grid.count() == len(groups[0].faces)
    qtbot.waitUntil(lambda: len(box.grid.cache) == len(groups[0].faces), timeout=60_000)  # face thumbnails shown
    # split one face off the first group: a new group, the others keep their ids
    first = groups[0]
    moved = first.faces[-1].id
    with qtbot.waitSignal(view.groupsLoaded, timeout=120_000) as blocker:
        view.split_group(first.id, [moved])
    after = {g.id: g for g in blocker.args[0]}
    assert moved not in {f.id for f in after[first.id].faces} if first.id in after else True
    # merge the first two groups
    a, b = [g.id for g in blocker.args[0][:2]]
    view.boxes[a].tick.setChecked(True)
    view.boxes[b].tick.setChecked(True)
    with qtbot.waitSignal(view.groupsLoaded, timeout=120_000) as blocker:
        view.merge_ticked()
    merged = {g.id: g for g in blocker.args[0]}
    assert b not in merged and a in merged
    # name a whole group in place (the chooser starts empty, not on the first name)
    seen = {}
    monkeypatch.setattr(prompts, "ask_choice", lambda *a_, **k: seen.update(k) or "Group Person")
    target = merged[a]
    with qtbot.waitSignal(view.groupsLoaded, timeout=120_000) as blocker:
        view.name_group(a)
    assert seen.get("current") is None
    assert {f.id for f in ctx.store.faces(person="Group Person", status="confirmed")} == {f.id for f in target.faces}
    assert a not in {g.id for g in blocker.args[0]}
    # ignore another group; the rest keep their ids (stable)
    rest = blocker.args[0]
    gone = rest[0]
    with qtbot.waitSignal(view.groupsLoaded, timeout=120_000) as blocker:
        view.ignore_group(gone.id)
    assert all(f.status == "ignored" for f in ctx.store.faces(where=f"f.id IN ({','.join(str(f.id) for f in gone.faces)})"))
    assert {g.id for g in blocker.args[0]} == {g.id for g in rest} - {gone.id}


def test_rescan_offer_after_min_face_size_change(lib_gui, qtbot, analyzer):
    import copy

    from ui.rescan_offer import MISSING

    window, ctx = lib_gui
    old = copy.deepcopy(analyzer.settings)
    try:
        new = copy.deepcopy(ctx.settings)
        new.detector.min_face_size = old.detector.min_face_size + 6
        ctx.apply_settings(new)
        qtbot.waitUntil(lambda: getattr(window, "rescan_box", None) is not None and window.rescan_box.isVisible(), timeout=60_000)
        box = window.rescan_box
        assert "were scanned with other settings" in box.text()
        button = next(b for b in box.buttons() if b.text() == MISSING)
        assert box.defaultButton() is button
        confirmed = {f.id for f in ctx.store.faces(status="confirmed")}
        button.click()
        wait_tasks(qtbot, ctx, 600_000)
        assert ctx.library.rescan_offer().outdated == 0
        assert confirmed <= {f.id for f in ctx.store.faces(status="confirmed")}
    finally:
        analyzer.settings = old
        analyzer.detector.set_min_face_size(old.detector.min_face_size)


def test_face_picker_keys_and_enrol_warning(lib_gui, qtbot, fr_faces, analyzer, monkeypatch):
    from PySide6.QtCore import Qt

    from ui import prompts
    from ui.dialogs import FacePickerDialog

    window, ctx = lib_gui
    img = analyzer.load(fr_faces / "_group" / "obama_and_biden.jpg")
    faces = analyzer.analyze(img)
    dlg = FacePickerDialog(img, faces, window)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.keyClick(dlg, Qt.Key_Return)  # nothing chosen: Enter accepts nothing
    assert dlg.isVisible() and dlg.selected_index() is None
    qtbot.keyClick(dlg, Qt.Key_2)
    assert dlg.selected_index() == 1
    with qtbot.waitSignal(dlg.accepted, timeout=5_000):
        qtbot.keyClick(dlg, Qt.Key_Return)
    dlg2 = FacePickerDialog(img, faces, window)
    qtbot.addWidget(dlg2)
    dlg2.show()
    centre = dlg2.view.box_rect(dlg2.view.boxes()[0]).center().toPoint()
    with qtbot.waitSignal(dlg2.accepted, timeout=5_000):
        qtbot.mouseDClick(dlg2.view, Qt.LeftButton, pos=centre)
    assert dlg2.selected_index() == 0
    # enrolling Biden's face as someone else warns first (and skips it when the user says no)
    people = window.people
    biden = next(i for i, f in enumerate(faces) if people.looks_like_other("Someone", f) and people.looks_like_other("Someone", f)[0] == "Biden")
    asked = []
    monkeypatch.setattr(prompts, "pick_face", lambda *a, **k: biden)
    monkeypatch.setattr(prompts, "confirm", lambda parent, title, text: asked.append(text) or False)
    before = len(ctx.store.list_people())
    with qtbot.waitSignal(people.enrolFinished, timeout=120_000) as blocker:
        people.enrol("Someone", [str(fr_faces / "_group" / "obama_and_biden.jpg")])
    assert asked and "looks like Biden" in asked[0]
    assert not blocker.args[0].enrolled and ctx.store.find_person("Someone") is None or not ctx.store.list_samples("Someone")
    assert len(ctx.store.list_people()) >= before
    assert people.looks_like_other("Biden", faces[biden]) is None


@pytest.fixture(scope="module")
def big_person_db(tmp_path_factory, fr_faces, analyzer):
    """A gallery where Obama has a page of over 100 photos (copies of his photos under new names)."""
    from facerec.enrolment import enrol_image
    from facerec.store import GalleryStore
    from facerec.tagging import tag_folder

    root = tmp_path_factory.mktemp("big")
    photos = root / "photos"
    photos.mkdir()
    for k in range(20):
        for src in sorted((fr_faces / "obama").iterdir()):
            shutil.copy(src, photos / f"{k:02d}-{src.name}")
    db = root / "gallery.db"
    store = GalleryStore(db)
    enrol_image(store, analyzer, "Obama", fr_faces / "obama" / "obama1.jpg")
    list(tag_folder(photos, store, analyzer, recursive=False))
    store.close()
    return db


def test_window_never_blocked_while_library_pages_work(qtbot, tmp_path, analyzer, big_person_db, fr_faces):
    """A 10 ms heartbeat on the GUI thread keeps beating while a person page of over 100 photos loads with its
    thumbnails, a decision re-matches, a search runs, the look-alike mosaics and the viewer load.

    The worst gap (target: under 100 ms) is a timing, so it is measured by ``bench/gui_responsiveness.py``,
    which runs this test with FACEREC_HEARTBEAT_OUT set and keeps the gaps as JSON, not asserted here."""
    from PySide6.QtCore import QTimer

    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    shutil.copy(big_person_db, tmp_path / "gallery.db")
    ctx = make_ctx(tmp_path / "gallery.db", analyzer)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    wait_tasks(qtbot, ctx)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(10)
    started = time.perf_counter()
    person = window.photos.person
    window.show_page("photos")  # the person page of the first person (Obama) starts loading
    with qtbot.waitSignal(person.pageLoaded, timeout=60_000):
        person.show_person("Obama")
    assert person.page.counts.photos > 100 and person.grid.count() > 100
    qtbot.waitUntil(lambda: len(person.grid.cache) >= person.grid.count(), timeout=120_000)
    person.grid.select_ids([f.face_id for f in person.page.faces[:3]])
    person.decide("confirm")
    window.photos.show_tab("search")
    window.photos.search.set_people(["Obama"])
    window.photos.search.run_search()
    window.photos.show_tab("groups")
    window.photos.groups.refresh()
    wait_tasks(qtbot, ctx)
    dlg = open_viewer(qtbot, window, ctx, [f.path for f in person.page.faces[:5]])
    with qtbot.waitSignal(dlg.photoLoaded, timeout=30_000):
        dlg.next()
    wait_tasks(qtbot, ctx)
    qtbot.wait(200)
    timer.stop()
    dlg.close()
    window.close()
    ctx.close()
    assert len(gaps) > 20
    worst = max(gaps[1:])
    print(f"heartbeat: {len(gaps)} beats over {sum(gaps):.2f} s of {time.perf_counter() - started:.2f} s, worst gap {worst * 1000:.0f} ms")
    elapsed = time.perf_counter() - started
    assert sum(gaps) > 0.9 * elapsed - 0.3  # the heartbeat ran all along
    out = os.environ.get("FACEREC_HEARTBEAT_OUT")
    if out:
        Path(out).write_text(
            json.dumps({"beats": len(gaps), "seconds": round(elapsed, 3), "worst_gap_ms": round(worst * 1000, 1),
                        "gaps_over_50ms": sum(g > 0.05 for g in gaps[1:])}),
            encoding="utf-8",
        )
