"""XMP and the gallery on real photos (facerec.library.xmp_sync, ``facerec xmp``, ``facerec import-tags``):
round trips (EXIF-rotated photos included), a digiKam-layout sidecar written by ExifTool imported into an
empty gallery and its people recognised elsewhere, reading on scan, keeping facerec's files in sync, and
writing into the image without touching its pixels."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec.config import Settings
from facerec.library.xmp import Region, XmpPacket
from facerec.library.xmp_files import read_embedded, read_sidecar, sidecar_path
from facerec.library.xmp_sync import XmpState, after_decisions, write_xmp, xmp_status
from facerec.tagging import tag_folder

pytestmark = [pytest.mark.data, pytest.mark.slow]
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed (CI installs libimage-exiftool-perl)")
TOL = 0.005
"""Boxes read back must be within 0.5% of the image size."""


def _scan(store, analyzer, folder, read_xmp=False):
    return list(tag_folder(folder, store, analyzer, read_xmp=read_xmp))


def _confirm_all(store, names=None):
    """Confirm every face, named left to right P0, P1... (or by ``names``)."""
    for path in {f.path for f in store.faces()}:
        for i, f in enumerate(sorted(store.photo_faces(path), key=lambda f: f.box[0])):
            store.set_face(f.id, "confirmed", (names or {}).get((Path(path).name, i), f"P{i}"))


STORED_AS = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}
"""EXIF orientation -> how the upright picture is stored for a viewer applying that orientation to show it upright."""


def _rotated_copy(src: Path, dst: Path, orientation: int = 6) -> None:
    """``dst`` shows the same upright picture as ``src``, stored turned and marked with an EXIF orientation
    (6: displayed by turning the stored pixels 90 degrees clockwise)."""
    up = Image.open(src).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = orientation
    up.transpose(STORED_AS[orientation]).save(dst, quality=95, exif=exif.tobytes())


def _normalised(store, path):
    photo = store.get_photo(str(path))
    return {f.person: Region.from_pixels(f.person, f.box, photo.width, photo.height).box for f in store.photo_faces(str(path))}


@pytest.mark.parametrize("orientation", [6, 3, 8, 5])
def test_round_trip_with_an_exif_rotated_photo(tmp_path, store, analyzer, fr_faces, orientation):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(fr_faces / "_group" / "obama_and_biden.jpg", lib / "up.jpg")
    _rotated_copy(fr_faces / "_group" / "obama_and_biden.jpg", lib / "turned.jpg", orientation)
    assert analyzer.load(lib / "turned.jpg").full_size == (2000, 1428)  # shown upright
    _scan(store, analyzer, lib)
    _confirm_all(store)
    summary = write_xmp(store, lib)
    assert summary.written == 2 and not summary.errors
    boxes = {}
    for name in ("up.jpg", "turned.jpg"):
        packet = read_sidecar(lib / f"{name}.xmp")
        assert packet._mwg_dimensions() == (2000, 1428)  # the upright size, for the turned photo too
        want = _normalised(store, lib / name)
        assert len(want) >= 2
        for schema in (packet.mwg_regions(), packet.mp_regions()):
            got = {r.name: r.box for r in schema}
            assert got.keys() == want.keys()
            for person, box in want.items():
                assert np.allclose(got[person], box, atol=TOL), (name, person)
        boxes[name] = {r.name: r.box for r in packet.mwg_regions()}
    for person, box in boxes["up.jpg"].items():  # regions of the turned photo are on the upright picture
        assert np.allclose(boxes["turned.jpg"][person], box, atol=TOL), person


@needs_exiftool
def test_exiftool_reads_the_sidecars_facerec_writes_from_the_gallery(tmp_path, store, analyzer, fr_faces):
    lib = tmp_path / "lib"
    lib.mkdir()
    _rotated_copy(fr_faces / "_group" / "obama_and_biden.jpg", lib / "turned.jpg")
    _scan(store, analyzer, lib)
    _confirm_all(store)
    write_xmp(store, lib)
    out = subprocess.run(["exiftool", "-struct", "-j", str(lib / "turned.jpg.xmp")], capture_output=True, check=True).stdout
    info = json.loads(out)[0]
    want = _normalised(store, lib / "turned.jpg")
    mwg = {r["Name"]: r["Area"] for r in info["RegionInfo"]["RegionList"]}
    mp = {r["PersonDisplayName"]: [float(v) for v in r["Rectangle"].split(",")] for r in info["RegionInfoMP"]["Regions"]}
    assert mwg.keys() == mp.keys() == want.keys()
    for person, (x, y, w, h) in want.items():
        a = mwg[person]
        assert (a["X"], a["Y"], a["W"], a["H"]) == pytest.approx((x + w / 2, y + h / 2, w, h), abs=TOL)
        assert mp[person] == pytest.approx([x, y, w, h], abs=TOL)
    assert sorted(info["PersonInImage"]) == sorted(want)
    assert sorted(info["TagsList"]) == sorted(f"People/{p}" for p in want)


def _digikam_sidecar(photo: Path, regions: dict[str, list[float]], size: tuple[int, int]) -> Path:
    """A sidecar in digiKam's layout (MWG + Microsoft regions, digiKam TagsList, PersonInImage), written by
    ExifTool, not by facerec. ``regions``: name -> [x1, y1, x2, y2] pixels."""
    w, h = size
    mwg, mp = [], []
    for name, (x1, y1, x2, y2) in regions.items():
        # digiKam's boxes are looser than a detector's: 15% larger around the face
        cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) * 1.15 / w, (y2 - y1) * 1.15 / h
        mwg.append(f"{{Area={{X={cx:.5f},Y={cy:.5f},W={bw:.5f},H={bh:.5f},Unit=normalized}},Name={name},Type=Face}}")
        mp.append(f"{{PersonDisplayName={name},Rectangle={cx - bw / 2:.5f}|, {cy - bh / 2:.5f}|, {bw:.5f}|, {bh:.5f}}}")
    out = sidecar_path(photo, "digikam")
    args = ["exiftool", "-q", "-o", str(out),
            f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={w},H={h},Unit=pixel}},RegionList=[{','.join(mwg)}]}}",
            f"-XMP-MP:RegionInfoMP={{Regions=[{','.join(mp)}]}}"]
    for name in regions:
        args += [f"-XMP-digiKam:TagsList+=People/{name}", f"-XMP-iptcExt:PersonInImage+={name}"]
    subprocess.run([*args, str(photo)], check=True, capture_output=True)
    return out


@needs_exiftool
def test_digikam_sidecars_bootstrap_an_empty_gallery_that_then_recognises_people(tmp_path, analyzer, fr_faces, capsys):
    from facerec.cli import main

    tagged = {  # photo -> the person digiKam named in it
        fr_faces / "obama" / "obama.jpg": "Barack Obama",
        fr_faces / "kit_harington" / "john1.jpeg": "Kit Harington",
        fr_faces / "alex_lacamoire" / "alex_lacamoire1.jpg": "Alex Lacamoire",
    }
    others = {
        fr_faces / "obama" / "obama1.jpg": "Barack Obama",
        fr_faces / "kit_harington" / "johnsnow_test1.jpg": "Kit Harington",
        fr_faces / "alex_lacamoire" / "img1.jpg": "Alex Lacamoire",
    }
    lib = tmp_path / "digikam-library"
    lib.mkdir()
    for src, name in tagged.items():
        dst = lib / src.name
        shutil.copy(src, dst)
        image = analyzer.load(dst)
        (face,) = [f for f in analyzer.analyze(image) if f.area == max(g.area for g in analyzer.analyze(image))]
        _digikam_sidecar(dst, {name: [float(v) for v in face.box]}, image.full_size)
    db = tmp_path / "empty.db"
    assert main(["import-tags", str(lib), "--db", str(db), "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["photos"] == 3 and summary["confirmed"] == 3 and summary["errors"] == []
    assert sorted(p["name"] for p in summary["new_people"]) == sorted(tagged.values())
    assert all(p["samples"] == 1 for p in summary["new_people"])

    from facerec.store import GalleryStore

    with GalleryStore(db) as store:
        gallery = store.gallery_index(analyzer.model_id)
        for photo, name in others.items():
            faces = analyzer.analyze(photo, gallery=gallery)
            biggest = max(faces, key=lambda f: f.area)
            assert biggest.match.known and biggest.match.name == name, photo


@needs_exiftool
def test_a_scan_reads_sidecars_but_never_overrides_a_decision_made_in_facerec(tmp_path, store, analyzer, fr_faces):
    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "pair.jpg"
    shutil.copy(fr_faces / "_group" / "obama_and_biden.jpg", photo)
    image = analyzer.load(photo)
    faces = sorted(analyzer.analyze(image), key=lambda f: -f.area)[:2]
    _digikam_sidecar(photo, {"Ann": [float(v) for v in faces[0].box], "Bob": [float(v) for v in faces[1].box]}, image.full_size)
    _scan(store, analyzer, lib, read_xmp=True)
    named = {f.person: f for f in store.photo_faces(str(photo)) if f.status == "confirmed"}
    assert sorted(named) == ["Ann", "Bob"]
    store.set_face(named["Bob"].id, "rejected")
    _scan(store, analyzer, lib, read_xmp=True)  # unchanged photo and sidecar: nothing imported again
    assert {f.id: f.status for f in store.photo_faces(str(photo))}[named["Bob"].id] == "rejected"
    sidecar_path(photo).touch()  # the sidecar changes: imported again, but Bob's face stays as decided
    list(tag_folder(lib, store, analyzer, read_xmp=True))
    assert {f.id: f.status for f in store.photo_faces(str(photo))}[named["Bob"].id] == "rejected"


def test_sidecars_follow_decisions_and_only_facerecs_part_changes(tmp_path, store, analyzer, fr_faces):
    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "pair.jpg"
    shutil.copy(fr_faces / "_group" / "obama_and_biden.jpg", photo)
    solo = lib / "solo.jpg"
    shutil.copy(fr_faces / "obama" / "obama2.jpg", solo)
    other_app = XmpPacket.empty()
    other_app.merge_faces([Region("Stranger", (0.01, 0.01, 0.05, 0.05))], (2000, 1428))
    text = other_app.serialize().replace(b'<rdf:Description rdf:about="">', b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5">')
    sidecar_path(photo).write_bytes(text)
    _scan(store, analyzer, lib)
    _confirm_all(store, {("pair.jpg", 0): "Ann", ("pair.jpg", 1): "Bob", ("solo.jpg", 0): "Ann"})
    assert write_xmp(store, lib).written == 2
    assert {s.state for s in xmp_status(store, lib)} == {XmpState.CURRENT}

    store.rename_person("Ann", "Ann Lee")
    assert {s.path: s.state for s in xmp_status(store, lib)} == {str(photo): XmpState.STALE, str(solo): XmpState.STALE}
    assert after_decisions(store, Settings(xmp_sync=False)) is None
    assert after_decisions(store, Settings()).written == 2
    names = sorted(r.name for r in read_sidecar(sidecar_path(photo)).mwg_regions())
    assert names == ["Ann Lee", "Bob", "P2", "Stranger"]  # P2: the third face, named by _confirm_all

    for f in store.photo_faces(str(photo)) + store.photo_faces(str(solo)):
        if f.person == "Ann Lee":
            store.set_face(f.id, "rejected")
    after_decisions(store, Settings())
    packet = read_sidecar(sidecar_path(photo))
    assert sorted(r.name for r in packet.mwg_regions()) == ["Bob", "P2", "Stranger"]
    assert "Ann Lee" not in packet.keywords("person") and 'xmp:Rating="5"' in packet.serialize().decode()
    assert not sidecar_path(solo).exists()  # facerec created it and nothing of facerec's is left: removed


@needs_exiftool
def test_writing_into_the_image_keeps_pixels_and_metadata(tmp_path, store, analyzer, fr_faces):
    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "turned.jpg"
    _rotated_copy(fr_faces / "_group" / "obama_and_biden.jpg", photo)
    pixels = np.asarray(Image.open(photo))
    _scan(store, analyzer, lib)
    _confirm_all(store)
    summary = write_xmp(store, lib, embedded=True)
    assert summary.written == 1 and not summary.errors and not sidecar_path(photo).exists()
    after = Image.open(photo)
    assert np.array_equal(np.asarray(after), pixels) and after.getexif().get(0x0112) == 6
    want = _normalised(store, photo)
    got = {r.name: r.box for r in read_embedded(photo).mwg_regions()}
    assert got.keys() == want.keys() and all(np.allclose(got[k], want[k], atol=TOL) for k in want)
    assert [r.skipped for r in _scan(store, analyzer, lib)] == [True]  # the new file is not analysed again
    assert {s.state for s in xmp_status(store, lib)} == {XmpState.CURRENT}


@needs_exiftool
def test_a_named_region_without_a_detected_face_becomes_a_face_of_its_own(tmp_path, store, analyzer, fr_faces):
    from facerec.library.xmp_sync import import_photo_regions

    lib = tmp_path / "lib"
    lib.mkdir()
    src = analyzer.load(fr_faces / "obama" / "obama2.jpg")
    face = max(analyzer.analyze(src), key=lambda f: f.area)
    x1, y1, x2, y2 = (int(v / src.scale) for v in face.box)
    upside_down = Image.fromarray(src.rgb[y1:y2, x1:x2]).resize((112, 128)).rotate(180)  # MTCNN misses these
    canvas = Image.new("RGB", (800, 600), (128, 128, 128))
    canvas.paste(upside_down, (300, 200))
    photo = lib / "crowd.jpg"
    canvas.save(photo, quality=95)
    _scan(store, analyzer, lib)
    assert store.photo_faces(str(photo)) == []
    _digikam_sidecar(photo, {"Barack Obama": [300, 200, 412, 328]}, (800, 600))
    outcome = import_photo_regions(store, analyzer, str(photo))
    assert (outcome.regions, outcome.added, outcome.confirmed, outcome.errors) == (1, 1, 0, [])
    (made,) = store.photo_faces(str(photo))
    assert made.person == "Barack Obama" and made.status == "confirmed"
    assert import_photo_regions(store, analyzer, str(photo)).regions == 0  # unchanged XMP: not imported twice


def test_cli_xmp_status_and_write_with_suggestions(tmp_path, analyzer, fr_faces, capsys):
    from facerec.cli import main
    from facerec.enrolment import enrol_image
    from facerec.store import GalleryStore

    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "obama.jpg"
    shutil.copy(fr_faces / "obama" / "obama2.jpg", photo)
    db = tmp_path / "g.db"
    with GalleryStore(db) as store:
        enrol_image(store, analyzer, "Obama", fr_faces / "obama" / "obama.jpg")
        _scan(store, analyzer, lib)
        assert [f.status for f in store.photo_faces(str(photo))] == ["auto"]  # a suggestion, not confirmed

    def run(*argv) -> dict:
        capsys.readouterr()
        assert main([*argv, "--db", str(db), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    assert run("xmp", "status", str(lib))["counts"]["unwritten"] == 0  # nothing confirmed: nothing to write
    assert run("xmp", "status", str(lib), "--include-suggestions")["counts"]["unwritten"] == 1
    assert run("xmp", "write", str(lib))["written"] == 0
    assert run("xmp", "write", str(lib), "--include-suggestions", "--style", "lightroom")["written"] == 1
    assert [r.name for r in read_sidecar(lib / "obama.xmp").regions()] == ["Obama"]
    status = run("xmp", "status", str(lib))
    assert status["counts"]["current"] == 1 and status["photos"][0]["xmp"] == str(lib / "obama.xmp")
