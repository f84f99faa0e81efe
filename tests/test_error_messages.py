"""Faults give a message naming the gallery or file and the reason, never a traceback (real ``facerec``
processes): the disk filling up during ``tag`` and ``enrol`` (no ``.part`` file left), a damaged gallery file,
a name that is not UTF-8, two scans writing one ``--json`` file, escape sequences in names and file names."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facerec.store import GalleryStore

REPO = Path(__file__).resolve().parent.parent


def facerec(*args, limit: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    def cap() -> None:  # a "disk" that is full beyond ``limit`` bytes per file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "facerec.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, timeout=timeout, check=False, preexec_fn=cap if limit else None,
    )


def _text(r: subprocess.CompletedProcess) -> str:
    return (r.stdout + r.stderr).decode("utf-8", "replace")


@pytest.fixture
def photos(tmp_path, fr_faces):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, p in enumerate(sorted(fr_faces.rglob("*.jpg"))[:12]):
        shutil.copy(p, folder / f"{i:02d}.jpg")
    return folder


@pytest.mark.slow
def test_disk_full_during_tag(tmp_path, photos, sface_installed):
    db = tmp_path / "gallery.db"
    GalleryStore(db).close()
    r = facerec("--db", str(db), "-q", "tag", str(photos), "--json", str(tmp_path / "out.json"), limit=60_000)  # the WAL fills up after a few photos
    text = _text(r)
    assert r.returncode == 3, text
    assert "Traceback" not in text and f"{db}:" in text and ("disk is full" in text or "cannot write" in text), text
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    with GalleryStore(db) as store:  # what was finished is kept, and the gallery is sound
        assert store.integrity_check() == "ok"


@pytest.mark.slow
def test_disk_full_during_enrol(tmp_path, fr_faces, sface_installed):
    db = tmp_path / "gallery.db"
    GalleryStore(db).close()
    r = facerec("--db", str(db), "enrol", "Ann", str(fr_faces / "obama" / "obama.jpg"), limit=6_000)
    text = _text(r)
    assert r.returncode == 3 and "Traceback" not in text and f"{db}:" in text, text


def _damage(db: Path) -> None:
    """Overwrite every page after the first (the header and schema stay readable): the tables are garbage."""
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[page:] = os.urandom(len(data) - page)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["tag", "enrol", "backup", "people-list"])
def test_a_damaged_gallery_gives_a_message(tmp_path, fr_faces, command, sface_installed):
    db = tmp_path / "gallery.db"
    with GalleryStore(db) as store:
        rng = np.random.default_rng(0)
        for i in range(60):
            store.add_sample(f"P{i}", rng.normal(size=128).astype(np.float32), "sface-2021dec-centred", thumbnail=rng.bytes(1500))
        store.checkpoint()
    _damage(db)
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(fr_faces / "obama" / "obama.jpg", photos / "a.jpg")
    argv = {
        "tag": ["tag", str(photos)],
        "enrol": ["enrol", "Ann", str(photos / "a.jpg")],
        "backup": ["backup", str(tmp_path / "b.zip")],
        "people-list": ["people", "list"],
    }[command]
    r = facerec("--db", str(db), "-q", *argv)
    text = _text(r)
    assert r.returncode in (1, 3) and "Traceback" not in text, text
    assert str(db) in text and ("damaged" in text or "integrity" in text or "malformed" in text), text


def test_a_name_that_is_not_utf8_is_refused(tmp_path, fr_faces, sface_installed):
    db = tmp_path / "gallery.db"
    r = facerec(b"--db", str(db).encode(), b"enrol", b"Ann\xff", str(fr_faces / "obama" / "obama.jpg").encode())
    text = _text(r)
    assert r.returncode in (1, 3) and "Traceback" not in text and "not valid UTF-8" in text, text


@pytest.mark.slow
def test_names_and_file_names_with_escape_sequences_are_printed_safely(tmp_path, fr_faces, sface_installed):
    db = tmp_path / "gallery.db"
    photo = tmp_path / "evil\x1b]0;owned\x07.jpg"
    shutil.copy(fr_faces / "obama" / "obama.jpg", photo)
    r = facerec("--db", str(db), "enrol", "Ann", str(photo))
    assert r.returncode == 0, _text(r)
    assert b"\x1b" not in r.stdout + r.stderr and b"\\x1b]0;owned\\x07" in r.stdout
    r = facerec("--db", str(db), "enrol", "\x1b[2JEve", str(photo))
    assert r.returncode in (1, 3) and b"\x1b" not in r.stdout + r.stderr and b"control characters" in r.stderr


def test_names_that_differ_only_by_normalisation_are_one_person(tmp_path):
    with GalleryStore(tmp_path / "g.db") as store:
        a = store.add_person("Jose\u0301")  # e + combining acute
        b = store.add_person("Jos\u00e9")  # precomposed
        c = store.add_person("Jos\u00e9\u200b")  # with a zero-width space
        assert a.id == b.id == c.id and [p.name for p in store.list_people()] == ["Jos\u00e9"]
        assert store.find_person("Jose\u0301").id == a.id and store.find_person("JOS\u00e9").id == a.id


@pytest.mark.slow
def test_two_scans_writing_one_json_file(tmp_path, photos, sface_installed):
    db, out = tmp_path / "gallery.db", tmp_path / "out.json"
    GalleryStore(db).close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-m", "facerec.cli", "--db", str(db), "-q", "tag", str(photos), "--json", str(out)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_o, e) in zip(procs, results):
        assert p.returncode == 0 and b"Traceback" not in e, e.decode()[-2000:]
    assert len(json.loads(out.read_text())) == 12  # one complete file (the last scan to finish)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
