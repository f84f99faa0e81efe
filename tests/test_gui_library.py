"""Library view: import a folder with progress, cancel and resume, review suggestions, name unknown faces,
promote confirmed faces, open a photo large, export CSV/JSON."""

from __future__ import annotations

import csv
import json

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import pytest
from guikit import close_messages, messages, wait_tasks

from facerec.files import iter_image_files

pytestmark = [pytest.mark.data, pytest.mark.slow]




def test_import_all_faces_review_and_export(gui, qtbot, shared_data, fr_faces, analyzer, tmp_path, monkeypatch):
    window, ctx = gui
    view = window.library
    window.show_page("library")
    from facerec.enrolment import enrol_image
    from ui import prompts

    enrol_image(ctx.store, analyzer, "Obama", fr_faces / "obama" / "obama1.jpg")
    enrol_image(ctx.store, analyzer, "Biden", fr_faces / "biden" / "biden2.jpg")
    ctx.galleryChanged.emit()
    folder = shared_data / "faces"
    total = len(list(iter_image_files(folder)))
    seen = []

    def on_progress(p):
        seen.append((p.done, p.total, view.progress.value(), view.progress.maximum(), view.progress_label.text()))
        if p.done - p.skipped >= 5 and view.scan_task is not None and not view.scan_task.control.cancelled and len(seen) < 100:
            view.cancel_scan()

    # 1. scan, cancelled after a few photos: what was done is saved
    with qtbot.waitSignal(view.scanFinished, timeout=600_000) as blocker:
        view.start_scan(str(folder))
        view.scan_task.signals.progress.connect(on_progress)
    first = blocker.args[0]
    assert first.cancelled
    saved = len(ctx.store.photos())
    assert 5 <= saved < total
    assert view.scan_btn.text() == "Resume" and "Cancelled" in view.progress_label.text()
    # the bar and the label follow the scan: counts, total and (once measured) the time left
    assert seen[-1][1] == total and seen[-1][3] == total
    assert any(f"{d} / {total} photos" in text for d, _, _, _, text in seen)
    assert any(" left" in text for *_, text in seen)
    wait_tasks(qtbot, ctx)

    # 2. resume: finished photos are skipped, the rest is scanned
    progress = []
    with qtbot.waitSignal(view.scanFinished, timeout=900_000) as blocker:
        view.start_scan(str(folder))
        view.scan_task.signals.progress.connect(lambda p: progress.append(p.done))
    summary = blocker.args[0]
    assert summary.photos == total and not summary.cancelled
    assert summary.skipped >= saved
    assert progress == sorted(progress) and progress[-1] == total
    assert view.progress.value() == view.progress.maximum() == total
    assert view.scan_btn.text() == "Scan"
    qtbot.waitUntil(lambda: view.groups is not None and view.groups.photos == total and view.groups.clustered, timeout=120_000)
    wait_tasks(qtbot, ctx)
    groups = view.groups
    assert len(ctx.store.photos()) == total
    assert {"Obama", "Biden"} <= set(groups.by_person)
    assert groups.unknown_clusters  # ORL subjects and strangers are unknown, grouped by likeness

    # photos by person
    view.select_group("person", "Obama")
    obama_faces = view.faces_in_group(("person", "Obama"))
    assert view.grid.count() == len(obama_faces) >= 5
    assert all(("/obama/" in f.path or "/_variants/" in f.path or "/_group/" in f.path) for f in obama_faces)

    # confirm one suggestion, reject another
    view.select_group("review")
    suggestions = {f.id: f for f in view.faces_in_group(("review", None))}
    good = next(f for f in suggestions.values() if f.person == "Obama" and "/obama/" in f.path)
    wrong = next(f for f in suggestions.values() if f.person == "Biden" and "/biden/" in f.path)
    view.select_faces([good.id])
    view.confirm_selected()
    view.select_group("review")
    view.select_faces([wrong.id])
    view.reject_selected()
    wait_tasks(qtbot, ctx)
    qtbot.waitUntil(lambda: good.id not in {f.id for f in view.faces_in_group(("review", None))}, timeout=60_000)
    status = {f.id: (f.status, f.person) for f in ctx.store.faces()}
    assert status[good.id] == ("confirmed", "Obama")
    assert status[wrong.id] == ("rejected", None)
    assert wrong.id not in {f.id for f in view.faces_in_group(("review", None))}

    # name an unknown face: Kit Harington is not enrolled, so his photos are unknown; assign one to a new person
    kit = next(f for f in ctx.store.faces(status="unknown") if "/kit_harington/" in f.path)
    view.select_group("unknown")
    view.select_faces([kit.id])
    monkeypatch.setattr(prompts, "ask_choice", lambda *a, **k: "Kit Harington")
    view.assign_selected()
    wait_tasks(qtbot, ctx)
    assert ctx.store.find_person("Kit Harington") is not None
    assert {f.id for f in ctx.store.faces(person="Kit Harington", status="confirmed")} == {kit.id}
    # the decision teaches at once: his other photos are suggested for him, without a rescan
    assert {f.path for f in ctx.store.faces(person="Kit Harington", status="auto")} and all(
        "/kit_harington/" in f.path or "/_variants/" in f.path or "kit_" in f.path for f in ctx.store.faces(person="Kit Harington"))
    # the new person shows up in the People view too
    qtbot.waitUntil(lambda: any("Kit Harington" in window.people.people.item(i).text() for i in range(window.people.people.count())))

    # promote confirmed faces to samples on request
    qtbot.waitUntil(lambda: view._find_item(("person", "Obama")) is not None, timeout=60_000)
    view.select_group("person", "Obama")
    before = len(ctx.store.list_samples("Obama"))
    view.promote_person()
    qtbot.waitUntil(lambda: len(ctx.store.list_samples("Obama")) == before + 1, timeout=30_000)
    assert ctx.store.list_samples("Obama")[-1].thumbnail

    # a photo opens large with its face boxes and names
    group = fr_faces / "_group" / "obama_and_biden.jpg"
    face = next(f for f in ctx.store.faces() if f.path == str(group))
    view._faces_shown = ctx.store.faces()
    view.open_photo(face.id)
    dlg = view.photo_dialog
    qtbot.waitUntil(lambda: dlg.view.image() is not None and len(dlg.view.boxes()) == 3, timeout=30_000)
    labels = sorted(b.label for b in dlg.view.boxes())
    assert len(labels) == len(ctx.store.photo_faces(str(group))) == 3
    assert any(lbl.startswith("Obama") for lbl in labels) and any(lbl.startswith("Biden") for lbl in labels)
    assert dlg.view.image() is not None and dlg.view.selected == face.id
    dlg.close()

    # export CSV and JSON
    out_csv, out_json = tmp_path / "tags.csv", tmp_path / "tags.json"
    view.export(str(out_csv))
    view.export(str(out_json))
    wait_tasks(qtbot, ctx)
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert {r["path"] for r in rows} == {p.path for p in ctx.store.photos()}
    assert any(r["person"] == "Kit Harington" for r in rows)
    records = json.loads(out_json.read_text(encoding="utf-8"))
    assert len(records) == total
    by_path = {r["path"]: r for r in records}
    assert sorted(f["person"] or "" for f in by_path[str(group)]["faces"])[1:] == ["Biden", "Obama"]
    assert not [m for m in messages() if m[0] in ("Library", "Export")]
    close_messages()
