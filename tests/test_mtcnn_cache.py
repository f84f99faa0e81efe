"""MTCNN's ONNX graphs cached next to the weights (facerec.mtcnn_nets.cached_onnx): built once, never used when
stale or altered, and a read-only models folder still works (built in memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facerec import mtcnn_nets
from facerec.mtcnn_nets import NETS, build_onnx, cache_paths, cached_onnx, facenet_weights_dir, load_nets
from facerec.torch_weights import load_state_dict

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    """A models folder of its own holding the three weight files: ``<models>/mtcnn``."""
    source = facenet_weights_dir()
    folder = tmp_path / "models" / "mtcnn"
    folder.mkdir(parents=True)
    for name in NETS:
        (folder / f"{name}.pt").write_bytes((source / f"{name}.pt").read_bytes())
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))
    return folder


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """The names of the nets ``build_onnx`` is asked to build (the cache is used for the others)."""
    built: list[str] = []
    real = mtcnn_nets.build_onnx

    def counting(name, state):
        built.append(name)
        return real(name, state)

    monkeypatch.setattr(mtcnn_nets, "build_onnx", counting)
    return built


def _fresh(name: str, folder: Path) -> bytes:
    return build_onnx(name, load_state_dict(folder / f"{name}.pt"))


def test_graphs_are_built_once_then_read_from_the_cache(models, builds):
    first = cached_onnx(models)
    assert builds == list(NETS)
    for name in NETS:
        graph, key = cache_paths(models, name)
        assert graph.parent == models and graph.read_bytes() == first[name] == _fresh(name, models)
        assert json.loads(key.read_text())["weights_sha256"] == mtcnn_nets.SHA256[name]
    assert not [p for p in models.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
    builds.clear()
    assert cached_onnx(models) == first and builds == []
    assert len(load_nets(models)) == 3 and builds == []


def test_a_stale_cache_is_rebuilt(models, builds, monkeypatch):
    cached_onnx(models)
    builds.clear()
    # built by another version of the builder: rebuilt, and the key says this version now
    monkeypatch.setattr(mtcnn_nets, "BUILDER_VERSION", mtcnn_nets.BUILDER_VERSION + 1)
    got = cached_onnx(models)
    assert builds == list(NETS)
    assert all(json.loads(cache_paths(models, n)[1].read_text())["builder"] == mtcnn_nets.BUILDER_VERSION for n in NETS)
    builds.clear()
    # keyed by other weights: rebuilt from the weights there now
    _, key = cache_paths(models, "rnet")
    record = json.loads(key.read_text())
    key.write_text(json.dumps({**record, "weights_sha256": "0" * 64}))
    assert cached_onnx(models) == got and builds == ["rnet"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "no_key", "bad_key", "no_graph"])
def test_an_altered_or_half_written_cache_is_never_used(models, builds, damage):
    cached_onnx(models)
    builds.clear()
    graph, key = cache_paths(models, "onet")
    data = graph.read_bytes()
    if damage == "flip":  # same size, one bit changed in a weight
        graph.write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    elif damage == "truncate":
        graph.write_bytes(data[: len(data) // 2])
    elif damage == "no_key":
        key.unlink()
    elif damage == "bad_key":
        key.write_text("{not json")
    else:
        graph.unlink()
    got = cached_onnx(models)
    assert builds == ["onet"]
    assert got["onet"] == _fresh("onet", models) == graph.read_bytes()  # the cache is repaired too


def test_altered_weights_are_refused_even_with_a_cache(models):
    cached_onnx(models)
    data = (models / "pnet.pt").read_bytes()
    (models / "pnet.pt").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    from facerec.errors import ModelNotInstalledError

    with pytest.raises(ModelNotInstalledError, match=r"pnet.pt are not the expected ones"):
        load_nets(models)


def test_a_read_only_models_folder_builds_in_memory(models, builds, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    os.chmod(models, 0o555)
    try:
        if os.access(models, os.W_OK):  # root writes anyway: refuse as a read-only file system would
            monkeypatch.setattr(mtcnn_nets.tempfile, "mkstemp", read_only)
        got = cached_onnx(models)
        assert builds == list(NETS) and all(got[n] == _fresh(n, models) for n in NETS)
        assert not any(cache_paths(models, n)[0].exists() for n in NETS)
        assert len(load_nets(models)) == 3
    finally:
        os.chmod(models, 0o755)


def test_weights_outside_the_models_folder_are_cached_in_it(models, tmp_path, builds):
    elsewhere = tmp_path / "site-packages" / "facenet_pytorch" / "data"  # e.g. an installed facenet-pytorch
    elsewhere.mkdir(parents=True)
    for name in NETS:
        (elsewhere / f"{name}.pt").write_bytes((models / f"{name}.pt").read_bytes())
    cached_onnx(elsewhere)
    assert sorted(p.name for p in elsewhere.iterdir()) == sorted(f"{n}.pt" for n in NETS)  # nothing written there
    assert all(cache_paths(models, n)[0].is_file() for n in NETS)
    builds.clear()
    cached_onnx(elsewhere)
    assert builds == []


def test_a_process_with_the_cache_never_imports_onnx(models):
    cached_onnx(models)
    code = "import sys; from facerec.mtcnn_nets import load_nets; load_nets(); print('onnx' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_installed_cache_is_what_the_builder_makes_now():
    """A graph cached under this ``BUILDER_VERSION`` is what ``build_onnx`` builds today: a change to the builder
    without raising ``BUILDER_VERSION`` would leave every installed cache stale, and fails here."""
    weights = facenet_weights_dir()
    cached_onnx(weights)  # built now when missing
    cache = mtcnn_nets.cache_dir(weights)
    for name in NETS:
        graph, key = cache_paths(cache, name)
        assert json.loads(key.read_text())["builder"] == mtcnn_nets.BUILDER_VERSION
        assert graph.read_bytes() == _fresh(name, weights), (
            f"{graph}: build_onnx now makes another graph than the one cached under BUILDER_VERSION "
            f"{mtcnn_nets.BUILDER_VERSION}: raise mtcnn_nets.BUILDER_VERSION (or delete the cache if only the onnx package changed)"
        )
