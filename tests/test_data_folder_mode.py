"""facerec's data folder is 0700 whoever creates it first, whatever the umask: ``facerec models install``
(first in the README's order), the gallery, or the settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from facerec.config import Settings, private_dir

REPO = Path(__file__).resolve().parent.parent


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_models_install_creates_an_owner_only_data_folder_at_umask_000(tmp_path, sface_installed):
    home = tmp_path / "new" / "facerec"
    env = {k: v for k, v in os.environ.items() if k != "FACEREC_MODELS"}
    # an empty user-wide folder too: a model installed there (as .ci/run does first) is found, and not copied
    env.update(PYTHONPATH=str(REPO), FACEREC_HOME=str(home), HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    r = subprocess.run(
        [sys.executable, "-m", "facerec.cli", "models", "install", "sface", "--from-file", str(sface_installed)],
        env=env, capture_output=True, text=True, timeout=300, check=False, preexec_fn=lambda: os.umask(0),
    )
    assert r.returncode == 0, r.stderr
    assert (home / "models" / Path(sface_installed).name).is_file()
    for folder in (tmp_path / "new", home, home / "models"):
        assert _mode(folder) == 0o700, f"{folder} is {oct(_mode(folder))}"


def test_settings_and_private_dirs_are_owner_only_at_umask_000(tmp_path):
    old = os.umask(0)
    try:
        Settings().save(tmp_path / "a" / "b" / "settings.json")
        made = private_dir(tmp_path / "c" / "d")
    finally:
        os.umask(old)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "c", made):
        assert _mode(folder) == 0o700
    os.chmod(tmp_path / "c", 0o755)
    private_dir(tmp_path / "c" / "d")  # existing folders keep their permissions
    assert _mode(tmp_path / "c") == 0o755
