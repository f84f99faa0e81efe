"""SFace's vectors are centred (facerec.embedders.sface): a gallery that holds the network's plain vectors (model
id ``sface-2021dec``, galleries made before) is converted once when it is opened: samples, faces, photos' model
ids and the undo log's snapshots, after keeping a copy. Nothing the user enrolled or decided is lost."""

from __future__ import annotations

import numpy as np
import pytest

from facerec.embedders.packs import get_pack, vector_conversions
from facerec.embedders.sface import PLAIN_MODEL_ID, SFaceEmbedder, centre, centre_vector
from facerec.library.people import remove_sample
from facerec.library.undo import undo
from facerec.store import GalleryStore, NewFace
from postgres_server import postgres_server, postgres_url  # noqa: F401

SFACE = get_pack("sface").model_id


def _unit(rng, n: int) -> np.ndarray:
    """n unit vectors sharing SFace faces' common component (their mean is about ``centre_vector()``)."""
    u = rng.normal(size=(n, 128)).astype(np.float32)
    c = centre_vector() / np.linalg.norm(centre_vector())
    v = u / np.linalg.norm(u, axis=1, keepdims=True) + 0.337 * c
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_pack_declares_the_conversion():
    assert SFACE != PLAIN_MODEL_ID
    assert (PLAIN_MODEL_ID, SFACE, "facerec.embedders.sface:centre") in vector_conversions()


def test_centring_spreads_faces_and_keeps_unit_length():
    rng = np.random.default_rng(0)
    plain = _unit(rng, 50)
    out = centre(plain)
    assert out.shape == (50, 128) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    off = ~np.eye(50, dtype=bool)
    assert (out @ out.T)[off].mean() < (plain @ plain.T)[off].mean()  # what all faces share is taken out


def test_old_gallery_is_converted_once_and_keeps_everything(tmp_path):
    rng = np.random.default_rng(1)
    samples, faces = _unit(rng, 2), _unit(rng, 2)
    db = tmp_path / "g.db"
    with GalleryStore(db) as store:  # what an earlier facerec wrote: SFace's plain vectors
        ann = store.add_sample("Ann", samples[0], PLAIN_MODEL_ID)
        store.add_sample("Ann", samples[1], PLAIN_MODEL_ID)
        store.save_photo("/p/a.jpg", 1, 1, "h", 100, 100, PLAIN_MODEL_ID, [
            NewFace([0, 0, 10, 10], None, 0.9, faces[0], None, None), NewFace([20, 0, 30, 10], None, 0.9, faces[1], None, None),
        ])
        store.save_photo("/p/none.jpg", 1, 1, "h2", 100, 100, PLAIN_MODEL_ID, [])
        first = store.list_samples("Ann")[0].id
        remove_sample(store, None, first)  # an undoable operation whose snapshot holds a plain vector
    del ann

    with GalleryStore(db) as store:
        conn = store._conn()
        assert {r[0] for r in conn.execute("SELECT model_id FROM samples UNION SELECT model_id FROM faces UNION SELECT model_id FROM photos")} == {SFACE}
        index = store.gallery_index(SFACE, include_confirmed=False)
        assert len(index) == 1 and np.allclose(index.embeddings[0], centre(samples[1:2])[0], atol=1e-6)
        got = store.face_embeddings([f.id for f in store.photo_faces("/p/a.jpg")])
        assert np.allclose(got, centre(faces), atol=1e-6)
        assert undo(store) is not None  # the removed sample comes back converted, under the model in use
        index = store.gallery_index(SFACE, include_confirmed=False)
        assert len(index) == 2 and np.allclose(np.sort(index.embeddings, axis=0), np.sort(centre(samples), axis=0), atol=1e-6)
        assert store.gallery_index(PLAIN_MODEL_ID, include_confirmed=False).embeddings.shape[0] == 0
    copies = sorted(p.name for p in tmp_path.iterdir() if "before-" in p.name)
    assert copies == [f"g.before-{SFACE}.db"]

    with GalleryStore(db) as store:  # converted once: opening again changes nothing and keeps no new copy
        again = store.face_embeddings([f.id for f in store.photo_faces("/p/a.jpg")])
        assert np.array_equal(again, got)
    assert sorted(p.name for p in tmp_path.iterdir() if "before-" in p.name) == copies


