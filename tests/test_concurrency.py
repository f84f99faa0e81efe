"""Concurrency: several processes on one gallery (the GUI and a CLI scan, two scans of one folder, first
opening of a new gallery) never corrupt it, never duplicate faces and never lose a decision."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facerec.errors import StoreError
from facerec.store import SCHEMA_VERSION, GalleryStore

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


# -- first opening ------------------------------------------------------------------------------------
_OPEN_AT_ONCE = r"""
import os, sys, time
sys.path.insert(0, os.environ["PYTHONPATH"])
import numpy as np
from facerec.store import GalleryStore
go = sys.argv[2]
open(go + f".ready-{os.getpid()}", "w").close()  # imported: at the line
while not os.path.exists(go):
    time.sleep(0.001)
store = GalleryStore(sys.argv[1])
store.add_sample(f"Person {os.getpid()}", np.ones(8, np.float32), "m")
print(store.schema_version())
"""


def test_processes_creating_a_new_gallery_at_once(tmp_path):
    """Several processes open a gallery that does not exist yet at the same moment: it is created and
    migrated once (before the fix the losers failed with 'table people already exists')."""
    db, go = tmp_path / "gallery.db", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT_ONCE, str(db), str(go)], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(5)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready-*"))) < len(procs) and time.monotonic() < deadline:  # all at the line
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == str(SCHEMA_VERSION)
    with GalleryStore(db) as store:
        assert store.stats()["people"] == 5 and store.integrity_check() == "ok"


# -- locks and waiting ----------------------------------------------------------------------------------
def test_a_writer_waits_for_another_writers_lock(tmp_path):
    db = tmp_path / "gallery.db"
    GalleryStore(db).close()
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO people(name, created_at, updated_at) VALUES ('Holder', 0, 0)")
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        with GalleryStore(db, busy_timeout_s=20) as store:
            t0 = time.monotonic()
            store.add_sample("Waiter", np.ones(8, np.float32), "m")
            assert time.monotonic() - t0 >= 0.5  # it really waited for the lock, then succeeded
            assert {p.name for p in store.list_people()} == {"Holder", "Waiter"}
    finally:
        release.join()
        holder.close()


def test_a_lock_held_too_long_gives_a_clear_error(tmp_path):
    db = tmp_path / "gallery.db"
    GalleryStore(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with GalleryStore(db, busy_timeout_s=0.3) as store, pytest.raises(StoreError, match="busy"):
            store.add_sample("Waiter", np.ones(8, np.float32), "m")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- a GUI and two scans at once ----------------------------------------------------------------------
# Stands in for the GUI: enrols, renames, merges and deletes people, and confirms faces as the scans
# store them, until told to stop. Reports what it did as JSON.
_GUI = r"""
import json, os, random, sys, time
sys.path.insert(0, os.environ["PYTHONPATH"])
import numpy as np
from facerec.errors import StoreError
from facerec.store import GalleryStore
db, stop = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(1)
store = GalleryStore(db)
store.add_person("Gui Person")
ops, confirmed, i = 0, {}, 0
while not os.path.exists(stop) or i < 10:
    i += 1
    store.add_sample(f"Temp {i}", rng.normal(size=128).astype(np.float32), "sface-2021dec-centred")
    store.rename_person(f"Temp {i}", f"Renamed {i}")
    if i % 3 == 0:
        store.merge_people(f"Renamed {i}", f"Renamed {i - 1}")
    if i % 4 == 0 and store.find_person(f"Renamed {i - 2}"):
        store.delete_person(f"Renamed {i - 2}")
    for f in store.faces(status=("auto", "unknown"), limit=1):
        try:
            store.set_face(f.id, "confirmed", "Gui Person")
        except StoreError:  # a scan replaced the photo's faces meanwhile: the GUI reloads
            continue
        confirmed[f.path] = confirmed.get(f.path, []) + [f.box]
    ops += 1
    time.sleep(0.01)
print(json.dumps({"ops": ops, "confirmed": confirmed, "people": sorted(p.name for p in store.list_people())}))
"""

PHOTOS = ["_group/obama_and_biden.jpg", "obama/obama_small.jpg", "_variants/obama-240p.jpg", "_group/kit_with_rose.jpg", "biden/biden2.jpg"]


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.slow
def test_gui_and_two_scans_of_one_folder_at_once(tmp_path, fr_faces, sface_installed):
    photos, db, stop = tmp_path / "photos", tmp_path / "gallery.db", tmp_path / "stop"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(fr_faces / name, photos / Path(name).name)
    GalleryStore(db).close()
    gui = subprocess.Popen([sys.executable, "-c", _GUI, str(db), str(stop)], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    scans = [
        subprocess.Popen(
            [sys.executable, "-m", "facerec.cli", "tag", "--db", str(db), "-q", str(photos), "--json", str(tmp_path / f"scan{k}.json")],
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO),
        )
        for k in range(2)
    ]
    results = [p.communicate(timeout=400) for p in scans]
    stop.touch()
    gui_out, gui_err = gui.communicate(timeout=120)
    for p, (_, err) in zip(scans, results):
        assert p.returncode == 0, err[-3000:]
    assert gui.returncode == 0, gui_err[-3000:]
    report = json.loads(gui_out.strip().splitlines()[-1])
    assert report["ops"] >= 10

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        paths = [r[0] for r in conn.execute("SELECT path FROM photos")]
        assert sorted(paths) == sorted(str(p) for p in photos.iterdir()), "every photo stored exactly once"
        faces: dict[str, list] = {}
        for path, box, status, person in conn.execute(
            "SELECT ph.path, f.box, f.status, p.name FROM faces f JOIN photos ph ON ph.id = f.photo_id LEFT JOIN people p ON p.id = f.person_id"
        ):
            faces.setdefault(path, []).append((json.loads(box), status, person))
    finally:
        conn.close()
    scan = {r["path"]: r for r in json.loads((tmp_path / "scan0.json").read_text())}
    for path, found in faces.items():
        assert len(found) == len(scan[path]["faces"]), f"{path}: {len(found)} faces stored, the photo has {len(scan[path]['faces'])}"
        for i, a in enumerate(found):
            for b in found[i + 1 :]:
                assert _iou(a[0], b[0]) < 0.5, f"{path}: the same face is stored twice"
    for path, boxes in report["confirmed"].items():  # the GUI's decisions survived the second scan's save
        for box in boxes:
            assert any(_iou(box, f[0]) > 0.75 and f[1] == "confirmed" and f[2] == "Gui Person" for f in faces[path]), f"{path}: decision lost"
    with GalleryStore(db) as store:
        names = {p.name for p in store.list_people()}
    assert names == set(report["people"])
