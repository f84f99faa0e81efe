"""Live recognition for a camera stream (Qt-free): detect on reduced frames, track between frames.

Per frame, ``LiveRecognizer.process(rgb)`` does only cheap work: it moves every tracked face with
sparse optical flow (Lucas-Kanade on a few corner points inside its box) and names it from its stored
embedding. Detection (MTCNN on a frame shrunk to ``detect_side``) and embedding run in a background
thread on the latest frame; when a detection arrives it is matched to the tracks by IoU, using where each
track was *on the detected frame*, then shifted by the motion since. A face is (re-)embedded only when
its track is new, every ``reembed_every`` detections, or when it moved more than ``move_factor`` times
its size since its last embedding. Names are looked up every frame against the current threshold, so a
strictness slider changes them at once.

The parts: ``FaceTracker`` (pure: tracks, merging, naming), ``BackgroundDetector`` (the detection thread),
``LiveRecognizer`` (drives both), ``CameraFrames`` (the frames of a camera or a video file, which stands in for
a camera: ``CameraFrames("clip.mp4")`` or ``CameraFrames(0)``).
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .detection import DetectedFace, MTCNNDetector
from .geometry import box_iou
from .imaging import LoadedImage
from .matching import GalleryIndex, Match
from .pipeline import FaceAnalyzer

log = logging.getLogger(__name__)


@dataclass
class LiveConfig:
    detect_side: int = 320
    """Frames are shrunk so their longer side is this before detection."""
    min_face_size: int = 24
    """Smallest face side, in pixels of the shrunk frame."""
    reembed_every: int = 8
    """Re-embed a tracked face every this many detections."""
    move_factor: float = 0.5
    """Re-embed when a face's centre moved more than this times its box size since its last embedding."""
    iou_match: float = 0.3
    """Minimum IoU between a detection and a track for them to be the same face."""
    max_missed: int = 2
    """Detections a track may miss before it is dropped."""
    async_detect: bool = True
    """Detect in a background thread (keeps per-frame latency low); else inline every ``detect_every`` frames."""
    detect_every: int = 5
    """Frames between detections in inline mode."""
    history: int = 90
    """Frames of box history kept per track (a late detection is matched against these)."""


@dataclass
class LiveFace:
    """One face as shown on one frame."""

    track_id: int
    box: np.ndarray
    """x1, y1, x2, y2 in frame pixels."""
    person_id: int | None
    name: str | None
    distance: float
    """Distance to the nearest enrolled person (``inf`` with an empty gallery or before embedding)."""
    embedded: bool

    @property
    def known(self) -> bool:
        return self.person_id is not None

    @property
    def label(self) -> str:
        if not self.embedded:
            return "…"
        dist = "" if not np.isfinite(self.distance) else f" {max(0.0, self.distance):.2f}"
        return f"{self.name}{dist}" if self.known else f"Unknown{dist}"


@dataclass
class LiveFrame:
    index: int
    faces: list[LiveFace]
    latency_ms: float
    fps: float
    detection_merged: bool = False


@dataclass
class _Detection:
    box: np.ndarray
    landmarks: np.ndarray
    embedding: np.ndarray | None = None
    chip: np.ndarray | None = None


@dataclass
class _Job:
    index: int
    rgb: np.ndarray
    snapshot: list[tuple[int, np.ndarray, bool]]
    """(track id, box on this frame, needs embedding) for every track."""


@dataclass
class _Result:
    index: int
    detections: list[_Detection]
    seconds: float


@dataclass
class _Track:
    id: int
    box: np.ndarray
    points: np.ndarray | None = None
    embedding: np.ndarray | None = None
    chip: np.ndarray | None = None
    embed_box: np.ndarray | None = None
    dets_since_embed: int = 0
    missed: int = 0
    history: dict[int, np.ndarray] = field(default_factory=dict)

    def needs_embedding(self, cfg: LiveConfig) -> bool:
        if self.embedding is None or self.dets_since_embed + 1 >= cfg.reembed_every:
            return True
        return moved(self.embed_box, self.box, cfg.move_factor)


def moved(a: np.ndarray | None, b: np.ndarray, factor: float) -> bool:
    """Whether box ``b``'s centre is more than ``factor`` box sizes away from box ``a``'s."""
    if a is None:
        return True
    size = max(1.0, float(max(b[2] - b[0], b[3] - b[1])))
    shift = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return bool(shift > factor * size)


def greedy_match(boxes_a: list[np.ndarray], boxes_b: list[np.ndarray], min_iou: float) -> list[tuple[int, int]]:
    """Pairs (i, j) matched greedily by decreasing IoU, each index used once."""
    pairs = sorted(
        ((box_iou(a, b), i, j) for i, a in enumerate(boxes_a) for j, b in enumerate(boxes_b)), reverse=True
    )
    used_a, used_b, out = set(), set(), []
    for score, i, j in pairs:
        if score < min_iou:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j))
    return out


