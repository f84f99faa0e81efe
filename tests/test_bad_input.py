"""Bad input never takes the application down: every hostile file gives a clear per-file error (or a
correct image) in the loader, the folder walk, ``tag_folder`` and ``facerec tag --json``, and scans finish."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badinput import BadCase, image_cases, make_corpus
from facerec.errors import ImageError, StoreError
from facerec.files import iter_image_files
from facerec.imaging import load_image
from facerec.store import GalleryStore, NewFace, normal_name

REPO = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SETPRIV = shutil.which("setpriv")


def _nobody_ids() -> tuple[int, int] | None:
    try:
        import pwd

        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except (ImportError, KeyError):
        return None


@functools.lru_cache(maxsize=1)
def _unprivileged_prefix() -> tuple[str, ...] | None:
    """Command prefix that runs a child without root's permission bypass (empty when we are not root);
    None when that is impossible here (no setpriv or 'nobody', or 'nobody' cannot reach Python or the repo)."""
    if not IS_ROOT:
        return ()
    ids = _nobody_ids()
    if SETPRIV is None or ids is None:
        return None
    prefix = (SETPRIV, f"--reuid={ids[0]}", f"--regid={ids[1]}", "--clear-groups", "--")
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r}); import facerec.imaging"],
        capture_output=True, timeout=120, cwd="/",
    )
    return prefix if probe.returncode == 0 else None


@pytest.fixture(scope="module")
def world_dir():
    """A scratch folder every user can enter (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="facerec-badinput-"))
    os.chmod(d, 0o755)
    yield d
    locked = d / "corpus" / "locked_folder"
    if locked.exists():
        os.chmod(locked, 0o755)
    shutil.rmtree(d, ignore_errors=True)  # fd-based on Linux: copes with the over-long path


@pytest.fixture(scope="module")
def corpus(world_dir) -> tuple[Path, list[BadCase]]:
    folder = world_dir / "corpus"
    return folder, make_corpus(folder)


def _reason_ok(case: BadCase, reason: str) -> bool:
    return any(r.lower() in reason.lower() for r in case.reason_any)


def _ids(cases):
    return [c.name.encode("ascii", "backslashreplace").decode()[:40] for c in cases]


