"""The library's decisions, re-matching and undo on a gallery of synthetic embeddings (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest

from facerec.library import undo as undo_mod
from facerec.library.review import Action, MatchPolicy, decide, rematch
from facerec.store import GalleryStore, NewFace

M = "m1"
POLICY = MatchPolicy.fixed(M, 0.3)


def unit(*vals: float) -> np.ndarray:
    v = np.zeros(8, np.float32)
    v[: len(vals)] = vals
    return v / np.linalg.norm(v)


ANN = unit(1, 0)
KIT = unit(0, 1)
KIT2 = unit(0.05, 1)
STRANGER = unit(0, 0, 1)


def add_photo(store: GalleryStore, name: str, *embs: np.ndarray) -> list[int]:
    faces = [NewFace([10 + 50 * i, 10, 50 + 50 * i, 60], None, 0.99, e, None, None) for i, e in enumerate(embs)]
    store.save_photo(f"/lib/{name}.jpg", 1, 1, name, 640, 480, M, faces)
    return [f.id for f in store.photo_faces(f"/lib/{name}.jpg")]


def dump(store: GalleryStore) -> list[tuple]:
    conn = store._conn()
    return [
        *[tuple(r) for r in conn.execute("SELECT id, person_id, status, distance, source FROM faces ORDER BY id")],
        *[tuple(r) for r in conn.execute("SELECT id, name, hidden, feature_face_id FROM people ORDER BY id")],
        *[tuple(r) for r in conn.execute("SELECT id, person_id, face_id FROM samples ORDER BY id")],
        *[tuple(r) for r in conn.execute("SELECT * FROM face_rejections ORDER BY face_id, person_id")],
    ]


@pytest.fixture
def lib(store):
    store.add_sample("Ann", ANN, M)
    ids = [*add_photo(store, "a", ANN, KIT), *add_photo(store, "b", KIT2), *add_photo(store, "c", STRANGER)]
    rematch(store, POLICY)
    return store, ids


def test_assign_teaches_at_once_and_undo_restores_exactly(lib):
    store, (ann, kit, kit2, stranger) = lib
    assert [(f.person, f.status) for f in store.faces()] == [("Ann", "auto"), (None, "unknown"), (None, "unknown"), (None, "unknown")]
    before = dump(store)
    res = decide(store, POLICY, [kit], Action.ASSIGN, "Kit")
    assert res.changed == [kit] and res.rematch.changed == 1
    faces = {f.id: f for f in store.faces()}
    assert (faces[kit].person, faces[kit].status) == ("Kit", "confirmed")
    assert (faces[kit2].person, faces[kit2].status) == ("Kit", "auto")  # suggested without any rescan
    assert faces[stranger].status == "unknown"
    index = store.gallery_index(M)
    assert sorted(index.sample_kind.tolist()) == [0, 1]  # one enrolment sample, one confirmed face
    assert store.gallery_size(M) == 2 and store.gallery_size(M, include_confirmed=False) == 1
    result = undo_mod.undo(store)
    assert result.kind == "assign" and result.skipped == 0
    assert dump(store) == before  # Kit is gone again, the suggestion too
    assert undo_mod.undo(store) is None


def test_rejected_is_never_suggested_again_for_that_person(lib):
    store, (ann, kit, kit2, stranger) = lib
    decide(store, POLICY, [ann], Action.REJECT)
    f = next(f for f in store.faces() if f.id == ann)
    assert f.status == "rejected" and f.person is None
    store.add_sample("Ann", unit(1, 0.01), M)  # more evidence for Ann: still not suggested
    rematch(store, POLICY)
    assert next(f for f in store.faces() if f.id == ann).status == "rejected"
    decide(store, POLICY, [kit], Action.ASSIGN, "Kit")
    decide(store, POLICY, [kit2], Action.REJECT)
    store.add_sample("Bob", KIT2, M)  # someone else matches: suggested for them, the rejection of Kit stays
    rematch(store, POLICY)
    f2 = next(f for f in store.faces() if f.id == kit2)
    assert (f2.person, f2.status) == ("Bob", "auto")
    assert store._conn().execute("SELECT COUNT(*) FROM face_rejections WHERE face_id = ?", (kit2,)).fetchone()[0] == 1


def test_confirm_ignore_reset_and_refusals(lib):
    store, (ann, kit, kit2, stranger) = lib
    res = decide(store, POLICY, [ann, stranger, 999], Action.CONFIRM)
    assert res.changed == [ann] and [r[0] for r in res.refused] == [stranger, 999]
    res = decide(store, POLICY, [stranger], Action.IGNORE)
    assert next(f for f in store.faces() if f.id == stranger).status == "ignored"
    store.add_sample("Stranger", STRANGER, M)
    rematch(store, POLICY)
    assert next(f for f in store.faces() if f.id == stranger).status == "ignored"  # ignored stays out of suggestions
    decide(store, POLICY, [stranger], Action.RESET)
    f = next(f for f in store.faces() if f.id == stranger)
    assert (f.person, f.status) == ("Stranger", "auto")
    assert [h.kind for h in undo_mod.history(store)] == ["reset", "ignore", "confirm"]


def test_withdrawing_a_confirmed_face_withdraws_its_evidence(lib):
    store, (ann, kit, kit2, stranger) = lib
    decide(store, POLICY, [kit], Action.ASSIGN, "Kit")
    decide(store, POLICY, [kit], Action.RESET)
    faces = {f.id: f for f in store.faces()}
    assert faces[kit].status == faces[kit2].status == "unknown"


def test_undo_survives_a_restart_and_a_rescan(tmp_path):
    path = tmp_path / "g.db"
    with GalleryStore(path) as store:
        store.add_sample("Ann", ANN, M)
        (kit,) = add_photo(store, "k", KIT)
        before = dump(store)
        decide(store, POLICY, [kit], Action.ASSIGN, "Kit")
    with GalleryStore(path) as store:
        assert undo_mod.undo(store).summary == f"assign face {kit} as Kit"
        assert dump(store) == before
        decide(store, POLICY, [kit], Action.IGNORE)
        add_photo(store, "k", KIT)  # rescanned: the ignored face keeps its state and its id
        (f,) = store.photo_faces("/lib/k.jpg")
        assert f.id == kit and f.status == "ignored"
        assert undo_mod.undo(store).skipped == 0  # so the decision can still be undone
        assert store.photo_faces("/lib/k.jpg")[0].status == "unknown"


def test_undo_after_regrouping_puts_faces_back_in_a_group(lib):
    """Named faces leave their group, and a regrouping (the GUI regroups after every change) deletes the emptied
    group: undoing the naming must not put the faces back into the deleted group (a foreign key error left the
    undo impossible); they come back ungrouped, and the next regrouping groups them again."""
    from facerec.library.grouping import list_groups, update_groups

    store, (ann, kit, kit2, stranger) = lib
    update_groups(store, M, 0.3)
    group_of = {f: g.id for g in list_groups(store, M) for f in g.face_ids}
    assert group_of[kit] == group_of[kit2] and ann not in group_of
    before = dump(store)
    decide(store, POLICY, [kit], Action.ASSIGN, "Kit")  # kit confirmed, kit2 suggested: both leave the group
    update_groups(store, M, 0.3)
    assert kit not in {f for g in list_groups(store, M) for f in g.face_ids}
    assert undo_mod.undo(store).skipped == 0
    assert dump(store) == before
    update_groups(store, M, 0.3)
    regrouped = {f: g.id for g in list_groups(store, M) for f in g.face_ids}
    assert regrouped[kit] == regrouped[kit2] != regrouped[stranger]


def test_deleting_a_person_clears_the_undo_log(lib):
    store, (ann, kit, kit2, stranger) = lib
    decide(store, POLICY, [kit], Action.ASSIGN, "Kit")
    store.delete_person("Kit")
    assert undo_mod.history(store) == [] and undo_mod.undo(store) is None


def test_incremental_rematch_equals_a_full_one(store):
    """After each decision (re-matched from the grown people only, when evidence only grew), a full
    re-match changes nothing: both give the same library."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(6, 8)).astype(np.float32)
    for p in range(3):
        store.add_sample(f"P{p}", centres[p] / np.linalg.norm(centres[p]), M)
    ids = []
    for k in range(40):
        c = centres[k % 6] + 0.35 * rng.normal(size=8).astype(np.float32)
        ids += add_photo(store, f"x{k}", c / np.linalg.norm(c))
    policy = MatchPolicy(M, lambda index: 0.45 - 0.02 * len(index))  # stricter as evidence grows, like the real curve
    rematch(store, policy)
    actions = [Action.CONFIRM, Action.ASSIGN, Action.REJECT, Action.IGNORE, Action.ASSIGN, Action.CONFIRM, Action.RESET, Action.REJECT]
    for step in range(24):
        action = actions[step % len(actions)]
        faces = {f.id: f for f in store.faces()}
        pick = [i for i in ids if faces[i].status in (("auto",) if action in (Action.CONFIRM, Action.REJECT) else ("auto", "unknown", "confirmed", "ignored"))]
        if not pick:
            continue
        fid = int(rng.choice(pick))
        decide(store, policy, [fid], action, f"P{rng.integers(0, 5)}" if action is Action.ASSIGN else None)
        assert rematch(store, policy).changed == 0, f"step {step}: {action} on face {fid}"
