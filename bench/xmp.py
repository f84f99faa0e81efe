"""XMP sidecars for a large library: writing, status, sync after a rename, reading back (facerec.library.xmp_sync).

A throwaway gallery of ``--photos`` photos (default 10,000; 1 to 4 confirmed faces each, 200 people) is built
in a temporary folder; the photo files are hard links to one small JPEG (sidecars only need the photo's
path and permission bits). Timed, side by side in one run:

- ``write_new``: ``facerec xmp write`` on the folder: every sidecar created (parse nothing, merge, serialise,
  atomic write + fsync, one store record each);
- ``status``: ``facerec xmp status`` (all current);
- ``write_again``: ``facerec xmp write`` with nothing changed (every photo skipped as current);
- ``sync_after_rename``: a person renamed, then ``after_decisions`` rewrites just the stale sidecars;
- ``rewrite_all``: ``write --force``: every existing sidecar read, merged and written again;
- ``read_all``: every sidecar read and its regions parsed (what a scan's import does per photo);
- for comparison, alternating twice on the same ``--exiftool-photos`` photos: facerec writing new sidecars,
  and ExifTool writing the same regions into new sidecars from ONE batch process (``-@`` argument file: its
  per-photo cost without a process start per photo); and the parse + serialise of one sidecar by
  ``xml.etree`` (used) and by ``lxml`` (when installed).

    python bench/xmp.py --out bench/results/xmp.json
    python bench/xmp.py --photos 1000            # quick

Prints JSON: seconds and photos per second for each step, the machine load.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _proc import emit, machine_load  # noqa: E402

from facerec.config import Settings  # noqa: E402
from facerec.library.xmp import XmpPacket  # noqa: E402
from facerec.library.xmp_files import read_photo_xmp, sidecar_path  # noqa: E402
from facerec.library.xmp_sync import after_decisions, write_xmp, xmp_status  # noqa: E402
from facerec.store import GalleryStore, NewFace  # noqa: E402

W, H = 4000, 3000


def build(folder: Path, store: GalleryStore, n: int, people: int, rng: random.Random) -> None:
    """``n`` photo files (hard links) and their scan records with confirmed faces."""
    from PIL import Image

    seed = folder / "seed.jpg"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(seed)
    names = [f"Person {i:03d}" for i in range(people)]
    ids = [store.add_person(name).id for name in names]
    emb = np.ones(128, np.float32) / np.sqrt(128)
    for i in range(n):
        path = folder / f"IMG_{i:05d}.jpg"
        os.link(seed, path)
        faces = []
        for k in range(rng.randint(1, 4)):
            x, y = 200 + k * 900 + rng.randint(0, 300), rng.randint(200, 2000)
            faces.append(NewFace([x, y, x + 400, y + 500], None, 0.99, emb, rng.choice(ids), 0.3))
        store.save_photo(str(path), 1, 1, None, W, H, "bench", faces)
    with store.transaction() as conn:
        conn.execute("UPDATE faces SET status = 'confirmed'")
    seed.unlink()


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def step(seconds: float, photos: int, **extra) -> dict:
    return {"seconds": round(seconds, 3), "photos": photos, "photos_per_s": round(photos / seconds, 1) if seconds else None, **extra}


def facerec_batch(folder: Path, store: GalleryStore, count: int, name: str) -> dict:
    """facerec writing ``count`` new sidecars (into a folder of their own), as ``write_xmp`` does."""
    from facerec.library.xmp_files import fsync_folder
    from facerec.library.xmp_sync import wanted_regions, write_photo_xmp

    out = folder / name
    out.mkdir()
    photos = store.photos(str(folder))[:count]

    def run() -> None:
        wanted = wanted_regions(store, photos)
        with store.transaction():
            for photo in photos:
                write_photo_xmp(store, photo, wanted[photo.id], str(out / (Path(photo.path).name + ".xmp")), sync_folder=False)
        fsync_folder(out)

    _, seconds = timed(run)
    return step(seconds, len(list(out.iterdir())), how="facerec write_photo_xmp, one store transaction")


def exiftool_batch(folder: Path, store: GalleryStore, count: int, name: str) -> dict | None:
    """ExifTool writing the same MWG + MP regions into ``count`` new sidecars, one process for all."""
    tool = shutil.which("exiftool")
    if tool is None or count <= 0:
        return None
    out = folder / name
    out.mkdir()
    photos = store.photos(str(folder))[:count]
    lines: list[str] = []
    for photo in photos:
        mwg, mp, names = [], [], []
        for f in store.photo_faces(photo.path):
            x1, y1, x2, y2 = f.box
            w, h = (x2 - x1) / W, (y2 - y1) / H
            mwg.append(f"{{Area={{X={(x1 + x2) / 2 / W:.6f},Y={(y1 + y2) / 2 / H:.6f},W={w:.6f},H={h:.6f},Unit=normalized}},Name={f.person},Type=Face}}")
            mp.append(f"{{PersonDisplayName={f.person},Rectangle={x1 / W:.6f}|, {y1 / H:.6f}|, {w:.6f}|, {h:.6f}}}")
            names.append(f.person)
        lines += [f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={W},H={H},Unit=pixel}},RegionList=[{','.join(mwg)}]}}",
                  f"-XMP-MP:RegionInfoMP={{Regions=[{','.join(mp)}]}}"]
        for name in names:
            lines += [f"-XMP-iptcExt:PersonInImage+={name}", f"-XMP-digiKam:TagsList+=People/{name}"]
        lines += ["-o", str(out / (Path(photo.path).name + ".xmp")), photo.path, "-execute"]
    args = folder / "exiftool-args.txt"
    args.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, seconds = timed(lambda: subprocess.run([tool, "-q", "-m", "-@", str(args)], capture_output=True, check=False))
    made = len(list(out.iterdir()))
    return step(seconds, made, how="exiftool -@ argfile (one process, -execute per photo)")


def parse_serialise(packet: bytes, repeat: int) -> dict:
    out: dict = {}
    _, seconds = timed(lambda: [XmpPacket.parse(packet).serialize() for _ in range(repeat)])
    out["xml_etree_ms"] = round(seconds / repeat * 1000, 4)
    try:
        from lxml import etree
    except ImportError:
        out["lxml_ms"] = None
        return out
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    _, seconds = timed(lambda: [etree.tostring(etree.fromstring(packet, parser)) for _ in range(repeat)])
    out["lxml_ms"] = round(seconds / repeat * 1000, 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=10_000)
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--exiftool-photos", type=int, default=500, help="photos for the ExifTool comparison (0: skip)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="facerec-bench-xmp-") as tmp:
        folder = Path(tmp) / "library"
        folder.mkdir()
        store = GalleryStore(Path(tmp) / "gallery.db")
        _, build_s = timed(lambda: build(folder, store, args.photos, args.people, rng))
        faces = store.stats()["faces"]
        res: dict = {"photos": args.photos, "faces": faces, "people": args.people, "build_s": round(build_s, 1)}

        summary, s = timed(lambda: write_xmp(store, folder))
        assert summary.written == args.photos and not summary.errors, summary
        res["write_new"] = step(s, summary.written)
        sizes = [p.stat().st_size for p in folder.glob("*.xmp")]
        res["sidecar_bytes_mean"] = round(sum(sizes) / len(sizes))

        entries, s = timed(lambda: xmp_status(store, folder))
        assert len(entries) == args.photos and all(e.state == "current" for e in entries)
        res["status"] = step(s, len(entries))

        summary, s = timed(lambda: write_xmp(store, folder))
        assert summary.unchanged == args.photos, summary
        res["write_again"] = step(s, args.photos)

        store.rename_person("Person 000", "Renamed Person")
        summary, s = timed(lambda: after_decisions(store, Settings()))
        res["sync_after_rename"] = step(s, args.photos, rewritten=summary.written)

        summary, s = timed(lambda: write_xmp(store, folder, force=True))
        assert summary.written == args.photos, summary
        res["rewrite_all"] = step(s, summary.written)

        photos = [p.path for p in store.photos(str(folder))]
        regions, s = timed(lambda: sum(len(read_photo_xmp(p).packet.regions()) for p in photos))
        assert regions == faces, (regions, faces)
        res["read_all"] = step(s, len(photos), regions=regions)

        n = min(args.exiftool_photos, args.photos)
        if n and shutil.which("exiftool"):  # side by side, alternating, on the same photos
            res["compare_new_sidecars"] = {
                "facerec_1": facerec_batch(folder, store, n, "facerec-1"),
                "exiftool_1": exiftool_batch(folder, store, n, "exiftool-1"),
                "facerec_2": facerec_batch(folder, store, n, "facerec-2"),
                "exiftool_2": exiftool_batch(folder, store, n, "exiftool-2"),
            }
        res["parse_serialise_one_sidecar"] = parse_serialise(sidecar_path(photos[0]).read_bytes(), 2000)
        store.close()
    res["machine"] = machine_load()
    emit(res, args.out)


if __name__ == "__main__":
    main()