class FaceTracker:
    """The pure part of the live view (no threads, no models): tracks moved by optical flow from frame to frame,
    detections merged into them, and names from the gallery. ``LiveRecognizer`` drives it."""

    def __init__(self, config: LiveConfig):
        import cv2

        self._cv2 = cv2
        self.config = config
        self.tracks: dict[int, _Track] = {}
        self._next_id = 1
        self.index = -1
        self._prev_grey: np.ndarray | None = None

    def track(self, track_id: int) -> _Track | None:
        return self.tracks.get(track_id)

    def face_sample(self, track_id: int) -> tuple[np.ndarray, np.ndarray, list[float]] | None:
        """(embedding, aligned chip, box) of a tracked face, for enrolling it."""
        t = self.tracks.get(track_id)
        if t is None or t.embedding is None or t.chip is None:
            return None
        return t.embedding.copy(), t.chip.copy(), [float(v) for v in t.box]

    def advance(self, grey: np.ndarray) -> int:
        """Move every track to the next frame (``grey``: H x W uint8) by optical flow; returns the frame index."""
        self.index += 1
        idx = self.index
        if self._prev_grey is not None and self._prev_grey.shape == grey.shape:
            for track in self.tracks.values():
                self._flow(track, self._prev_grey, grey)
        for track in self.tracks.values():
            track.history[idx] = track.box.copy()
            track.history.pop(idx - self.config.history, None)
        self._prev_grey = grey
        return idx

    def job(self, idx: int, rgb: np.ndarray) -> _Job:
        """A detection job for frame ``idx``: the frame and where each track is on it (and whether it needs an
        embedding)."""
        snapshot = [(t.id, t.box.copy(), t.needs_embedding(self.config)) for t in self.tracks.values()]
        return _Job(idx, rgb, snapshot)

    def merge(self, result: _Result, grey: np.ndarray) -> None:
        """Merge a detection made on an earlier frame: matched where the tracks were on that frame, moved on by
        the motion since; unmatched tracks age out, unmatched detections start tracks."""
        tracks = list(self.tracks.values())
        then = [t.history.get(result.index, t.box) for t in tracks]
        pairs = greedy_match([d.box for d in result.detections], then, self.config.iou_match)
        matched_tracks = set()
        for i, j in pairs:
            d, t = result.detections[i], tracks[j]
            t.box = (d.box + (t.box - then[j])).astype(np.float32)  # detected box, moved on by the motion since
            t.missed = 0
            t.dets_since_embed += 1
            if d.embedding is not None:
                t.embedding, t.chip, t.embed_box, t.dets_since_embed = d.embedding, d.chip, t.box.copy(), 0
            self._seed_points(t, grey)
            matched_tracks.add(t.id)
        for t in tracks:
            if t.id not in matched_tracks:
                t.missed += 1
                if t.missed > self.config.max_missed:
                    del self.tracks[t.id]
        matched_dets = {i for i, _ in pairs}
        for i, d in enumerate(result.detections):
            if i in matched_dets:
                continue
            t = _Track(self._next_id, d.box.astype(np.float32), embedding=d.embedding, chip=d.chip)
            t.embed_box = t.box.copy() if d.embedding is not None else None
            self._next_id += 1
            self._seed_points(t, grey)
            self.tracks[t.id] = t
        for t in self.tracks.values():  # where each face is on this frame, for matching the next detection
            t.history[self.index] = t.box.copy()

    def name_faces(self, gallery: GalleryIndex, threshold: float) -> list[LiveFace]:
        """The visible tracks as ``LiveFace``s, named by searching ``gallery`` at ``threshold``."""
        tracks = [t for t in self.tracks.values() if t.missed == 0 or t.points is not None]
        with_emb = [t for t in tracks if t.embedding is not None]
        matches: dict[int, Match] = {}
        if with_emb:
            found = gallery.search(np.stack([t.embedding for t in with_emb]), threshold, top_k=1)
            matches = {t.id: m for t, m in zip(with_emb, found)}
        out = []
        for t in tracks:
            m = matches.get(t.id)
            out.append(
                LiveFace(t.id, t.box.copy(), m.person_id if m else None, m.name if m else None,
                         float(m.distance) if m else float("inf"), m is not None)
            )
        return out

    def _seed_points(self, track: _Track, grey: np.ndarray) -> None:
        cv2 = self._cv2
        h, w = grey.shape
        x1, y1, x2, y2 = (int(round(v)) for v in track.box)
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        track.points = None
        if x2 - x1 < 8 or y2 - y1 < 8:
            return
        pts = cv2.goodFeaturesToTrack(grey[y1:y2, x1:x2], maxCorners=30, qualityLevel=0.01, minDistance=4)
        if pts is not None and len(pts) >= 4:
            track.points = (pts.reshape(-1, 2) + np.array([x1, y1], np.float32)).astype(np.float32)

    def _flow(self, track: _Track, prev: np.ndarray, grey: np.ndarray) -> None:
        cv2 = self._cv2
        if track.points is None or len(track.points) < 4:
            self._seed_points(track, prev)
            if track.points is None:
                return
        p0 = track.points.reshape(-1, 1, 2)
        p1, status, _err = cv2.calcOpticalFlowPyrLK(prev, grey, p0, None, winSize=(15, 15), maxLevel=2)
        if p1 is None:
            track.points = None
            return
        ok = status.reshape(-1) == 1
        if ok.sum() < 4:
            track.points = None
            return
        a, b = p0.reshape(-1, 2)[ok], p1.reshape(-1, 2)[ok]
        shift = np.median(b - a, axis=0)
        da = np.linalg.norm(a[:, None] - a[None], axis=-1)
        db = np.linalg.norm(b[:, None] - b[None], axis=-1)
        mask = da > 1
        scale = float(np.clip(np.median(db[mask] / da[mask]), 0.8, 1.25)) if mask.any() else 1.0
        cx, cy = (track.box[0] + track.box[2]) / 2 + shift[0], (track.box[1] + track.box[3]) / 2 + shift[1]
        hw, hh = (track.box[2] - track.box[0]) / 2 * scale, (track.box[3] - track.box[1]) / 2 * scale
        track.box = np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32)
        track.points = b.astype(np.float32)