# -- the loader ---------------------------------------------------------------------------------------
def test_every_loader_case(corpus):
    _, cases = corpus
    failures = []
    for case in image_cases(cases):
        if case.root_only_skip and IS_ROOT:
            continue  # covered as an unprivileged user below
        try:
            img = load_image(case.path, max_side=2048)
        except ImageError as exc:
            if case.kind != "error":
                failures.append(f"{case.name}: expected an image, got error {exc.reason!r}")
            elif not _reason_ok(case, exc.reason):
                failures.append(f"{case.name}: unclear error {exc.reason!r}, expected one of {case.reason_any}")
            continue
        except Exception as exc:  # anything else is a crash
            failures.append(f"{case.name}: crashed with {type(exc).__name__}: {exc}")
            continue
        if case.kind != "image":
            failures.append(f"{case.name}: expected an error, got an image {img.full_size}")
        elif case.check:
            try:
                case.check(img)
            except AssertionError as exc:
                failures.append(f"{case.name}: wrong image: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(corpus, orientation):
    folder, cases = corpus
    (case,) = [c for c in cases if c.name == f"exif_orientation_{orientation}.jpg"]
    img = load_image(case.path)
    assert img.size == img.full_size == (64, 40)
    case.check(img)


def test_big_png_is_cheap_and_valid(corpus):
    """The 20000x20000 PNG is small on disk yet a valid PNG (Pillow reads its header and accepts its chunks)."""
    from PIL import Image

    folder, _ = corpus
    path = folder / "huge_20000x20000.png"
    assert path.stat().st_size < 2_000_000
    with Image.open(path) as im:
        assert im.size == (20000, 20000)
        im.verify()  # CRCs and chunk structure
    with pytest.raises(ImageError, match="limit"):
        load_image(path)


# -- the walk -----------------------------------------------------------------------------------------
def test_walk_reports_links_loops_and_long_paths(corpus):
    folder, cases = corpus
    errors: list[tuple[str, str]] = []
    found = {str(p) for p in iter_image_files(folder, recursive=True, on_error=lambda p, r: errors.append((p, r)))}
    expected_files = {str(c.path) for c in image_cases(cases)}
    if IS_ROOT:  # root reads the locked folder anyway
        expected_files.add(str(folder / "locked_folder" / "hidden.jpg"))
    assert found == expected_files
    for case in cases:
        if case.kind != "walk" or (case.root_only_skip and IS_ROOT):
            continue
        hits = [r for p, r in errors if str(case.path).startswith(p) or p == str(case.path)]
        assert hits, f"{case.name}: not reported by the walk (errors: {errors})"
        assert any(_reason_ok(case, r) for r in hits), f"{case.name}: unclear reasons {hits}"


def test_folder_deleted_mid_walk(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.jpg").write_bytes(b"x")
    errors = []
    found = []
    for path in iter_image_files(tmp_path, on_error=lambda p, r: errors.append((p, r))):
        found.append(path.parent.name)
        if len(found) == 1:
            shutil.rmtree(tmp_path / "b")
    assert found == ["a", "c"]
    assert errors == [(str(tmp_path / "b"), "folder disappeared during the scan")]


# -- unreadable files and folders (needs a user root's permission bypass does not apply to) -------------
_UNPRIV_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from facerec.errors import ImageError
from facerec.files import iter_image_files
from facerec.imaging import load_image
out = {}
try:
    load_image(sys.argv[2])
    out["load"] = "image"
except ImageError as exc:
    out["load"] = exc.reason
errors = []
list(iter_image_files(sys.argv[3], on_error=lambda p, r: errors.append(r)))
out["walk"] = errors
print(json.dumps(out))
"""


def test_unreadable_file_and_folder(corpus):
    prefix = _unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root, and no unprivileged user (setpriv + 'nobody') can run this checkout: permissions cannot be tested")
    folder, _ = corpus
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", _UNPRIV_SCRIPT, str(REPO), str(folder / "unreadable.jpg"), str(folder)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(folder.parent)},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["load"] == "permission denied"
    assert any("permission denied" in r.lower() for r in out["walk"]), out["walk"]


# -- the whole CLI ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_tag_json_gives_one_record_per_file(corpus, world_dir, sface_installed):
    """``facerec tag --json`` on the corpus: finishes (exit 1, some inputs failed), one record per file,
    each error clear. Run as an unprivileged user when we are root, so permission errors are real."""
    folder, cases = corpus
    prefix = _unprivileged_prefix()
    unprivileged = prefix is not None
    prefix = list(prefix or ())
    home = world_dir / "home"
    models = world_dir / "models"
    for d in (home, models):
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o777)
    weights = models / Path(sface_installed).name
    if not weights.exists():
        try:
            os.link(sface_installed, weights)
        except OSError:
            shutil.copy(sface_installed, weights)
        os.chmod(weights, 0o644)
    out_json, out_csv = home / "out.json", home / "out.csv"
    env = {**os.environ, "FACEREC_HOME": str(home), "FACEREC_MODELS": str(models), "HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "facerec.cli", "tag", str(folder), "-r", "-q", "--json", str(out_json), "--csv", str(out_csv)],
        capture_output=True, text=True, timeout=300, env=env, cwd=str(REPO),
    )
    assert proc.returncode == 1, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    records = json.loads(out_json.read_text(encoding="utf-8"))
    by_path: dict[str, list[dict]] = {}
    for r in records:
        by_path.setdefault(r["path"], []).append(r)
    assert all(len(v) == 1 for v in by_path.values()), "a file was reported twice"
    problems = []
    for case in cases:
        if case.root_only_skip and not unprivileged:
            continue
        if case.kind == "walk":
            hits = [r for p, recs in by_path.items() for r in recs if str(case.path).startswith(p)]
            if not hits or not any(r["error"] and _reason_ok(case, r["error"]) for r in hits):
                problems.append(f"{case.name}: no clear record ({hits})")
            continue
        recs = by_path.get(str(case.path))
        if not recs:
            problems.append(f"{case.name}: no record")
            continue
        error = recs[0]["error"]
        if case.kind == "image" and error is not None:
            problems.append(f"{case.name}: expected an image, got {error!r}")
        if case.kind == "error" and (error is None or not _reason_ok(case, error)):
            problems.append(f"{case.name}: expected an error like {case.reason_any}, got {error!r}")
    assert not problems, "\n".join(problems)
    assert out_csv.read_bytes().count(b"\n") >= len(records)
    assert "unreadable" in proc.stdout  # the summary line


def test_tag_folder_survives_a_folder_deleted_mid_scan(tmp_path, analyzer, store):
    from PIL import Image

    from facerec.tagging import tag_folder

    for sub in ("a", "b"):
        (tmp_path / "lib" / sub).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (40, 30), (i * 40, 90, 90)).save(tmp_path / "lib" / sub / f"{i}.jpg")
    deleted = threading.Event()

    def progress(p):
        if p.done >= 1 and not deleted.is_set():
            shutil.rmtree(tmp_path / "lib" / "b")
            deleted.set()

    results = list(tag_folder(tmp_path / "lib", store, analyzer, progress=progress, prefetch=1))
    assert deleted.is_set()
    assert sorted(r.path for r in results) == sorted(str(tmp_path / "lib" / s / f"{i}.jpg") for s in "ab" for i in range(4))
    gone = [r for r in results if r.error]
    assert gone and all("not found" in r.error or "cannot access" in r.error for r in gone)
    assert all(r.path.startswith(str(tmp_path / "lib" / "b")) for r in gone)


# -- property-based -----------------------------------------------------------------------------------
def _seed_images() -> list[bytes]:
    import io

    from PIL import Image

    img = Image.fromarray((np.arange(16 * 12 * 3) % 251).astype(np.uint8).reshape(12, 16, 3))
    out = []
    for fmt, kw in (("JPEG", {"quality": 80}), ("PNG", {}), ("GIF", {}), ("WEBP", {}), ("TIFF", {}), ("BMP", {})):
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_images()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _load_must_not_crash(path: Path) -> None:
    try:
        img = load_image(path, max_side=512)
    except ImageError as exc:
        assert exc.reason and str(path) in str(exc)
        return
    assert img.rgb.dtype == np.uint8 and img.rgb.ndim == 3 and img.rgb.shape[2] == 3
    assert img.rgb.shape[0] >= 1 and img.rgb.shape[1] >= 1


@FUZZ
@given(data=st.binary(max_size=4096), ext=st.sampled_from([".jpg", ".png", ".gif", ".webp", ".tif", ".bmp", ".ppm"]))
def test_random_bytes_never_crash_the_loader(tmp_path, data, ext):
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _load_must_not_crash(path)


@FUZZ
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(0, 255)), max_size=12),
)
def test_mutated_images_never_crash_the_loader(tmp_path, seed, cut, flips):
    data = bytearray(SEEDS[seed])
    for where, value in flips:
        data[int(where * len(data))] = value
    data = data[: max(1, int(len(data) * (0.5 + cut / 2)))]
    path = tmp_path / "mutated.img.jpg"
    path.write_bytes(bytes(data))
    _load_must_not_crash(path)


# File names as Linux holds them: any bytes but "/" and NUL, decoded with surrogate escapes.
fs_names = st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"/", b"_").replace(b"\x00", b"_")).map(os.fsdecode)
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


@FUZZ
@given(
    parts=st.lists(fs_names | st.text(min_size=1, max_size=30), min_size=1, max_size=4),
    size=st.integers(0, 2**62),
    boxes=st.lists(st.tuples(floats, floats, floats, floats), max_size=3),
    error=st.none() | st.text(max_size=200),
)
@pytest.mark.slow
def test_store_photo_paths_and_faces_round_trip(tmp_path, parts, size, boxes, error):
    path = "/" + "/".join(parts)
    with GalleryStore(tmp_path / "fuzz.db") as store:
        faces = [NewFace(list(b), None, 0.9, np.ones(8, np.float32), None, float("nan")) for b in boxes]
        store.save_photo(path, size, 1, None, None, None, "m", faces, error=error)
        store.save_photo(path, size, 2, None, None, None, "m", faces, error=error)  # rescan replaces
        rec = store.get_photo(path)
        assert rec is not None and rec.path == path and rec.size == size and rec.mtime_ns == 2 and rec.error == error
        assert len(store.photo_faces(path)) == len(boxes)
        assert [p.path for p in store.photos()].count(path) == 1
        assert path in [p.path for p in store.photos(under=os.path.dirname(path) or "/")]
        store.forget_photo(path)
        assert store.get_photo(path) is None and store.stats()["faces"] == 0
        assert store.integrity_check() == "ok"


@FUZZ
@given(name=st.text(max_size=250), source=st.none() | fs_names)
def test_store_add_sample_with_odd_names(tmp_path, name, source):
    with GalleryStore(tmp_path / "fuzz.db") as store:
        try:
            sid = store.add_sample(name, np.ones(8, np.float32), "m", source_path=source, box=[1, 2, 3, 4])
        except StoreError as exc:
            cleaned = normal_name(name.encode("utf-8", "replace").decode())
            if "empty" in str(exc):
                assert not cleaned
            elif "200 characters" in str(exc):
                assert len(cleaned) > 200
            else:
                assert any(r in str(exc) for r in ("control characters", "direction override", "not valid UTF-8")), exc
            return
        person = store.find_person(name)
        assert person is not None
        samples = store.list_samples(person.id)
        assert [s.id for s in samples] == [sid] and samples[0].source_path == source
        store.delete_person(person.id)
        assert store.stats()["samples"] == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.binary(max_size=2048) | st.sampled_from(SEEDS))
def test_random_bytes_through_tag_folder(tmp_path_factory, analyzer, data):
    from facerec.tagging import tag_folder

    folder = tmp_path_factory.mktemp("lib")
    (folder / "photo.jpg").write_bytes(data)
    with GalleryStore(folder / "g.db") as store:
        results = list(tag_folder(folder, store, analyzer))
        assert [r.path for r in results] == [str(folder / "photo.jpg")]
        assert results[0].error is None or results[0].error.strip()
        rec = store.get_photo(str(folder / "photo.jpg"))
        assert rec is not None and rec.error == results[0].error
        again = list(tag_folder(folder, store, analyzer))  # remembered: skipped, same outcome
        assert again[0].skipped and again[0].error == results[0].error


def test_cli_identify_and_enrol_report_each_bad_file(corpus, sface_installed, capsys, tmp_path):
    """``facerec identify`` and ``facerec enrol`` go on past bad files, naming each one and why."""
    from facerec import cli

    folder, cases = corpus
    bad = [c for c in image_cases(cases) if c.kind == "error" and not c.root_only_skip]
    good = [str(c.path) for c in image_cases(cases) if c.name == "tiny_1x1.png"]
    args = [str(c.path) for c in bad] + good
    db = str(tmp_path / "gallery.db")
    assert cli.main(["identify", "--db", db, "--json", *args]) == cli.EXIT_PARTIAL
    out = capsys.readouterr().out
    records = {r["path"]: r for r in json.loads(out)}
    assert len(records) == len(args)
    for c in bad:
        assert _reason_ok(c, records[str(c.path)]["error"] or ""), (c.name, records[str(c.path)])
    assert records[good[0]]["error"] is None
    assert cli.main(["enrol", "--db", db, "Someone", *args]) == cli.EXIT_PARTIAL
    err = capsys.readouterr().err
    for c in bad:
        assert str(c.path) in err
    assert err.count("refused:") == len(args)  # the bad files, and the 1x1 image with no face
