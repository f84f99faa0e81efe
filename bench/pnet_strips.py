"""P-Net over a folder's mosaics three ways (facerec.mtcnn.pyramid_layout), prints JSON:

- ``whole``: each mosaic in one run, its width the two largest levels side by side rounded up to MOSAIC_BUCKET;
- ``strips``: the same widths, mosaics of at least 300,000 pixels in strips of PNET_STRIP_ROWS rows (facerec's
  layout until the fixed widths);
- ``widths``: facerec's layout: every mosaic in strips, packed to one of the few PNET_WIDTHS.

For every photo of the folder (in name order, as a scan meets them), the pyramid mosaic the detector builds for
it (the photo's size after the detector's ``max_side``), run through P-Net on OpenVINO, one thread, a freshly
compiled model per way (so every input shape is new to it once, as in a scan): the CPU seconds, the page faults,
the process's peak memory growth, and how many input shapes P-Net met. Each way runs in a process of its own
(``--way``), the ways in turn, ``--rounds`` times; the pixels are zeros (P-Net's cost does not depend on them; what
the strips change is how much the runtime touches at once, and how its buffers grow as larger photos come; what
the fixed widths change is how many shapes OpenVINO prepares kernels for).

    python bench/tagging.py --skip-peer --repeat 1 --keep /tmp/tb     # once: the tagging benchmark's folder
    python bench/pnet_strips.py /tmp/tb/photos --out bench/results/pnet_strips.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _proc import emit, machine_load  # noqa: E402

WAYS = ("whole", "strips", "widths")


def _layouts(folder: Path):
    from PIL import Image

    from facerec import mtcnn
    from facerec.config import Settings
    from facerec.detection import detection_size

    settings = Settings()
    max_side, min_face = settings.detector.max_side, settings.detector.min_face_size
    layouts = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            with Image.open(path) as img:
                w, h = img.size
        except OSError:
            continue
        sh, sw, _ = detection_size(h, w, max_side)
        layouts.append(mtcnn.pyramid_layout(sh, sw, min_face, 0.709))
    return layouts


def _one_way(folder: Path, way: str) -> dict:
    """P-Net over every mosaic of the folder, ``way`` (one of ``WAYS``), in this process."""
    from facerec import dnn, mtcnn, mtcnn_nets

    if way in ("whole", "strips"):
        mtcnn.PNET_WIDTHS = ()  # widths rounded up to MOSAIC_BUCKET
        mtcnn.PNET_STRIP_MIN_PIXELS = 1 << 62 if way == "whole" else 300_000  # (not padded for strips) / as until then
    layouts = _layouts(folder)
    graphs = mtcnn_nets.cached_onnx(mtcnn_nets.facenet_weights_dir(), files=True)
    net = dnn.OvModel(graphs["pnet"], "pnet", max_copies=1)
    run = lambda blob: net.run(blob, mtcnn_nets.OUTPUTS["pnet"])  # noqa: E731
    weights = mtcnn_nets.pnet_weights()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = time.process_time()
    for layout in layouts:
        mtcnn.run_pnet(run, layout, np.zeros((*layout.shape, 3), np.float32), weights)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": round(time.process_time() - cpu, 3),
        "page_faults": after.ru_minflt - usage.ru_minflt,
        "peak_rss_growth_mb": round((after.ru_maxrss - usage.ru_maxrss) / 1024, 1),
        "mosaics": len(layouts),
        "mosaics_in_strips": sum(1 for ly in layouts if ly.strips),
        "input_shapes": len({(mtcnn.PNET_STRIP_ROWS, ly.shape[1]) if ly.strips else ly.shape for ly in layouts}),
        "megapixels": round(sum(ly.shape[0] * ly.shape[1] for ly in layouts) / 1e6, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)  # internal: one way, in this process
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.way:
        print(json.dumps(_one_way(args.folder, args.way)))
        return
    from facerec import mtcnn

    runs: dict[str, list[dict]] = {way: [] for way in WAYS}
    for _ in range(args.rounds):  # the ways alternate, so the machine's load hits both alike
        for way in WAYS:
            out = subprocess.run([sys.executable, __file__, str(args.folder), "--way", way], capture_output=True, text=True, check=True)
            runs[way].append(json.loads(out.stdout))
    emit({
        "benchmark": "pnet_strips", "machine": machine_load(), "folder": str(args.folder), "runtime": "openvino", "threads": 1,
        "strip_rows": mtcnn.PNET_STRIP_ROWS, "widths": list(mtcnn.PNET_WIDTHS), "runs": runs,
    }, args.out)


if __name__ == "__main__":
    main()
