import os
import stat

import numpy as np
import pytest

from facerec.errors import StoreError
from facerec.library.samples import promote_confirmed
from facerec.store import SCHEMA_VERSION, GalleryStore, NewFace


def vec(seed, dim=8):
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_schema_wal_foreign_keys_and_permissions(store):
    conn = store._conn()
    assert store.schema_version() == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.integrity_check() == "ok"


def test_people_samples_rename_merge_delete(store):
    store.add_sample("Ann", vec(1), "m1", "a.jpg", "h1", [0, 0, 10, 10], b"thumb")
    store.add_sample("Ann", vec(2), "m1", "b.jpg", "h2")
    store.add_sample("Bob", vec(3), "m1")
    store.add_sample("Bob", vec(4), "m2")
    people = {p.name: p for p in store.list_people("m1")}
    assert people["Ann"].sample_count == 2 and people["Bob"].sample_count == 1
    # duplicate enrolment of the same photo/face is not stored twice
    store.add_sample("Ann", vec(1), "m1", "a.jpg", "h1", [0, 0, 10, 10], b"thumb")
    assert len(store.list_samples("Ann")) == 2
    assert len(store.gallery_index("m1")) == 3 and len(store.gallery_index("m2")) == 1
    assert store.gallery_size("m1") == 3 and store.gallery_size("m2") == 1 and store.gallery_size("m3") == 0

    store.rename_person("Ann", "Anna")
    assert store.find_person("Ann") is None and store.get_person("anna").name == "Anna"
    with pytest.raises(StoreError):
        store.rename_person("Anna", "Bob")
    store.merge_people("Bob", "Anna")
    assert [p.name for p in store.list_people()] == ["Anna"]
    assert len(store.list_samples("Anna")) == 4
    store.delete_person("Anna")
    assert store.list_people() == [] and store.stats()["samples"] == 0
    with pytest.raises(StoreError):
        store.get_person("Anna")


def test_model_ids_never_mix(store):
    store.add_sample("Ann", vec(1), "m1")
    index = store.gallery_index("m2")
    assert len(index) == 0


def test_save_photo_replaces_faces_and_keeps_decisions(store):
    pid = store.add_person("Ann").id
    face = NewFace([10, 10, 50, 50], [[1, 2]] * 5, 0.99, vec(1), pid, 0.2)
    other = NewFace([100, 100, 150, 150], None, 0.95, vec(2), None, 0.9)
    store.save_photo("/p/a.jpg", 10, 1, "h", 200, 200, "m1", [face, other])
    faces = store.photo_faces("/p/a.jpg")
    assert [f.status for f in faces] == ["auto", "unknown"] and faces[0].person == "Ann"
    store.set_face(faces[0].id, "confirmed")
    store.set_face(faces[1].id, "confirmed", "Bob")  # assigning to a new person creates them
    # rescanning the same photo keeps the user's decisions and does not duplicate faces
    store.save_photo("/p/a.jpg", 11, 2, "h2", 200, 200, "m1", [NewFace([11, 10, 51, 50], None, 0.99, vec(1), None, 0.9), other])
    faces = store.photo_faces("/p/a.jpg")
    assert len(faces) == 2 and {(f.person, f.status) for f in faces} == {("Ann", "confirmed"), ("Bob", "confirmed")}
    assert store.stats()["photos"] == 1
    # confirmed faces become samples on request, once (facerec.library.samples)
    assert promote_confirmed(store, "Bob", thumbnail_for=None) == 1 and promote_confirmed(store, "Bob", thumbnail_for=None) == 0
    assert len(store.list_samples("Bob")) == 1


def test_delete_person_unassigns_faces(store):
    pid = store.add_sample("Ann", vec(1), "m1", thumbnail=b"T" * 50)
    assert pid
    ann = store.get_person("Ann").id
    store.save_photo("/p/a.jpg", 1, 1, None, 10, 10, "m1", [NewFace([0, 0, 5, 5], None, 0.9, vec(1), ann, 0.0)])
    store.delete_person("Ann")
    (f,) = store.photo_faces("/p/a.jpg")
    assert f.person_id is None and f.status == "unknown"


