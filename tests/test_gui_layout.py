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
