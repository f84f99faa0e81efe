"""facerec.live: tracking between detections, names on the right faces, live threshold, re-embedding policy."""

from __future__ import annotations


import numpy as np
import pytest

from facerec.clips import make_clip, render_frames
from facerec.geometry import box_iou as iou
from facerec.live import LiveConfig, LiveRecognizer, greedy_match, moved, open_capture





def test_iou_and_matching():
    a = np.array([0, 0, 10, 10], np.float32)
    assert iou(a, a) == 1.0
    assert iou(a, a + 20) == 0.0
    assert abs(iou(a, np.array([5, 0, 15, 10])) - 1 / 3) < 1e-6
    boxes = [np.array([0, 0, 10, 10]), np.array([100, 100, 120, 120])]
    assert sorted(greedy_match(boxes[::-1], boxes, 0.3)) == [(0, 1), (1, 0)]
    assert greedy_match(boxes, [np.array([50, 50, 60, 60])], 0.3) == []
    assert not moved(a, a + 2, 0.5) and moved(a, a + 8, 0.5) and moved(None, a, 0.5)


def test_open_capture_refuses_missing_sources(tmp_path):
    with pytest.raises(OSError, match="cannot open video file"):
        open_capture(str(tmp_path / "nope.avi"))


@pytest.fixture(scope="module")
def clip_frames(fr_faces):
    return list(render_frames([fr_faces / "obama" / "obama.jpg", fr_faces / "biden" / "biden.jpg"], frames=40))


@pytest.fixture
def gallery(store, analyzer, fr_faces):
    from facerec.enrolment import enrol_image

    enrol_image(store, analyzer, "Obama", fr_faces / "obama" / "obama1.jpg")
    enrol_image(store, analyzer, "Biden", fr_faces / "biden" / "biden2.jpg")
    return store.gallery_index(analyzer.model_id)


def _names_by_side(frame):
    return {("left" if (f.box[0] + f.box[2]) / 2 < 320 else "right"): f for f in frame.faces}


@pytest.mark.data
@pytest.mark.slow
def test_inline_detection_names_the_right_faces_and_tracks_between(analyzer, gallery, clip_frames):
    cfg = LiveConfig(async_detect=False, detect_every=5)
    with LiveRecognizer(analyzer, gallery, cfg) as live:
        frames = [live.process(f) for f in clip_frames]
    for fr in frames:
        sides = _names_by_side(fr)
        assert sides["left"].name == "Obama" and sides["right"].name == "Biden", [f.label for f in fr.faces]
        assert "Obama" in sides["left"].label and f"{sides['left'].distance:.2f}" in sides["left"].label
    # the same two tracks all along, boxes following the sway between detections
    assert {f.track_id for fr in frames for f in fr.faces} == {1, 2}
    assert live.detections == 8
    # tracking spares embeddings: 2 new faces, then re-embedding every `reembed_every` detections or on big moves
    assert live.embedded < 2 * live.detections
    lefts = np.array([_names_by_side(fr)["left"].box[0] for fr in frames])
    assert lefts.max() - lefts.min() > 10  # the box moved with the face
    # between detections the tracked box stays on the face the detector finds there
    det = analyzer.detector.detect(clip_frames[-2])
    best = max(iou(_names_by_side(frames[-2])["left"].box, d.box) for d in det)
    assert best > 0.6


@pytest.mark.data
@pytest.mark.slow
def test_async_detection_and_live_threshold(analyzer, gallery, clip_frames):
    with LiveRecognizer(analyzer, gallery, LiveConfig(async_detect=True)) as live:
        live.process(clip_frames[0])
        live.flush()
        fr = live.process(clip_frames[1])
        assert fr.detection_merged
        sides = _names_by_side(fr)
        assert sides["left"].name == "Obama" and sides["right"].name == "Biden"
        # between detections the frames are tracked: both faces stay named on every frame (how fast a frame is,
        # median and p95, is measured by bench/live.py: bench/results/live.json, not asserted here)
        for f in clip_frames[2:12]:
            assert {x.name for x in live.process(f).faces} == {"Obama", "Biden"}
        # a stricter threshold turns the names into "Unknown" at once, on the next frame
        live.set_threshold(0.01)
        fr = live.process(clip_frames[12])
        assert all(not f.known and f.label.startswith("Unknown") for f in fr.faces)
        live.set_threshold(0.6)
        assert {f.name for f in live.process(clip_frames[13]).faces} == {"Obama", "Biden"}
        # later detections land on the existing tracks (matched where the faces were on the detected frame):
        # no duplicate boxes, no new tracks
        for f in clip_frames[14:40]:
            fr = live.process(f)
            live.flush()
            assert len(fr.faces) == 2 and {x.track_id for x in fr.faces} == {1, 2}, [x.label for x in fr.faces]
        assert live.detections >= 20
        # a face can be enrolled from the stream
        sample = live.face_sample(fr.faces[0].track_id)
        assert sample is not None and sample[0].shape == (analyzer.embedder.dim,) and sample[1].ndim == 3


