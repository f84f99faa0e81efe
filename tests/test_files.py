import os

from facerec.files import file_digest, iter_image_files


def test_walk_finds_images_sorted_and_survives_links(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b" / "c.PNG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    os.symlink(tmp_path, tmp_path / "b" / "loop")
    os.symlink(tmp_path / "missing.jpg", tmp_path / "dangling.jpg")
    errors = []
    found = list(iter_image_files(tmp_path, recursive=True, on_error=lambda p, r: errors.append((p, r))))
    assert [p.name for p in found] == ["a.jpg", "c.PNG"]
    reasons = " ".join(r for _, r in errors)
    assert "dangling" in reasons and "loop" in reasons
    assert [p.name for p in iter_image_files(tmp_path, recursive=False, on_error=lambda p, r: None)] == ["a.jpg"]


def test_digest_changes_with_content(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"one")
    d1 = file_digest(p)
    p.write_bytes(b"two")
    assert file_digest(p) != d1
