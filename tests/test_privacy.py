"""Privacy: nothing leaves the machine, the gallery is private to its owner, and deleting a person
really erases them (checked on the raw bytes of the database files)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np

from facerec.store import GalleryStore, NewFace

REPO = Path(__file__).resolve().parent.parent

# Runs facerec commands in a fresh interpreter whose audit hook sees every socket operation before
# facerec is even imported. Connecting or sending anywhere, binding a non-loopback address and name
# lookups are refused and recorded. (Merely creating a socket is allowed: urllib3, imported by
# facenet-pytorch, probes IPv6 support by binding an AF_INET6 socket to ::1 at import time, which
# sends nothing.) A deliberate connection attempt at the end proves the hook works.
_NO_NETWORK = r"""
import json, socket, sys
events = []
LOOPBACK = ("::1", "127.0.0.1", "localhost")

def hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1]
        if not isinstance(address, (str, bytes)):  # AF_UNIX addresses are paths: local by definition
            events.append(f"{event} {address!r}")
            raise PermissionError("network access attempted")
    elif event == "socket.bind":
        address = args[1]
        if not isinstance(address, (str, bytes)) and address[0] not in LOOPBACK:
            events.append(f"{event} {address!r}")
            raise PermissionError("listening on the network attempted")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        events.append(f"{event} {args[0]!r}")
        raise PermissionError("name lookup attempted")

sys.addaudithook(hook)
sys.path.insert(0, sys.argv[1])
from facerec import cli

codes = {}
for name, argv in json.loads(sys.argv[2]).items():
    codes[name] = cli.main(argv)
result = {"codes": codes, "events": list(events)}
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
except Exception:
    pass
result["control_events"] = events[len(result["events"]):]
print("RESULT " + json.dumps(result))
"""


def test_enrol_identify_and_tag_open_no_network_socket(tmp_path, fr_faces, sface_installed):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama/obama2.jpg", "biden/biden.jpg", "_group/obama_and_biden.jpg"):
        shutil.copy(fr_faces / name, photos / Path(name).name)
    db = str(tmp_path / "gallery.db")
    commands = {
        "enrol": ["enrol", "--db", db, "Obama", str(fr_faces / "obama" / "obama.jpg")],
        "identify": ["identify", "--db", db, "--json", str(photos / "obama2.jpg")],
        "tag": ["tag", "--db", db, "-q", str(photos), "--json", str(tmp_path / "tags.json")],
    }
    proc = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK, str(REPO), json.dumps(commands)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["codes"] == {"enrol": 0, "identify": 0, "tag": 0}, proc.stderr[-3000:]
    assert result["events"] == [], f"network use during enrol/identify/tag: {result['events']}"
    assert result["control_events"], "the audit hook did not see a deliberate connection attempt"
    tags = json.loads((tmp_path / "tags.json").read_text())
    assert any(f["person"] == "Obama" for r in tags for f in r["faces"])  # the commands really worked


# -- permissions --------------------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_gallery_files_are_owner_only_even_with_a_lax_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "new" / "gallery.db"
        store = GalleryStore(path)
        store.add_sample("Ada", np.ones(8, np.float32), "m")
        store._conn().execute("PRAGMA wal_autocheckpoint=0")
        store.add_sample("Ada", np.zeros(8, np.float32), "m")
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and shm.exists()
        for f in (path, wal, shm):
            assert _mode(f) == 0o600, f"{f.name} is {oct(_mode(f))}"
        store.close()
    finally:
        os.umask(old)


def test_a_new_gallery_folder_is_owner_only(tmp_path):
    path = tmp_path / "data" / "facerec" / "gallery.db"
    GalleryStore(path).close()
    assert _mode(path.parent) == 0o700


def test_existing_gallery_is_made_owner_only(tmp_path):
    path = tmp_path / "gallery.db"
    GalleryStore(path).close()
    os.chmod(path, 0o644)
    GalleryStore(path).close()
    assert _mode(path) == 0o600


# -- erasure ------------------------------------------------------------------------------------------
def _raw_files(db: Path) -> dict[str, bytes]:
    out = {}
    for suffix in ("", "-wal", "-journal"):
        f = Path(f"{db}{suffix}")
        if f.exists():
            out[f.name] = f.read_bytes()
    return out


def _found(files: dict[str, bytes], needle: bytes) -> list[str]:
    return [name for name, data in files.items() if needle in data]


def test_deleting_a_person_erases_their_data_from_the_file(tmp_path):
    db = tmp_path / "gallery.db"
    rng = np.random.default_rng(7)
    secret_name, other_name = "Zebulon Quixotewright", "Ada Lovelace"
    secret_emb = [rng.normal(size=128).astype(np.float32) for _ in range(3)]
    secret_thumbs = [bytes(rng.integers(0, 256, 3000, dtype=np.uint8)) for _ in range(3)]  # overflow pages
    other_emb = rng.normal(size=128).astype(np.float32)
    store = GalleryStore(db)
    for e, t in zip(secret_emb, secret_thumbs):
        store.add_sample(secret_name, e, "m", source_path="/photos/zq.jpg", thumbnail=t)
    store.add_sample(other_name, other_emb, "m", thumbnail=b"other-thumbnail" * 20)
    secret = store.get_person(secret_name)
    faces = [NewFace([0, 0, 10, 10], None, 0.9, rng.normal(size=128).astype(np.float32), secret.id, 0.2) for _ in range(2)]
    store.save_photo("/lib/1.jpg", 1, 1, None, 100, 100, "m", faces)
    fid = store.photo_faces("/lib/1.jpg")[0].id
    store.set_face(fid, "confirmed", secret_name)

    before = _raw_files(db)
    needles = {"name": secret_name.encode(), **{f"embedding {i}": e.tobytes() for i, e in enumerate(secret_emb)}}
    needles.update({f"thumbnail {i}": t[1000:1064] for i, t in enumerate(secret_thumbs)})
    for what, needle in needles.items():  # the scan can see them before deletion
        assert _found(before, needle), f"{what} not visible before deletion: the scan is broken"

    store.delete_person(secret_name)
    for label, files in (("while open", _raw_files(db)), ("after close", (store.close(), _raw_files(db))[1])):
        for what, needle in needles.items():
            assert not _found(files, needle), f"{what} of a deleted person is still in {_found(files, needle)} ({label})"
        assert _found(files, other_name.encode()) and _found(files, other_emb.tobytes()), "the other person must survive"

    with GalleryStore(db) as store:
        assert store.find_person(secret_name) is None
        assert store.stats()["samples"] == 1
        faces = store.photo_faces("/lib/1.jpg")
        assert len(faces) == 2 and all(f.person_id is None and f.person is None and f.status == "unknown" for f in faces)
        assert store.integrity_check() == "ok"