def test_face_matched_to_a_person_deleted_meanwhile_is_stored_unknown(store):
    """A scan matches against the gallery it read at its start; a person deleted since (by the GUI, or
    another process) must not fail the photo's save: the face is stored as unknown."""
    store.add_sample("Ann", vec(1), "m1")
    store.add_sample("Bob", vec(2), "m1")
    ann, bob = store.get_person("Ann").id, store.get_person("Bob").id
    store.delete_person("Ann")
    store.save_photo("/p/a.jpg", 1, 1, None, 10, 10, "m1", [
        NewFace([0, 0, 5, 5], None, 0.9, vec(1), ann, 0.1),
        NewFace([6, 6, 9, 9], None, 0.9, vec(2), bob, 0.2),
    ])
    faces = sorted(store.photo_faces("/p/a.jpg"), key=lambda f: f.box)
    assert [(f.person_id, f.status) for f in faces] == [(None, "unknown"), (bob, "auto")]


def test_refuses_non_database_and_newer_schema(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a facerec gallery"):
        GalleryStore(bad)
    s = GalleryStore(tmp_path / "new.db")
    s._conn().execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    s.close()
    with pytest.raises(StoreError, match="newer"):
        GalleryStore(tmp_path / "new.db")


def test_empty_name_refused(store):
    with pytest.raises(StoreError):
        store.add_person("   ")


def test_face_ids_are_never_reused(store):
    faces = [NewFace([0, 0, 5, 5], None, 0.9, vec(1), None, None), NewFace([9, 9, 20, 20], None, 0.9, vec(2), None, None)]
    store.save_photo("/p/a.jpg", 1, 1, None, 10, 10, "m1", faces)
    first = [f.id for f in store.photo_faces("/p/a.jpg")]
    store.save_photo("/p/a.jpg", 2, 2, None, 10, 10, "m1", faces[1:])  # a rescan finds one face again
    second = [f.id for f in store.photo_faces("/p/a.jpg")]
    assert second == first[1:]  # the face found again keeps its id; the other is gone
    store.forget_photo("/p/a.jpg")
    store.save_photo("/p/b.jpg", 1, 1, None, 10, 10, "m1", faces)
    third = [f.id for f in store.photo_faces("/p/b.jpg")]
    assert min(third) > max(first)
    with pytest.raises(StoreError):
        store.set_face(first[0], "confirmed", "Ann")  # a stale id is refused, not applied to another face


def test_xmp_records_saved_updated_and_dropped_with_their_photo(store):
    from facerec.store import XmpRecord

    pid = store.save_photo("/lib/x.jpg", 1, 1, None, 100, 80, "m", [])
    store.save_photo("/lib/y.jpg", 1, 1, None, 100, 80, "m", [])
    assert not store.xmp_records_exist() and store.xmp_records() == []
    rec = XmpRecord(pid, "/lib/x.jpg.xmp", False, False, [["Ann", 0.1, 0.1, 0.2, 0.2]], [["Ann", 0.1, 0.1, 0.2, 0.2, "mwg"]], [["person", "Ann"]], True, 5.0)
    store.save_xmp_record(rec)
    store.save_xmp_record(XmpRecord(pid, "/lib/x.jpg.xmp", False, True, [], [], [], True, 6.0))  # the same file again: updated
    assert store.xmp_records_exist()
    (got,) = store.xmp_records([pid])
    assert (got.suggestions, got.wanted, got.written_at) == (True, [], 6.0)
    store.set_xmp_read(pid, "sig-1")
    store.set_xmp_read(pid, "sig-2")
    assert store.xmp_read_signature(pid) == "sig-2"
    store.note_file_rewritten("/lib/x.jpg", 9, 10, "h")
    photo = store.get_photo("/lib/x.jpg")
    assert (photo.size, photo.mtime_ns, photo.content_hash) == (9, 10, "h")
    store.delete_xmp_record(pid, "/lib/x.jpg.xmp")
    assert store.xmp_records() == []
    store.save_xmp_record(rec)
    store.forget_photo("/lib/x.jpg")  # the records go with the photo
    assert store.xmp_records() == [] and store.xmp_read_signature(pid) is None


def test_snapshot_reads_one_state_while_another_thread_commits(store):
    """Reads inside ``snapshot()`` agree with each other (a person page's counts and faces): a commit made
    meanwhile on another connection (another thread) is seen only after the block."""
    import threading

    store.add_person("Ann")
    with store.snapshot():
        before = [p.name for p in store.list_people()]
        writer = threading.Thread(target=store.add_person, args=("Bob",))
        writer.start()
        writer.join()
        assert [p.name for p in store.list_people()] == before
    assert sorted(p.name for p in store.list_people()) == sorted([*before, "Bob"])
