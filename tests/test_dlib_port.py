"""The torch port of dlib's face recognition ResNet against dlib itself (dlib-bin), on real face chips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facerec.embedders import WeightsSource
from facerec.embedders.weights import package_file

dlib = pytest.importorskip("dlib")


def _model_file(name: str) -> Path:
    path = package_file(
        WeightsSource(name, None, package="face_recognition_models", package_path=f"models/{name}")
    )
    if path is None:
        pytest.skip("face_recognition_models is not installed")
    return path


@pytest.fixture(scope="module")
def dlib_embedder():
    from facerec.embedders.dlib_resnet import DlibResNetEmbedder

    return DlibResNetEmbedder(_model_file("dlib_face_recognition_resnet_model_v1.dat"), "dlib-resnet-v1", 0.5)


@pytest.fixture(scope="module")
def chips(fr_faces) -> np.ndarray:
    """150x150 chips cut by dlib's own pipeline (HOG detector, 5-point predictor, get_face_chip)."""
    from facerec.imaging import load_image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(_model_file("shape_predictor_5_face_landmarks.dat")))
    out = []
    for path in sorted(fr_faces.glob("*/*.jpg"))[:40]:
        rgb = np.ascontiguousarray(load_image(path, max_side=800).rgb)
        for rect in detector(rgb, 0)[:1]:
            out.append(dlib.get_face_chip(rgb, predictor(rgb, rect), 150, 0.25))
        if len(out) >= 8:
            break
    if len(out) < 4:
        pytest.skip("too few faces found by dlib's detector")
    return np.stack(out)


def test_parse_dlib_file():
    from facerec.embedders.dlib_resnet import read_dlib_net

    net = read_dlib_net(_model_file("dlib_face_recognition_resnet_model_v1.dat"))
    assert net.loss.startswith("loss_metric")
    assert net.size == (150, 150)
    assert np.allclose(net.mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    assert sum(1 for l in net.layers if l.kind == "con") == 29
    assert net.layers[-1].kind == "fc" and net.layers[-1].weights.shape == (256, 128)


def test_torch_port_matches_dlib(dlib_embedder, chips):
    rec = dlib.face_recognition_model_v1(str(_model_file("dlib_face_recognition_resnet_model_v1.dat")))
    expected = np.array([np.array(rec.compute_face_descriptor(np.ascontiguousarray(c))) for c in chips])
    got = dlib_embedder.descriptors(chips)
    assert got.shape == expected.shape == (len(chips), 128)
    assert np.abs(got - expected).max() < 1e-4
    # and on chips from our own pipeline's alignment (MTCNN landmarks, DLIB_150 template) via embed()
    unit = dlib_embedder.embed(chips)
    assert np.allclose(unit, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-4)


def test_pipeline_chips_match_dlib(dlib_embedder, analyzer, fr_faces):
    """Chips aligned by our pipeline to the dlib template, fed to both implementations."""
    from facerec.alignment import align

    rec = dlib.face_recognition_model_v1(str(_model_file("dlib_face_recognition_resnet_model_v1.dat")))
    path = sorted(fr_faces.glob("obama/*.jpg"))[0]
    img = analyzer.load(path)
    faces = analyzer.detect(img)
    assert faces
    chip = align(img.rgb, faces[0].landmarks, dlib_embedder.template)
    assert chip.shape == (150, 150, 3)
    expected = np.array(rec.compute_face_descriptor(np.ascontiguousarray(chip)))
    assert np.abs(dlib_embedder.descriptors(chip[None])[0] - expected).max() < 1e-4


def test_not_a_dlib_file(tmp_path):
    from facerec.embedders.dlib_resnet import DlibResNetEmbedder
    from facerec.errors import ModelNotInstalledError

    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x01\x01\x01\x05hello" + bytes(100))
    with pytest.raises(ModelNotInstalledError, match="not a dlib face recognition network"):
        DlibResNetEmbedder(bad, "x", 0.5)
