"""A built wheel carries resources/ (icons, style sheet, compact weights) and every package, and an install of
it finds them through ``facerec.config.resources_dir()``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from facerec.config import REPO_ROOT, resources_dir

SHIPPED = ["style.qss", "icons/app.svg", "icons/app-256.png", "models/compact-v1.pt", "models/compact-v1.onnx"]


def test_resources_dir_holds_the_shipped_files():
    for rel in SHIPPED:
        assert (resources_dir() / rel).is_file(), rel


def test_wheel_carries_resources_and_every_package(tmp_path):
    # Build from a clean copy: an in-tree build/ left over from an older build could hide a missing file.
    src = tmp_path / "src"
    for name in ("facerec", "ui", "resources"):
        shutil.copytree(REPO_ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp_path)], check=True)
    (wheel,) = tmp_path.glob("facerec-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    res = REPO_ROOT / "resources"
    expected = {f"facerec/resources/{p.relative_to(res).as_posix()}" for p in res.rglob("*") if p.is_file()}
    expected |= {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "facerec").rglob("*.py")}
    # the GUI's folder ui/ installs as the package facerec_gui (no generic top-level "ui" in site-packages)
    expected |= {"facerec_gui/" + p.relative_to(REPO_ROOT / "ui").as_posix() for p in (REPO_ROOT / "ui").rglob("*.py")}
    assert {f"facerec/resources/{rel}" for rel in SHIPPED} <= expected
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    assert not [n for n in names if n.startswith("ui/")]
    entry_points = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "facerec-gui = facerec_gui.app:main" in entry_points
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    # Installed, and imported from outside the repository: the lookups land in the install.
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    code = (
        "from facerec.config import resources_dir; from facerec import embedders; "
        "print(resources_dir()); print(embedders.weights_path(embedders.get_pack('compact'))); "
        "import facerec_gui.main_window, facerec_gui.app; print(facerec_gui.app.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site), "FACEREC_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    found, weights, gui = Path(out[0]), Path(out[1]), Path(out[2])
    assert gui == site.resolve() / "facerec_gui" / "app.py"
    assert found == site.resolve() / "facerec" / "resources"
    for rel in SHIPPED:
        assert (found / rel).is_file(), rel
    assert weights == found / "models" / "compact-v1.onnx"
