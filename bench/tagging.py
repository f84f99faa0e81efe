"""Folder tagging benchmark: facerec vs face_recognition (dlib) on the same real photos and cores.

Builds a flat folder of labelled photos in a temporary directory from ``../shared/data`` (the
face_recognition, openface and facenet-pytorch photos, group photos, LFW photos, and 12-megapixel
upscaled JPEG copies that imitate camera photos), enrols the same known people in both tools, tags the
folder with ``facerec tag`` and with ``face_recognition --cpus N``, and prints JSON: photos/s, faces/s,
peak memory of the process tree, accuracy on the labelled photos, and the speed ratio.

    python bench/tagging.py                    # installs the peer in /tmp/peer-venv if needed
    python bench/tagging.py --skip-peer        # facerec only
    python bench/tagging.py --also-flip        # each round also runs facerec with test-time flipping on
    python bench/tagging.py --out bench/results/tagging.json

A photo counts as correct when the set of known people the tool names in it equals the set of known
people in it (strangers must stay unknown; a missed or misnamed face makes the photo wrong).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import emit, machine_load, run_measured  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
UNLABELLED = None

# face_recognition / openface people: the photo enrolled as the known sample (everything else is tagged).
KNOWN = {
    "alex_lacamoire": "face_recognition/alex_lacamoire/alex_lacamoire1.jpg",
    "biden": "face_recognition/biden/biden.jpg",
    "kit_harington": "face_recognition/kit_harington/john2.jpeg",
    "obama": "face_recognition/obama/obama.jpg",
    "rose_leslie": "face_recognition/rose_leslie/img1.jpg",
    "clapton": "openface/clapton/clapton-1.jpg",
    "lennon": "openface/lennon/lennon-1.jpg",
}
GROUPS = {
    "face_recognition/_group/obama_and_biden.jpg": {"obama", "biden"},
    "face_recognition/_group/kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    "face_recognition/_group/two_people.jpg": {"obama", "biden"},
    "openface/_group/longoria-cooper.jpg": UNLABELLED,
    "facenet_pytorch/_group/multiface.jpg": UNLABELLED,
}
STRANGER_DIRS = ["face_recognition/lin_manuel_miranda", "openface/adams", "openface/carell", "facenet_pytorch"]


def _data_dir() -> Path:
    env = os.environ.get("FACEREC_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def build_dataset(root: Path, data: Path, lfw_people: int, lfw_strangers: int, large: int, seed: int = 0) -> dict:
    """Create ``root/known`` (NAME.jpg) and ``root/photos`` (flat); return the labels of the photos."""
    from PIL import Image

    faces = data / "faces"
    known_dir, photos = root / "known", root / "photos"
    known_dir.mkdir(parents=True)
    photos.mkdir()
    labels: dict[str, set[str] | None] = {}
    enrolled = set(KNOWN.values())

    def add(src: Path, label, name: str | None = None) -> Path:
        dst = photos / (name or f"{src.parent.name}__{src.name}")
        shutil.copyfile(src, dst)
        labels[dst.name] = label
        return dst

    for person, rel in KNOWN.items():
        _save_small(faces / rel, known_dir / f"{person}.jpg")
        for p in sorted((faces / rel).parent.iterdir()):
            if p.is_file() and str(p.relative_to(faces)) not in enrolled:
                add(p, {person})
    for p in sorted((faces / "face_recognition" / "_variants").iterdir()):
        add(p, {"obama"})
    for rel, label in GROUPS.items():
        add(faces / rel, label)
    for d in STRANGER_DIRS:
        for p in sorted((faces / d).rglob("*.jpg")) + sorted((faces / d).rglob("*.png")):
            if "aligned" not in p.name and "_group" not in p.parts:
                add(p, set())

    # LFW: known people (image 1 enrolled, images 2 and 3 tagged) and strangers (one image each).
    lfw = data / "lfw"
    rng = random.Random(seed)
    people = sorted(d.name for d in lfw.iterdir() if d.is_dir())
    counts = {n: len(list((lfw / n).glob("*.jpg"))) for n in people}
    many = rng.sample([n for n in people if counts[n] >= 4], lfw_people)
    once = rng.sample([n for n in people if counts[n] == 1], lfw_strangers)
    for n in many:
        _save_small(lfw / n / f"{n}_0001.jpg", known_dir / f"{n}.jpg")
        for k in (2, 3):
            add(lfw / n / f"{n}_{k:04d}.jpg", {n}, f"lfw__{n}_{k:04d}.jpg")
    for n in once:
        add(lfw / n / f"{n}_0001.jpg", set(), f"lfw__{n}_0001.jpg")

    # 12-megapixel camera-like copies of the larger labelled photos (long side 4000 px, JPEG q90).
    big = [name for name, label in sorted(labels.items()) if label is not UNLABELLED and not name.startswith("lfw__")]
    big = [n for n in big if max(Image.open(photos / n).size) >= 800][:large]
    for name in big:
        with Image.open(photos / name) as im:
            im = im.convert("RGB")
            f = 4000 / max(im.size)
            im = im.resize((round(im.width * f), round(im.height * f)), Image.BICUBIC)
            dst = photos / f"big__{Path(name).stem}.jpg"
            im.save(dst, "JPEG", quality=90)
            labels[dst.name] = labels[name]
    (root / "labels.json").write_text(json.dumps({k: None if v is None else sorted(v) for k, v in labels.items()}, indent=1))
    return labels


def build_labels(root: Path) -> dict:
    """The labels of a folder made by ``build_dataset`` (photo name -> set of known people, or None)."""
    raw = json.loads((root / "labels.json").read_text())
    return {k: UNLABELLED if v is None else set(v) for k, v in raw.items()}


def _save_small(src: Path, dst: Path, max_side: int = 800) -> None:
    """Known-person photos at most ``max_side`` px (the peer re-encodes them on every run)."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        im.thumbnail((max_side, max_side), Image.LANCZOS)
        im.save(dst, "JPEG", quality=95)


