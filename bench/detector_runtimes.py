"""Which runtime should run MTCNN's three nets and SFace: OpenCV DNN, ONNX Runtime or OpenVINO (prints JSON).

The runtimes get the same ONNX graphs and the same inputs, one thread each, measured side by side in one
process (each image or batch is run by every variant in turn, several rounds, keeping each one's best
time, so the machine's load hits all variants alike; the first round, where OpenVINO prepares its kernels
for shapes it has not seen, is also reported):

- whole detections with each runtime assignment, on the photos of bench/tagging.py's folder (LFW
  250 px photos and the larger ones, shrunk to the detector's 1024 px), and whether they find the same
  boxes as the OpenCV-only detector;
- SFace on batches of aligned chips.

    python bench/detector_runtimes.py [--rounds 4] [--out bench/results/detector_runtimes.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import emit, machine_load  # noqa: E402

ASSIGNMENTS = {
    "opencv": {"pnet": "opencv", "rnet": "opencv", "onet": "opencv"},
    "onnxruntime_r_o": {"pnet": "opencv", "rnet": "onnxruntime", "onet": "onnxruntime"},
    "onnxruntime": {"pnet": "onnxruntime", "rnet": "onnxruntime", "onet": "onnxruntime"},
    "openvino": {"pnet": "openvino", "rnet": "openvino", "onet": "openvino"},
}


def photos() -> list[tuple[str, Path]]:
    """(kind, path) of the photos bench/tagging.py tags, without the 12 MP copies (same pixels once shrunk)."""
    from tagging import _data_dir, build_dataset

    root = Path(tempfile.mkdtemp(prefix="facerec-rt-"))
    build_dataset(root, _data_dir(), 20, 20, 0)
    return [("lfw" if p.name.startswith("lfw__") else "other", p) for p in sorted((root / "photos").iterdir())]


def best_times(fns: dict, inputs: list, rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each variant's best time on each input over ``rounds``, and its time in the first round."""
    best = {k: [float("inf")] * len(inputs) for k in fns}
    first = {k: [0.0] * len(inputs) for k in fns}
    for r in range(rounds):
        for i, x in enumerate(inputs):
            for k, fn in fns.items():
                t = time.perf_counter()
                fn(x)
                took = time.perf_counter() - t
                best[k][i] = min(best[k][i], took)
                if r == 0:
                    first[k][i] = took
    return best, first


def detection(rounds: int) -> dict:
    from facerec.detection import MTCNNDetector
    from facerec.imaging import load_image
    from facerec.mtcnn_nets import load_nets

    dets = {}
    for name, runtimes in ASSIGNMENTS.items():
        d = MTCNNDetector()
        d._model()._nets = load_nets(runtimes=runtimes)
        dets[name] = d
    items = [(kind, load_image(p, max_side=2048).rgb) for kind, p in photos()]
    best, first = best_times({k: (lambda x, d=d: d.detect(x[1])) for k, d in dets.items()}, items, rounds)
    ref = [dets["opencv"].detect(rgb) for _, rgb in items]
    out: dict = {
        "photos": {k: sum(kind == k for kind, _ in items) for k in ("lfw", "other")},
        "ms_per_photo": {}, "ms_per_photo_first_round": {}, "max_box_difference_px": {},
    }
    for name in ASSIGNMENTS:
        for key, times in (("ms_per_photo", best[name]), ("ms_per_photo_first_round", first[name])):
            out[key][name] = {
                kind: round(1000 * float(np.mean([t for (k, _), t in zip(items, times) if k == kind])), 2) for kind in ("lfw", "other")
            }
        diff = 0.0
        for (_, rgb), want in zip(items, ref):
            got = dets[name].detect(rgb)
            if len(got) != len(want):
                diff = float("inf")
                break
            for a, b in zip(got, want):
                diff = max(diff, float(np.abs(a.box - b.box).max()), float(np.abs(a.landmarks - b.landmarks).max()))
        out["max_box_difference_px"][name] = diff
    return out


def sface(rounds: int) -> dict:
    from facerec.config import models_dir
    from facerec.dnn import NetPool, OrtModel, OvModel
    from facerec.embedders import get_pack, weights_path

    path = weights_path(get_pack("sface")) or models_dir() / "face_recognition_sface_2021dec.onnx"
    model = path.read_bytes()
    runners = {"opencv": NetPool(model, "sface"), "onnxruntime": OrtModel(model, "sface"), "openvino": OvModel(path, "sface")}
    rng = np.random.default_rng(0)
    chips = [rng.uniform(0, 255, (1, 3, 112, 112)).astype(np.float32) for _ in range(20)]  # the ONNX file fixes batch 1 for ONNX Runtime
    best, _ = best_times({k: (lambda x, r=r: r.run(x)) for k, r in runners.items()}, chips, rounds)
    same = {
        k: max(float(np.abs(runners["opencv"].run(c)[0] - runners[k].run(c)[0]).max()) for c in chips[:3]) for k in ("onnxruntime", "openvino")
    }
    return {"ms_per_face": {k: round(1000 * float(np.mean(v)), 2) for k, v in best.items()}, "max_output_difference_vs_opencv": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out")
    args = ap.parse_args()
    from facerec.threads import set_threads

    set_threads(1)
    before = machine_load()
    result = {
        "benchmark": "detector_runtimes",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": before,
        "threads": 1,
        "method": "each input run by every variant in turn, best of --rounds per input, mean over inputs",
        "detection": detection(args.rounds),
        "sface": sface(args.rounds),
    }
    result["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    emit(result, args.out)


if __name__ == "__main__":
    main()
