import numpy as np

from facerec.embedders.base import l2_normalize
from facerec.matching import GalleryIndex


def _gallery():
    rng = np.random.default_rng(1)
    centres = l2_normalize(rng.normal(size=(4, 32)))
    emb, pids = [], []
    for pid, c in zip([7, 3, 9, 5], centres):
        for _ in range(3):
            emb.append(l2_normalize(c + 0.05 * rng.normal(size=32)))
            pids.append(pid)
    # shuffle so rows of one person are not adjacent
    order = rng.permutation(len(pids))
    return centres, np.array(emb)[order], np.array(pids)[order]


def test_search_names_nearest_person_and_rejects_strangers():
    centres, emb, pids = _gallery()
    index = GalleryIndex(emb, pids, {7: "a", 3: "b", 9: "c", 5: "d"}, "m")
    assert index.num_people == 4 and len(index) == 12
    matches = index.search(centres, threshold=0.2, top_k=3)
    assert [m.name for m in matches] == ["a", "b", "c", "d"]
    assert all(len(m.candidates) == 3 for m in matches)
    assert all(m.candidates[0].distance <= m.candidates[1].distance <= m.candidates[2].distance for m in matches)
    stranger = l2_normalize(np.random.default_rng(5).normal(size=(1, 32)))
    (m,) = index.search(stranger, threshold=0.2)
    assert m.person_id is None and not m.known and m.distance > 0.2
    assert m.candidates, "an unknown face still reports its nearest candidates"


def test_person_distance_is_nearest_sample_brute_force():
    centres, emb, pids = _gallery()
    index = GalleryIndex(emb, pids, {}, "m")
    q = l2_normalize(np.random.default_rng(2).normal(size=(6, 32)))
    got = index.person_distances(q)
    for j, pid in enumerate(index.person_ids):
        expected = (1 - q @ emb[pids == pid].T).min(axis=1)
        np.testing.assert_allclose(got[:, j], expected, atol=1e-6)


def test_empty_gallery_gives_unknown():
    (m,) = GalleryIndex.empty("m").search(np.ones((1, 8), np.float32) / np.sqrt(8), 0.5)
    assert m.person_id is None and m.distance == float("inf")


def test_size_threshold_gets_stricter_as_gallery_grows():
    from facerec.matching import size_threshold

    curve = (0.66, 0.058)
    ts = [size_threshold(curve, n) for n in (1, 5, 100, 4000, 100000)]
    assert ts == sorted(ts, reverse=True)
    assert abs(ts[0] - 0.66) < 1e-9 and abs(size_threshold(curve, 1000) - (0.66 - 3 * 0.058)) < 1e-9
