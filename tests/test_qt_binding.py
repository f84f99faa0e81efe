"""The installed Qt binding must not leak references to None.

PySide6 6.12.0 on Python 3.11 drops a reference to ``None`` on every Qt call that returns nothing; after
enough calls the interpreter aborts ("Fatal Python error: none_dealloc"), which would crash the app
within minutes of use. pyproject.toml excludes that release; this test catches any other that does it.
"""

import os
import subprocess
import sys

import pytest

CODE = """
import sys
from PySide6.QtWidgets import QApplication, QListWidgetItem
app = QApplication.instance() or QApplication([])
item = QListWidgetItem()
before = sys.getrefcount(None)
for _ in range(2000):
    item.setText("x")
print(before - sys.getrefcount(None))
"""


def test_qt_calls_do_not_leak_references_to_none():
    pytest.importorskip("PySide6")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert abs(int(out.stdout.strip())) < 50, f"{out.stdout.strip()} references to None lost in 2,000 Qt calls"
