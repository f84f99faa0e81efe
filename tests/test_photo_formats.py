"""Photo formats facerec does not read are reported, never skipped silently: HEIC/HEIF (without pillow-heif)
and camera RAW get a reason in the scan's results; AVIF (Pillow's plugin) and ``.jfif`` (JPEG) are read.
Through a real ``facerec tag``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, features

from facerec.files import iter_image_files

REPO = Path(__file__).resolve().parent.parent


def test_the_walk_reports_heic_and_raw(tmp_path):
    for name in ("a.jpg", "b.HEIC", "c.cr2", "d.NEF", "e.dng", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    reported: dict[str, str] = {}
    found = [p.name for p in iter_image_files(tmp_path, on_error=lambda p, r: reported.__setitem__(Path(p).name, r))]
    assert "a.jpg" in found and "notes.txt" not in found and "notes.txt" not in reported
    assert "camera RAW" in reported["c.cr2"] and "camera RAW" in reported["d.NEF"] and "camera RAW" in reported["e.dng"]
    if "b.HEIC" not in found:  # pillow-heif not installed: reported with the way to read it
        assert "pillow-heif" in reported["b.HEIC"]


@pytest.mark.slow
def test_tag_reads_avif_and_jfif_and_reports_the_rest(tmp_path, fr_faces, sface_installed):
    photos, db, out = tmp_path / "photos", tmp_path / "g.db", tmp_path / "out.json"
    photos.mkdir()
    shutil.copy(fr_faces / "obama" / "obama.jpg", photos / "a.jfif")
    if features.check("avif"):
        Image.open(fr_faces / "biden" / "biden.jpg").save(photos / "b.avif", quality=90)
    (photos / "c.heic").write_bytes(b"\0\0\0\x18ftypheic" + b"\0" * 100)
    (photos / "d.cr2").write_bytes(b"II*\0" + b"\0" * 100)
    r = subprocess.run(
        [sys.executable, "-m", "facerec.cli", "--db", str(db), "-q", "tag", str(photos), "--json", str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 1, r.stderr  # done; the two unreadable photos are reported
    records = {Path(rec["path"]).name: rec for rec in json.loads(out.read_text())}
    assert records["a.jfif"]["error"] is None and records["a.jfif"]["faces"]
    if features.check("avif"):
        assert records["b.avif"]["error"] is None and records["b.avif"]["faces"]
    assert "camera RAW" in records["d.cr2"]["error"] and f"{photos / 'd.cr2'}: " in r.stderr
    assert records["c.heic"]["error"]