@pytest.mark.data
def test_video_file_stands_in_for_a_camera(tmp_path, fr_faces):
    path = make_clip(tmp_path / "clip.avi", [fr_faces / "obama" / "obama.jpg"], frames=10)
    cap = open_capture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (480, 640, 3)


@pytest.mark.data
@pytest.mark.slow
def test_late_detection_is_matched_where_the_face_was(analyzer, gallery, fr_faces):
    """A detection that arrives many frames late lands on the track it belongs to, not on a new one."""
    import time

    from facerec.imaging import load_image

    import cv2

    face = load_image(fr_faces / "obama" / "obama.jpg", max_side=1024).rgb
    face = cv2.resize(face, (200, 250), interpolation=cv2.INTER_AREA)
    frames = []
    for k in range(30):  # the photo slides right by 6 px a frame: 174 px over the clip
        f = np.full((480, 640, 3), 60, np.uint8)
        x = 40 + 6 * k
        f[100:350, x : x + 200] = face
        frames.append(f)
    with LiveRecognizer(analyzer, gallery, LiveConfig(async_detect=True)) as live:
        live.process(frames[0])
        live.flush()
        live.process(frames[1])  # the first detection makes the track; the next one starts on this frame
        detect = live.detector.detect
        live.detector.detect = lambda rgb: (time.sleep(0.4), detect(rgb))[1]  # a slow detector
        for f in frames[2:20]:
            assert len(live.process(f).faces) == 1
        live.flush()
        fr = live.process(frames[20])
        assert fr.detection_merged
        assert [x.track_id for x in fr.faces] == [1] and fr.faces[0].name == "Obama"
        assert fr.faces[0].box[0] > 40 + 6 * 15  # it kept following the face


def test_camera_frames_play_a_file_once_or_in_a_loop(tmp_path, fr_faces):
    import threading

    from facerec.live import CameraFrames

    clip = make_clip(tmp_path / "clip.avi", [fr_faces / "obama" / "obama.jpg"], frames=5)
    with CameraFrames(str(clip)) as cam:
        frames = list(cam.frames(threading.Event()))
    assert len(frames) == 5 and frames[0].shape == (480, 640, 3) and frames[0].dtype == np.uint8
    stop, n = threading.Event(), 0
    with CameraFrames(str(clip), loop=True) as cam:
        for _ in cam.frames(stop):
            n += 1
            if n == 12:  # past the end of the file: it started again
                stop.set()
    assert n == 12
    with pytest.raises(OSError, match="cannot open video file"):
        CameraFrames(str(tmp_path / "missing.avi"))


def test_face_tracker_alone_tracks_and_names_a_detected_face():
    """FaceTracker is the pure part of the live view: no detector, no thread, no model."""
    import cv2

    from facerec.live import FaceTracker, _Detection, _Result
    from facerec.matching import GalleryIndex

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur((rng.random((240, 320)) * 255).astype(np.uint8), (0, 0), 2)
    shifted = np.roll(base, 6, axis=1)  # the scene moves 6 px to the right
    vec = np.zeros(8, np.float32)
    vec[0] = 1.0
    gallery = GalleryIndex(vec[None], np.array([7]), {7: "Ann"}, "m")
    tracker = FaceTracker(LiveConfig())
    first = tracker.advance(base)
    assert tracker.name_faces(gallery, 0.5) == []
    box = np.array([100, 80, 160, 150], np.float32)
    tracker.merge(_Result(first, [_Detection(box, np.zeros((5, 2), np.float32), vec, np.zeros((112, 112, 3), np.uint8))], 0.0), base)
    (face,) = tracker.name_faces(gallery, 0.5)
    assert face.name == "Ann" and face.known and np.allclose(face.box, box)
    tracker.advance(shifted)  # optical flow moves the track with the scene
    (moved_face,) = tracker.name_faces(gallery, 0.5)
    assert moved_face.track_id == face.track_id and abs(moved_face.box[0] - 106) < 1.5 and abs(moved_face.box[1] - 80) < 1.5
    assert tracker.face_sample(face.track_id)[2] == [float(v) for v in moved_face.box]
