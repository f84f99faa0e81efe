"""People view: enrol from files (incl. drag and drop), a multi-face photo, no-face photos; rename, merge, delete."""

from __future__ import annotations

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import numpy as np
import pytest
from guikit import close_messages, messages
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

pytestmark = [pytest.mark.data, pytest.mark.slow]


def loaded(qtbot, view):
    """Wait until the People list shows the latest reload (it is read in the background)."""
    qtbot.waitUntil(lambda: not view.loading, timeout=30_000)
    return view


def people_rows(qtbot, view):
    loaded(qtbot, view)
    return [view.people.item(i).text() for i in range(view.people.count())]


def enrol(qtbot, view, name, paths):
    with qtbot.waitSignal(view.enrolFinished, timeout=120_000) as blocker:
        view.enrol(name, [str(p) for p in paths])
    return blocker.args[0]


def test_enrol_from_files_with_no_face_and_unreadable(gui, qtbot, fr_faces, tmp_path):
    window, ctx = gui
    view = window.people
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 180, np.uint8)).save(blank)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a photo")
    report = enrol(qtbot, view, "Barack Obama", [fr_faces / "obama" / "obama_small.jpg", fr_faces / "obama" / "obama2.jpg", blank, broken])

    assert len(report.enrolled) == 2
    assert report.no_face == [str(blank)]
    assert [p for p, _ in report.errors] == [str(broken)]
    assert people_rows(qtbot, view) == ["Barack Obama\n2 samples"]
    assert view.samples.count() == 2
    assert not view.samples.item(0).icon().isNull()
    assert [p.sample_count for p in ctx.store.list_people()] == [2]
    titles = [t for t, _ in messages()]
    assert "Some photos were not used" in titles
    text = next(t for title, t in messages() if title == "Some photos were not used")
    assert "wall.png: no face found" in text and "broken.jpg" in text
    close_messages()


def test_new_person_and_drag_and_drop(gui, qtbot, fr_faces, monkeypatch):
    window, ctx = gui
    view = window.people
    from ui import prompts

    monkeypatch.setattr(prompts, "ask_text", lambda *a, **k: "Joe Biden")
    monkeypatch.setattr(prompts, "ask_files", lambda *a, **k: [str(fr_faces / "biden" / "biden2.jpg")])
    with qtbot.waitSignal(view.enrolFinished, timeout=120_000):
        view.new_person()
    assert people_rows(qtbot, view) == ["Joe Biden\n1 sample"]

    # drop a photo on the view: it is added to the person the user picks
    monkeypatch.setattr(prompts, "ask_choice", lambda parent, title, label, choices, editable=False: choices[0])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(fr_faces / "biden" / "biden.jpg"))])
    event = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(view.enrolFinished, timeout=120_000):
        view.dropEvent(event)
    assert people_rows(qtbot, view) == ["Joe Biden\n2 samples"]


def test_enrol_multi_face_photo_user_picks_the_face(gui, qtbot, fr_faces, monkeypatch, analyzer):
    window, ctx = gui
    view = window.people
    from ui import prompts
    from ui.dialogs import FacePickerDialog

    picked = {}

    def pick(parent, image, faces):
        # the real dialog: click inside the left-most face box
        dlg = FacePickerDialog(image, faces, parent)
        dlg.resize(800, 600)
        dlg.show()
        qtbot.waitExposed(dlg)
        target = min(range(len(faces)), key=lambda i: faces[i].box[0])  # Biden stands left of Obama
        item = next(b for b in dlg.view.boxes() if b.key == target)
        centre = dlg.view.box_rect(item).center().toPoint()
        qtbot.mouseClick(dlg.view, Qt.LeftButton, pos=QPoint(centre.x(), centre.y()))
        picked["index"], picked["box"] = dlg.selected_index(), faces[target].box
        dlg.close()
        return dlg.selected_index()

    monkeypatch.setattr(prompts, "pick_face", pick)
    report = enrol(qtbot, view, "Joe Biden", [fr_faces / "_group" / "obama_and_biden.jpg"])
    assert report.enrolled == [str(fr_faces / "_group" / "obama_and_biden.jpg")]
    sample = ctx.store.list_samples("Joe Biden")[0]
    assert np.allclose(sample.box, picked["box"], atol=0.2)
    # the chosen face is Biden's: a photo of Biden alone is now recognised as him
    gallery = ctx.store.gallery_index(analyzer.model_id)
    faces = analyzer.analyze(fr_faces / "biden" / "biden2.jpg", gallery=gallery)
    assert faces[0].match.name == "Joe Biden"


