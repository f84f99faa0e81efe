"""What a scan writes per photo (facerec.tagging): one transaction for a photo whose XMP names no faces (its XMP
noted as read together with the photo), the XMP read by the worker threads, and named regions still imported."""

from __future__ import annotations

import shutil
import threading

import pytest

from facerec.library import xmp_sync
from facerec.library.xmp import Region, XmpPacket
from facerec.library.xmp_files import sidecar_path, xmp_signature
from facerec.tagging import tag_folder

pytestmark = pytest.mark.data


def _sidecar(photo, names: dict[str, tuple[float, float, float, float]], size) -> None:
    """A sidecar another app wrote: ``names`` -> (x, y, w, h) normalised regions (none: an XMP without faces)."""
    packet = XmpPacket.empty()
    if names:
        packet.merge_faces([Region(n, box) for n, box in names.items()], size)
    sidecar_path(photo).write_bytes(packet.serialize())


def _commits_per_photo(store, results) -> list[tuple[str, int]]:
    """(photo name, transactions committed on the store's connection while the scan worked on it)."""
    commits = [0]
    store._conn().set_trace_callback(lambda sql: commits.__setitem__(0, commits[0] + (sql.strip().upper() == "COMMIT")))
    out = []
    try:
        for result in results:
            out.append((result.path.rsplit("/", 1)[-1], commits[0]))
            commits[0] = 0
    finally:
        store._conn().set_trace_callback(None)
    return out


def test_a_photo_whose_xmp_names_no_faces_is_saved_in_one_transaction(tmp_path, store, analyzer, fr_faces, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    named = lib / "a_named.jpg"
    shutil.copy(fr_faces / "obama" / "obama.jpg", named)
    shutil.copy(fr_faces / "biden" / "biden.jpg", lib / "b_plain.jpg")
    shutil.copy(fr_faces / "kit_harington" / "john1.jpeg", lib / "c_sidecar.jpg")
    image = analyzer.load(named)
    (face,) = analyzer.analyze(image)
    w, h = image.full_size
    x1, y1, x2, y2 = (float(v) for v in face.box)
    _sidecar(named, {"Ann": (x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h)}, (w, h))
    _sidecar(lib / "c_sidecar.jpg", {}, (1, 1))

    readers: list[str] = []
    real = xmp_sync.read_photo_xmp

    def reading(path, style):
        readers.append(threading.current_thread().name)
        return real(path, style)

    monkeypatch.setattr(xmp_sync, "read_photo_xmp", reading)
    counts = _commits_per_photo(store, tag_folder(lib, store, analyzer, read_xmp=True, workers=2))
    assert [name for name, _ in counts] == ["a_named.jpg", "b_plain.jpg", "c_sidecar.jpg"]
    assert counts[1][1] == 1 and counts[2][1] == 1  # photo, faces and 'XMP read' together
    assert len(readers) == 3 and all(r.startswith("facerec-tag") for r in readers)  # read off the writing thread
    for photo in sorted(lib.glob("*.jp*g")):
        record = store.get_photo(str(photo))
        assert store.xmp_read_signature(record.id) == xmp_signature(str(photo))
    (ann,) = store.photo_faces(str(named))
    assert ann.person == "Ann" and ann.status == "confirmed"  # named regions: imported as before

    # nothing changed: nothing written, no XMP read again
    readers.clear()
    again = _commits_per_photo(store, tag_folder(lib, store, analyzer, read_xmp=True, workers=2))
    assert [n for _, n in again] == [0, 0, 0] and readers == []

    # a photo that changes is analysed again; its new XMP signature is recorded in the same single transaction
    with open(lib / "b_plain.jpg", "ab") as fh:
        fh.write(b"\0")
    again = dict(_commits_per_photo(store, tag_folder(lib, store, analyzer, read_xmp=True, workers=2)))
    assert again["b_plain.jpg"] == 1
    record = store.get_photo(str(lib / "b_plain.jpg"))
    assert store.xmp_read_signature(record.id) == xmp_signature(str(lib / "b_plain.jpg"))


def test_without_reading_xmp_nothing_is_read(tmp_path, store, analyzer, fr_faces, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(fr_faces / "biden" / "biden.jpg", lib / "plain.jpg")
    monkeypatch.setattr(xmp_sync, "read_photo_xmp", lambda *a: pytest.fail("XMP read with read_xmp=False"))
    (result,) = tag_folder(lib, store, analyzer, read_xmp=False)
    assert result.error is None and store.xmp_read_signature(store.get_photo(str(lib / "plain.jpg")).id) is None
