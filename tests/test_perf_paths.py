"""Behaviour of the performance paths: streamed tag output, fast gallery search, OpenCV resampling in MTCNN.

Speed itself is measured by the benchmarks in bench/, never here.
"""

import io
import json
import shutil

import numpy as np
import pytest

from facerec.cli import main
from facerec.library.export import JsonArrayWriter
from facerec.embedders.base import l2_normalize
from facerec.matching import GalleryIndex


@pytest.mark.parametrize("items", [[], [{"a": 1}], [{"path": "é/x.jpg", "faces": [{"box": [1.0, 2.5], "person": None}]}, {"b": [1, [2, {}]]}, 3, "s\nt"]])
def test_json_array_writer_writes_exactly_json_dumps(items):
    buf = io.StringIO()
    w = JsonArrayWriter(buf)
    for it in items:
        w.write(it)
    w.finish()
    assert buf.getvalue() == json.dumps(items, indent=2)
    assert json.loads(buf.getvalue()) == items


def test_tag_streams_json_and_csv_and_interrupt_leaves_no_partial_file(fr_faces, sface_installed, tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama/obama.jpg", "biden/biden.jpg", "_group/two_people.jpg"):
        shutil.copy(fr_faces / name, folder / name.replace("/", "_"))
    (folder / "bad.jpg").write_text("not a photo")
    db = str(tmp_path / "g.db")
    assert main(["--db", db, "-q", "enrol", "obama", str(fr_faces / "obama" / "obama2.jpg")]) == 0
    out_json, out_csv = tmp_path / "t.json", tmp_path / "t.csv"
    assert main(["--db", db, "-q", "tag", str(folder), "--json", str(out_json), "--csv", str(out_csv)]) == 1
    records = json.loads(out_json.read_text())
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in records) == ["_group_two_people.jpg", "bad.jpg", "biden_biden.jpg", "obama_obama.jpg"]
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in records}
    assert [f["person"] for f in by_name["obama_obama.jpg"]["faces"]] == ["obama"]
    assert by_name["bad.jpg"]["error"] and by_name["bad.jpg"]["faces"] == []
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("path,person,distance")
    assert len(rows) - 1 == sum(max(1, len(r["faces"])) for r in records)
    assert not list(tmp_path.glob(".*.part"))

    # an interrupted scan writes no output file (and no leftover temporary file)
    import facerec.tagging

    def interrupted(*a, **k):
        yield from ()
        raise KeyboardInterrupt

    monkeypatch.setattr(facerec.tagging, "tag_folder", interrupted)
    out2 = tmp_path / "t2.json"
    assert main(["--db", db, "-q", "tag", str(folder), "--json", str(out2)]) == 130
    assert not out2.exists() and not list(tmp_path.glob(".*.part"))


def _brute_force(emb, pids, q, threshold, k):
    people = sorted(set(pids.tolist()))
    d = np.stack([(1 - q @ emb[pids == p].T).min(axis=1) for p in people], axis=1)
    out = []
    for row in d:
        order = np.argsort(row, kind="stable")[:k]
        best = people[order[0]]
        out.append((best if row[order[0]] <= threshold else None, [people[i] for i in order], row[order]))
    return out


