"""facerec.clustering: unknown faces grouped by likeness."""

from __future__ import annotations

import numpy as np
import pytest

from facerec.clustering import cluster_embeddings


def _groups(rng, centres, per, noise):
    out, labels = [], []
    for k, c in enumerate(centres):
        v = c + noise * rng.standard_normal((per, len(c)))
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        labels += [k] * per
    return np.concatenate(out).astype(np.float32), labels


def test_separates_identities_and_keeps_ids():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 128))
    emb, labels = _groups(rng, centres, 6, 0.04)
    order = rng.permutation(len(emb))
    ids = [1000 + i for i in order]
    clusters = cluster_embeddings(emb[order], threshold=0.4, ids=ids)
    assert sorted(len(c) for c in clusters) == [6, 6, 6]
    for c in clusters:
        assert len({labels[i - 1000] for i in c.members}) == 1
        assert c.spread < 0.2


def test_threshold_min_size_and_empty():
    rng = np.random.default_rng(1)
    emb, _ = _groups(rng, rng.standard_normal((4, 64)), 1, 0.0)
    assert len(cluster_embeddings(emb, threshold=0.3)) == 4  # strangers stay apart
    assert cluster_embeddings(emb, threshold=0.3, min_size=2) == []
    assert cluster_embeddings(np.zeros((0, 64), np.float32), threshold=0.3) == []


def test_leader_pass_for_large_sets_agrees():
    rng = np.random.default_rng(2)
    emb, labels = _groups(rng, rng.standard_normal((5, 64)), 20, 0.05)
    exact = cluster_embeddings(emb, 0.4)
    greedy = cluster_embeddings(emb, 0.4, max_exact=10)
    assert sorted(map(len, exact)) == sorted(map(len, greedy)) == [20] * 5


@pytest.mark.data
@pytest.mark.slow
def test_real_faces_group_by_person(analyzer, fr_faces):
    paths = [fr_faces / "obama" / n for n in ("obama.jpg", "obama2.jpg", "obama_small.jpg")] + [
        fr_faces / "biden" / n for n in ("biden.jpg", "biden2.jpg")
    ]
    emb = np.stack([analyzer.analyze(p)[0].embedding for p in paths])
    clusters = cluster_embeddings(emb, threshold=analyzer.threshold)
    assert sorted(sorted(c.members) for c in clusters) == [[0, 1, 2], [3, 4]]
