"""The map of faces (points by person, unknown grey, thumbnail on hover, click opens the photo) and find this
face in the Library view, on real photos."""

from __future__ import annotations

import shutil

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import pytest
from guikit import wait_tasks

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture
def scanned(gui, qtbot, tmp_path, shared_data, fr_faces, analyzer):
    """The window on a gallery with Obama and Biden enrolled and a folder (2 ORL subjects + their photos) scanned."""
    from facerec.enrolment import enrol_image

    window, ctx = gui
    enrol_image(ctx.store, analyzer, "Obama", fr_faces / "obama" / "obama1.jpg")
    enrol_image(ctx.store, analyzer, "Biden", fr_faces / "biden" / "biden2.jpg")
    folder = tmp_path / "photos"
    for s in ("s1", "s2"):
        shutil.copytree(shared_data / "faces" / "att_orl" / s, folder / s)
    shutil.copytree(fr_faces / "obama", folder / "obama")
    shutil.copytree(fr_faces / "biden", folder / "biden")
    window.show_page("library")
    with qtbot.waitSignal(window.library.scanFinished, timeout=600_000):
        window.library.start_scan(str(folder))
    wait_tasks(qtbot, ctx)
    return window, ctx


def test_map_points_hover_and_click(scanned, qtbot):
    from PySide6.QtCore import QPoint, Qt

    window, ctx = scanned
    view = window.facemap
    with qtbot.waitSignal(view.mapLoaded, timeout=120_000) as blocker:
        window.show_page("map")
    fmap = blocker.args[0]
    assert fmap.method == "pca" and len(fmap.points) == len(view.canvas.points) >= 24
    people = dict(fmap.people())
    assert {"Obama", "Biden"} <= set(people)
    unknown = [i for i, p in enumerate(fmap.points) if p.person is None]
    assert len(unknown) >= 20 and all(fmap.points[i].kind == "face" for i in unknown)  # the ORL subjects
    assert view.legend.count() == len(people) + 2 and view.legend.item(view.legend.count() - 1).text().startswith("Unknown")

    # hover a face: its thumbnail appears (cut by a worker)
    i = unknown[0]
    x, y = view.canvas.screen_xy()[i]
    qtbot.mouseMove(view.canvas, QPoint(int(round(x)), int(round(y))))
    qtbot.waitUntil(lambda: view.canvas.hover == i and view.card.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: view.card.pixmap() is not None and not view.card.pixmap().isNull(), timeout=60_000)
    assert view.card.pixmap().width() == 96

    # click it: its photo opens with the face highlighted
    qtbot.mouseClick(view.canvas, Qt.LeftButton, pos=QPoint(int(round(x)), int(round(y))))
    assert view.photo_dialog is not None and view.photo_dialog.windowTitle() == fmap.points[i].path
    view.photo_dialog.close()

    # right click: find faces like it, listed in the Library view
    qtbot.mouseClick(view.canvas, Qt.RightButton, pos=QPoint(int(round(x)), int(round(y))))
    assert [a.text() for a in view.point_menu.actions()] == ["Open photo", "Find similar faces"]
    view.point_menu.actions()[1].trigger()
    view.point_menu.close()
    qtbot.waitUntil(lambda: window.library.current_group() == ("similar", fmap.points[i].id), timeout=60_000)
    assert window.nav.currentRow() == window.PAGES.index("library")
    window.show_page("map")

    # a closer look: t-SNE
    with qtbot.waitSignal(view.mapLoaded, timeout=180_000) as blocker:
        view.method.setCurrentIndex(1)
    assert blocker.args[0].method == "tsne" and len(blocker.args[0].points) == len(fmap.points)
    wait_tasks(qtbot, ctx)


def test_find_similar_from_the_library(scanned, qtbot):
    window, ctx = scanned
    lib = window.library
    qtbot.waitUntil(lambda: lib.groups is not None and lib.groups.clustered and bool(lib.groups.unknown_clusters), timeout=120_000)
    s1 = [f for c in lib.groups.unknown_clusters for f in c if "/s1/" in f.path]
    assert len(s1) == 10
    lib.select_group("unknown")
    lib.select_faces([s1[0].id])
    lib.similar_btn.click()
    qtbot.waitUntil(lambda: lib.current_group() == ("similar", s1[0].id), timeout=60_000)
    faces = lib.faces_in_group(lib.current_group())
    assert lib.grid.count() == len(faces) >= 20
    assert s1[0].id not in {f.id for f in faces}
    assert {f.id for f in faces[:9]} == {f.id for f in s1[1:]}  # the same subject's nine other photos come first
    distances = [lib.similar.distances[f.id] for f in faces]
    assert distances == sorted(distances)
    assert lib.grid.item(0).text().endswith(f"{distances[0]:.3f}")
    wait_tasks(qtbot, ctx)