@pytest.mark.parametrize("per_person", [1, 3])
@pytest.mark.parametrize("m", [1, 7])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_gallery_search_equals_brute_force(per_person, m, k):
    rng = np.random.default_rng(per_person * 100 + m)
    n_people = 20
    centres = l2_normalize(rng.normal(size=(n_people, 16)))
    pids = np.repeat(np.arange(100, 100 + n_people), per_person)
    emb = l2_normalize(centres[pids - 100] + 0.4 * rng.normal(size=(len(pids), 16))).astype(np.float32)
    order = rng.permutation(len(pids))
    emb, pids = emb[order], pids[order]
    index = GalleryIndex(emb, pids, {int(p): f"n{p}" for p in pids}, "m")
    q = l2_normalize(np.concatenate([centres[:m // 2 + 1] + 0.3 * rng.normal(size=(m // 2 + 1, 16)), rng.normal(size=(m - m // 2 - 1, 16))])).astype(np.float32)
    got = index.search(q if m > 1 else q[0], threshold=0.35, top_k=k)
    want = _brute_force(emb, pids, q, 0.35, k)
    assert len(got) == m
    for g, (best, cand_ids, cand_d) in zip(got, want):
        assert g.person_id == best
        assert g.name == (f"n{best}" if best is not None else None)
        assert [c.person_id for c in g.candidates] == cand_ids
        np.testing.assert_allclose([c.distance for c in g.candidates], cand_d, atol=1e-5)
        assert g.distance == pytest.approx(float(cand_d[0]), abs=1e-5)
    np.testing.assert_allclose(index.person_distances(q[:1]), index.person_distances(np.concatenate([q[:1], q[:1]]))[:1], atol=1e-6)


def test_opencv_resampling_matches_torch_area_interpolation():
    torch = pytest.importorskip("torch")
    from torch.nn.functional import interpolate

    from facerec.detection import _opencv_imresample

    rng = np.random.default_rng(0)
    img = torch.from_numpy(rng.uniform(0, 255, size=(2, 3, 240, 320)).astype(np.float32))
    for size in [(120, 160), (60, 80)]:  # integer factors: both are exact box averages
        np.testing.assert_allclose(_opencv_imresample(img, size).numpy(), interpolate(img, size=size, mode="area").numpy(), atol=1e-3)
    out = _opencv_imresample(img[:1, :, 5:205, 7:190], (48, 48))  # a large crop view (OpenCV path)
    assert out.shape == (1, 3, 48, 48) and out.dtype == torch.float32
    assert abs(float(out.mean()) - float(img[:1, :, 5:205, 7:190].mean())) < 2
    small = img[:1, :, 5:30, 7:29]  # small crops are resampled by torch itself, bit for bit
    assert torch.equal(_opencv_imresample(small, (24, 24)), interpolate(small, size=(24, 24), mode="area"))


@pytest.mark.slow
def test_tag_folder_releases_decoded_images_as_it_goes(analyzer, tmp_path, monkeypatch):
    """Peak memory must not grow with the folder: a decoded photo is dropped once it is tagged."""
    import gc
    import weakref

    from PIL import Image

    from facerec.store import GalleryStore
    from facerec.tagging import tag_folder

    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(14):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(folder / f"{i:02d}.jpg")
    refs = []
    real_load = analyzer.load

    def load(path):
        img = real_load(path)
        refs.append(weakref.ref(img))
        return img

    monkeypatch.setattr(analyzer, "load", load)
    monkeypatch.setattr(analyzer, "analyze", lambda image, gallery=None: [])
    store = GalleryStore(tmp_path / "g.db")
    alive = []
    for res in tag_folder(folder, store, analyzer, prefetch=2):
        assert res.error is None
        gc.collect()
        alive.append(sum(r() is not None for r in refs))
    store.close()
    assert len(alive) == 14
    assert max(alive) <= 2 + 3, alive  # the queue, the reader's photo in hand, the one being tagged


@pytest.mark.slow
def test_parallel_tagging_gives_the_serial_results_in_folder_order(analyzer, fr_faces, tmp_path):
    import threading

    from facerec.enrolment import enrol_image
    from facerec.store import GalleryStore
    from facerec.tagging import tag_folder

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama/obama.jpg", "biden/biden.jpg", "_group/two_people.jpg", "_group/kit_with_rose.jpg", "obama/obama2.jpg", "rose_leslie/img2.jpg"):
        shutil.copy(fr_faces / name, folder / name.replace("/", "_"))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    outcomes = []
    for workers in (1, 2):
        with GalleryStore(tmp_path / f"g{workers}.db") as store:
            enrol_image(store, analyzer, "Obama", fr_faces / "obama" / "obama_small.jpg")
            enrol_image(store, analyzer, "Biden", fr_faces / "biden" / "biden2.jpg")
            results = list(tag_folder(folder, store, analyzer, workers=workers))
            outcomes.append([(r.path, bool(r.error), [(f.person, [round(v) for v in f.box]) for f in r.faces]) for r in results])
    assert outcomes[0] == outcomes[1]
    assert [p for p, _, _ in outcomes[1]] == sorted(p for p, _, _ in outcomes[1])
    named = {p.rsplit("/", 1)[-1]: sorted(n for n, _ in faces if n) for p, _, faces in outcomes[1]}
    assert named["_group_two_people.jpg"] == ["Biden", "Obama"] and named["obama_obama.jpg"] == ["Obama"]

    # a cancel stops a parallel scan between photos, and the stopped scan resumes where it stopped
    cancel = threading.Event()
    with GalleryStore(tmp_path / "g3.db") as store:
        first = []
        for res in tag_folder(folder, store, analyzer, workers=2, cancel=cancel):
            first.append(res)
            cancel.set()
        assert len(first) == 1
        cancel.clear()
        rest = list(tag_folder(folder, store, analyzer, workers=2, cancel=cancel))
        assert sum(r.skipped for r in rest) == 1 and len(rest) == len(outcomes[1])


def test_indexed_search_of_a_large_gallery_agrees_with_exact_search_and_never_names_a_stranger():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(7)
    people, per_person, dim = 2000, 4, 128
    centres = l2_normalize(rng.normal(size=(people, dim)))
    pids = np.repeat(np.arange(people), per_person)
    noise = 0.5 / np.sqrt(dim)  # a sample lies about 0.2 (cosine distance) from its person's centre
    emb = l2_normalize(centres[pids] + noise * rng.normal(size=(len(pids), dim))).astype(np.float32)
    names = {int(p): f"p{p}" for p in range(people)}
    exact = GalleryIndex(emb, pids, names, "m", ann_min_samples=None)
    indexed = GalleryIndex(emb, pids, names, "m", ann_min_samples=1000)
    genuine = l2_normalize(centres[:300] + noise * rng.normal(size=(300, dim))).astype(np.float32)
    strangers = l2_normalize(rng.normal(size=(300, dim))).astype(np.float32)
    threshold = 0.5
    got_g, want_g = indexed.search(genuine, threshold), exact.search(genuine, threshold)
    assert indexed._ann_index() is not None and exact._ann_index() is None
    assert all(w.known for w in want_g)
    agree = sum(g.person_id == w.person_id for g, w in zip(got_g, want_g))
    assert agree >= 0.98 * len(genuine)
    for g, w in zip(got_g, want_g):  # an indexed answer is an exact distance to a real sample: never nearer than exact
        assert g.distance >= w.distance - 1e-5
    got_s, want_s = indexed.search(strangers, threshold), exact.search(strangers, threshold)
    assert not any(w.known for w in want_s) and not any(g.known for g in got_s)
