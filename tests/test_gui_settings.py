"""Settings view: values are saved, the analyzer follows, a new gallery location opens that gallery."""

from __future__ import annotations

import json

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
from guikit import make_ctx


def test_settings_saved_and_applied(qtbot, tmp_path, sface_installed):
    from facerec.pipeline import FaceAnalyzer
    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    ctx = make_ctx(tmp_path / "a.db", None)
    ctx._analyzer = FaceAnalyzer(ctx.settings)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    ctx.store.add_person("Someone")
    ctx.galleryChanged.emit()
    qtbot.waitUntil(lambda: not window.people.loading)  # the People list is read in the background
    assert window.people.people.count() == 1
    view = window.settings
    view.min_face.setValue(40)
    view.default_threshold.setChecked(False)
    view.threshold.setValue(0.42)
    view.gallery.setText(str(tmp_path / "other.db"))
    view.threads.setValue(1)
    view.save()

    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["detector"]["min_face_size"] == 40 and saved["threshold"] == 0.42
    assert saved["db_path"] == str(tmp_path / "other.db")
    assert ctx.analyzer.threshold == 0.42
    assert ctx.analyzer.detector.settings.min_face_size == 40
    assert saved["threads"] == 1 and ctx.analyzer.settings.threads == 1
    # the new (empty) gallery is open and the People view shows it
    assert ctx.store.path == tmp_path / "other.db"
    qtbot.waitUntil(lambda: not window.people.loading)
    assert window.people.people.count() == 0
    # the live view's strictness slider follows the new threshold
    assert abs(window.live.threshold - 0.42) < 0.01
    # revert restores the saved values in the form
    view.min_face.setValue(99)
    view.load()
    assert view.min_face.value() == 40
    window.close()
    ctx.close()


def test_about_and_shortcuts(qtbot, tmp_path):
    from PySide6.QtGui import QKeySequence
    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    ctx = make_ctx(tmp_path / "a.db", None)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    shortcuts = {a.text().replace("&", ""): a.shortcut().toString() for m in window.menuBar().actions() for a in m.menu().actions()}
    assert shortcuts["Library"] == "Ctrl+3" and shortcuts["Start / stop"] == "F5"
    assert shortcuts["Quit"] == QKeySequence(QKeySequence.Quit).toString()
    window.about()
    assert "facerec" in window.about_box.text() and "never" in window.about_box.text()
    window.about_box.close()
    window.close()
    ctx.close()


def test_window_state_and_last_folder_survive_a_restart(qtbot, tmp_path):
    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    ctx = make_ctx(tmp_path / "a.db", None)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.library.folder.setText(str(tmp_path))
    window.library.recursive.setChecked(False)
    window.close()
    again = MainWindow(ctx)
    qtbot.addWidget(again)
    assert again.library.folder.text() == str(tmp_path)
    assert not again.library.recursive.isChecked()
    again.close()
    ctx.close()
