"""The network runtimes (facerec.dnn): OpenVINO gives the other runtimes' outputs (P-Net over a pyramid's mosaic
exactly as on each level alone, padded batches as unpadded, SFace as OpenCV DNN), the choice and its override, the fallback
when a runtime cannot load a model, and OpenVINO's compile cache."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from facerec import dnn, mtcnn
from facerec.errors import RuntimeChoiceError
from facerec.mtcnn_nets import OUTPUTS, build_onnx, facenet_weights_dir, load_nets
from facerec.torch_weights import load_state_dict

pytest.importorskip("openvino")


def _graph(name: str) -> bytes:
    return build_onnx(name, load_state_dict(facenet_weights_dir() / f"{name}.pt"))


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime", "opencv"])
def test_pyramid_mosaic_gives_each_level_its_own_outputs(runtime):
    """P-Net on the mosaic of a pyramid (facerec.mtcnn.pyramid_layout; read in strips, run_pnet) gives,
    over each level, the outputs of the level alone: landscape, portrait, square, small and tiny images, odd level
    sizes (partial pooling windows), and a pyramid wider than every one of the fixed widths."""
    if not dnn.runtime_available(runtime):
        pytest.skip(f"{runtime} not installed")
    net = dnn.load_model(_graph("pnet"), "pnet", runtime)
    run = lambda blob: net.run(blob, OUTPUTS["pnet"])  # noqa: E731
    weights = load_state_dict(facenet_weights_dir() / "pnet.pt")
    rng = np.random.default_rng(2)
    for h, w in [(768, 1024), (1024, 683), (1024, 1024), (250, 250), (40, 90), (23, 21), (1200, 2000)]:
        layout = mtcnn.pyramid_layout(h, w, 20, 0.709)
        assert len(layout.sizes) >= 1 and all(y % 2 == x % 2 == 0 for y, x in layout.origins)
        rows, width = layout.shape
        assert width in mtcnn.PNET_WIDTHS or (width % mtcnn.MOSAIC_BUCKET == 0 and width > max(mtcnn.PNET_WIDTHS))
        assert layout.strips and rows == layout.strips * mtcnn.PNET_STRIP_STEP + mtcnn.PNET_CONTEXT_ROWS  # all in strips
        cells = np.zeros(layout.shape, np.int64)
        for (lh, lw), (y, x) in zip(layout.sizes, layout.origins):
            cells[y : y + lh, x : x + lw] += 1
        assert cells.max() == 1  # no two levels overlap, and each lies inside the mosaic
        assert cells.sum() == sum(lh * lw for lh, lw in layout.sizes)
        mosaic = rng.uniform(-1, 1, (*layout.shape, 3)).astype(np.float32)  # scaled input; junk between the levels too
        reg, prob = mtcnn.run_pnet(run, layout, mosaic, weights)
        for (lh, lw), (y, x) in zip(layout.sizes, layout.origins):
            level = np.ascontiguousarray(mosaic[None, y : y + lh, x : x + lw])
            want = net.run(level, OUTPUTS["pnet"])
            oh, ow = want[0].shape[2:]
            assert (oh, ow) == ((lh - 1) // 2 - 4, (lw - 1) // 2 - 4)
            for got, r in zip((reg, prob), want):
                np.testing.assert_allclose(
                    got[:, :, y // 2 : y // 2 + oh, x // 2 : x // 2 + ow], r, atol=1e-5, err_msg=f"{runtime} {h}x{w} level {lh}x{lw}"
                )
    assert mtcnn.pyramid_layout(1200, 2000, 20, 0.709).shape[1] > max(mtcnn.PNET_WIDTHS)


def test_pyramid_layouts_take_few_input_shapes():
    """Photos of many sizes give P-Net strips of a few widths only (each new input shape costs OpenVINO time to
    prepare), each at most a tenth more P-Net pixels than the two largest levels side by side (rounded up to
    MOSAIC_BUCKET) would take; an image smaller than min_face_size has no pyramid."""
    sizes = [(768, 1024), (1024, 768), (683, 1024), (1024, 683), (576, 1024), (1024, 1024), (250, 250), (600, 800),
             (480, 640), (1024, 534), (720, 1280), (300, 200), (900, 1024)]
    shapes = {(mtcnn.PNET_STRIP_ROWS, mtcnn.pyramid_layout(h, w, 20, 0.709).shape[1]) for h, w in sizes}
    assert len(shapes) <= len(mtcnn.PNET_WIDTHS)
    for h, w in sizes:
        layout = mtcnn.pyramid_layout(h, w, 20, 0.709)
        natural = -(-sum(lw + (lw & 1) for _, lw in layout.sizes[:2]) // mtcnn.MOSAIC_BUCKET) * mtcnn.MOSAIC_BUCKET
        origins, _ = mtcnn._skyline(list(layout.sizes), natural)
        tight = mtcnn._strips_for(list(layout.sizes), origins) * mtcnn.PNET_STRIP_ROWS * natural
        assert layout.strips * mtcnn.PNET_STRIP_ROWS * layout.shape[1] <= tight * 1.1, (h, w)
    empty = mtcnn.pyramid_layout(15, 15, 20, 0.709)
    assert empty.scales == () and empty.shape == (0, 0)


def test_pnet_strips_equal_one_run_over_the_whole_mosaic():
    """The strips of a mosaic give P-Net's outputs of one run over all of it (same runtime)."""
    net = dnn.load_model(_graph("pnet"), "pnet", "openvino" if dnn.runtime_available("openvino") else "opencv")
    run = lambda blob: net.run(blob, OUTPUTS["pnet"])  # noqa: E731
    weights = load_state_dict(facenet_weights_dir() / "pnet.pt")
    layout = mtcnn.pyramid_layout(768, 1024, 20, 0.709)
    assert layout.strips > 1
    mosaic = np.random.default_rng(3).uniform(-1, 1, (*layout.shape, 3)).astype(np.float32)
    whole = dataclasses.replace(layout, strips=0)
    one = mtcnn.run_pnet(run, whole, mosaic, weights)
    strips = mtcnn.run_pnet(run, layout, mosaic, weights)
    for a, b in zip(one, strips):
        assert b.shape[2] >= a.shape[2] and b.shape[3] == a.shape[3]
        np.testing.assert_allclose(b[:, :, : a.shape[2]], a, atol=1e-5)


