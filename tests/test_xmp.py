"""XMP packets and files (facerec.library.xmp, xmp_files): reading every RDF form other apps write,
merging facerec's regions in without losing anything, atomic writes, ExifTool's view of our sidecars."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from facerec.library import xmp_files
from facerec.library.xmp import Region, XmpError, XmpPacket
from facerec.library.xmp_files import (
    SidecarStyle,
    find_sidecar,
    read_photo_xmp,
    sidecar_path,
    write_atomic,
)

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed (CI installs libimage-exiftool-perl)")

# digiKam / exiv2 write structs in attribute shorthand inside nested rdf:Description elements.
EXIV2_STYLE = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:MP="http://ns.microsoft.com/photo/1.2/"
    xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
    xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#"
    xmlns:acdsee="http://ns.acdsee.com/iptc/1.0/"
   xmp:Rating="4" acdsee:caption="beach">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Holiday &amp; friends</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>beach</rdf:li><rdf:li>Ann Lee</rdf:li></rdf:Bag></dc:subject>
   <digiKam:TagsList><rdf:Seq><rdf:li>Places/Beach</rdf:li><rdf:li>People/Ann Lee</rdf:li></rdf:Seq></digiKam:TagsList>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="400" stDim:h="300" stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Ann Lee" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.25" stArea:y="0.3" stArea:w="0.1" stArea:h="0.2" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description mwg-rs:Name="ffffffffffffffff" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.8" stArea:y="0.5" stArea:w="0.1" stArea:h="0.1" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Whole" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="1" stArea:h="1" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Rex" mwg-rs:Type="Pet">
        <mwg-rs:Area stArea:x="0.6" stArea:y="0.6" stArea:w="0.1" stArea:h="0.1" stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
   <MP:RegionInfo rdf:parseType="Resource">
    <MPRI:Regions><rdf:Bag>
     <rdf:li MPReg:PersonDisplayName="Ann Lee" MPReg:Rectangle="0.2, 0.2, 0.1, 0.2"/>
     <rdf:li MPReg:PersonDisplayName="Bo Chen" MPReg:Rectangle="0.05, 0.6, 0.1, 0.15"/>
    </rdf:Bag></MPRI:Regions>
   </MP:RegionInfo>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_reads_every_rdf_form_and_skips_picasa_whole_image_and_pets():
    p = XmpPacket.parse(EXIV2_STYLE, "a.xmp")
    regions = p.regions()
    assert [(r.name, r.source) for r in regions] == [("Ann Lee", "mwg"), (None, "mwg"), ("Bo Chen", "mp")]
    ann = regions[0]
    assert ann.box == pytest.approx((0.2, 0.2, 0.1, 0.2))  # centre-based (0.25, 0.3) -> top-left (0.2, 0.2)
    assert regions[2].box == pytest.approx((0.05, 0.6, 0.1, 0.15))  # Microsoft: top-left based already
    assert p.people() == ["Ann Lee", "Bo Chen"]
    assert p.keywords("digikam") == ["Places/Beach", "People/Ann Lee"]


def test_mwg_in_pixels_is_normalised_by_applied_dimensions():
    data = EXIV2_STYLE.replace(b'stArea:x="0.25" stArea:y="0.3" stArea:w="0.1" stArea:h="0.2" stArea:unit="normalized"',
                               b'stArea:x="100" stArea:y="90" stArea:w="40" stArea:h="60" stArea:unit="pixel"')
    ann = XmpPacket.parse(data).regions()[0]
    assert ann.box == pytest.approx((0.2, 0.2, 0.1, 0.2))


def test_merge_keeps_every_other_field_and_other_apps_regions(tmp_path):
    p = XmpPacket.parse(EXIV2_STYLE, "a.xmp")
    # Ann Lee's face is already named by digiKam (kept as it is); a new face named Cy; Bo Chen's MP region
    # overlaps nothing facerec knows (kept).
    res = p.merge_faces([Region("Ann Lee", (0.205, 0.2, 0.1, 0.2)), Region("Cy", (0.5, 0.1, 0.1, 0.1))], (400, 300))
    assert sorted((r.name, r.source) for r in res.written) == [("Cy", "mp"), ("Cy", "mwg")]
    back = XmpPacket.parse(p.serialize(), "merged")
    names = sorted((r.name or "", r.source) for r in back.mwg_regions())
    assert names == [("", "mwg"), ("Ann Lee", "mwg"), ("Cy", "mwg"), ("Whole", "mwg")]  # (the pet is not a face)
    assert sorted(r.name for r in back.mp_regions()) == ["Ann Lee", "Bo Chen", "Cy"]
    text = p.serialize().decode()
    for kept in ('xmp:Rating="4"', 'acdsee:caption="beach"', "Holiday &amp; friends", 'xml:lang="x-default"', "Places/Beach",
                 "ffffffffffffffff", 'mwg-rs:Type="Pet"', "Whole"):
        assert kept in text, kept
    assert back.keywords("subject") == ["beach", "Ann Lee", "Cy"]
    assert back.keywords("digikam") == ["Places/Beach", "People/Ann Lee", "People/Cy"]
    assert back.keywords("person") == ["Ann Lee", "Cy"]
    assert ["subject", "Ann Lee"] not in res.added  # it was there before: not facerec's

    # Cy is rejected in facerec: a rewrite takes out exactly what facerec added, nothing else.
    again = XmpPacket.parse(p.serialize(), "merged")
    res2 = again.merge_faces([Region("Ann Lee", (0.205, 0.2, 0.1, 0.2))], (400, 300), res.written, res.added)
    final = XmpPacket.parse(again.serialize(), "final")
    assert sorted(r.name or "" for r in final.mwg_regions()) == ["", "Ann Lee", "Whole"]
    assert sorted(r.name for r in final.mp_regions()) == ["Ann Lee", "Bo Chen"]
    assert final.keywords("subject") == ["beach", "Ann Lee"]
    assert final.keywords("digikam") == ["Places/Beach", "People/Ann Lee"]
    assert res2.written == []
    assert res2.added == [["person", "Ann Lee"], ["lightroom", "People|Ann Lee"]]  # lists facerec created stay its own


def test_facerec_renames_a_face_another_app_named_differently():
    p = XmpPacket.parse(EXIV2_STYLE)
    res = p.merge_faces([Region("Anne Lee-Smith", (0.2, 0.2, 0.1, 0.2))], (400, 300))
    assert res.replaced == 2  # the MWG and the MP region of that face
    back = XmpPacket.parse(p.serialize())
    assert [r.name for r in back.regions() if r.name] == ["Anne Lee-Smith", "Bo Chen"]


def test_round_trip_new_packet_boxes_and_names():
    faces = [Region("Zoë Ærø", (0.1, 0.2, 0.15, 0.25)), Region("A & B <c>", (0.6, 0.05, 0.2, 0.3))]
    p = XmpPacket.empty()
    p.merge_faces(faces, (1000, 800))
    back = XmpPacket.parse(p.serialize())
    assert [r.name for r in back.mwg_regions()] == [f.name for f in faces]
    assert [r.name for r in back.mp_regions()] == [f.name for f in faces]
    for got, want in zip(back.mwg_regions(), faces):
        assert np.allclose(got.box, want.box, atol=1e-5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x:xmpmeta xmlns:x='adobe:ns:meta/'/>", "document type"),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF", "not well-formed"),
        (b"<html><body>hello</body></html>", "no rdf:RDF"),
    ],
)
def test_bad_packets_are_refused_with_the_file_and_reason(data, reason):
    with pytest.raises(XmpError, match=reason) as err:
        XmpPacket.parse(data, "/photos/a.jpg.xmp")
    assert "/photos/a.jpg.xmp" in str(err.value)


def test_sidecar_names_and_lookup(tmp_path):
    photo = tmp_path / "IMG_1.JPG"
    photo.write_bytes(b"x")
    assert sidecar_path(photo, "digikam").name == "IMG_1.JPG.xmp"
    assert sidecar_path(photo, SidecarStyle.LIGHTROOM).name == "IMG_1.xmp"
    assert find_sidecar(photo) is None
    (tmp_path / "IMG_1.xmp").write_bytes(b"")
    assert find_sidecar(photo).name == "IMG_1.xmp"
    (tmp_path / "IMG_1.JPG.xmp").write_bytes(b"")
    assert find_sidecar(photo).name == "IMG_1.JPG.xmp"
    assert find_sidecar(photo, prefer="lightroom").name == "IMG_1.xmp"


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    target = folder / "a.jpg.xmp"
    target.write_bytes(b"old")
    target.chmod(0o640)

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xmp_files.os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg.xmp"]  # no temporary file left
    monkeypatch.undo()
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == 0o640


def test_embedded_xmp_is_read_when_there_is_no_sidecar(tmp_path):
    photo = tmp_path / "a.jpg"
    Image.new("RGB", (40, 30)).save(photo, xmp=EXIV2_STYLE)
    found = read_photo_xmp(photo)
    assert found.source == "embedded" and next(r.name for r in found.packet.regions()) == "Ann Lee"
    p = XmpPacket.empty()
    p.merge_faces([Region("Sidecar Sam", (0.1, 0.1, 0.2, 0.2))], (40, 30))
    sidecar_path(photo).write_bytes(p.serialize())
    found = read_photo_xmp(photo)
    assert found.source == str(sidecar_path(photo)) and [r.name for r in found.packet.regions()] == ["Sidecar Sam"]


@needs_exiftool
def test_exiftool_reads_facerecs_sidecar_in_both_schemas(tmp_path):
    faces = [Region("Ann Lee", (0.1, 0.2, 0.15, 0.25)), Region("Bo Chen", (0.6, 0.05, 0.2, 0.3))]
    p = XmpPacket.parse(EXIV2_STYLE)
    p.merge_faces(faces, (400, 300))
    path = tmp_path / "a.jpg.xmp"
    path.write_bytes(p.serialize())
    info = json.loads(subprocess.run(["exiftool", "-struct", "-j", str(path)], capture_output=True, check=True).stdout)[0]
    mwg = {r.get("Name"): r["Area"] for r in info["RegionInfo"]["RegionList"] if r.get("Type") == "Face"}
    assert info["RegionInfo"]["AppliedToDimensions"] == {"W": 400, "H": 300, "Unit": "pixel"}
    for f in faces:
        a = mwg[f.name]
        assert (a["X"] - a["W"] / 2, a["Y"] - a["H"] / 2, a["W"], a["H"]) == pytest.approx(f.box, abs=1e-5)
        assert a["Unit"] == "normalized"
    mp = {r["PersonDisplayName"]: [float(v) for v in str(r["Rectangle"]).split(",")] for r in info["RegionInfoMP"]["Regions"]}
    for f in faces:
        assert mp[f.name] == pytest.approx(list(f.box), abs=1e-5)
    assert set(info["PersonInImage"]) == {"Ann Lee", "Bo Chen"}
    assert "People/Bo Chen" in info["TagsList"] and "Places/Beach" in info["TagsList"]
    assert info["Rating"] == 4 and info["Title"] == "Holiday & friends"


def test_a_broken_sidecar_is_reported_and_never_overwritten_and_the_rest_goes_on(tmp_path, store):
    from facerec.library.xmp_sync import write_xmp
    from facerec.store import NewFace

    emb = np.ones(8, np.float32)
    for name in ("a.jpg", "b.jpg"):
        photo = tmp_path / name
        Image.new("RGB", (100, 80)).save(photo)
        store.save_photo(str(photo), 1, 1, None, 100, 80, "m", [NewFace([10, 10, 40, 50], None, 0.9, emb, None, None)])
    for face in store.faces():
        store.set_face(face.id, "confirmed", "Ann")
    broken = sidecar_path(tmp_path / "a.jpg")
    broken.write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")
    summary = write_xmp(store, tmp_path)
    assert summary.written == 1 and [p for p, _ in summary.errors] == [str(broken)]
    assert "not well-formed" in summary.errors[0][1]
    assert broken.read_bytes() == b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"  # left as it was
    assert [r.name for r in XmpPacket.parse(sidecar_path(tmp_path / "b.jpg").read_bytes()).regions()] == ["Ann"]


def test_importing_a_broken_sidecar_names_the_file_and_reason_once(tmp_path, store):
    from facerec.library.xmp_sync import import_photo_regions

    photo = tmp_path / "a.jpg"
    Image.new("RGB", (100, 80)).save(photo)
    store.save_photo(str(photo), 1, 1, None, 100, 80, "m", [])
    sidecar_path(photo).write_bytes(b"\x00\x01 not xml at all")
    outcome = import_photo_regions(store, None, str(photo))
    assert outcome.errors and outcome.errors[0][0] == str(sidecar_path(photo)) and "not well-formed" in outcome.errors[0][1]
    assert import_photo_regions(store, None, str(photo)).errors == []  # reported once, until the file changes
