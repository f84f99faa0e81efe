"""LFW faces for the clustering benchmark, embedded once through the real pipeline (MTCNN, 5-point alignment,
the embedder), as they are and in harder variants built from the same photos, cached under /tmp.

The set: every LFW person with at least 2 photos (their first ``PER_PERSON`` photos by file name: 1,680 people,
5,294 faces) and every other single-photo person as noise (2,035 faces, each its own person): 7,329 faces.

Variants (applied to the 250 x 250 photo before detection, so detection and alignment see them too):

- ``clean``: the photo as it is;
- ``small40``: the photo shrunk so the face is about 40 px wide (MTCNN boxes LFW faces at about 92 px: 0.435 x);
- ``blur``: a Gaussian blur with sigma 3 px (the face's detail at about a quarter of its resolution);
- ``covered``: the lower face (nose tip to chin, 56 % of the face width) covered by a grey block, like a mask.

    python bench/lfw_grouping_sets.py                  # embeds what is not cached yet, 2 processes
    python bench/lfw_grouping_sets.py --variants clean blur

Each photo gives one face: the one nearest the centre (``facerec.chips``: retried with lower detector
thresholds, else aligned with the mean landmarks; the counts are kept in the cache as ``how``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = ("clean", "small40", "blur", "covered")
CACHE_DIR = Path(os.environ.get("FACEREC_BENCH_CACHE", "/tmp/facerec-bench"))
PER_PERSON = 5
"""Photos kept per person (LFW's largest people have hundreds; capped so no one person dominates the scores)."""


def degrade(rgb: np.ndarray, variant: str) -> np.ndarray:
    """The photo as the variant shows it (RGB uint8 in, RGB uint8 out)."""
    import cv2

    if variant == "clean":
        return rgb
    h, w = rgb.shape[:2]
    if variant == "small40":
        s = 0.435 * 250 / max(h, w)
        return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if variant == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), sigmaX=3.0)
    if variant == "covered":
        out = rgb.copy()
        # LFW centres the face: its box is about x 0.30-0.70, y 0.28-0.74 of the photo
        out[int(0.54 * h) : int(0.76 * h), int(0.28 * w) : int(0.72 * w)] = 128
        return out
    raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


def lfw_paths(root: Path) -> tuple[list[str], np.ndarray]:
    """The benchmark's photos and their person index: the first ``PER_PERSON`` photos of every person with at
    least two, and every other single-photo person (by name order)."""
    people = sorted(d for d in root.iterdir() if d.is_dir())
    paths, labels, singles = [], [], 0
    for k, d in enumerate(people):
        photos = sorted(d.glob("*.jpg"))
        if len(photos) == 1:
            singles += 1
            if singles % 2 == 0:
                continue
        for p in photos[:PER_PERSON]:
            paths.append(str(p))
            labels.append(k)
    return paths, np.asarray(labels, np.int64)


def cache_file(variant: str, model: str) -> Path:
    return CACHE_DIR / f"lfw-{variant}-{model}.npz"


def embed_variant(variant: str, root: str, model: str = "sface") -> str:
    """Embed every LFW photo in ``variant`` (one thread) and save ``paths, labels, embeddings, how``."""
    from facerec.chips import central_face_chips
    from facerec.config import Settings
    from facerec.imaging import LoadedImage
    from facerec.pipeline import FaceAnalyzer

    out = cache_file(variant, model)
    if out.exists():
        return str(out)
    settings = Settings(model=model, threads=1)
    analyzer = FaceAnalyzer(settings)
    paths, labels = lfw_paths(Path(root))
    t0 = time.perf_counter()

    def progress(i: int, n: int) -> None:
        if i % 1000 == 0:
            logging.info("%s: %d/%d photos (%.0f s)", variant, i, n, time.perf_counter() - t0)

    chips, how = central_face_chips(
        paths,
        lambda p: degrade(analyzer.load(p).rgb, variant),
        lambda rgb: analyzer.detect(LoadedImage.from_array(rgb)),
        analyzer.embedder.template,
        progress,
    )
    emb = np.concatenate([analyzer.embedder.embed(chips[i : i + 256]) for i in range(0, len(chips), 256)])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, paths=np.array(paths), labels=labels, embeddings=emb.astype(np.float32), how=np.array(how),
             model_id=np.array(analyzer.model_id), seconds=np.array(time.perf_counter() - t0))
    os.replace(tmp, out)
    return str(out)


def load_variant(variant: str, model: str = "sface") -> dict:
    """The cached embeddings of a variant: ``labels`` (person index), ``embeddings`` (N x D), ``how``. Vectors cached
    under a pack's legacy model id are converted as the gallery converts them (``ModelPack.legacy``)."""
    from facerec.embedders.installer import resolve
    from facerec.embedders.packs import vector_conversions

    z = np.load(cache_file(variant, model), allow_pickle=False)
    out = {k: z[k] for k in z.files}
    for old, new, convert in vector_conversions():
        if str(out.get("model_id")) == old:
            out["embeddings"] = resolve(convert)(out["embeddings"]).astype(np.float32)
            out["model_id"] = np.array(new)
    return out


def main(argv: list[str] | None = None) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from facerec.config import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--lfw", default=str(shared_data_dir() / "lfw"))
    ap.add_argument("--model", default="sface")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    todo = [v for v in args.variants if not cache_file(v, args.model).exists()]
    with ProcessPoolExecutor(max_workers=max(1, args.processes)) as pool:
        for path in pool.map(embed_variant, todo, [args.lfw] * len(todo), [args.model] * len(todo)):
            logging.info("saved %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