def test_batch_buckets():
    assert [dnn.batch_bucket(n) for n in (1, 2, 3, 5, 8, 9, 17, 33, 64)] == [1, 2, 4, 8, 8, 16, 32, 64, 64]
    assert dnn.batch_bucket(500) == dnn.MAX_BATCH == 64  # larger batches run in chunks
    assert [dnn.batch_bucket(n, 8) for n in (1, 3, 8, 9, 500)] == [1, 4, 8, 8, 8]


def test_openvino_chunks_batches_by_the_models_own_limit():
    """O-Net runs in chunks of 8 (facerec.mtcnn_nets.MAX_BATCH): 21 candidates as 8 + 8 + 5 (padded to 8), with the
    outputs of the whole batch."""
    ov = dnn.OvModel(_graph("onet"), "onet", max_batch=8)
    cv = dnn.load_model(_graph("onet"), "onet", "opencv")
    x = np.random.default_rng(5).uniform(-1, 1, (21, 3, 48, 48)).astype(np.float32)
    for got, want in zip(ov.run(x, OUTPUTS["onet"]), cv.run(x, OUTPUTS["onet"])):
        assert got.shape == want.shape and got.shape[0] == 21
        np.testing.assert_allclose(got, want, atol=2e-5)
    with pytest.raises(ValueError, match="power of two"):
        dnn.OvModel(_graph("onet"), "onet", max_batch=12)


def test_openvino_pads_batches_without_changing_any_item():
    ov = dnn.OvModel(_graph("rnet"), "rnet")
    cv = dnn.load_model(_graph("rnet"), "rnet", "opencv")
    for n in (37, 150):  # padded to 64; two chunks of 64 and one of 22 padded to 32
        x = np.random.default_rng(4).uniform(-1, 1, (n, 3, 24, 24)).astype(np.float32)
        for got, want in zip(ov.run(x, OUTPUTS["rnet"]), cv.run(x, OUTPUTS["rnet"])):
            assert got.shape == want.shape and got.shape[0] == n
            np.testing.assert_allclose(got, want, atol=2e-5)
    alone = ov.run(x[5:6], OUTPUTS["rnet"])
    np.testing.assert_allclose(alone[1], ov.run(x, OUTPUTS["rnet"])[1][5:6], atol=1e-6)


