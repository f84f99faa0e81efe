"""Detector settings sweep: time and tagging accuracy for detector max_side / min_face_size / MTCNN scale factor
and backend (``opencv``, the default, or ``torch``: facenet-pytorch's own MTCNN).

CPU time per photo is the figure to compare on a shared machine (wall time follows the load). Runs in one
process on a folder built by ``bench/tagging.py --keep DIR`` (photos are decoded once, then each
variant detects, embeds and identifies them all against the known people)::

    python bench/tagging.py --keep /tmp/bt --skip-peer
    python bench/detector_sweep.py /tmp/bt 1024,20,0.709 1024,28,0.709 1024,20,0.6
    python bench/detector_sweep.py /tmp/bt 1024,20,0.709,torch 1024,20,0.709,opencv
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tagging import UNLABELLED, build_labels  # noqa: E402


def main(argv: list[str]) -> int:
    import numpy as np

    from facerec.config import DetectorSettings, Settings
    from facerec.detection import MTCNNDetector
    from facerec.matching import GalleryIndex
    from facerec.pipeline import FaceAnalyzer

    root, variants = Path(argv[0]), argv[1:] or ["1024,20,0.709"]
    labels = build_labels(root)
    analyzer = FaceAnalyzer(Settings())
    known = sorted((root / "known").glob("*.jpg"))
    embs, names = [], {}
    for i, p in enumerate(known):
        faces = analyzer.analyze(p)
        embs.append(max(faces, key=lambda f: f.area).embedding)
        names[i] = p.stem
    gallery = GalleryIndex(np.stack(embs), np.arange(len(known)), names, analyzer.model_id)
    images = {name: analyzer.load(root / "photos" / name) for name in sorted(labels)}
    out = []
    for v in variants:
        max_side, min_face, factor, *backend = v.split(",")
        det = MTCNNDetector(DetectorSettings(min_face_size=int(min_face), max_side=int(max_side), backend=(backend or ["opencv"])[0]))
        det._model().factor = float(factor)
        analyzer.detector = det
        analyzer.analyze(next(iter(images.values())))  # warm up (first-call allocations)
        t0, c0 = time.perf_counter(), time.process_time()
        correct = n_lab = faces = 0
        for name, im in images.items():
            found = analyzer.analyze(im, gallery=gallery)
            faces += len(found)
            exp = labels[name]
            if exp is not UNLABELLED:
                n_lab += 1
                correct += {f.match.name for f in found if f.match.known} == exp
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.append({
            "variant": v, "wall_s_per_photo": round(dt / len(images), 4), "cpu_s_per_photo": round(cpu / len(images), 4),
            "faces": faces, "accuracy": round(correct / n_lab, 4),
        })
        print(json.dumps(out[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
