"""Personalisation (`facerec adapt`): a projection head fitted on the gallery is kept only when
cross-validated identification improves, is applied through GalleryStore.gallery_index, and reverts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facerec.matching import GalleryIndex
from facerec.training.adapt import AdaptConfig, adapt_gallery, cross_validate, distance_scale, fold_assignment, revert
from facerec.personalisation import AdaptedGalleryIndex, ProjectionHead, adapt_index, head_path

SFACE_ID = "sface-2021dec-centred"


def nuisance_gallery(people=8, per_person=6, dim=128, seed=0, signal=1.0, nuisance=1.2):
    """Unit vectors whose identity lives in 16 dimensions, swamped by per-sample noise in the rest:
    a linear projection that damps the noisy dimensions helps identification."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 16))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    emb, labels = [], []
    for p in range(people):
        for _ in range(per_person):
            v = np.zeros(dim)
            v[:16] = signal * centres[p] + 0.15 * rng.normal(size=16)
            v[16:] = nuisance * rng.normal(size=dim - 16) / np.sqrt(dim - 16)
            emb.append(v / np.linalg.norm(v))
            labels.append(p)
    return np.array(emb, np.float32), np.array(labels)


def test_fold_assignment_keeps_singletons_in_gallery_and_spreads_people():
    labels = np.array([0, 0, 0, 0, 0, 1, 2, 2])
    f = fold_assignment(labels, 5, seed=1)
    assert f[5] == -1
    assert len(set(f[:5])) == 5  # five samples of person 0 over five folds
    assert f[6] != f[7]


def test_distance_scale_restores_the_impostor_tail():
    emb, labels = nuisance_gallery()
    assert distance_scale(emb, emb, labels) == pytest.approx(1.0)
    squeezed = emb.copy()
    squeezed[:, 16:] *= 0.1  # a projection that pulls everyone together
    squeezed /= np.linalg.norm(squeezed, axis=1, keepdims=True)
    s = distance_scale(emb, squeezed, labels)
    iu = np.triu_indices(len(labels), 1)
    diff = labels[iu[0]] != labels[iu[1]]
    q = lambda x: np.quantile((1 - x @ x.T)[iu][diff], 0.01)  # noqa: E731
    assert q(squeezed) * s == pytest.approx(q(emb), rel=1e-5)


@pytest.mark.slow
def test_head_improves_a_noisy_gallery_and_is_kept(tmp_path):
    emb, labels = nuisance_gallery()
    db = tmp_path / "g.db"
    report = adapt_gallery(emb, labels, SFACE_ID, 0.5, db, AdaptConfig(steps=150))
    assert report.kept, report
    assert report.adapted > report.baseline
    head = ProjectionHead.load(head_path(db, SFACE_ID))
    assert head.weight.shape == (128, 128) and head.model_id == SFACE_ID and head.scale > 0
    assert head.meta["baseline"] == pytest.approx(report.baseline)
    assert revert(db, SFACE_ID) and not head_path(db, SFACE_ID).exists()
    assert not revert(db, SFACE_ID)


def test_head_not_kept_when_the_gallery_is_already_perfect(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 4)
    emb = np.eye(128, dtype=np.float32)[labels] + 0.02 * rng.normal(size=(24, 128)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    base, _ = cross_validate(emb, labels, 0.5, AdaptConfig(steps=20))
    assert base == 1.0
    report = adapt_gallery(emb, labels, SFACE_ID, 0.5, tmp_path / "g.db", AdaptConfig(steps=20))
    assert not report.kept and not head_path(tmp_path / "g.db", SFACE_ID).exists()


def test_too_small_gallery_is_refused(tmp_path):
    emb, labels = nuisance_gallery(people=4)
    report = adapt_gallery(emb, labels, SFACE_ID, 0.5, tmp_path / "g.db")
    assert not report.kept and "at least 5 people" in report.reason
    emb, labels = nuisance_gallery(people=6, per_person=2)
    assert not adapt_gallery(emb, labels, SFACE_ID, 0.5, tmp_path / "g.db").kept


def test_adapted_index_projects_gallery_and_queries(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(4, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    raw = GalleryIndex(emb, np.array([1, 1, 2, 2]), {1: "a", 2: "b"}, "m")
    w = np.diag(np.r_[np.ones(4), np.zeros(4)]).astype(np.float32)  # keep only the first 4 dimensions
    ProjectionHead(w, "m").save(head_path(tmp_path / "g.db", "m"))
    idx = adapt_index(tmp_path / "g.db", raw)
    assert isinstance(idx, AdaptedGalleryIndex) and idx.raw is raw
    q = emb[:1]
    proj = lambda x: (x @ w) / np.linalg.norm(x @ w, axis=1, keepdims=True)  # noqa: E731
    expect = 1 - np.max(proj(q) @ proj(emb[:2]).T)
    assert idx.person_distances(q)[0, 0] == pytest.approx(expect, abs=1e-5)
    # another model's gallery, or an empty one, is left alone
    assert adapt_index(tmp_path / "g.db", GalleryIndex(emb, np.array([1, 1, 2, 2]), {1: "a", 2: "b"}, "other")) is not None
    assert not isinstance(adapt_index(tmp_path / "g.db", GalleryIndex.empty("m")), AdaptedGalleryIndex)


@pytest.mark.slow
def test_adapt_cli_on_a_store(tmp_path, sface_installed, capsys):
    from facerec.cli import main
    from facerec.store import GalleryStore

    db = tmp_path / "g.db"
    emb, labels = nuisance_gallery()
    with GalleryStore(db) as store:
        for e, lab in zip(emb, labels):
            store.add_sample(f"person{lab}", e, SFACE_ID)
    assert main(["adapt", "--db", str(db), "-q", "--json", "--steps", "100"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kept"] and report["people"] == 8 and report["samples"] == 48
    with GalleryStore(db) as store:
        idx = store.gallery_index(SFACE_ID)
        assert isinstance(idx, AdaptedGalleryIndex)  # identification, tagging and rematch all use it
        hits = [m.name for m in idx.search(emb, 0.5, 1)]
        assert np.mean([h == f"person{lab}" for h, lab in zip(hits, labels)]) >= report["adapted"]
        # adapting again starts from the raw vectors, not from projected ones
    assert main(["adapt", "--db", str(db), "-q", "--json", "--steps", "100"]) == 0
    assert json.loads(capsys.readouterr().out)["baseline"] == pytest.approx(report["baseline"])
    assert main(["adapt", "--db", str(db), "-q", "--revert"]) == 0
    assert "removed" in capsys.readouterr().out
    with GalleryStore(db) as store:
        assert not isinstance(store.gallery_index(SFACE_ID), AdaptedGalleryIndex)


def test_adapt_cli_refuses_a_small_gallery(tmp_path, sface_installed, capsys):
    from facerec.cli import main

    assert main(["adapt", "--db", str(tmp_path / "g.db"), "-q"]) == 3
    assert "needs at least 5 people" in capsys.readouterr().out
