"""Where MTCNN's time goes, part by part, on one thread (prints JSON): the three networks, the image pyramid's
resampling, the face crops' resampling, non-maximum suppression, P-Net's few outputs computed in numpy (its
levels' edges, facerec.mtcnn.pnet_numpy), and the rest (numpy/Python between them),
for photos over the detector's ``max_side`` (shrunk to it first, as facerec.detection does) and for the others.

    python bench/tagging.py --skip-peer --repeat 1 --keep /tmp/tb     # once: the tagging benchmark's folder
    python bench/detect_parts.py /tmp/tb/photos --out bench/results/detect_parts.json

Each part is timed by wrapping the function that does it (``OpenCVMTCNN._run``, ``mtcnn._resample``,
``mtcnn._nms``, ``mtcnn.pnet_numpy``); the best of ``--repeat`` passes is reported, and the first pass too (a fresh process: the
runtime meets every input shape for the first time, as a scan of a new folder does; the large group runs first).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _proc import emit, machine_load  # noqa: E402

from facerec import mtcnn  # noqa: E402
from facerec.config import Settings  # noqa: E402
from facerec.detection import detection_size  # noqa: E402
from facerec.pipeline import FaceAnalyzer  # noqa: E402


def main() -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    settings = Settings()
    settings.threads = 1
    analyzer = FaceAnalyzer(settings).prepare()
    det = analyzer.detector._model()
    max_side = settings.detector.max_side
    times: dict[str, float] = defaultdict(float)

    def timed(name_of, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[name_of(*a)] += time.perf_counter() - t
        return wrapper

    det._run = timed(lambda name, blob, extra=None: name, det._run)
    mtcnn._resample = timed(lambda img, *a: "pyramid resampling" if img.shape[0] * img.shape[1] > mtcnn.SMALL_CROP_PIXELS else "crop resampling", mtcnn._resample)
    mtcnn._nms = timed(lambda *a: "nms", mtcnn._nms)
    if hasattr(mtcnn, "pnet_numpy"):  # P-Net's outputs at the odd levels' last column and row, in numpy
        mtcnn.pnet_numpy = timed(lambda *a: "pnet edges", mtcnn.pnet_numpy)

    groups: dict[str, list[np.ndarray]] = {f"over {max_side} px": [], f"up to {max_side} px": []}
    for path in sorted(Path(args.folder).iterdir()):
        rgb = analyzer.load(path).rgb
        sh, sw, f = detection_size(*rgb.shape[:2], max_side)
        if f != 1.0:
            rgb = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
            groups[f"over {max_side} px"].append(rgb)
        else:
            groups[f"up to {max_side} px"].append(rgb)
    out: dict = {"benchmark": "detect_parts", "machine": machine_load(), "threads": 1, "repeat": args.repeat, "groups": {}}
    for label, images in groups.items():
        if not images:
            continue
        best: tuple[float, dict[str, float]] | None = None
        first: tuple[float, dict[str, float]] | None = None
        for _ in range(args.repeat):
            times.clear()
            t0 = time.perf_counter()
            for img in images:
                det.detect(img)
            total = time.perf_counter() - t0
            first = first or (total, dict(times))
            if best is None or total < best[0]:
                best = (total, dict(times))
        assert best is not None and first is not None
        total, parts = best
        parts["rest"] = total - sum(parts.values())
        n = len(images)
        out["groups"][label] = {
            "photos": n,
            "ms_per_photo": round(1000 * total / n, 1),
            "parts_ms_per_photo": {k: round(1000 * v / n, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
            "first_pass_ms_per_photo": round(1000 * first[0] / n, 1),
            "first_pass_pnet_ms_per_photo": round(1000 * first[1].get("pnet", 0.0) / n, 1),
        }
    out["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    emit(out, args.out)


if __name__ == "__main__":
    main()