def test_sface_on_openvino_equals_opencv_dnn(sface_installed, monkeypatch):
    """SFace's vectors do not move with the runtime (float32 forced, whatever the CPU offers), one face or a batch
    (the file's batch is 1: OpenVINO runs a batch face by face)."""
    from facerec.embedders.sface import SFaceEmbedder

    chips = np.random.default_rng(6).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    monkeypatch.delenv(dnn.RUNTIME_ENV, raising=False)
    on_ov = SFaceEmbedder(Path(sface_installed), "sface-test", 0.5, centred=True)
    monkeypatch.setenv(dnn.RUNTIME_ENV, "opencv")
    on_cv = SFaceEmbedder(Path(sface_installed), "sface-test", 0.5, centred=True)
    assert (on_ov._net.runtime, on_cv._net.runtime) == ("openvino", "opencv")
    vectors, want = on_ov.embed(chips), on_cv.embed(chips)
    assert vectors.shape == want.shape == (5, 128)
    np.testing.assert_allclose(np.sum(vectors * want, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(on_ov.embed(chips[2:3])[0], vectors[2], atol=1e-6)


def test_runtime_choice_and_override(monkeypatch):
    monkeypatch.delenv(dnn.RUNTIME_ENV, raising=False)
    assert dnn.candidate_runtimes(dnn.DETECTOR_RUNTIMES)[0] == "openvino"
    assert dnn.candidate_runtimes(dnn.DETECTOR_RUNTIMES)[-1] == "opencv"
    assert {net.runtime for net in load_nets().values()} == {"openvino"}
    monkeypatch.setenv(dnn.RUNTIME_ENV, "opencv")
    assert dnn.candidate_runtimes(dnn.DETECTOR_RUNTIMES) == ["opencv"]
    assert {type(net).__name__ for net in load_nets().values()} == {"NetPool"}
    monkeypatch.setenv(dnn.RUNTIME_ENV, "onnxruntime")
    if dnn.runtime_available("onnxruntime"):
        assert dnn.candidate_runtimes(dnn.EMBEDDER_RUNTIMES) == ["openvino", "opencv"]  # not one SFace can use
    monkeypatch.setenv(dnn.RUNTIME_ENV, "tensorrt")
    with pytest.raises(RuntimeChoiceError, match="FACEREC_DNN_RUNTIME=.tensorrt.: not a runtime"):
        load_nets()


def test_a_runtime_that_cannot_load_falls_back_to_the_next(monkeypatch, caplog):
    monkeypatch.delenv(dnn.RUNTIME_ENV, raising=False)

    class Broken(dnn.OvModel):
        def __init__(self, *a, **k):
            raise RuntimeError("plugin libopenvino_intel_cpu_plugin.so not found")

    monkeypatch.setattr(dnn, "OvModel", Broken)
    with caplog.at_level(logging.WARNING, logger="facerec.dnn"):
        net = dnn.load_preferred(_graph("onet"), "onet", dnn.DETECTOR_RUNTIMES)
    assert net.runtime != "openvino"
    assert "onet: cannot run on openvino (RuntimeError: plugin libopenvino_intel_cpu_plugin.so not found)" in caplog.text
    monkeypatch.setenv(dnn.RUNTIME_ENV, "openvino")  # forced: no fallback, the error itself
    with pytest.raises(RuntimeError, match="plugin"):
        dnn.load_preferred(_graph("onet"), "onet", dnn.DETECTOR_RUNTIMES)


def test_openvino_caches_what_it_compiles_from_a_file(tmp_path, monkeypatch):
    """In facerec's models folder, never beside the model (the bundled compact model sits in the package); a models
    folder that cannot be written means no cache, not an error."""
    models = tmp_path / "models"
    monkeypatch.setenv("FACEREC_MODELS", str(models))
    model = tmp_path / "elsewhere" / "onet.onnx"
    model.parent.mkdir()
    model.write_bytes(_graph("onet"))
    x = np.random.default_rng(8).uniform(-1, 1, (3, 3, 48, 48)).astype(np.float32)
    want = dnn.OvModel(model, "onet").run(x)
    cache = models / dnn.OV_CACHE
    assert cache.is_dir() and any(cache.iterdir())
    assert sorted(p.name for p in model.parent.iterdir()) == ["onet.onnx"]
    again = dnn.OvModel(model, "onet").run(x)  # imported from the cache
    for a, b in zip(again, want):
        np.testing.assert_array_equal(a, b)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        monkeypatch.setenv("FACEREC_MODELS", str(ro / "models"))
        try:
            np.testing.assert_allclose(dnn.OvModel(model, "onet").run(x)[0], want[0], atol=1e-6)
            assert not (ro / "models").exists()
        finally:
            ro.chmod(0o755)


def test_a_file_that_is_not_onnx_is_refused_in_one_clean_line(tmp_path, monkeypatch, capfd, caplog):
    """OpenVINO, given a file no reader takes, tries every format's reader, and some print the file's bytes to the
    terminal; facerec asks the ONNX reader first and says so itself (then OpenCV fails on it too)."""
    monkeypatch.delenv(dnn.RUNTIME_ENV, raising=False)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(9).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    import cv2

    with caplog.at_level(logging.WARNING, logger="facerec.dnn"), pytest.raises(cv2.error):  # OpenCV's, the last one tried
        dnn.load_preferred(junk, "sface", dnn.EMBEDDER_RUNTIMES)
    assert f"sface: cannot run on openvino (ValueError: {junk}: not an ONNX model); using opencv" in caplog.text
    err = capfd.readouterr().err
    assert "GraphDef" not in err and "\ufffd" not in err


def test_a_wrong_runtime_setting_is_one_line_from_the_command_line(fr_faces, sface_installed):
    import subprocess
    import sys

    env = {**os.environ, dnn.RUNTIME_ENV: "tensorrt"}
    r = subprocess.run(
        [sys.executable, "-m", "facerec.cli", "identify", str(fr_faces / "obama" / "obama2.jpg")],
        env=env, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
    )
    assert r.returncode != 0
    assert r.stderr.strip() == "error: FACEREC_DNN_RUNTIME='tensorrt': not a runtime (choose from openvino, onnxruntime, opencv)"
