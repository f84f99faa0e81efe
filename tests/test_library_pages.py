"""Person pages, people changes and photo search on a gallery of synthetic embeddings (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest

from facerec.errors import StoreError
from facerec.library import people, undo
from facerec.library.dates import normalise_date, parse_bound
from facerec.library.review import Action, MatchPolicy, decide, rematch
from facerec.library.search import PhotoQuery, search_photos
from facerec.store import NewFace

M = "m1"
POLICY = MatchPolicy.fixed(M, 0.3)


def unit(i: int, wobble: float = 0.0) -> np.ndarray:
    v = np.zeros(8, np.float32)
    v[i] = 1
    v[(i + 1) % 8] = wobble
    return v / np.linalg.norm(v)


def add_photo(store, path: str, people_idx: list[int], taken: str = "") -> None:
    faces = [NewFace([10 + 60 * k, 10, 60 + 60 * k, 70], None, 0.99, unit(i, 0.05), None, None) for k, i in enumerate(people_idx)]
    store.save_photo(path, 1, 1, path, 640, 480, M, faces, taken_at=taken)


@pytest.fixture
def lib(store):
    for name, i in (("Ann", 0), ("Bob", 1), ("Cy", 2)):
        store.add_sample(name, unit(i), M)
    add_photo(store, "/p/2019/ab.jpg", [0, 1], "2019-06-01 10:00:00")
    add_photo(store, "/p/2019/a.jpg", [0], "2019-12-31 23:00:00")
    add_photo(store, "/p/2020/abc.jpg", [0, 1, 2], "2020-01-02 08:00:00")
    add_photo(store, "/p/2020/b.jpg", [1], "")
    add_photo(store, "/p/2020/nobody.jpg", [5], "")
    rematch(store, POLICY)
    return store


def paths(hits) -> list[str]:
    return [h.path for h in hits]


def test_search_all_any_without_folder_and_dates(lib):
    assert paths(search_photos(lib, PhotoQuery(people=["Ann", "Bob"]))) == ["/p/2019/ab.jpg", "/p/2020/abc.jpg"]
    assert paths(search_photos(lib, PhotoQuery(people=["Ann", "Cy"], any_person=True))) == ["/p/2019/ab.jpg", "/p/2019/a.jpg", "/p/2020/abc.jpg"]
    assert paths(search_photos(lib, PhotoQuery(people=["Bob"], without=["Cy"]))) == ["/p/2019/ab.jpg", "/p/2020/b.jpg"]
    assert paths(search_photos(lib, PhotoQuery(people=["Bob"], folder="/p/2020"))) == ["/p/2020/abc.jpg", "/p/2020/b.jpg"]
    assert paths(search_photos(lib, PhotoQuery(without=["Ann"], folder="/p/2020"))) == ["/p/2020/b.jpg", "/p/2020/nobody.jpg"]
    assert paths(search_photos(lib, PhotoQuery(people=["Ann"], date_from="2019-07", date_to="2020"))) == ["/p/2019/a.jpg", "/p/2020/abc.jpg"]
    hit = search_photos(lib, PhotoQuery(people=["Cy"]))[0]
    assert hit.people == ["Ann", "Bob", "Cy"] and hit.taken_at == "2020-01-02 08:00:00"
    with pytest.raises(StoreError):
        search_photos(lib, PhotoQuery(people=["Nobody"]))
    with pytest.raises(ValueError):
        search_photos(lib, PhotoQuery(date_from="June"))


def test_search_counts_decisions(lib):
    (f,) = list(lib.photo_faces("/p/2019/a.jpg"))
    decide(lib, POLICY, [f.id], Action.REJECT)
    assert "/p/2019/a.jpg" not in paths(search_photos(lib, PhotoQuery(people=["Ann"])))
    assert paths(search_photos(lib, PhotoQuery(people=["Ann"], confirmed_only=True))) == []
    ab = lib.photo_faces("/p/2019/ab.jpg")[0]
    decide(lib, POLICY, [ab.id], Action.CONFIRM)
    assert paths(search_photos(lib, PhotoQuery(people=["Ann"], confirmed_only=True))) == ["/p/2019/ab.jpg"]


def test_person_page_orders_confirmed_then_suggestions(lib):
    ann_faces = lib.faces(person="Ann")
    abc = next(f for f in ann_faces if f.path == "/p/2020/abc.jpg")
    decide(lib, POLICY, [abc.id], Action.CONFIRM)
    page = people.person_page(lib, "Ann")
    assert [(f.path, f.status) for f in page.faces][0] == ("/p/2020/abc.jpg", "confirmed")
    assert {f.status for f in page.faces[1:]} == {"auto"}
    assert (page.counts.photos, page.counts.confirmed, page.counts.suggested, page.counts.samples) == (3, 1, 2, 1)
    assert page.feature_face_id == abc.id and not page.feature_chosen
    other = page.faces[1].face_id
    people.set_feature_face(lib, "Ann", other)
    assert people.person_page(lib, "Ann").feature_face_id == other
    assert len(people.person_page(lib, "Ann", limit=1, offset=1).faces) == 1
    with pytest.raises(StoreError):
        people.set_feature_face(lib, "Bob", other)  # not Bob's face
    undo.undo(lib)
    assert not people.person_page(lib, "Ann").feature_chosen


def test_hide_unhide(lib):
    people.set_hidden(lib, "Bob", True)
    assert [p.name for p in people.people_overview(lib)] == ["Ann", "Cy"]
    assert [p.name for p in people.people_overview(lib, include_hidden=True)] == ["Ann", "Bob", "Cy"]
    assert paths(search_photos(lib, PhotoQuery(people=["Bob"])))  # hidden people stay searchable
    undo.undo(lib)
    assert [p.name for p in people.people_overview(lib)] == ["Ann", "Bob", "Cy"]


def dump(store) -> list[tuple]:
    conn = store._conn()
    return [
        *[tuple(r) for r in conn.execute("SELECT id, person_id, status, distance FROM faces ORDER BY id")],
        *[tuple(r) for r in conn.execute("SELECT id, name, hidden, feature_face_id FROM people ORDER BY id")],
        *[tuple(r) for r in conn.execute("SELECT id, person_id, embedding FROM samples ORDER BY id")],
        *[tuple(r) for r in conn.execute("SELECT * FROM face_rejections ORDER BY face_id, person_id")],
    ]


def test_merge_moves_rejections_and_undo_restores(lib):
    bob_face = lib.faces(person="Bob")[0]
    decide(lib, POLICY, [bob_face.id], Action.REJECT)
    before = dump(lib)
    people.merge_people(lib, POLICY, "Bob", "Ann")
    assert lib.find_person("Bob") is None
    f = next(f for f in lib.faces() if f.id == bob_face.id)
    assert f.status == "rejected"  # rejected for Bob = rejected for the merged Ann: not suggested again
    assert all(f.person in ("Ann", "Cy") for f in lib.faces(status=("auto", "confirmed")))
    undo.undo(lib)
    assert dump(lib) == before


def test_sample_removal_and_rename_are_undoable(lib):
    before = dump(lib)
    (sample,) = lib.list_samples("Cy")
    people.remove_sample(lib, POLICY, sample.id)
    assert lib.faces(person="Cy") == []  # no evidence left: Cy's suggestion is gone
    people.rename_person(lib, "Ann", "Anne")
    assert lib.find_person("Anne") is not None
    assert [u.kind for u in undo.history(lib)] == ["rename", "remove-sample"]
    undo.undo(lib)
    undo.undo(lib)
    assert dump(lib) == before


def test_dates():
    assert normalise_date("2019:06:01 10:00:00") == "2019-06-01 10:00:00"
    assert normalise_date(b"0000:00:00 00:00:00") == ""
    assert parse_bound("2019") == "2019-01-01 00:00:00" and parse_bound("2019-06", end=True) == "2019-06-31 23:59:59"


@pytest.mark.data
def test_manual_face_from_the_detector_or_the_box(store, analyzer, fr_faces):
    from facerec.library.manual import add_manual_face

    path = str(fr_faces / "obama" / "obama.jpg")
    found = analyzer.analyze(path)
    (face,) = found
    store.save_photo(path, 1, 1, "h", 0, 0, analyzer.model_id, [])  # the detector "missed" it
    policy = MatchPolicy.from_analyzer(analyzer)
    x1, y1, x2, y2 = (float(v) for v in face.box)
    pad = 0.15 * (x2 - x1)
    res = add_manual_face(store, analyzer, path, (x1 - pad, y1 - pad, x2 + pad, y2 + pad), "Obama", policy)
    assert res.how == "detected"
    stored = store.face_embeddings([res.face_id])[0]
    assert 1 - float(stored @ face.embedding) < 0.1  # the same face (landmarks found in a crop differ a little)
    (rec,) = store.photo_faces(path)
    assert (rec.source, rec.person, rec.status) == ("manual", "Obama", "confirmed")
    blank = add_manual_face(store, analyzer, path, (0, 0, 40, 40), policy=policy)  # no face there: a box crop
    assert blank.how == "box" and blank.decision is None
    store.save_photo(path, 2, 2, "h2", 0, 0, analyzer.model_id, [])  # a rescan keeps faces drawn by hand
    assert {f.id for f in store.photo_faces(path)} == {res.face_id, blank.face_id}
    undo.undo(store)
    undo.undo(store)
    assert store.photo_faces(path) == [] and store.find_person("Obama") is None
    with pytest.raises(StoreError, match="not in the library"):
        add_manual_face(store, analyzer, str(fr_faces / "biden" / "biden.jpg"), (0, 0, 50, 50), policy=policy)


def test_rescan_offer_counts_photos_scanned_with_other_settings(store):
    from facerec.library.rescan import rescan_offer

    store.save_photo("/p/a.jpg", 1, 1, "a", 10, 10, M, [], min_face_size=20)
    store.save_photo("/p/b.jpg", 1, 1, "b", 10, 10, M, [], min_face_size=40)
    store.save_photo("/q/c.jpg", 1, 1, "c", 10, 10, "other-model", [], min_face_size=20)
    offer = rescan_offer(store, M, 20)
    assert (offer.total, offer.other_model, offer.other_min_face_size, offer.outdated) == (3, 1, 1, 2)
    assert offer.folders == ["/p", "/q"] and "2 of 3 photos" in offer.describe()
    assert rescan_offer(store, "other-model", 20).outdated == 2  # a and b: another model
