"""End-to-end: the README walk-through on the shared photos, through the real `facerec` CLI entry point."""

import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from facerec.cli import main

pytestmark = pytest.mark.data

PEOPLE = {
    "obama": "obama/obama.jpg",
    "biden": "biden/biden.jpg",
    "alex_lacamoire": "alex_lacamoire/img1.jpg",
    "rose_leslie": "rose_leslie/img1.jpg",
    "kit_harington": "kit_harington/john1.jpeg",
}


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "g.db")


def run(db, *args):
    return main(["--db", db, "-q", *args])


@pytest.mark.slow
def test_enrol_and_tag_shared_folder(db, fr_faces, sface_installed, tmp_path, capsys):
    for name, photo in PEOPLE.items():
        assert run(db, "enrol", name, str(fr_faces / photo)) == 0
    from facerec.store import GalleryStore

    with GalleryStore(db) as store:  # --db given before the command name is the gallery used
        assert {p.name for p in store.list_people()} == set(PEOPLE)
    out_json, out_csv = tmp_path / "tags.json", tmp_path / "tags.csv"
    assert run(db, "tag", str(fr_faces), "--recursive", "--json", str(out_json), "--csv", str(out_csv)) == 0
    records = {r["path"]: r for r in json.loads(out_json.read_text())}
    assert all(r["error"] is None for r in records.values())
    for name in PEOPLE:
        for photo in (fr_faces / name).iterdir():
            faces = records[str(photo)]["faces"]
            assert [f["person"] for f in faces] == [name], photo
    lin = records[str(fr_faces / "lin_manuel_miranda" / "lin-manuel-miranda.png")]["faces"]
    assert [f["person"] for f in lin] == [None]
    groups = {
        "two_people.jpg": {"obama", "biden"},
        "obama_and_biden.jpg": {"obama", "biden"},
        "kit_with_rose.jpg": {"kit_harington", "rose_leslie"},
    }
    for photo, expected in groups.items():
        named = {f["person"] for f in records[str(fr_faces / "_group" / photo)]["faces"]} - {None}
        assert named == expected, photo
    face = records[str(fr_faces / "obama" / "obama.jpg")]["faces"][0]
    assert len(face["box"]) == 4 and 0 <= face["distance"] < 0.2 and face["score"] > 0.9
    assert out_csv.read_text().splitlines()[0].startswith("path,person,distance")
    # the rerun skips every unchanged file and gives the same answers
    capsys.readouterr()
    assert run(db, "tag", str(fr_faces), "--recursive", "--json", str(out_json)) == 0
    again = {r["path"]: r for r in json.loads(out_json.read_text())}
    assert {p: [f["person"] for f in r["faces"]] for p, r in again.items()} == {p: [f["person"] for f in r["faces"]] for p, r in records.items()}


def test_tag_reports_bad_files_and_finishes(db, fr_faces, sface_installed, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(fr_faces / "obama" / "obama.jpg", folder / "good.jpg")
    (folder / "zero.jpg").write_bytes(b"")
    data = (fr_faces / "biden" / "biden.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "text.jpg").write_text("this is not a photo")
    Image.new("L", (20000, 20000)).save(folder / "huge.png", optimize=False, compress_level=1)
    out = tmp_path / "out.json"
    assert run(db, "tag", str(folder), "--json", str(out)) == 1  # 1 = done, some files failed
    records = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(out.read_text())}
    assert set(records) == {"good.jpg", "zero.jpg", "truncated.jpg", "text.jpg", "huge.png"}
    assert records["good.jpg"]["error"] is None and len(records["good.jpg"]["faces"]) == 1
    assert "empty" in records["zero.jpg"]["error"]
    assert "truncated" in records["truncated.jpg"]["error"]
    assert "not an image" in records["text.jpg"]["error"]
    assert "limit" in records["huge.png"]["error"]


def test_people_commands_and_exit_codes(db, fr_faces, sface_installed, capsys):
    assert run(db, "enrol", "a", str(fr_faces / "obama" / "obama.jpg")) == 0
    assert run(db, "enrol", "b", str(fr_faces / "obama" / "obama2.jpg")) == 0
    assert run(db, "enrol", "c", str(fr_faces / "_group" / "two_people.jpg")) == 1  # several faces: refused
    assert "faces found" in capsys.readouterr().err
    assert run(db, "people", "rename", "a", "Barack") == 0
    assert run(db, "people", "merge", "b", "Barack") == 0
    capsys.readouterr()
    assert run(db, "people", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "Barack", "samples": 2, "faces": 0}]
    assert run(db, "identify", str(fr_faces / "obama" / "obama3.jpg")) == 0
    assert "Barack" in capsys.readouterr().out
    assert run(db, "people", "remove", "nobody", "--yes") == 3
    assert run(db, "people", "remove", "Barack", "--yes") == 0
    capsys.readouterr()
    assert run(db, "people", "list", "--json") == 0 and json.loads(capsys.readouterr().out) == []


def test_eval_lfw_on_a_mini_set(db, fr_faces, sface_installed, tmp_path, capsys):
    # a two-fold "LFW" in the official layout, made from the shared photos
    root = tmp_path / "lfw"
    sources = {"obama": ["obama.jpg", "obama2.jpg"], "biden": ["biden.jpg", "biden2.jpg"], "kit_harington": ["john1.jpeg", "john2.jpeg"], "rose_leslie": ["img1.jpg", "img2.jpg"]}
    for name, files in sources.items():
        (root / name).mkdir(parents=True)
        for i, f in enumerate(files, 1):
            Image.open(fr_faces / name / f).convert("RGB").save(root / name / f"{name}_{i:04d}.jpg")
    (root / "pairs.txt").write_text("2 1\nobama 1 2\nobama 1 biden 1\nkit_harington 1 2\nkit_harington 2 rose_leslie 1\n")
    assert run(db, "eval", "lfw", "--data", str(root), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["folds"] == 2 and result["mean_accuracy"] == 1.0 and result["images"] == 6
    assert sum(result["face_found"].values()) == 6


def test_help_is_fast_and_lists_commands():
    out = subprocess.run([sys.executable, "-m", "facerec.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("enrol", "people", "identify", "tag", "eval", "models"):
        assert cmd in out
    # --help must not import the heavy libraries
    code = "import sys; from facerec.cli import build_parser; build_parser(); print('torch' in sys.modules, 'cv2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == ["False", "False"]


def test_missing_model_is_a_clear_error(db, tmp_path, monkeypatch, capsys, fr_faces):
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "no-models"))
    assert run(db, "identify", str(fr_faces / "obama" / "obama.jpg")) == 3
    assert "facerec models install sface" in capsys.readouterr().err


def test_global_options_before_or_after_the_command():
    from facerec.cli import build_parser

    p = build_parser()
    for argv in (["--db", "x.db", "-q", "people", "list"], ["people", "list", "--db", "x.db", "-q"], ["people", "--db", "x.db", "list", "-q"]):
        args = p.parse_args(argv)
        assert args.db == "x.db" and args.quiet is True and args.verbose is False, argv
    args = p.parse_args(["--threshold", "0.4", "tag", "folder", "-r"])
    assert args.threshold == 0.4 and args.recursive and args.db is None