# -- facerec -----------------------------------------------------------------------------------------
ENROL_SCRIPT = """
import sys
from pathlib import Path
from facerec.config import Settings
from facerec.enrolment import enrol_image
from facerec.pipeline import FaceAnalyzer
from facerec.store import GalleryStore
store = GalleryStore(Settings().gallery_path)
analyzer = FaceAnalyzer(Settings())
for p in sorted(Path(sys.argv[1]).glob("*.jpg")):
    enrol_image(store, analyzer, p.stem, str(p), largest=True)
store.close()
"""


STAGES_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from facerec.alignment import align_many
from facerec.config import Settings
from facerec.files import file_digest
from facerec.pipeline import FaceAnalyzer
from facerec.store import GalleryStore, NewFace
settings = Settings()
settings.threads = 1
store = GalleryStore(settings.gallery_path)
analyzer = FaceAnalyzer(settings)
analyzer.apply_threads()
gallery = store.gallery_index(analyzer.model_id)
threshold = analyzer.threshold_for(gallery)
analyzer.detect(analyzer.load(sorted(Path(sys.argv[1]).glob("*.jpg"))[0]))  # models loaded before the clock runs
names = ("decode", "detect", "align", "embed", "match", "store")
total = dict.fromkeys(names, 0.0)
photos = faces = 0
for path in sorted(Path(sys.argv[1]).iterdir()):
    t = [time.perf_counter()]
    st = path.stat()
    image = analyzer.load(path)
    digest = file_digest(path)
    t.append(time.perf_counter())
    detected = analyzer.detect(image)
    t.append(time.perf_counter())
    chips = align_many(image.rgb, [d.landmarks for d in detected], analyzer.embedder.template)
    t.append(time.perf_counter())
    emb = analyzer.embedder.embed(chips)
    t.append(time.perf_counter())
    matches = gallery.search(emb, threshold, settings.top_k) if len(emb) else []
    t.append(time.perf_counter())
    s = image.scale
    new = [NewFace([float(v) * s for v in d.box], d.landmarks * s, d.score, emb[i], m.person_id, m.distance) for i, (d, m) in enumerate(zip(detected, matches))]
    store.save_photo(str(path), st.st_size, st.st_mtime_ns, digest, *image.full_size, analyzer.model_id, new)
    store.photo_faces(str(path))
    t.append(time.perf_counter())
    for i, name in enumerate(names):
        total[name] += t[i + 1] - t[i]
    photos += 1
    faces += len(detected)
