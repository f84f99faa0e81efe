"""``facerec-gui`` starts on a fresh machine (empty FACEREC_HOME, empty gallery) and quits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys


def test_facerec_gui_starts_with_an_empty_gallery(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FACEREC_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from ui.app import main; sys.exit(main(['--quit-after', '1500']))"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gallery.db").exists()  # the empty gallery was created in the user's data folder
    assert "window shown: 'facerec'" in proc.stderr and "visible True, icon rendered True" in proc.stderr, proc.stderr
