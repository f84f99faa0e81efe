import os
from pathlib import Path

import pytest

from facerec.config import Settings, default_db_path, models_dir


def test_settings_roundtrip(tmp_path):
    s = Settings(model="dlib", threshold=0.42, db_path=tmp_path / "g.db")
    s.detector.min_face_size = 33
    path = s.save(tmp_path / "settings.json")
    loaded = Settings.load(path)
    assert loaded.model == "dlib" and loaded.threshold == 0.42
    assert loaded.detector.min_face_size == 33
    assert loaded.gallery_path == tmp_path / "g.db"


def test_unreadable_settings_fall_back_to_defaults(tmp_path):
    bad = tmp_path / "settings.json"
    bad.write_text("{not json")
    assert Settings.load(bad) == Settings()


def test_home_override(_isolated_home):
    assert default_db_path() == Path(_isolated_home) / "gallery.db"
    assert models_dir().name == "models"


def test_cpu_threads_default_option_and_reapplied_on_change(monkeypatch):
    import cv2

    from facerec.cli import Context, build_parser
    from facerec.config import Settings, default_threads
    from facerec.pipeline import FaceAnalyzer

    assert Settings().threads == default_threads() == max(1, min(8, os.cpu_count() or 2))
    args = build_parser().parse_args(["tag", "x", "--threads", "1"])
    assert Context(args).settings.threads == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--threads", "0", "tag", "x"])
    analyzer = FaceAnalyzer(Settings(threads=1))
    analyzer.apply_threads()
    assert cv2.getNumThreads() == 1
    analyzer.settings = Settings(threads=2)  # what the GUI does when the setting changes
    analyzer.apply_threads()
    assert cv2.getNumThreads() == 2


def test_keep_models_dir_survives_a_new_home(tmp_path, monkeypatch):
    from facerec.config import keep_models_dir

    monkeypatch.delenv("FACEREC_MODELS")
    before = models_dir()
    env = keep_models_dir({})
    assert env == {"FACEREC_MODELS": str(before)}
    assert keep_models_dir({"FACEREC_MODELS": "/elsewhere"}) == {"FACEREC_MODELS": "/elsewhere"}  # an explicit choice wins
    keep_models_dir()
    monkeypatch.setenv("FACEREC_HOME", str(tmp_path / "throwaway"))
    assert models_dir() == before