runtimes = {name: net.runtime for name, net in analyzer.detector._model()._nets.items()}
runtimes["embedder"] = analyzer.embedder._net.runtime
print(json.dumps({"photos": photos, "faces": faces, "seconds": total, "runtimes": runtimes}))
"""


def stage_times(root: Path, env: dict) -> dict:
    """Seconds spent in each stage of the pipeline, tagging the folder on one thread in one process
    (the same calls as ``facerec tag`` makes for each photo, timed one by one; models loaded first)."""
    env = dict(env, FACEREC_HOME=str(root / "facerec-home-stages"))
    Path(env["FACEREC_HOME"]).mkdir(exist_ok=True)
    r = subprocess.run([sys.executable, "-c", ENROL_SCRIPT, str(root / "known")], env=env, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"facerec enrolment failed:\n{r.stderr}")
    r = subprocess.run([sys.executable, "-c", STAGES_SCRIPT, str(root / "photos")], env=env, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"stage timing failed:\n{r.stderr[-3000:]}")
    raw = json.loads(r.stdout.strip().splitlines()[-1])
    secs = raw["seconds"]
    busy = sum(secs.values())
    return {
        "threads": 1,
        "runtimes": raw["runtimes"],
        "photos": raw["photos"],
        "faces": raw["faces"],
        "seconds": {k: round(v, 3) for k, v in secs.items()},
        "ms_per_photo": {k: round(1000 * v / raw["photos"], 2) for k, v in secs.items()},
        "share": {k: round(v / busy, 3) for k, v in secs.items()},
        "total_s": round(busy, 2),
        "floor_decode_s": round(secs["decode"], 2),
        "total_over_floor": round(busy / max(secs["decode"], 1e-9), 1),
    }


def run_facerec(
    root: Path, env: dict, threads: int, photos: str = "photos", home: str = "facerec-home", enrol: bool = True, flip: bool | None = None,
) -> dict:
    env = dict(env, FACEREC_HOME=str(root / home))
    Path(env["FACEREC_HOME"]).mkdir(exist_ok=True)
    settings: dict = {"threads": threads}
    if flip is not None:  # else the default (Settings.flip)
        settings["flip"] = flip
    (Path(env["FACEREC_HOME"]) / "settings.json").write_text(json.dumps(settings))
    r = subprocess.run([sys.executable, "-c", ENROL_SCRIPT, str(root / "known")], env=env, capture_output=True, text=True) if enrol else None
    if r is not None and r.returncode:
        raise SystemExit(f"facerec enrolment failed:\n{r.stderr}")
    out = root / "facerec.json"
    cmd = [sys.executable, "-m", "facerec.cli", "tag", str(root / photos), "--json", str(out), "-q"]
    res = run_measured(cmd, env=env)
    if res.returncode not in (0, 1):
        raise SystemExit(f"facerec tag failed ({res.returncode}):\n{res.stderr[-3000:]}")
    predicted: dict[str, list[str | None]] = {}
    for rec in json.loads(out.read_text()):
        predicted[Path(rec["path"]).name] = [f["person"] for f in rec["faces"]]
    return {"command": " ".join(["facerec", *cmd[3:]]), "run": res, "predicted": predicted}


def memory_scaling(root: Path, env: dict, threads: int, times: int, base: dict) -> dict:
    """Tag a folder ``times`` as big (hard links under new names, all analysed anew): peak memory must stay flat."""
    big = root / f"photos_x{times}"
    big.mkdir()
    for p in (root / "photos").iterdir():
        for i in range(times):
            os.link(p, big / f"r{i}__{p.name}")
    run = run_facerec(root, env, threads, photos=big.name, home=f"facerec-home-x{times}")["run"]
    n = len(list(big.iterdir()))
    return {
        "photos": n,
        "photos_per_s": round(n / run.wall_s, 3),
        "cpu_s": round(run.cpu_s, 1),
        "peak_rss_tree_mb": round(run.peak_tree_rss_mb, 1),
        "peak_rss_growth_mb_vs_1x": round(run.peak_tree_rss_mb - base["peak_rss_tree_mb"], 1),
    }


# -- face_recognition --------------------------------------------------------------------------------
def run_peer(root: Path, venv: Path, cpus: int) -> dict:
    exe = venv / "bin" / "face_recognition"
    if not exe.exists():
        subprocess.run(["bash", str(REPO / "bench" / "setup_peer.sh"), str(venv)], check=True, stdout=sys.stderr)
    cmd = [str(exe), "--cpus", str(cpus), str(root / "known"), str(root / "photos")]
    res = run_measured(cmd)
    if res.returncode:
        raise SystemExit(f"face_recognition failed ({res.returncode}):\n{res.stderr[-3000:]}")
    predicted: dict[str, list[str | None]] = {}
    for line in res.stdout.splitlines():
        path, _, name = line.rpartition(",")
        if not path:
            continue
        faces = predicted.setdefault(Path(path).name, [])
        if name == "unknown_person":
            faces.append(None)
        elif name != "no_persons_found":
            faces.append(name)
    return {"command": " ".join(["face_recognition", *cmd[1:]]), "run": res, "predicted": predicted}


# -- scoring -----------------------------------------------------------------------------------------
def score(labels: dict, predicted: dict, wall: float) -> dict:
    n = len(labels)
    faces = sum(len(v) for v in predicted.values())
    labelled = {k: v for k, v in labels.items() if v is not UNLABELLED}
    correct, missed, wrong_names, wrong = 0, 0, 0, []
    for name, expected in labelled.items():
        got = {p for p in predicted.get(name, []) if p}
        correct += got == expected
        missed += len(expected - got)
        wrong_names += len(got - expected)
        if got != expected:
            wrong.append({"photo": name, "expected": sorted(expected), "named": sorted(got)})
    return {
        "photos": n,
        "photos_reported": len(predicted),
        "faces_found": faces,
        "wall_s": round(wall, 2),
        "photos_per_s": round(n / wall, 3),
        "faces_per_s": round(faces / wall, 3),
        "labelled_photos": len(labelled),
        "accuracy": round(correct / len(labelled), 4),
        "known_faces_missed": missed,
        "wrong_names": wrong_names,
        "errors": wrong,
    }


def summarise(tool: dict, labels: dict) -> dict:
    run = tool["run"]
    s = score(labels, tool["predicted"], run.wall_s)
    s["peak_rss_tree_mb"] = round(run.peak_tree_rss_mb, 1)
    s["peak_rss_largest_process_mb"] = round(run.peak_process_rss_mb, 1)
    s["cpu_s"] = round(run.cpu_s, 1)
    s["cpu_s_per_photo"] = round(run.cpu_s / max(1, s["photos"]), 4)
    s["command"] = tool["command"]
    return {"command": s.pop("command"), **s}


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one for an even count)."""
    return sorted(runs, key=lambda r: r["run"].wall_s)[(len(runs) - 1) // 2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw-people", type=int, default=20, help="LFW people enrolled (2 photos of each tagged)")
    ap.add_argument("--lfw-strangers", type=int, default=20, help="LFW photos of people not enrolled")
    ap.add_argument("--large", type=int, default=16, help="12-megapixel upscaled copies")
    ap.add_argument("--cpus", type=int, default=2, help="cores for both tools")
    ap.add_argument("--peer-venv", default=os.environ.get("PEER_VENV", "/tmp/peer-venv"))
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of facerec then the peer (medians reported)")
    ap.add_argument("--also-flip", action="store_true", help="each round also tags with test-time flipping on (Settings.flip, off by default)")
    ap.add_argument("--skip-stages", action="store_true", help="leave out the one-thread per-stage timing")
    ap.add_argument("--memory-scale", type=int, default=3, help="also tag a folder this many times bigger (facerec; 1 = skip)")
    ap.add_argument("--keep", metavar="DIR", help="build the folder here and keep it")
    ap.add_argument("--out", metavar="FILE", help="also write the JSON here")
    args = ap.parse_args(argv)

    data = _data_dir()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="facerec-bench-"))
    if args.keep and root.exists():
        shutil.rmtree(root)
    try:
        labels = build_dataset(root, data, args.lfw_people, args.lfw_strangers, args.large)
        sys.path.insert(0, str(REPO))
        from facerec.config import keep_models_dir

        env = keep_models_dir(dict(os.environ))  # the runs get their own FACEREC_HOME, not their own models
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed facerec has its bytecode compiled, as the peer's venv has
        load_before = machine_load()
        # facerec and the peer alternate, so a change in the machine's load hits both alike
        fr_runs, peer_runs, flip_runs = [], [], []
        for i in range(args.repeat):
            fr_runs.append(run_facerec(root, env, args.cpus, home="facerec-home" if i == 0 else f"facerec-home-{i}"))
            if args.also_flip:
                flip_runs.append(run_facerec(root, env, args.cpus, home=f"facerec-home-flip-{i}", flip=True))
            if not args.skip_peer:
                peer_runs.append(run_peer(root, Path(args.peer_venv), args.cpus))
        fr = _median_run(fr_runs)
        result: dict = {
            "benchmark": "tagging",
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"platform": platform.platform(), "python": platform.python_version(), **load_before},
            "dataset": {
                "photos": len(labels),
                "labelled": sum(v is not UNLABELLED for v in labels.values()),
                "known_people": len(list((root / "known").glob("*.jpg"))),
                "upscaled_12mp": sum(k.startswith("big__") for k in labels),
                "lfw_photos": sum(k.startswith("lfw__") for k in labels),
            },
            "rounds": args.repeat,
            "facerec": summarise(fr, labels),
        }
        result["facerec"]["wall_s_each_round"] = [round(r["run"].wall_s, 2) for r in fr_runs]
        if flip_runs:
            result["facerec_with_flip"] = summarise(_median_run(flip_runs), labels)
            result["facerec_with_flip"]["wall_s_each_round"] = [round(r["run"].wall_s, 2) for r in flip_runs]
        if not args.skip_peer:
            peer = _median_run(peer_runs)
            result["face_recognition"] = summarise(peer, labels)
            result["face_recognition"]["wall_s_each_round"] = [round(r["run"].wall_s, 2) for r in peer_runs]
            # its pool workers are children of multiprocessing's forkserver, which nobody waits for
            result["face_recognition"]["cpu_s"] = result["face_recognition"]["cpu_s_per_photo"] = None
            a, b = result["facerec"], result["face_recognition"]
            result["speedup_photos_per_s"] = round(a["photos_per_s"] / b["photos_per_s"], 2)
            if flip_runs:
                result["speedup_with_flip"] = round(result["facerec_with_flip"]["photos_per_s"] / b["photos_per_s"], 2)
            result["speedup_each_round"] = [round(q["run"].wall_s / f["run"].wall_s, 2) for f, q in zip(fr_runs, peer_runs)]
            result["accuracy_delta"] = round(a["accuracy"] - b["accuracy"], 4)
            result["target_met"] = result["speedup_photos_per_s"] >= 5 and a["accuracy"] >= b["accuracy"]
            result["notes"] = [
                "wall times are whole command runs (interpreter start, model loading, known-face encoding by the peer)",
                "each round runs facerec then the peer; the figures are each tool's median round",
                "face_recognition's CLI prints every known name within tolerance for a face, so its faces_found counts "
                "output lines and an extra name makes a photo wrong; facerec names at most one person per face",
            ]
        if not args.skip_stages:
            result["facerec_stages"] = stage_times(root, env)
            result["facerec_stages"]["note"] = (
                "one thread, each stage timed photo by photo; decode (reading and decoding the file, hashing it) is the "
                "floor no pipeline can go below; total_over_floor = all stages / decode"
            )
        rerun = run_facerec(root, env, args.cpus, enrol=False)["run"]  # every file unchanged: skipped without decoding
        result["facerec"]["rerun_unchanged_wall_s"] = round(rerun.wall_s, 2)
        if args.memory_scale > 1:
            result["facerec_memory_scaling"] = memory_scaling(root, env, args.cpus, args.memory_scale, result["facerec"])
        result["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