class BackgroundDetector:
    """Runs detection jobs one at a time on a thread of its own (started with the first job): ``submit`` when
    not ``busy``, ``results`` collects what finished. A failed job is logged; the stream goes on."""

    def __init__(self, run: Callable[[_Job], _Result]):
        self._run = run
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=1)
        self._results: queue.Queue[_Result] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def submit(self, job: _Job) -> None:
        if self._closed:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._worker, name="facerec-live-detect", daemon=True)
            self._thread.start()
        self._idle.clear()
        self._jobs.put(job)

    def results(self) -> list[_Result]:
        """The jobs finished since the last call, oldest first."""
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for the job in flight; False if it is still running after ``timeout`` seconds."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            try:
                self._jobs.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(timeout=10)
            self._thread = None

    def _worker(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._results.put(self._run(job))
            except Exception:  # a failed detection must not kill the stream
                log.exception("live detection failed on frame %d", job.index)
            finally:
                self._idle.set()


class LiveRecognizer:
    """Turns a stream of RGB frames into tracked, named faces: a ``FaceTracker`` moved on every frame, fed by
    detections (inline every ``detect_every`` frames, or from a ``BackgroundDetector``). Call ``close()`` when done."""

    def __init__(self, analyzer: FaceAnalyzer, gallery: GalleryIndex | None = None, config: LiveConfig | None = None, threshold: float | None = None):
        import cv2

        self._cv2 = cv2
        self.analyzer = analyzer
        self.config = config or LiveConfig()
        det_settings = copy.deepcopy(analyzer.settings.detector)
        det_settings.min_face_size = self.config.min_face_size
        det_settings.max_side = self.config.detect_side
        # A detector of its own: its minimum face size is for shrunk frames, not for photos.
        self.detector = MTCNNDetector(det_settings, device=analyzer.settings.device)
        self._gallery = gallery if gallery is not None else GalleryIndex.empty(analyzer.model_id)
        self.threshold = float(threshold if threshold is not None else analyzer.threshold_for(self._gallery))
        self.tracker = FaceTracker(self.config)
        self.background = BackgroundDetector(self._run_job)
        self._times: deque[float] = deque(maxlen=30)
        self.detections = 0
        self.embedded = 0
        """Faces embedded so far (to check that tracking spares re-embedding)."""
        self.detect_seconds = 0.0

    # -- configuration ----------------------------------------------------------------------------
    def set_gallery(self, gallery: GalleryIndex) -> None:
        """Swap the gallery (after an enrolment); names update on the next frame."""
        self._gallery = gallery

    def set_threshold(self, threshold: float) -> None:
        self.threshold = float(threshold)

    def track(self, track_id: int) -> _Track | None:
        return self.tracker.track(track_id)

    def face_sample(self, track_id: int) -> tuple[np.ndarray, np.ndarray, list[float]] | None:
        """(embedding, aligned chip, box) of a tracked face, for enrolling it."""
        return self.tracker.face_sample(track_id)

    # -- the per-frame step ----------------------------------------------------------------------
    def process(self, rgb: np.ndarray) -> LiveFrame:
        """Track, merge any finished detection, schedule the next one and name every face."""
        t0 = time.perf_counter()
        grey = self._cv2.cvtColor(rgb, self._cv2.COLOR_RGB2GRAY)
        idx = self.tracker.advance(grey)
        merged = False
        if self.config.async_detect:
            for result in self.background.results():
                self.tracker.merge(result, grey)
                merged = True
            if not self.background.busy:
                self.background.submit(self.tracker.job(idx, rgb.copy()))
        elif idx % max(1, self.config.detect_every) == 0:
            self.tracker.merge(self._run_job(self.tracker.job(idx, rgb)), grey)
            merged = True
        faces = self.tracker.name_faces(self._gallery, self.threshold)
        now = time.perf_counter()
        self._times.append(now)
        fps = (len(self._times) - 1) / (self._times[-1] - self._times[0]) if len(self._times) > 1 and self._times[-1] > self._times[0] else 0.0
        return LiveFrame(idx, faces, (now - t0) * 1000.0, fps, merged)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for the detection in flight (tests and benchmarks use it for determinism)."""
        self.background.wait_idle(timeout)

    def close(self) -> None:
        self.background.close()

    def __enter__(self) -> LiveRecognizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- detection --------------------------------------------------------------------------------
    def _run_job(self, job: _Job) -> _Result:
        """Detect the faces of the job's frame and embed those that need it (new, moved, or due)."""
        t0 = time.perf_counter()
        found: list[DetectedFace] = self.detector.detect(job.rgb)
        dets = [_Detection(f.box, f.landmarks) for f in found]
        pairs = dict(greedy_match([d.box for d in dets], [s[1] for s in job.snapshot], self.config.iou_match))
        todo = []
        for i, d in enumerate(dets):
            j = pairs.get(i)
            if j is None or job.snapshot[j][2] or moved(job.snapshot[j][1], d.box, self.config.move_factor):
                todo.append(i)
        if todo:
            image = LoadedImage.from_array(job.rgb)
            chips, emb = self.analyzer.embed_faces(image, [found[i] for i in todo])
            self.embedded += len(todo)
            for k, i in enumerate(todo):
                dets[i].embedding, dets[i].chip = emb[k], chips[k]
        seconds = time.perf_counter() - t0
        self.detections += 1
        self.detect_seconds += seconds
        return _Result(job.index, dets, seconds)


def open_capture(source: int | str):
    """An OpenCV capture for a camera index (``0``, ``"1"``) or a video file; raises ``OSError`` if it cannot open."""
    import cv2

    src: int | str = int(source) if isinstance(source, str) and source.strip().isdigit() else source
    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        cap.release()
        what = f"camera {src}" if isinstance(src, int) else f"video file {src}"
        raise OSError(f"cannot open {what}")
    return cap


class CameraStopped(OSError):
    """A camera stopped sending frames (unplugged, taken by another program)."""


class CameraFrames:
    """The frames of a camera or a video file as H x W x 3 uint8 RGB arrays: the one read loop of the live view
    and of the enrolment captures. Opening raises ``OSError`` naming the camera or file.

    A video file is played at its own frame rate when ``realtime`` (like a camera) and started again at its end
    when ``loop``; a camera that stops sending frames raises ``CameraStopped``. Iterate until ``stop`` is set."""

    def __init__(self, source: int | str, loop: bool = False, realtime: bool = False):
        import cv2

        self.source = source
        self.loop = loop
        self.is_file = isinstance(source, str) and not source.strip().isdigit()
        self._cap = open_capture(source)
        fps = self._cap.get(cv2.CAP_PROP_FPS) if self.is_file and realtime else 0
        self.period = 1.0 / fps if fps and 1 <= fps <= 120 else 0.0
        self.read = 0

    def frames(self, stop: threading.Event):
        """Yield frames until ``stop`` is set, the file ends (without ``loop``), or the camera stops."""
        import cv2

        next_t = time.perf_counter()
        while not stop.is_set():
            ok, bgr = self._cap.read()
            if not ok:
                if self.is_file and self.loop and self.read:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    continue
                if not self.is_file:
                    raise CameraStopped(f"camera {self.source} stopped sending frames")
                return
            self.read += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if self.period:  # a video file plays at its own pace, like a camera
                next_t += self.period
                delay = next_t - time.perf_counter()
                if delay > 0:
                    stop.wait(delay)
                else:
                    next_t = time.perf_counter()

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> CameraFrames:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
