"""The torch-free MTCNN (facerec.mtcnn on OpenCV DNN) against facenet-pytorch's own, piece by piece and
on real photos; the weights reader; and that analysing a photo never imports torch."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facerec.config import DetectorSettings
from facerec.detection import MTCNNDetector
from facerec.errors import ModelNotInstalledError
from facerec.imaging import load_image
from facerec.mtcnn import _adaptive_avg_pool
from facerec.mtcnn_nets import facenet_weights_dir, load_nets
from facerec.torch_weights import load_state_dict

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_weights_reader_equals_torch_load_in_both_formats(name, tmp_path):
    torch = pytest.importorskip("torch")
    path = facenet_weights_dir() / f"{name}.pt"
    ref = torch.load(path)
    zipped = tmp_path / "zipped.pt"
    torch.save(ref, zipped)  # the current (zip) format; facenet-pytorch ships the legacy one
    for source in (path, zipped):
        got = load_state_dict(source)
        assert list(got) == list(ref)
        for key, tensor in ref.items():
            assert got[key].dtype == np.float32
            np.testing.assert_array_equal(got[key], tensor.numpy())


def test_weights_reader_refuses_anything_but_tensors(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(header, f)
        pickle.dump({"w": Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        load_state_dict(path)
    (tmp_path / "junk.pt").write_bytes(pickle.dumps(123))
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        load_state_dict(tmp_path / "junk.pt")


@pytest.mark.parametrize("runtime", ["opencv", "onnxruntime", "openvino"])
def test_opencv_nets_equal_facenet_pytorch_nets(runtime):
    torch = pytest.importorskip("torch")
    if runtime != "opencv":
        pytest.importorskip(runtime)
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    nets = load_nets(runtimes=dict.fromkeys(("pnet", "rnet", "onet"), runtime))
    rng = np.random.default_rng(0)
    cases = [("pnet", PNet, (1, 3, 117, 93)), ("pnet", PNet, (1, 3, 12, 12)), ("rnet", RNet, (7, 3, 24, 24)), ("onet", ONet, (3, 3, 48, 48))]
    outputs = {"pnet": ["reg", "prob"], "rnet": ["reg", "prob"], "onet": ["reg", "landmarks", "prob"]}
    for name, cls, shape in cases:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        with torch.inference_mode():
            ref = [t.numpy() for t in cls().eval()(torch.from_numpy(x))]
        if name == "onet":  # facenet-pytorch returns (reg, landmarks, prob)
            ref = [ref[0], ref[1], ref[2]]
        given = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if name == "pnet" else x  # P-Net takes channels last
        got = nets[name].run(given, outputs[name])
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g.reshape(r.shape), r, atol=2e-5)


def test_numpy_pnet_equals_facenet_pytorch_pnet():
    """facerec.mtcnn.pnet_numpy (P-Net's outputs at the pyramid levels' odd edges) gives facenet-pytorch's P-Net
    outputs, odd sizes (ceil-mode pooling windows clipped at the edge) included, also for pieces side by side."""
    torch = pytest.importorskip("torch")
    from facenet_pytorch.models.mtcnn import PNet

    from facerec.mtcnn import pnet_numpy
    from facerec.mtcnn_nets import pnet_weights

    weights, net = pnet_weights(), PNet().eval()
    rng = np.random.default_rng(4)
    for h, w in [(12, 12), (13, 11), (11, 40), (37, 24), (461, 11)]:
        x = rng.uniform(-1, 1, (h, w, 3)).astype(np.float32)
        with torch.inference_mode():
            reg, prob = (t[0].numpy() for t in net(torch.from_numpy(x.transpose(2, 0, 1)[None].copy())))
        canvas = np.zeros((h + (h & 1), 2 * (w + (w & 1)), 3), np.float32)  # the piece twice, side by side, junk-free
        canvas[:h, :w] = canvas[:h, w + (w & 1) : w + (w & 1) + w] = x
        mask = np.full((canvas.shape[0] - 2, canvas.shape[1] - 2, 1), -1e30, np.float32)
        mask[: h - 2, : w - 2] = mask[: h - 2, w + (w & 1) : w + (w & 1) + w - 2] = 0
        got_reg, got_prob = pnet_numpy(weights, canvas, mask)
        oh, ow = prob.shape[1:]
        for left in (0, (w + (w & 1)) // 2):
            np.testing.assert_allclose(got_reg[:, :oh, left : left + ow], reg, atol=2e-5, err_msg=str((h, w)))
            np.testing.assert_allclose(got_prob[:, :oh, left : left + ow], prob, atol=2e-5, err_msg=str((h, w)))


@pytest.mark.parametrize("shape,out", [((57, 63, 3), (24, 24)), ((130, 130, 3), (48, 48)), ((17, 20, 3), (24, 24)), ((5, 9, 3), (48, 48)), ((48, 48, 3), (24, 24))])
def test_adaptive_average_pooling_equals_torch_area_interpolation(shape, out):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x).permute(2, 0, 1)[None], size=out, mode="area")[0].permute(1, 2, 0).numpy()
    got = _adaptive_avg_pool(x, *out)
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_opencv_detector_finds_what_facenet_pytorch_finds(shared_data, runtime, monkeypatch):
    """Same faces, boxes and landmarks to a hundredth of a pixel, on single, group, small and odd photos, with the
    nets on OpenVINO or on ONNX Runtime (the pyramid read in one mosaic, facerec.mtcnn.pyramid_layout)."""
    pytest.importorskip("torch")
    pytest.importorskip(runtime)
    monkeypatch.setenv("FACEREC_DNN_RUNTIME", runtime)
    faces_dir = shared_data / "faces"
    photos = sorted(p for p in faces_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png") and "_aligned" not in str(p))
    assert len(photos) >= 30
    ours, theirs = MTCNNDetector(DetectorSettings(backend="opencv")), MTCNNDetector(DetectorSettings(backend="torch"))
    found = 0
    for path in photos:
        rgb = load_image(path).rgb
        a, b = ours.detect(rgb), theirs.detect(rgb)
        assert len(a) == len(b), path
        key = lambda f: (round(float(f.box[0])), round(float(f.box[1])))  # noqa: E731
        for fa, fb in zip(sorted(a, key=key), sorted(b, key=key)):
            np.testing.assert_allclose(fa.box, fb.box, atol=0.01, err_msg=str(path))
            np.testing.assert_allclose(fa.landmarks, fb.landmarks, atol=0.01, err_msg=str(path))
            assert fa.score == pytest.approx(fb.score, abs=1e-4)
        found += len(a)
    assert found >= len(photos)


def test_detector_backend_setting():
    with pytest.raises(ValueError, match="unknown detector backend"):
        MTCNNDetector(DetectorSettings(backend="tensorflow"))
    assert MTCNNDetector(DetectorSettings()).backend == "opencv"
    assert MTCNNDetector(DetectorSettings(), device="cuda").backend == "torch"  # GPUs run facenet-pytorch itself


def test_detecting_and_embedding_never_import_torch(fr_faces, sface_installed):
    code = (
        "import sys\n"
        "from facerec import FaceAnalyzer, Settings\n"
        f"faces = FaceAnalyzer(Settings()).analyze({str(fr_faces / '_group' / 'obama_and_biden.jpg')!r})\n"
        "print(len(faces), sorted(m for m in ('torch', 'torchvision', 'facenet_pytorch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    count, modules = out.stdout.split()
    assert int(count) >= 2 and modules == "[]"


def test_nms_matrix_and_row_forms_agree(monkeypatch):
    """Non-maximum suppression keeps the same boxes, in the same order, whether it builds the overlap matrix
    (few boxes) or works row by row (many), for both overlap measures and with tied scores."""
    from facerec import mtcnn

    rng = np.random.default_rng(5)
    for n in (1, 2, 17, 150, 399):
        xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + rng.uniform(8, 50, (n, 2)).astype(np.float32)], 1)
        scores = rng.choice(rng.uniform(0.6, 1, 12), n).astype(np.float32)  # ties
        for method, threshold in (("union", 0.5), ("union", 0.7), ("min", 0.7)):
            matrix = mtcnn._nms(boxes, scores, threshold, method)
            monkeypatch.setattr(mtcnn, "NMS_MATRIX_MAX", 0)
            rows = mtcnn._nms(boxes, scores, threshold, method)
            monkeypatch.undo()
            np.testing.assert_array_equal(matrix, rows)
            assert len(set(matrix.tolist())) == len(matrix) and scores[matrix[0]] == scores.max()


def test_network_inputs_and_crops_are_exactly_the_plain_formulas():
    """The batched, in-place forms (facerec.mtcnn._blob, _crops) compute the very same float32 values as the
    plain per-crop formulas: ``(x - 127.5) * 0.0078125`` transposed to N x C x H x W, and each box's clipped
    pixels resampled on their own (small crops by adaptive pooling, large ones by OpenCV)."""
    import cv2

    from facerec import mtcnn

    rng = np.random.default_rng(11)
    img = rng.uniform(0, 255, (300, 420, 3)).astype(np.float32)
    boxes = np.array([
        [10.7, 20.2, 45.9, 55.1], [-15, -8, 30, 36], [400, 280, 460, 330], [500, 10, 540, 50],  # inside, two clipped, outside
        [20, 30, 230, 240], [5, 5, 5.5, 9], [100, 100, 124, 124],  # large (OpenCV), a sliver, exactly 24 px
    ], np.float32)
    for size in (24, 48):
        crops, valid = mtcnn._crops(img, boxes, size)
        b = np.trunc(boxes).astype(np.int64)
        want, want_valid = [], []
        for k, (x1, y1, x2, y2) in enumerate(b):
            x, y, ex, ey = max(x1, 1), max(y1, 1), min(x2, img.shape[1]), min(y2, img.shape[0])
            if ey > y - 1 and ex > x - 1:
                crop = img[y - 1 : ey, x - 1 : ex]
                want.append(_adaptive_avg_pool(crop, size, size) if crop.shape[0] * crop.shape[1] <= mtcnn.SMALL_CROP_PIXELS
                            else cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
                want_valid.append(k)
        assert valid.tolist() == want_valid == [0, 1, 2, 4, 5, 6]
        np.testing.assert_array_equal(crops, np.stack(want))
        blob = mtcnn._blob(crops)
        assert blob.dtype == np.float32 and blob.flags.c_contiguous
        np.testing.assert_array_equal(blob, ((np.asarray(want) - 127.5) * 0.0078125).transpose(0, 3, 1, 2))
    level = img[None]
    np.testing.assert_array_equal(mtcnn._blob(level), ((np.asarray([img]) - 127.5) * 0.0078125).transpose(0, 3, 1, 2))


def test_altered_mtcnn_weights_are_refused(tmp_path):
    for name in ("pnet", "rnet", "onet"):
        data = (facenet_weights_dir() / f"{name}.pt").read_bytes()
        (tmp_path / f"{name}.pt").write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if name == "rnet" else data)
    with pytest.raises(ModelNotInstalledError, match=r"rnet.pt are not the expected ones"):
        load_nets(tmp_path)
    (tmp_path / "onet.pt").unlink()
    (tmp_path / "rnet.pt").write_bytes((facenet_weights_dir() / "rnet.pt").read_bytes())
    with pytest.raises(ModelNotInstalledError, match="MTCNN weights missing"):
        load_nets(tmp_path)


@pytest.mark.parametrize("max_copies", [1, 2, None])
def test_net_pool_shares_at_most_max_copies_between_threads(max_copies):
    from concurrent.futures import ThreadPoolExecutor

    from facerec.dnn import NetPool
    from facerec.mtcnn_nets import OUTPUTS, build_onnx

    pool = NetPool(build_onnx("onet", load_state_dict(facenet_weights_dir() / "onet.pt")), "onet", max_copies=max_copies)
    rng = np.random.default_rng(3)
    blobs = [rng.uniform(-1, 1, (4, 3, 48, 48)).astype(np.float32) for _ in range(24)]
    want = [pool.run(b, OUTPUTS["onet"]) for b in blobs]  # one at a time
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda b: pool.run(b, OUTPUTS["onet"]), blobs))
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)
    assert 1 <= pool.copies <= (max_copies or 4)
