"""``facerec people remove`` while another process holds a read transaction: it does not stall for the 30 s
busy timeout, it says what really happened (deleted, but the old bytes stay in the file while the reader
reads), and the erase is finished the next time the gallery is opened. Real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from facerec.store import GalleryStore

REPO = Path(__file__).resolve().parent.parent
SECRET = np.linspace(0.01234, 0.98765, 128).astype("<f4")  # a recognisable embedding

_READER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
conn.execute("SELECT COUNT(*) FROM samples").fetchone()  # a read transaction on the current snapshot
print("reading", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def _in_files(db: Path) -> bool:
    needle = SECRET.tobytes()[:64]
    return any(p.exists() and needle in p.read_bytes() for p in (db, Path(f"{db}-wal")))


def facerec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerec.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_remove_while_another_process_reads(tmp_path):
    db = tmp_path / "gallery.db"
    with GalleryStore(db) as store:
        store.add_sample("Secret", SECRET, "sface-2021dec-centred")
        store.add_sample("Other", np.ones(128, np.float32), "sface-2021dec-centred")
        store.checkpoint()
    assert _in_files(db)
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        t0 = time.monotonic()
        r = facerec("--db", str(db), "people", "remove", "Secret", "--yes")
        took = time.monotonic() - t0
        assert took < 20, f"people remove stalled {took:.0f} s"
        assert r.returncode == 1, r.stdout + r.stderr
        assert "another program" in r.stdout and "stays in the file" in r.stdout
        assert "erased their samples" not in r.stdout  # it must not claim an erase that did not happen
    finally:
        reader.communicate("done\n", timeout=30)
    r = facerec("--db", str(db), "people", "list")  # the next opening finishes the erase
    assert r.returncode == 0 and "Secret" not in r.stdout
    assert not _in_files(db), "the erased embedding is still in the gallery's files"


def test_remove_without_readers_erases_at_once(tmp_path):
    db = tmp_path / "gallery.db"
    with GalleryStore(db) as store:
        store.add_sample("Secret", SECRET, "sface-2021dec-centred")
    r = facerec("--db", str(db), "people", "remove", "Secret", "--yes")
    assert r.returncode == 0 and "erased their samples" in r.stdout
    assert not _in_files(db)
