"""How large a chunk R- and O-Net should run their face candidates in on OpenVINO (prints JSON): the candidates
MTCNN really sends each net on a folder of photos, run again in chunks of 8, 16, 32 and 64 (padded to powers of two,
as facerec.dnn.OvModel does), one thread, each chunk size on a freshly compiled model (its first pass prepares the
kernels for every batch shape it meets, as a new process does) and then once more (kernels ready).

    python bench/tagging.py --skip-peer --repeat 1 --keep /tmp/tb     # once: the tagging benchmark's folder
    python bench/mtcnn_chunks.py /tmp/tb/photos --out bench/results/mtcnn_chunks.json

facerec.mtcnn_nets.MAX_BATCH holds the sizes chosen from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _proc import emit, machine_load  # noqa: E402

from facerec import dnn, mtcnn_nets  # noqa: E402
from facerec.config import Settings  # noqa: E402
from facerec.pipeline import FaceAnalyzer  # noqa: E402

CHUNKS = (8, 16, 32, 64)


def candidates(folder: Path) -> dict[str, list[np.ndarray]]:
    """The input blob R- and O-Net get for each photo in ``folder`` (sorted by name), as facerec detects."""
    settings = Settings()
    settings.threads = 1
    analyzer = FaceAnalyzer(settings).prepare()
    det = analyzer.detector._model()
    blobs: dict[str, list[np.ndarray]] = {"rnet": [], "onet": []}
    run = det._run

    def recording(name, blob, extra=None):
        if name in blobs:
            blobs[name].append(blob.copy())
        return run(name, blob, extra)

    det._run = recording
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            analyzer.detect(analyzer.load(path))
        except Exception as exc:  # noqa: BLE001  (an unreadable file is not this benchmark's subject)
            print(f"{path}: skipped ({exc})", file=sys.stderr)
    return blobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out")
    args = ap.parse_args()
    blobs = candidates(args.folder)
    graphs = mtcnn_nets.cached_onnx(mtcnn_nets.facenet_weights_dir(), files=True)
    nets = {}
    for name, per_photo in blobs.items():
        sizes = np.array([len(b) for b in per_photo])
        rows = {}
        for chunk in CHUNKS:
            model = dnn.OvModel(graphs[name], name, max_copies=1, max_batch=chunk)
            passes = []
            for _ in range(2):
                t = time.perf_counter()
                for blob in per_photo:
                    model.run(blob)
                passes.append(time.perf_counter() - t)
            padded = sum(dnn.batch_bucket(min(chunk, n - s), chunk) for n in sizes.tolist() for s in range(0, n, chunk))
            rows[str(chunk)] = {"first_pass_ms": round(1e3 * passes[0], 1), "second_pass_ms": round(1e3 * passes[1], 1), "inputs_run": padded}
        nets[name] = {
            "photos": len(per_photo), "candidates": int(sizes.sum()),
            "candidates_per_photo_p10_p50_p90": np.percentile(sizes, [10, 50, 90]).round(1).tolist(),
            "chunk": rows, "chosen": mtcnn_nets.MAX_BATCH[name],
        }
    emit({"benchmark": "mtcnn_chunks", "machine": machine_load(), "folder": str(args.folder), "runtime": "openvino", "threads": 1, "nets": nets}, args.out)


if __name__ == "__main__":
    main()
