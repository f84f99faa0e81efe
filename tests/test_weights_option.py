"""``--weights FILE`` is verified and its vectors are kept apart: the pack's published file keeps the pack's
model id; any other file that loads and gives the pack's vectors is stored under ``<model id>+<sha256>`` (never
matched against or mixed with the genuine pack's samples); a file that is not such weights is refused with
the reason. Real ``facerec`` processes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from facerec.files import sha256_file

REPO = Path(__file__).resolve().parent.parent


def facerec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerec.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=300, check=False,
    )


def _models(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT DISTINCT model_id FROM samples")}
    finally:
        conn.close()


@pytest.mark.slow
def test_weights_option_keeps_other_weights_apart(tmp_path, fr_faces, sface_installed):
    db, photo = tmp_path / "g.db", str(fr_faces / "obama" / "obama.jpg")
    genuine = tmp_path / "copy.onnx"
    shutil.copy(sface_installed, genuine)
    r = facerec("--db", str(db), "--weights", str(genuine), "enrol", "Ann", photo)
    assert r.returncode == 0, r.stderr
    assert _models(db) == {"sface-2021dec-centred"}  # the published file: the pack's own id

    altered = tmp_path / "altered.onnx"
    data = bytearray(genuine.read_bytes())
    data[len(data) // 2] ^= 0x01  # one weight changed: still loads, different vectors
    altered.write_bytes(bytes(data))
    r = facerec("--db", str(db), "--weights", str(altered), "enrol", "Bob", photo)
    assert r.returncode == 0, r.stderr
    custom = f"sface-2021dec+{sha256_file(altered)[:12]}"  # other weights: the network's own (uncentred) vectors
    assert _models(db) == {"sface-2021dec-centred", custom}
    r = facerec("--db", str(db), "identify", photo, "--json")  # the genuine model never matches Bob's vectors
    assert r.returncode == 0 and '"person": "Bob"' not in r.stdout, r.stdout

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(os.urandom(4096))
    r = facerec("--db", str(db), "--weights", str(junk), "enrol", "Eve", photo)
    assert r.returncode == 3 and f"{junk}: " in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "Eve" not in facerec("--db", str(db), "people", "list").stdout
