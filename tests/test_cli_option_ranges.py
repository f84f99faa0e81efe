"""Global options are range-checked before any work starts (exit 2 with the reason): a threshold that is not a
cosine distance or is outside the model pack's range, a minimum face size that would make the detector
upscale a photo (1 px: 6 GB for one photo), an absurd number of threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def facerec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "facerec.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize("args,reason", [
    (["--threshold", "5"], "--threshold: must be a cosine distance above 0 and at most 2"),
    (["--threshold", "nan"], "--threshold: must be a cosine distance above 0 and at most 2"),
    (["--threshold", "-1"], "--threshold: must be a cosine distance above 0 and at most 2"),
    (["--threshold", "0"], "--threshold: must be a cosine distance above 0 and at most 2"),
    (["--model", "dlib", "--threshold", "0.5"], "outside the dlib model's range"),
    (["--min-face-size", "1"], "--min-face-size: must be between 10 and 2000 pixels"),
    (["--threads", "100000"], "--threads: at most"),
    (["--threads", "0"], "--threads: must be at least 1"),
])
def test_out_of_range_options_are_refused(tmp_path, args, reason):
    db = tmp_path / "g.db"
    r = facerec("--db", str(db), *args, "people", "list")
    assert r.returncode == 2 and reason in r.stderr, r.stderr
    r = facerec("people", "list", "--db", str(db), *args)  # after the command name too
    assert r.returncode == 2 and reason in r.stderr, r.stderr
    assert not db.exists()


def test_in_range_options_are_accepted(tmp_path):
    db = tmp_path / "g.db"
    r = facerec("enrol", "--db", str(db), "--threshold", "0.4", "--min-face-size", "10", "--threads", "2", "Ann", str(tmp_path / "missing.jpg"))
    assert r.returncode != 2, r.stderr  # past option checking (the photo is missing: a different error)
    r = facerec("people", "list", "--db", str(db), "--model", "dlib", "--threshold", "0.05")
    assert r.returncode == 0, r.stderr
