"""The library pages of the GUI on real photos: undo (Ctrl+Z), the photo viewer (name, confirm, reject, ignore,
draw a missed face, previous/next, zoom), person pages, search, look-alike mosaics, the rescan offer, safe
defaults in choosers, and a heartbeat showing the window is never blocked while they work."""

from __future__ import annotations

import shutil

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
