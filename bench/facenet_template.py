"""Derive the 5-point template of facenet's training crops: the MTCNN box plus a margin, resized square.

David Sandberg's facenet models (facenet-pytorch's InceptionResnetV1 weights) were trained and evaluated on
``align_dataset_mtcnn.py`` crops: the MTCNN box widened by ``margin/2`` pixels on each side and resized to
``size`` (160, margin 32 for LFW). A similarity alignment reproduces that crop when the template holds the
mean position of MTCNN's landmarks inside the box. Prints the template as JSON.

    python bench/facenet_template.py --data ../shared/data/lfw --limit 500
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec.detection import MTCNNDetector  # noqa: E402
from facerec.geometry import FaceSelection, select_face  # noqa: E402
from facerec.imaging import load_image  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"))
    ap.add_argument("--limit", type=int, default=500, help="number of images (first image of each person)")
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--margin", type=int, default=32)
    args = ap.parse_args(argv)
    mtcnn = MTCNNDetector()
    rel = []
    for person in sorted(p for p in Path(args.data).iterdir() if p.is_dir())[: args.limit]:
        img = load_image(sorted(person.glob("*.jpg"))[0]).rgb
        faces = mtcnn.detect(img)
        if not faces:
            continue
        f = select_face(faces, FaceSelection.CENTRAL, (img.shape[1], img.shape[0]))
        # align_dataset_mtcnn: square-ish crop of the box +- margin/2 in image pixels, resized to size.
        # With the margin expressed at the output size (facenet-pytorch's extract_face), the box spans
        # size - margin output pixels.
        wh = np.array([f.width, f.height])
        rel.append((f.landmarks - f.box[:2]) / wh)
    rel = np.array(rel)
    inner = args.size - args.margin
    pts = args.margin / 2 + inner * rel.mean(0)
    print(json.dumps({
        "faces": len(rel), "size": args.size, "margin": args.margin,
        "template": [[round(float(x), 2), round(float(y), 2)] for x, y in pts],
        "std_px": [[round(float(x), 2), round(float(y), 2)] for x, y in inner * rel.std(0)],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
