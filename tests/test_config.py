from pathlib import Path

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
