"""Live view fed by a video file: names on the right faces, fps, strictness slider, "Add this face to…"."""

from __future__ import annotations


import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import pytest

from facerec.embedders.packs import strictness_range
from guikit import close_messages, messages
from facerec.clips import make_clip
from ui.views.live import slider_to_threshold

pytestmark = [pytest.mark.data, pytest.mark.slow]


def _make_clip(path, photos, frames):
    return make_clip(path, photos, frames=frames)


def _sides(frame):
    return {("left" if (f.box[0] + f.box[2]) / 2 < 320 else "right"): f for f in frame.faces}


def test_live_view_names_faces_in_a_video(gui, qtbot, tmp_path, fr_faces, analyzer):
    window, ctx = gui
    from facerec.enrolment import enrol_image

    enrol_image(ctx.store, analyzer, "Obama", fr_faces / "obama" / "obama1.jpg")
    enrol_image(ctx.store, analyzer, "Biden", fr_faces / "biden" / "biden2.jpg")
    clip = _make_clip(tmp_path / "clip.avi", [fr_faces / "obama" / "obama.jpg", fr_faces / "biden" / "biden.jpg"], 60)

    view = window.live
    window.show_page("live")
    view.set_video(str(clip))
    view.strictness.setValue(50)  # threshold 0.565, half way along SFace's strictness range (0.88 .. 0.25)
    view.start(loop=True)
    seen = []

    def named():
        f = view.last_frame
        if f is None:
            return False
        sides = _sides(f)
        seen.append([x.label for x in f.faces])
        return bool(sides.get("left") and sides["left"].name == "Obama" and sides.get("right") and sides["right"].name == "Biden")

    qtbot.waitUntil(named, timeout=60_000)
    # what is drawn: a box per face, labelled with the name and the distance
    labels = sorted(b.label for b in view.view.boxes())
    assert labels[0].startswith("Biden 0.") and labels[1].startswith("Obama 0.")
    qtbot.waitUntil(lambda: view.fps.text() != "– fps" and float(view.fps.text().split()[0]) > 0, timeout=10_000)

    # strictness: all the way to strict (threshold 0.25) turns Biden (distance about 0.4) into Unknown, live
    view.strictness.setValue(100)
    assert view.threshold == pytest.approx(strictness_range("sface")[1])

    def biden_unknown():
        right = _sides(view.last_frame).get("right")
        label = next((b.label for b in view.view.boxes() if right is not None and b.key == right.track_id), "")
        return bool(right is not None and not right.known and label.startswith("Unknown 0."))

    qtbot.waitUntil(biden_unknown, timeout=10_000)
    view.strictness.setValue(50)
    qtbot.waitUntil(lambda: {f.name for f in view.last_frame.faces} == {"Obama", "Biden"}, timeout=10_000)

    # "Add this face to…": click the right face's box, add it to Biden
    right = _sides(view.last_frame)["right"]
    view.view.select(right.track_id)
    before = len(ctx.store.list_samples("Biden"))
    view.add_selected_face("Biden")
    qtbot.waitUntil(lambda: len(ctx.store.list_samples("Biden")) == before + 1, timeout=20_000)
    assert ctx.store.list_samples("Biden")[-1].thumbnail
    view.stop()
    assert view.worker is None and view.start_btn.text() == "Start"


def test_camera_that_cannot_open_shows_an_error(gui, qtbot, tmp_path):
    window, ctx = gui
    view = window.live
    view.set_video(str(tmp_path / "missing.avi"))
    view.start()
    qtbot.waitUntil(lambda: any(t == "Live view" for t, _ in messages()), timeout=20_000)
    text = next(t for title, t in messages() if title == "Live view")
    assert "cannot open video file" in text
    qtbot.waitUntil(lambda: view.worker is None, timeout=10_000)
    close_messages()


def test_strictness_starts_at_the_gallery_default_until_moved(gui, qtbot, tmp_path, fr_faces, analyzer):
    window, ctx = gui
    from facerec.enrolment import enrol_image

    enrol_image(ctx.store, analyzer, "Obama", fr_faces / "obama" / "obama1.jpg")
    clip = _make_clip(tmp_path / "clip.avi", [fr_faces / "obama" / "obama.jpg"], 20)
    view = window.live
    view.set_video(str(clip))
    expected = analyzer.threshold_for(ctx.store.gallery_index(analyzer.model_id))
    with qtbot.waitSignal(window.live.frameShown, timeout=60_000):
        view.start(loop=True)
    assert view.threshold == pytest.approx(expected, abs=0.01)
    assert view.worker.recognizer.threshold == pytest.approx(view.threshold)
    # once the user moves it, it stays where they put it
    view.strictness.setValue(90)
    view.stop()
    view.start(loop=True)
    qtbot.waitUntil(lambda: view.last_frame is not None and view.worker is not None and view.worker.frames > 2, timeout=60_000)
    assert view.threshold == pytest.approx(slider_to_threshold(90))
    view.stop()