def test_rename_merge_remove_and_delete(gui, qtbot, fr_faces, monkeypatch, analyzer):
    window, ctx = gui
    view = window.people
    from facerec.enrolment import enrol_image
    from ui import prompts

    enrol_image(ctx.store, analyzer, "Obama", fr_faces / "obama" / "obama_small.jpg")
    enrol_image(ctx.store, analyzer, "Barry", fr_faces / "obama" / "obama2.jpg")
    enrol_image(ctx.store, analyzer, "Rose", fr_faces / "rose_leslie" / "img1.jpg")
    ctx.galleryChanged.emit()
    assert people_rows(qtbot, view) == ["Barry\n1 sample", "Obama\n1 sample", "Rose\n1 sample"]

    # rename
    view._select("Rose")
    monkeypatch.setattr(prompts, "ask_text", lambda *a, **k: "Rose Leslie")
    view.rename_person()
    assert [p.name for p in ctx.store.list_people()] == ["Barry", "Obama", "Rose Leslie"]
    assert loaded(qtbot, view).selected_person() == "Rose Leslie"

    # a rename onto a taken name is refused with a message, nothing changes
    monkeypatch.setattr(prompts, "ask_text", lambda *a, **k: "Obama")
    view.rename_person()
    assert any(t == "Cannot rename" for t, _ in messages())
    close_messages()
    assert [p.name for p in ctx.store.list_people()] == ["Barry", "Obama", "Rose Leslie"]

    # merge Barry into Obama (confirmed)
    view._select("Barry")
    monkeypatch.setattr(prompts, "ask_choice", lambda *a, **k: "Obama")
    monkeypatch.setattr(prompts, "confirm", lambda *a, **k: True)
    view.merge_person()
    assert people_rows(qtbot, view) == ["Obama\n2 samples", "Rose Leslie\n1 sample"]
    assert view.selected_person() == "Obama"

    # remove one sample
    view.samples.item(0).setSelected(True)
    view.remove_samples()
    assert ctx.store.list_people()[0].sample_count == 1
    assert loaded(qtbot, view).samples.count() == 1

    # delete asks first: "no" keeps the person, "yes" erases them
    monkeypatch.setattr(prompts, "confirm", lambda *a, **k: False)
    view.delete_person()
    assert len(ctx.store.list_people()) == 2
    monkeypatch.setattr(prompts, "confirm", lambda *a, **k: True)
    view.delete_person()
    assert [p.name for p in ctx.store.list_people()] == ["Rose Leslie"]
    assert people_rows(qtbot, view) == ["Rose Leslie\n1 sample"]
    assert ctx.store.gallery_index(analyzer.model_id).num_people == 1


def test_enrol_from_webcam_captures(gui, qtbot, fr_faces, tmp_path):
    """The capture dialog, fed by a video file standing in for the webcam; captured frames become samples."""

    from ui import jobs
    from ui.dialogs import CaptureDialog

    from facerec.clips import make_clip

    clip = make_clip(tmp_path / "cam.avi", [fr_faces / "rose_leslie" / "img1.jpg"], frames=20)
    window, ctx = gui
    dlg = CaptureDialog("Rose", parent=window, source=str(clip))
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.view.image() is not None, timeout=20_000)
    dlg.capture()
    qtbot.wait(100)
    dlg.capture()
    assert len(dlg.frames) == 2 and dlg.count.text() == "2 captures"
    dlg.accept()
    assert dlg.grabber is None
    view = window.people
    with qtbot.waitSignal(view.enrolFinished, timeout=120_000) as blocker:
        view._start(jobs.enrol_frames, "Rose", list(dlg.frames))
    assert blocker.args[0].enrolled == ["capture 1", "capture 2"]
    assert people_rows(qtbot, view) == ["Rose\n2 samples"]
    assert view.samples.item(0).text() == "capture"


def test_enrol_from_a_folder(gui, qtbot, fr_faces, monkeypatch):
    window, ctx = gui
    view = window.people
    from ui import prompts

    ctx.store.add_person("Rose")
    ctx.galleryChanged.emit()
    loaded(qtbot, view)._select("Rose")
    monkeypatch.setattr(prompts, "ask_folder", lambda *a, **k: str(fr_faces / "rose_leslie"))
    with qtbot.waitSignal(view.enrolFinished, timeout=120_000) as blocker:
        view.add_folder()
    assert sorted(p.rsplit("/", 1)[-1] for p in blocker.args[0].enrolled) == ["img1.jpg", "img2.jpg"]
    assert people_rows(qtbot, view) == ["Rose\n2 samples"]
