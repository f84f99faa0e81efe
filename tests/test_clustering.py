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


def _naive_average_linkage(emb, threshold):
    """The textbook loop: argmin over the whole distance matrix at every merge."""
    n = len(emb)
    dist = (1.0 - emb @ emb.T).astype(np.float64)
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


def _naive_leader(emb, threshold):
    labels, centres, sums = np.full(len(emb), -1), [], []
    for i, v in enumerate(emb):
        if centres:
            d = 1.0 - np.stack(centres) @ v
            k = int(np.argmin(d))
            if d[k] <= threshold:
                labels[i] = k
                sums[k] = sums[k] + v
                centres[k] = sums[k] / np.linalg.norm(sums[k])
                continue
        labels[i] = len(centres)
        centres.append(v.copy())
        sums.append(v.copy())
    return labels


@pytest.mark.parametrize("n,people,noise", [(40, 4, 0.5), (400, 30, 0.9), (900, 150, 0.5), (600, 10, 1.3)])
def test_fast_clustering_makes_the_textbook_merges(n, people, noise):
    from facerec.clustering import _average_linkage, _leader

    rng = np.random.default_rng(n)
    centres = rng.normal(size=(people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    emb = centres[rng.integers(0, people, n)] + noise / np.sqrt(128) * rng.normal(size=(n, 128))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    emb[5] = emb[3]  # exact ties must be broken the same way
    for threshold in (0.25, 0.45, 0.7):
        np.testing.assert_array_equal(_average_linkage(emb, threshold), _naive_average_linkage(emb, threshold))
        np.testing.assert_array_equal(_leader(emb, threshold), _naive_leader(emb, threshold))
