"""Toolbar buttons keep their whole label at the default window width and at the minimum one (they wrap onto
a second row rather than shrink)."""

from __future__ import annotations

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import pytest
from guikit import make_ctx


@pytest.mark.parametrize("width", [1240, 900])
def test_toolbar_labels_are_never_cut(qtbot, tmp_path, width):
    from PySide6.QtWidgets import QApplication, QPushButton

    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    ctx = make_ctx(tmp_path / "gallery.db", None)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    window.resize(width, 700)
    try:
        for view, names in ((window.people, ("add_btn", "folder_btn", "webcam_btn", "remove_btn", "rename_btn", "merge_btn", "delete_btn")),
                            (window.library, ("confirm_btn", "reject_btn", "assign_btn", "open_btn", "promote_btn"))):
            window.stack.setCurrentWidget(view)
            QApplication.processEvents()
            right = view.width()
            for name in names:
                button: QPushButton = getattr(view, name)
                assert button.width() >= button.sizeHint().width(), (width, button.text(), button.width())
                edge = button.mapTo(view, button.rect().topRight()).x()
                assert edge <= right, (width, button.text(), edge, right)
        if width == 1240:  # the default size: People's toolbar is one row
            tops = {getattr(window.people, n).y() for n in ("add_btn", "delete_btn")}
            assert len(tops) == 1
    finally:
        window.close()
        ctx.close()


def test_one_threshold_is_shown_everywhere(qtbot, tmp_path, analyzer, fr_faces):
    """Settings, Live (before it starts) and the analyzer agree on the threshold in force, and it follows the
    gallery's size."""
    from facerec.enrolment import enrol_image
    from facerec.pipeline import threshold_in_force
    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    ctx = make_ctx(tmp_path / "gallery.db", analyzer)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    try:
        for n, photo in enumerate(["obama/obama.jpg", "biden/biden.jpg", "obama/obama2.jpg"], 1):
            enrol_image(ctx.store, analyzer, photo.split("/")[0], str(fr_faces / photo))
            ctx.galleryChanged.emit()
            gallery = ctx.store.gallery_index(analyzer.model_id)
            expected = analyzer.threshold_for(gallery)
            assert len(gallery) == n == ctx.store.gallery_size(analyzer.model_id)
            assert threshold_in_force(ctx.settings, n) == pytest.approx(expected)
            assert window.settings.threshold.value() == pytest.approx(expected, abs=5e-4)
            assert window.live.threshold_label.text() == f"threshold {expected:.3f}"
            assert window.live.threshold == pytest.approx(expected)
    finally:
        window.close()
        ctx.close()
