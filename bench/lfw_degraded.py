"""LFW faces through the full pipeline, clean and degraded, cached: the data of bench/openset.py.

For every image of a variant: how the central face was found, its box, detector score and landmarks, the
embedding of the aligned chip and of its mirror image, and the chip's sharpness. Variants imitate photos
harder than LFW's press pictures (the degradation is applied to the whole photo before detection):

- ``clean``: the LFW image as it is;
- ``small``: the photo shrunk to 30% (faces about 30 px wide, as in a group photo or a distant shot);
- ``blur``: Gaussian blur, sigma 2.5 px (out of focus or moving);
- ``sunglasses``: a dark band over both eyes (placed from the clean image's landmarks);
- ``mask``: the lower face covered from just below the nose (placed from the clean image's landmarks).

Strong pose is not synthesised: bench/openset.py selects the most turned faces of the clean set by the
landmark pose estimate (facerec.quality).

    nice python bench/lfw_degraded.py --variant clean [--data $FACEREC_DATA/lfw] [--only probes]

``--only probes`` (the default for the degraded variants) takes the open-set genuine probes and the half of the
strangers that calibration holds out; the gallery stays clean (people enrol with photos they chose).

``--export-eval FILE`` writes the clean run as the embedding cache of ``facerec eval lfw --cache FILE``
(after re-embedding ``--check`` random images through the pipeline and comparing).

Results are cached as ``/tmp/facerec-lfw-cache/<model>-<variant>.npz`` (override with --cache-dir), so
reruns cost nothing; a killed run resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facerec.alignment import align  # noqa: E402
from facerec.chips import RETRY_DETECTOR  # noqa: E402
from facerec.geometry import FaceSelection, select_face  # noqa: E402
from facerec.config import Settings, shared_data_dir  # noqa: E402
from facerec.detection import MTCNNDetector  # noqa: E402
from facerec.evaluation.lfw import list_identities  # noqa: E402
from facerec.evaluation.openset import openset_protocol  # noqa: E402
from facerec.imaging import LoadedImage  # noqa: E402
from facerec.embedders.sface import PLAIN_MODEL_ID, centre  # noqa: E402
from facerec.pipeline import FaceAnalyzer  # noqa: E402
from facerec.quality import chip_sharpness  # noqa: E402

log = logging.getLogger("lfw_degraded")

VARIANTS = ("clean", "small", "blur", "sunglasses", "mask")
DEFAULT_CACHE = Path(os.environ.get("FACEREC_LFW_CACHE", "/tmp/facerec-lfw-cache"))
CHECKPOINT_EVERY = 500


def degrade(rgb: np.ndarray, variant: str, landmarks: np.ndarray | None) -> np.ndarray:
    """The photo as the variant sees it (``landmarks``: the clean image's 5 points, for the occluders)."""
    import cv2

    if variant == "clean":
        return rgb
    if variant == "small":
        h, w = rgb.shape[:2]
        return cv2.resize(rgb, (round(w * 0.3), round(h * 0.3)), interpolation=cv2.INTER_AREA)
    if variant == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), 2.5)
    if landmarks is None:
        return rgb
    out = rgb.copy()
    le, re, nose, lm, rm = np.asarray(landmarks, np.float64)
    eye = np.linalg.norm(re - le)
    if variant == "sunglasses":
        centre = (le + re) / 2
        angle = np.degrees(np.arctan2(re[1] - le[1], re[0] - le[0]))
        box = ((float(centre[0]), float(centre[1])), (float(eye * 2.0), float(eye * 0.55)), float(angle))
        cv2.fillPoly(out, [np.round(cv2.boxPoints(box)).astype(np.int32)], (20, 20, 20))
        return out
    if variant == "mask":
        top = nose[1] + 0.15 * eye
        pts = np.array([[lm[0] - 0.6 * eye, top], [rm[0] + 0.6 * eye, top], [rm[0] + 0.6 * eye, rgb.shape[0]], [lm[0] - 0.6 * eye, rgb.shape[0]]])
        cv2.fillPoly(out, [np.round(pts).astype(np.int32)], (200, 200, 205))
        return out
    raise ValueError(f"unknown variant {variant!r}")


def cache_path(cache_dir: Path, model: str, variant: str, only: str) -> Path:
    return cache_dir / f"{model}-{variant}{'' if only == 'all' else '-' + only}.npz"


def select_paths(root: Path, only: str) -> list[str]:
    identities = list_identities(root)
    if only == "all":
        return [p for v in identities.values() for p in v]
    split = openset_protocol(identities)
    return split.probe_paths + split.stranger_paths[1::2]  # the strangers calibration holds out (openset.calibrate_openset)


