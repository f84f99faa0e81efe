"""XMP in the GUI: the Library view's "Write XMP", sidecars kept in sync after decisions, the settings."""

from __future__ import annotations

import json
import shutil

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import pytest
from guikit import wait_tasks

from facerec.library.xmp_files import read_sidecar, sidecar_path
from facerec.tagging import tag_folder

pytestmark = [pytest.mark.data]


def test_write_xmp_then_a_rename_rewrites_the_sidecar(gui, qtbot, fr_faces, analyzer, tmp_path):
    window, ctx = gui
    view = window.library
    window.show_page("library")
    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "obama.jpg"
    shutil.copy(fr_faces / "obama" / "obama2.jpg", photo)
    list(tag_folder(lib, ctx.store, analyzer, read_xmp=False))
    (face,) = ctx.store.photo_faces(str(photo))
    ctx.store.set_face(face.id, "confirmed", "Barack")
    view.folder.setText(str(lib))
    view.xmp_btn.click()
    wait_tasks(qtbot, ctx)
    assert "XMP: 1 sidecar written" in view.progress_label.text()
    assert [r.name for r in read_sidecar(sidecar_path(photo)).regions()] == ["Barack"]

    ctx.store.rename_person("Barack", "Barack Obama")
    ctx.galleryChanged.emit()  # what the People view does after a rename
    qtbot.waitUntil(lambda: [r.name for r in read_sidecar(sidecar_path(photo)).regions()] == ["Barack Obama"], timeout=60_000)
    wait_tasks(qtbot, ctx)


def test_xmp_settings_are_saved(gui, tmp_path):
    window, ctx = gui
    view = window.settings
    assert view.xmp_read.isChecked() and view.xmp_sync.isChecked() and view.xmp_style.currentData() == "digikam"
    view.xmp_read.setChecked(False)
    view.xmp_sync.setChecked(False)
    view.xmp_style.setCurrentIndex(view.xmp_style.findData("lightroom"))
    view.save()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert (saved["xmp_read_on_scan"], saved["xmp_sync"], saved["xmp_sidecar_style"]) == (False, False, "lightroom")
    assert ctx.settings.xmp_sidecar_style == "lightroom"
