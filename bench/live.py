"""Live-view benchmark: 640x480 frames with faces through ``facerec.live.LiveRecognizer`` on 2 threads.

Makes a test video from the shared photos (Obama and Biden side by side, swaying) in a temporary folder,
enrols both from *other* photos, then plays the video through the live pipeline:

- ``camera``: frames arrive at the video's rate (30 fps, like a camera), detection in the background;
  reports the frame rate kept up, per-frame latency (median, p95) of ``process()``, and the share of frames
  (after the first named one) that showed both right names;
- ``inline_unpaced``: frames as fast as they go with detection inline every 5 frames on the same thread
  (the worst case: every detection's cost lands on a frame).

Prints one JSON object. Usage: ``python bench/live.py [--frames 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facerec.clips import make_clip  # noqa: E402
from facerec.config import Settings, shared_data_dir  # noqa: E402
from facerec.enrolment import enrol_image  # noqa: E402
from facerec.live import LiveConfig, LiveRecognizer, open_capture  # noqa: E402
from facerec.pipeline import FaceAnalyzer  # noqa: E402
from facerec.store import GalleryStore  # noqa: E402


def play(analyzer, gallery, clip: Path, config: LiveConfig, paced: bool) -> dict:
    import cv2

    cap = open_capture(str(clip))
    fps_src = cap.get(cv2.CAP_PROP_FPS) or 30.0
    latencies, right, first_named = [], 0, None
    n = 0
    with LiveRecognizer(analyzer, gallery, config) as live:
        t0 = time.perf_counter()
        next_t = t0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frame = live.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            latencies.append(frame.latency_ms)
            sides = {("left" if (f.box[0] + f.box[2]) / 2 < 320 else "right"): f.name for f in frame.faces}
            if len(frame.faces) == 2 and sides == {"left": "Obama", "right": "Biden"}:
                right += 1
                first_named = n if first_named is None else first_named
            n += 1
            if paced:
                next_t += 1.0 / fps_src
                delay = next_t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        wall = time.perf_counter() - t0
        detections, det_s, embedded = live.detections, live.detect_seconds, live.embedded
    cap.release()
    lat = np.array(latencies)
    after = n - (first_named or 0)
    return {
        "frames": n,
        "source_fps": round(fps_src, 1) if paced else None,
        "fps": round(n / wall, 1),
        "latency_ms": {"median": round(float(np.median(lat)), 2), "p95": round(float(np.percentile(lat, 95)), 2), "max": round(float(lat.max()), 1)},
        "detections": detections,
        "detection_ms_mean": round(det_s / max(1, detections) * 1000, 1),
        "faces_embedded": embedded,
        "first_named_frame": first_named,
        "named_right_fraction": round(right / max(1, after), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args(argv)
    faces = shared_data_dir() / "faces" / "face_recognition"
    settings = Settings(threads=2)
    analyzer = FaceAnalyzer(settings)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.avi", [faces / "obama" / "obama.jpg", faces / "biden" / "biden.jpg"], frames=args.frames)
        store = GalleryStore(Path(tmp) / "gallery.db")
        enrol_image(store, analyzer, "Obama", faces / "obama" / "obama1.jpg")
        enrol_image(store, analyzer, "Biden", faces / "biden" / "biden2.jpg")
        gallery = store.gallery_index(analyzer.model_id)
        background, inline = LiveConfig(async_detect=True), LiveConfig(async_detect=False, detect_every=5)
        play(analyzer, gallery, clip, inline, paced=False)  # warm-up: models loaded, caches filled
        camera = play(analyzer, gallery, clip, background, paced=True)
        worst = play(analyzer, gallery, clip, inline, paced=False)
        store.close()
    out = {
        "benchmark": "live",
        "frame_size": [640, 480],
        "threads": settings.threads,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "model": analyzer.model_id,
        "camera": camera,
        "inline_unpaced": worst,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
