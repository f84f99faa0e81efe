"""facerec.library.grouping: unknown faces grouped by likeness, kept up to date with stable ids."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from facerec.errors import StoreError
from facerec.library import grouping
from facerec.library.grouping import group_embeddings, list_groups, merge_groups, split_group, update_groups
from facerec.store import GalleryStore, NewFace

MODEL = "sface-2021dec-centred"


def people(rng, n_people, per, noise, dim=128):
    """Unit vectors of ``n_people`` people, ``per`` faces each, scattered by ``noise`` around each centre."""
    centres = rng.normal(size=(n_people, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    who = np.repeat(np.arange(n_people), per)
    emb = centres[who] + noise / np.sqrt(dim) * rng.normal(size=(len(who), dim))
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32), who


def textbook_average_linkage(emb, threshold):
    """The textbook loop: merge the pair of groups with the smallest mean distance while it is within the threshold."""
    n = len(emb)
    dist = (1.0 - emb.astype(np.float64) @ emb.T.astype(np.float64))
    np.fill_diagonal(dist, np.inf)
    sizes, labels = np.ones(n), np.arange(n)
    while True:
        i, j = divmod(int(np.argmin(dist)), n)
        if not np.isfinite(dist[i, j]) or dist[i, j] > threshold:
            return labels
        new = (sizes[i] * dist[i] + sizes[j] * dist[j]) / (sizes[i] + sizes[j])
        dist[i, :], dist[:, i] = new, new
        dist[i, i] = np.inf
        dist[j, :], dist[:, j] = np.inf, np.inf
        sizes[i] += sizes[j]
        labels[labels == j] = i


@pytest.mark.parametrize("n_people,per,noise", [(4, 10, 0.5), (30, 12, 0.9), (150, 6, 0.5), (10, 60, 1.3)])
def test_same_groups_as_textbook_average_linkage(n_people, per, noise):
    rng = np.random.default_rng(n_people)
    emb, _ = people(rng, n_people, per, noise)
    for threshold in (0.25, 0.45, 0.7):
        ours = group_embeddings(emb, threshold)
        assert adjusted_rand_score(textbook_average_linkage(emb, threshold), ours) == 1.0


def test_any_order_gives_the_same_groups_and_numbers():
    rng = np.random.default_rng(3)
    emb, _ = people(rng, 40, 8, 1.0)
    labels = group_embeddings(emb, 0.45)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(emb))
        assert np.array_equal(group_embeddings(emb[perm], 0.45), labels[perm])


@pytest.mark.parametrize("n_people,per,noise", [(12, 25, 0.8), (30, 12, 1.1)])
def test_large_components_get_the_same_average_linkage(monkeypatch, n_people, per, noise):
    """Components above EXACT_COMPONENT go through graph_average_linkage (exact mean distances from vector
    sums): with every pair within the threshold in the graph, it makes the textbook merges."""
    rng = np.random.default_rng(4)
    emb, who = people(rng, n_people, per, noise)
    monkeypatch.setattr(grouping, "EXACT_COMPONENT", 10)
    for threshold in (0.45, 0.7):
        ours = group_embeddings(emb, threshold, neighbours=len(emb))
        assert adjusted_rand_score(textbook_average_linkage(emb, threshold), ours) == 1.0


def test_indexed_neighbour_search_for_large_sets(monkeypatch):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(5)
    emb, who = people(rng, 200, 5, 0.5)
    monkeypatch.setattr(grouping, "EXACT_SEARCH", 100)  # faiss IVF above 100 faces
    assert adjusted_rand_score(who, group_embeddings(emb, 0.45)) == 1.0


def test_strangers_stay_apart_and_empty_input():
    rng = np.random.default_rng(6)
    emb, _ = people(rng, 5, 1, 0.0)
    assert sorted(group_embeddings(emb, 0.3).tolist()) == [0, 1, 2, 3, 4]
    assert group_embeddings(np.zeros((0, 128), np.float32), 0.3).size == 0
    assert group_embeddings(emb[:1], 0.3).tolist() == [0]


# -- in the library ----------------------------------------------------------------------------------
def add_faces(store: GalleryStore, emb: np.ndarray, start: int = 0) -> list[int]:
    """One photo per face (status unknown); returns the face ids in the order of ``emb``."""
    ids = []
    for i, v in enumerate(emb, start):
        path = f"/lib/p{i:05d}.jpg"
        store.save_photo(path, 1, 1, None, 100, 100, MODEL, [NewFace([0, 0, 50, 50], None, 0.99, v, None, None)])
        ids.append(store.photo_faces(path)[0].id)
    return ids


def labels_of(store, ids):
    groups = {f: g.id for g in list_groups(store, MODEL) for f in g.face_ids}
    return np.array([groups[i] for i in ids])


@pytest.fixture
def store(tmp_path):
    with GalleryStore(tmp_path / "g.db") as s:
        yield s


def test_new_faces_join_groups_that_keep_their_ids(store):
    rng = np.random.default_rng(7)
    emb, who = people(rng, 6, 6, 0.6)
    first = np.flatnonzero(np.arange(len(emb)) % 6 < 4)
    later = np.flatnonzero(np.arange(len(emb)) % 6 >= 4)
    ids = np.zeros(len(emb), np.int64)
    ids[first] = add_faces(store, emb[first])
    r = update_groups(store, MODEL, 0.45)
    assert (r.new_faces, r.created, r.groups) == (24, 6, 6)
    before = {g.id: set(g.face_ids) for g in list_groups(store, MODEL)}
    ids[later] = add_faces(store, emb[later], start=100)
    r = update_groups(store, MODEL, 0.45)
    assert (r.new_faces, r.joined, r.created) == (12, 12, 0)
    after = {g.id: set(g.face_ids) for g in list_groups(store, MODEL)}
    assert set(after) == set(before)  # the same group ids
    assert all(before[g] < after[g] for g in before)
    assert adjusted_rand_score(who, labels_of(store, ids)) == 1.0
    assert update_groups(store, MODEL, 0.45).regrouped == 0  # nothing new: nothing to do


@pytest.mark.slow
def test_scan_order_changes_groups_within_tolerance(tmp_path):
    """The documented tolerance: faces scanned in any order and in any batches give groups that agree with the
    batch grouping to an adjusted Rand index of at least 0.98."""
    rng = np.random.default_rng(8)
    emb, _ = people(rng, 60, 6, 1.05)
    batch = group_embeddings(emb, 0.45)
    for seed in range(3):
        r = np.random.default_rng(seed)
        perm = r.permutation(len(emb))
        cuts = np.sort(r.choice(np.arange(1, len(emb)), 4, replace=False))
        with GalleryStore(tmp_path / f"g{seed}.db") as store:
            ids = np.zeros(len(emb), np.int64)
            for part in np.split(perm, cuts):
                ids[part] = add_faces(store, emb[part], start=int(part[0]) * 1000)
                update_groups(store, MODEL, 0.45)
            assert adjusted_rand_score(batch, labels_of(store, ids)) >= 0.98
            update_groups(store, MODEL, 0.45, full=True)  # a full regroup is the batch grouping exactly
            assert adjusted_rand_score(batch, labels_of(store, ids)) == 1.0


def test_merge_split_and_manual_groups_survive_regrouping(store):
    rng = np.random.default_rng(9)
    emb, who = people(rng, 3, 5, 0.5)
    ids = np.array(add_faces(store, emb))
    update_groups(store, MODEL, 0.45)
    a, b, c = (labels_of(store, ids[who == k])[0] for k in range(3))
    assert merge_groups(store, [a, b]) == a
    new = split_group(store, c, ids[who == 2][:2].tolist())
    update_groups(store, MODEL, 0.45, full=True)
    groups = {g.id: g for g in list_groups(store, MODEL)}
    assert sorted(groups) == sorted([a, c, new])
    assert set(groups[a].face_ids) == set(ids[who < 2].tolist()) and groups[a].manual
    assert set(groups[new].face_ids) == set(ids[who == 2][:2].tolist()) and groups[c].manual
    # a new face of person 2 joins one of the manual groups it is close to on average, and breaks neither
    more = add_faces(store, emb[who == 2][:1] * 0.999 + 0.001 * emb[who == 2][1:2], start=500)
    update_groups(store, MODEL, 0.45)
    assert labels_of(store, more)[0] in (c, new)
    assert {g.id for g in list_groups(store, MODEL)} == {a, c, new}
    with pytest.raises(StoreError, match="no group"):
        merge_groups(store, [a, 99999])
    with pytest.raises(StoreError, match="not in group"):
        split_group(store, a, [int(ids[who == 2][0])])


def test_named_faces_leave_their_group(store):
    rng = np.random.default_rng(10)
    emb, who = people(rng, 2, 4, 0.5)
    ids = add_faces(store, emb)
    update_groups(store, MODEL, 0.45)
    g = labels_of(store, ids[:1])[0]
    for fid in np.array(ids)[who == 0]:
        store.set_face(int(fid), "confirmed", "Ada")
    update_groups(store, MODEL, 0.45)
    remaining = list_groups(store, MODEL)
    assert len(remaining) == 1 and g not in {x.id for x in remaining}
    assert store.group_flags().keys() == {remaining[0].id}  # the emptied group is gone


@pytest.mark.data
@pytest.mark.slow
def test_real_faces_group_by_person(analyzer, fr_faces):
    paths = [fr_faces / "obama" / n for n in ("obama.jpg", "obama2.jpg", "obama_small.jpg")] + [
        fr_faces / "biden" / n for n in ("biden.jpg", "biden2.jpg")
    ]
    emb = np.stack([analyzer.analyze(p)[0].embedding for p in paths])
    labels = group_embeddings(emb, grouping.grouping_threshold("sface"))
    assert labels.tolist() == [0, 0, 0, 1, 1] or labels.tolist() == [1, 1, 1, 0, 0]