def load_cache(path: Path) -> dict | None:
    if not path.exists():
        return None
    z = np.load(path, allow_pickle=False)
    return {k: z[k] for k in z.files}


def shard_path(cache_dir: Path, model: str, variant: str, only: str, k: int, n: int) -> Path:
    return cache_path(cache_dir, model, variant, only).with_suffix(f".shard{k}of{n}.npz")


def shard_paths(cache_dir: Path, model: str, variant: str, only: str, paths: list[str], k: int, n: int) -> list[str]:
    """Shard k of n: every n-th image among those the main cache does not hold yet."""
    main = load_cache(cache_path(cache_dir, model, variant, only))
    start = int(main["done"]) if main is not None else 0
    return [p for i, p in enumerate(paths[start:]) if i % n == k]


def merge(root: Path, variant: str, model: str, cache_dir: Path, only: str, n: int) -> int:
    """Fold the n shard caches into the main cache once every shard is complete; images now held."""
    out_path = cache_path(cache_dir, model, variant, only)
    paths = select_paths(root, only)
    main = load_cache(out_path)
    start = int(main["done"]) if main is not None else 0
    parts = [load_cache(shard_path(cache_dir, model, variant, only, k, n)) for k in range(n)]
    if any(p is None or int(p["done"]) < len(p["paths"]) for p in parts):
        raise SystemExit("some shards are not complete yet")
    arrays = {}
    for key in ("how", "box", "score", "landmarks", "image_size", "faces", "emb", "emb_flip", "sharpness"):
        first = parts[0][key]
        arr = np.zeros((len(paths), *first.shape[1:]), first.dtype)
        if main is not None:
            arr[:start] = main[key][:start]
        for k, part in enumerate(parts):
            arr[start + k :: n] = part[key]
        arrays[key] = arr
    for k, part in enumerate(parts):
        assert part["paths"].tolist() == paths[start + k :: n]
    _save(out_path, paths, arrays, len(paths), str(parts[0]["model_id"]))
    return len(paths)


def build(root: Path, variant: str, model: str, cache_dir: Path, only: str, shard: tuple[int, int] | None = None) -> dict:
    """Embed every selected image of the variant (resuming a partial cache); the arrays by name."""
    out_path = cache_path(cache_dir, model, variant, only)
    paths = select_paths(root, only)
    if shard is not None:
        paths = shard_paths(cache_dir, model, variant, only, paths, *shard)
        out_path = shard_path(cache_dir, model, variant, only, *shard)
    done = load_cache(out_path) or {}
    if done and int(done["done"]) >= len(paths):
        return done
    clean = None
    if variant in ("sunglasses", "mask"):
        clean = load_cache(cache_path(cache_dir, model, "clean", "all"))
        if clean is None:
            raise SystemExit("the occlusion variants place their occluders from the clean run: run --variant clean first")
        clean_index = {p: i for i, p in enumerate(clean["paths"].tolist())}
    analyzer = FaceAnalyzer(Settings(model=model))
    # the network's own vectors (no flipping, no centring: readers apply both, bench/openset.py's embeddings)
    embed = getattr(analyzer.embedder, "embed_plain", analyzer.embedder.embed)
    model_id = PLAIN_MODEL_ID if getattr(analyzer.embedder, "centred", False) else analyzer.model_id
    retry = MTCNNDetector(RETRY_DETECTOR)
    n = len(paths)
    arrays = {
        "how": np.zeros(n, np.int8),  # 0 detected, 1 retried, 2 not found (fallback: mean landmarks)
        "box": np.zeros((n, 4), np.float32),
        "score": np.zeros(n, np.float32),
        "landmarks": np.zeros((n, 5, 2), np.float32),
        "image_size": np.zeros((n, 2), np.int32),
        "faces": np.zeros(n, np.int16),
        "emb": np.zeros((n, analyzer.embedder.dim), np.float32),
        "emb_flip": np.zeros((n, analyzer.embedder.dim), np.float32),
        "sharpness": np.zeros(n, np.float32),
    }
    start = 0
    if done:
        start = int(done["done"])
        for k in arrays:
            arrays[k][:start] = done[k][:start]
    template = analyzer.embedder.template
    mean_rel = np.array([[0.36, 0.45], [0.64, 0.45], [0.5, 0.58], [0.39, 0.7], [0.61, 0.7]], np.float32)
    t0 = time.time()
    for i in range(start, n):
        rgb = analyzer.load(paths[i]).rgb
        lm_clean = clean["landmarks"][clean_index[paths[i]]] if clean is not None else None
        img = degrade(rgb, variant, lm_clean)
        faces = analyzer.detect(LoadedImage.from_array(img))
        how = 0
        if not faces:
            faces, how = retry.detect(img), 1
        h, w = img.shape[:2]
        if faces:
            face = select_face(faces, FaceSelection.CENTRAL, (w, h))
            box, score, lm = face.box, face.score, face.landmarks
        else:
            how, box, score, lm = 2, np.array([0, 0, w, h], np.float32), 0.0, mean_rel * np.array([w, h], np.float32)
        chip = align(img, lm, template)
        emb = embed(np.stack([chip, chip[:, ::-1]]))
        arrays["how"][i], arrays["box"][i], arrays["score"][i], arrays["landmarks"][i] = how, box, score, lm
        arrays["image_size"][i] = (w, h)
        arrays["faces"][i] = len(faces)
        arrays["emb"][i], arrays["emb_flip"][i] = emb[0], emb[1]
        arrays["sharpness"][i] = chip_sharpness(chip)
        if (i + 1) % CHECKPOINT_EVERY == 0 or i + 1 == n:
            _save(out_path, paths, arrays, i + 1, model_id)
            rate = (i + 1 - start) / (time.time() - t0)
            log.info("%s: %d/%d images, %.1f/s, load %s", variant, i + 1, n, rate, os.getloadavg()[0])
    return load_cache(out_path)