def test_an_upgrade_and_a_conversion_keep_one_copy(tmp_path):
    """A gallery of an older schema holding plain vectors: the schema upgrade's copy is the only one kept."""
    import sqlite3

    db = tmp_path / "g.db"
    with GalleryStore(db) as store:
        store.add_sample("Ann", _unit(np.random.default_rng(4), 1)[0], PLAIN_MODEL_ID)
    conn = sqlite3.connect(db)
    conn.execute("DROP INDEX faces_model")
    conn.execute("DROP INDEX photos_model")
    conn.execute("PRAGMA user_version=6")
    conn.commit()
    conn.close()
    with GalleryStore(db) as store:
        assert store.schema_version() == 7 and store.gallery_size(SFACE, include_confirmed=False) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if "before-" in p.name) == ["g.before-schema-7.db"]


def test_new_gallery_keeps_no_copy(tmp_path):
    with GalleryStore(tmp_path / "g.db") as store:
        store.add_sample("Ann", np.ones(128, np.float32) / np.sqrt(128), SFACE)
    with GalleryStore(tmp_path / "g.db"):
        pass
    assert not [p for p in tmp_path.iterdir() if "before-" in p.name]


def test_converted_vector_equals_the_embedders(sface_installed):
    """Converting a stored plain vector gives what the centred embedder gives for the same face."""
    chips = np.random.default_rng(2).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
    plain = SFaceEmbedder(sface_installed, PLAIN_MODEL_ID, 0.5).embed(chips)
    centred = SFaceEmbedder(sface_installed, SFACE, 0.5, centred=True).embed(chips)
    assert np.allclose(centre(plain), centred, atol=1e-5)
    flipped = SFaceEmbedder(sface_installed, PLAIN_MODEL_ID, 0.5, flip=True).embed(chips)
    assert np.allclose(centre(flipped), SFaceEmbedder(sface_installed, SFACE, 0.5, flip=True, centred=True).embed(chips), atol=1e-5)


@pytest.mark.parametrize("bad", ["{}", '{"vector": [1, 2]}', "not json"])
def test_a_broken_centre_file_is_a_clear_error(tmp_path, monkeypatch, bad):
    from facerec.embedders import sface
    from facerec.errors import ModelNotInstalledError

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "sface-2021dec-centre.json").write_text(bad)
    monkeypatch.setattr(sface, "resources_dir", lambda: tmp_path)
    sface.centre_vector.cache_clear()
    try:
        with pytest.raises(ModelNotInstalledError, match="sface-2021dec-centre.json"):
            sface.centre_vector()
    finally:
        sface.centre_vector.cache_clear()


def test_postgres_gallery_is_converted_and_its_vector_index_follows(postgres_url):
    """On PostgreSQL the converted faces are searched anew by the pgvector index (face_vectors copies faces once:
    the conversion drops the old copies)."""
    rng = np.random.default_rng(3)
    faces = _unit(rng, 4)
    with GalleryStore(postgres_url) as store:
        store.save_photo("/p/b.jpg", 1, 1, "h", 100, 100, PLAIN_MODEL_ID, [NewFace([i, 0, i + 5, 5], None, 0.9, f, None, None) for i, f in enumerate(faces)])
        assert store.nearest_faces(faces[0], PLAIN_MODEL_ID, k=1)[0][1] == pytest.approx(0.0, abs=1e-4)  # copied for the index
    with GalleryStore(postgres_url) as store:
        ids = [f.id for f in store.photo_faces("/p/b.jpg")]
        converted = centre(faces)
        assert np.allclose(store.face_embeddings(ids), converted, atol=1e-6)
        found = store.nearest_faces(converted[2], SFACE, k=4)
        assert [fid for fid, _ in found][0] == ids[2] and found[0][1] == pytest.approx(0.0, abs=1e-4)
        assert store.nearest_faces(faces[0], PLAIN_MODEL_ID, k=1) == []
