"""``facerec groups``, ``facerec map``, ``facerec search`` on real photos, through the CLI entry point."""

import json
import shutil

import pytest
from PIL import Image

from facerec.cli import main

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def library(tmp_path_factory, shared_data, fr_faces, sface_installed):
    """A gallery with Obama enrolled and a folder of 3 ORL subjects (10 photos each) plus Obama's photos scanned."""
    tmp = tmp_path_factory.mktemp("likeness")
    folder = tmp / "photos"
    for s in ("s1", "s2", "s3"):
        shutil.copytree(shared_data / "faces" / "att_orl" / s, folder / s)
    shutil.copytree(fr_faces / "obama", folder / "obama")
    db = str(tmp / "g.db")
    assert main(["--db", db, "-q", "enrol", "Obama", str(fr_faces / "obama" / "obama.jpg")]) == 0
    assert main(["--db", db, "-q", "tag", "-r", str(folder)]) == 0
    return db, folder


def run_json(capsys, db, *args):
    capsys.readouterr()
    assert main(["--db", db, "-q", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_groups_are_the_subjects_and_can_be_merged_split_and_named(library, capsys):
    db, folder = library
    out = run_json(capsys, db, "groups", "--json")
    groups = out["groups"]
    paths = {f["id"]: f["path"] for f in run_json(capsys, db, "faces", "list", "--json")}
    subjects = sorted(sorted({paths[i].split("/")[-2] for i in g["faces"]}) for g in groups)
    assert subjects == [["s1"], ["s2"], ["s3"]] and [g["size"] for g in groups] == [10, 10, 10]
    a, b, c = (g["id"] for g in groups)
    assert main(["--db", db, "groups", "merge", str(a), str(b)]) == 0
    merged = {g["id"]: g for g in run_json(capsys, db, "groups", "--json")["groups"]}
    assert set(merged) == {a, c} and merged[a]["size"] == 20 and merged[a]["manual"]
    two = merged[c]["faces"][:2]
    assert main(["--db", db, "groups", "split", str(c), *map(str, two)]) == 0
    after = {g["id"]: g for g in run_json(capsys, db, "groups", "--json", "--regroup")["groups"]}
    assert sorted(g["size"] for g in after.values()) == [2, 8, 20]  # manual groups survive a full regroup
    assert main(["--db", db, "groups", "name", str(a), "Twins"]) == 0
    named = run_json(capsys, db, "faces", "list", "--person", "Twins", "--json")
    assert len(named) == 20 and {f["status"] for f in named} == {"confirmed"}
    assert a not in {g["id"] for g in run_json(capsys, db, "groups", "--json")["groups"]}
    assert main(["--db", db, "groups", "merge", "999999", str(c)]) == 3


def test_search_by_photo_and_by_face(library, fr_faces, capsys):
    db, folder = library
    (q,) = run_json(capsys, db, "search", str(folder / "obama" / "obama2.jpg"), "--top", "3", "--json")
    first = q["matches"][0]
    assert first["distance"] < 0.01 and first["person"] == "Obama" and first["path"].endswith("obama2.jpg")
    assert all(m["person"] == "Obama" for m in q["matches"])
    s1 = [f for f in run_json(capsys, db, "faces", "list", "--json") if "/s1/" in f["path"]]
    (q,) = run_json(capsys, db, "search", "--face", str(s1[0]["id"]), "--top", "5", "--json")
    assert s1[0]["id"] not in {m["face_id"] for m in q["matches"]}
    assert all("/s1/" in m["path"] for m in q["matches"])  # the nearest faces are the same subject's
    distances = [m["distance"] for m in q["matches"]]
    assert distances == sorted(distances)
    capsys.readouterr()
    assert main(["--db", db, "search", str(folder / "missing.jpg")]) == 3
    assert "missing.jpg" in capsys.readouterr().err


def test_map_png(library, tmp_path, capsys):
    db, _ = library
    for method in ("pca", "tsne"):
        out = tmp_path / f"map-{method}.png"
        data = run_json(capsys, db, "map", "--out", str(out), "--method", method, "--json")
        assert Image.open(out).size == (1400, 1000)
        kinds = {p["kind"] for p in data["points"]}
        assert kinds == {"sample", "face"} and len(data["points"]) == data["mapped_of"] >= 35
        named = {p["person"] for p in data["points"]} - {None}
        assert "Obama" in named and None in {p["person"] for p in data["points"]}  # named and unknown faces
        assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for p in data["points"])
