import numpy as np

from facerec.evaluation.lfw import best_threshold, parse_pairs, tar_at_far
from facerec.evaluation.openset import openset_metrics, openset_protocol, threshold_for_far


def test_parse_pairs(tmp_path):
    lines = ["2 1", "A 1 2", "A 1 B 1", "C 1 3", "D 2 E 4"]
    (tmp_path / "pairs.txt").write_text("\n".join(lines))
    folds = parse_pairs(tmp_path / "pairs.txt")
    assert len(folds) == 2 and len(folds[0]) == 2
    assert folds[0][0].same and folds[0][0].a.endswith("A/A_0001.jpg") and folds[0][0].b.endswith("A/A_0002.jpg")
    assert not folds[1][1].same and folds[1][1].b.endswith("E/E_0004.jpg")


def test_best_threshold_separates():
    d = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    s = np.array([1, 1, 1, 0, 0, 0], bool)
    t = best_threshold(d, s)
    assert 0.3 < t < 0.7


def test_tar_at_far():
    diff = np.linspace(0.5, 1.5, 1000)
    same = np.array([0.2, 0.4, 0.6])
    tar, t = tar_at_far(same, diff, 0.01)
    assert np.mean(diff <= t) <= 0.01
    assert tar == 2 / 3


def test_openset_protocol_and_metrics():
    ids = {"a": ["a1", "a2", "a3"], "b": ["b1", "b2"], "s": ["s1"], "t": ["t1"]}
    split = openset_protocol(ids, max_gallery=5)
    assert split.gallery_paths == ["a1", "a2", "b1"] and split.probe_paths == ["a3", "b2"]
    assert split.stranger_paths == ["s1", "t1"]
    e = np.eye(4, dtype=np.float32)
    m = openset_metrics(e[[0, 0, 1]], split.gallery_labels, e[[0, 1]], split.probe_labels, e[[2, 3]], 0.5)
    assert m["rank1"] == 1.0 and m["dir"] == 1.0 and m["stranger_far"] == 0.0
    assert threshold_for_far(np.array([0.1, 0.2, 0.3, 0.4]), 0.25) < 0.2


def test_cached_vectors_are_not_reused_for_other_detector_settings(fr_faces, sface_installed, tmp_path, monkeypatch):
    """embed_images' cache serves the same images, model and detector settings again, and is recomputed (not
    reused) when a detector setting changed: the figures then follow the detector in force."""
    from facerec.config import Settings
    from facerec.evaluation import lfw
    from facerec.pipeline import FaceAnalyzer

    paths = [str(p) for p in sorted((fr_faces / "obama").glob("*.jpg"))[:2]]
    cache = tmp_path / "vectors.npz"
    first = lfw.embed_images(FaceAnalyzer(Settings()), paths, cache=cache)
    calls = []
    real = lfw.central_face_chips
    monkeypatch.setattr(lfw, "central_face_chips", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = lfw.embed_images(FaceAnalyzer(Settings()), paths, cache=cache)
    assert calls == [] and np.array_equal(again.embeddings, first.embeddings)
    other = Settings()
    other.detector.min_face_size = 40
    lfw.embed_images(FaceAnalyzer(other), paths, cache=cache)
    assert calls == [1]