def _save(path: Path, paths: list[str], arrays: dict, done: int, model_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, paths=np.array(paths), done=np.array(done), model_id=np.array(model_id), **arrays)
    os.replace(tmp, path)


def export_eval(cache_dir: Path, model: str, out: Path, check: int, root: Path) -> dict:
    """Write the clean run's embeddings (test-time flipping as Settings.flip says) as the cache ``facerec eval lfw
    --cache`` reads, after checking ``check`` random images against the pipeline itself (facerec.evaluation.lfw
    .embed_images). Returns what was written and the largest difference found."""
    from facerec.evaluation.lfw import embed_images

    clean = load_cache(cache_path(cache_dir, model, "clean", "all"))
    if clean is None or int(clean["done"]) < len(clean["paths"]):
        raise SystemExit("run --variant clean to the end first")
    settings = Settings(model=model)
    analyzer = FaceAnalyzer(settings)
    emb = clean["emb"] + clean["emb_flip"] if settings.flip else clean["emb"]
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    if getattr(analyzer.embedder, "centred", False):  # the cache holds the network's vectors; the pack centres them
        emb = centre(emb)
    paths = clean["paths"].tolist()
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(len(paths), check, replace=False).tolist())
    with_tmp = Path(tempfile.mkdtemp()) / "check.npz"
    fresh = embed_images(analyzer, [paths[i] for i in sample], cache=with_tmp)
    diff = float(np.abs(fresh.embeddings - emb[sample]).max())
    if diff > 1e-3:  # the detector ran on OpenCV DNN for part of the clean run: landmarks within 0.001 px
        raise SystemExit(f"cached embeddings differ from the pipeline's by {diff}")
    how = np.array(["detected", "retried", "fallback"])[clean["how"]]
    model_id = getattr(analyzer.embedder, "cache_id", analyzer.model_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, paths=np.array(paths), embeddings=emb, how=how, model_id=np.array(model_id))
    return {"written": str(out), "images": len(paths), "model_id": model_id, "checked": check, "max_difference": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=VARIANTS, default="clean")
    ap.add_argument("--model", default="sface")
    ap.add_argument("--data", default=str(shared_data_dir() / "lfw"))
    ap.add_argument("--only", choices=("all", "probes"), default=None, help="all images, or only the open-set probes and held-out strangers (default: all for clean, probes for the others)")
    ap.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    ap.add_argument("--shard", metavar="K/N", help="embed only shard K of N of the images not cached yet (run N of these, then --merge N)")
    ap.add_argument("--merge", type=int, metavar="N", help="fold N complete shards into the main cache")
    ap.add_argument("--export-eval", metavar="FILE", help="write the clean run as a `facerec eval lfw --cache FILE` cache")
    ap.add_argument("--check", type=int, default=40, help="with --export-eval: images re-embedded by the pipeline to compare")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    only = args.only or ("all" if args.variant == "clean" else "probes")
    if args.export_eval:
        print(export_eval(Path(args.cache_dir), args.model, Path(args.export_eval), args.check, Path(args.data)))
        return
    if args.merge:
        print(merge(Path(args.data), args.variant, args.model, Path(args.cache_dir), only, args.merge), "images merged")
        return
    shard = tuple(int(x) for x in args.shard.split("/")) if args.shard else None
    res = build(Path(args.data), args.variant, args.model, Path(args.cache_dir), only, shard)
    print(cache_path(Path(args.cache_dir), args.model, args.variant, only), int(res["done"]), "images")


if __name__ == "__main__":
    main()
