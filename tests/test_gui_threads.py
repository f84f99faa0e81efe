"""No Qt object is made off the GUI thread: the work done on pool threads and the live-view thread hands
numpy arrays, bytes and dataclasses to the GUI thread, which makes the QImages and QPixmaps.

(A worker decoding a thumbnail with ``QImage.loadFromData`` held the GIL while it waited for a Qt mutex that
the GUI thread held while it waited for the GIL: the People list deadlocked under load.)"""

from __future__ import annotations

import dataclasses
import threading

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import numpy as np
import pytest
import shiboken6

from facerec.pipeline import chip_thumbnail


def _qt_objects(value, path="result") -> list[str]:
    """Paths of every Qt (shiboken) object inside ``value`` (lists, tuples, dicts, dataclasses)."""
    if isinstance(value, shiboken6.Shiboken.Object):
        return [f"{path}: {type(value).__name__}"]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _qt_objects(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _qt_objects(v, f"{path}[{k!r}]")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [p for f in dataclasses.fields(value) for p in _qt_objects(getattr(value, f.name), f"{path}.{f.name}")]
    return []


class _Control:
    """The ``Control`` a pool task gets, recording its progress reports."""

    cancelled = False

    def __init__(self):
        self.reports: list = []

    def progress(self, value) -> None:
        self.reports.append(value)


def _on_thread(fn, *args):
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    assert not t.is_alive(), "the task hung"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_people_list_returns_arrays_not_qimages(store):
    from ui import jobs

    chip = np.full((112, 112, 3), 120, np.uint8)
    for name in ("Ann", "Bob"):
        store.add_sample(name, np.ones(8, np.float32), "m", thumbnail=chip_thumbnail(chip))
    store.add_sample("No thumbnail", np.ones(8, np.float32), "m")
    rows = _on_thread(jobs.people_list, _Control(), store, 56)
    assert _qt_objects(rows) == [], "a worker made Qt objects"
    by_name = {r.name: r for r in rows}
    assert by_name["Ann"].thumbnail.shape == (56, 56, 3) and by_name["Ann"].thumbnail.dtype == np.uint8
    assert by_name["No thumbnail"].thumbnail is None


def test_face_thumbnails_report_arrays_not_qimages(fr_faces):
    from ui import jobs

    control = _Control()
    photo = str(fr_faces / "obama" / "obama.jpg")
    n = _on_thread(jobs.face_thumbnails, control, [(1, photo, [100, 100, 300, 300]), (2, photo, [0, 0, 50, 50])], 64)
    assert n == 2
    assert _qt_objects(control.reports) == [], "a worker made Qt objects"
    crops = dict(item for batch in control.reports for item in batch)
    assert crops[1].shape == (64, 64, 3)


@pytest.mark.slow
def test_live_worker_sends_arrays_not_qimages(qtbot, tmp_path, fr_faces, analyzer):
    """The live view's thread emits each frame as an RGB array; the GUI thread makes the QImage."""
    import cv2
    from PySide6.QtCore import Qt

    from facerec.matching import GalleryIndex
    from ui.live_worker import LiveWorker

    clip = tmp_path / "clip.avi"
    frame = cv2.resize(cv2.imread(str(fr_faces / "obama" / "obama.jpg")), (320, 240))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for _ in range(5):
        writer.write(frame)
    writer.release()
    seen: list = []
    worker = LiveWorker(analyzer, GalleryIndex.empty(analyzer.model_id), str(clip), threshold=0.4)
    # A direct connection runs the slot on the worker's thread: it sees exactly what the thread made.
    worker.frameReady.connect(lambda image, frame: seen.append((image, frame)), Qt.DirectConnection)
    with qtbot.waitSignal(worker.ended, timeout=120_000):
        worker.start()
    worker.wait(10_000)
    assert seen, "no frame was sent"
    assert _qt_objects(seen) == [], "the live thread made Qt objects"
    assert seen[0][0].shape == (240, 320, 3)
