"""Make the screenshots in ``docs/screenshots/`` from the shared photos (rerunnable, never touches your gallery).

Usage: ``python -m ui.screenshots [--out docs/screenshots]`` (offscreen; needs FACEREC_DATA or ../shared/data
and the SFace model). Everything happens in a temporary gallery: enrolment, a library scan, the live view
playing a test clip made from the photos.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent


def wait_until(app, condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("screenshot scene did not get ready in time")
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def settle(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="facerec-shots-"))
    from facerec.config import Settings, keep_models_dir, shared_data_dir

    keep_models_dir()  # the throwaway gallery below still uses the installed models
    os.environ["FACEREC_HOME"] = str(tmp)

    from facerec.enrolment import enrol_image
    from facerec.pipeline import FaceAnalyzer

    from .app import create_app
    from .context import AppContext
    from .dialogs import FacePickerDialog, PhotoDialog
    from .main_window import MainWindow

    from facerec.clips import make_clip

    data = shared_data_dir() / "faces"
    fr = data / "face_recognition"
    app = create_app()
    settings = Settings(db_path=tmp / "gallery.db")
    ctx = AppContext(settings, settings_path=tmp / "settings.json")
    ctx._analyzer = FaceAnalyzer(settings)
    an = ctx.analyzer
    for name, photos in {
        "Barack Obama": ["obama/obama1.jpg", "obama/obama2.jpg", "obama/obama_small.jpg"],
        "Joe Biden": ["biden/biden2.jpg", "biden/biden.jpg"],
        "Rose Leslie": ["rose_leslie/img1.jpg", "rose_leslie/img2.jpg"],
        "Alex Lacamoire": ["alex_lacamoire/img1.jpg", "alex_lacamoire/alex_lacamoire1.jpg"],
    }.items():
        for p in photos:
            enrol_image(ctx.store, an, name, fr / p)

    win = MainWindow(ctx)
    win.resize(1280, 820)
    win.show()
    ctx.galleryChanged.emit()
    settle(app)

    def shot(name: str, widget=None) -> None:
        settle(app, 0.4)
        (widget or win).grab().save(str(out / name))
        print("wrote", out / name)

    # People
    win.show_page("people")
    win.people._select("Barack Obama")
    shot("people.png")

    # Picking a face in a group photo
    img = an.load(fr / "_group" / "obama_and_biden.jpg")
    dlg = FacePickerDialog(img, an.analyze(img), win)
    dlg.resize(900, 680)
    dlg.show()
    dlg.choose(0)
    shot("enrol-pick-face.png", dlg)
    dlg.close()

    # Library: scan with progress, then review
    win.show_page("library")
    lib = win.library
    lib.start_scan(str(fr))
    wait_until(app, lambda: lib.progress.maximum() > 1 and lib.progress.value() >= lib.progress.maximum() // 2)
    shot("library-scanning.png")
    wait_until(app, lambda: lib.scan_task is None)
    lib.start_scan(str(data / "openface"))
    wait_until(app, lambda: lib.scan_task is None)
    wait_until(app, lambda: ctx.tasks.running == 0)
    lib.select_group("review")
    wait_until(app, lambda: ctx.tasks.running == 0)
    shot("library-review.png")
    lib.select_group("unknown")
    wait_until(app, lambda: ctx.tasks.running == 0)
    shot("library-unknown.png")
    lib.select_group("person", "Joe Biden")
    wait_until(app, lambda: ctx.tasks.running == 0)
    group = str(fr / "_group" / "obama_and_biden.jpg")
    photo = PhotoDialog(group, ctx.store.photo_faces(group), win)
    photo.resize(1000, 740)
    photo.show()
    shot("photo-with-boxes.png", photo)
    photo.close()

    # Find this face: the library faces most like one of Lennon's
    lennon = next(f for f in ctx.store.faces() if "/lennon/" in f.path)
    win.show_page("library")
    lib.find_similar(lennon.id)
    wait_until(app, lambda: lib.current_group() == ("similar", lennon.id))
    wait_until(app, lambda: ctx.tasks.running == 0)
    shot("library-similar.png")

    from facerec.library.review import Action

    # Photos: a person page, a search, the look-alike groups as face mosaics (python -m ui.screenshots, i13)
    win.show_page("photos")
    ph = win.photos
    ph.show_tab("person")
    page = ctx.library.person_page("Barack Obama")
    ctx.library.decide([f.face_id for f in page.faces[:4]], Action.CONFIRM)  # a few confirmed, the rest to check
    ph.person.show_person("Barack Obama")
    wait_until(app, lambda: ph.person.page is not None and ph.person.page.person.name == "Barack Obama" and ctx.tasks.running == 0)
    wait_until(app, lambda: len(ph.person.grid.cache) >= min(ph.person.grid.count(), 12) and ctx.tasks.running == 0)
    ph.person._feature_later()
    shot("person-page.png")
    ph.show_tab("search")
    wait_until(app, lambda: ph.search.with_list.count() >= 4 and ctx.tasks.running == 0)
    ph.search.set_people(["Barack Obama", "Joe Biden"], any_person=True)
    ph.search.run_search()
    wait_until(app, lambda: bool(ph.search.hits) and ctx.tasks.running == 0)
    shot("search.png")
    ph.show_tab("groups")
    wait_until(app, lambda: bool(ph.groups.groups) and ctx.tasks.running == 0)
    wait_until(app, lambda: all(len(b.grid.cache) >= b.grid.count() for b in ph.groups.boxes.values()) and ctx.tasks.running == 0)
    shot("look-alike-groups.png")

    # The photo viewer: a face the detector's box missed drawn by hand (here over the third face, ignored) and named
    from .views.photo_viewer import PhotoViewer

    third = next(f for f in ctx.store.photo_faces(group) if not f.person)
    ctx.library.decide([third.id], Action.IGNORE)
    x1, y1, x2, y2 = third.box
    drawn = ctx.library.add_face(group, (x1 - 12, y1 - 20, x2 + 12, y2 + 8), "A guest")
    viewer = PhotoViewer(ctx, [f.path for f in ph.search.hits] or [group], 0, win, title="search results")
    if group in viewer.paths:
        viewer.index = viewer.paths.index(group)
    viewer.highlight = drawn.face_id
    viewer.resize(1000, 760)
    viewer.show()
    viewer.load()
    wait_until(app, lambda: viewer.view.image() is not None and viewer._load_task is None and ctx.tasks.running == 0)
    shot("photo-viewer.png", viewer)
    viewer.close()

    # The map of faces, a face under the mouse
    win.show_page("map")
    fm = win.facemap
    wait_until(app, lambda: fm.fmap is not None and ctx.tasks.running == 0)
    xy = fm.canvas.screen_xy()
    faces = [i for i, p in enumerate(fm.canvas.points) if p.kind == "face" and p.person]
    i = min(faces, key=lambda k: abs(xy[k][0] - fm.canvas.width() / 2) + abs(xy[k][1] - fm.canvas.height() / 2))
    fm.canvas.hover = i
    fm.canvas.update()
    fm._hovered(i)
    wait_until(app, lambda: fm.card.pixmap() is not None and not fm.card.pixmap().isNull())
    shot("map.png")

    # Live, fed by a clip made from two photos
    clip = make_clip(tmp / "clip.avi", [fr / "obama" / "obama.jpg", fr / "biden" / "biden.jpg"], frames=120)
    win.show_page("live")
    live = win.live
    live.set_video(str(clip))
    live.start(loop=True)
    wait_until(app, lambda: live.last_frame is not None and live.last_frame.index > 45
               and sum(f.known for f in live.last_frame.faces) == 2, timeout=120)
    live.view.select(live.last_frame.faces[-1].track_id)
    live._box_clicked(live.last_frame.faces[-1].track_id)
    shot("live.png")
    live.stop()

    win.show_page("settings")
    shot("settings.png")
    win.close()
    ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
