"""Decode memory is bounded by a byte budget, not only by pixels: a small file that decodes to a large 16-bit,
RGBA, palette or WebP image costs its decoded size plus a strip (measured as the peak resident memory of a
fresh process), never float or RGBA copies of the whole image; a photo over the budget is refused, with
the reason, before anything is decoded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from facerec.imaging import DecodeBudget, decoded_bytes

REPO = Path(__file__).resolve().parent.parent
MB = 2**20

_MEASURE = r"""
import resource, sys
import cv2, numpy as np, PIL.Image
from facerec.imaging import load_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    img = load_image(sys.argv[1], max_side=int(sys.argv[2]), max_bytes=int(sys.argv[3]))
    out = "shape %s" % (img.rgb.shape,)
except Exception as exc:
    out = "refused: %s" % exc
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024.0)
print(out)
"""


def _peak(path: Path, max_side: int = 1600, max_bytes: int = 512 * MB) -> tuple[float, str]:
    """(extra peak resident memory in MB while decoding ``path`` in a fresh process, outcome)."""
    r = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), str(max_side), str(max_bytes)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300, cwd=str(path.parent), check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    peak, outcome = r.stdout.strip().splitlines()[-2:]
    return float(peak), outcome


def _make(path: Path, kind: str, side: int) -> Path:
    if kind == "png16":
        Image.new("I;16", (side, side), 30000).save(path, format="PNG")
    elif kind == "rgba":
        Image.new("RGBA", (side, side), (10, 200, 30, 128)).save(path, format="PNG")
    elif kind == "gif":
        img = Image.new("P", (side, side), 1)
        img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        img.save(path, format="GIF", transparency=0)
    elif kind == "webp":
        Image.new("RGBA", (side, side), (10, 200, 30, 128)).save(path, format="WEBP", lossless=True, quality=0, method=0)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind,side", [("png16", 6000), ("rgba", 6000), ("gif", 6000), ("webp", 4000)])
def test_decode_peak_stays_near_the_decoded_size(tmp_path, kind, side):
    path = _make(tmp_path / f"big.{kind}", kind, side)
    with Image.open(path) as img:
        decoded = decoded_bytes(img) / MB
    assert path.stat().st_size < 2 * MB  # a small file...
    peak, outcome = _peak(path)
    assert outcome.startswith("shape"), outcome
    # ...costs what the decoder must hold plus strips, not several full-size copies (before the fix:
    # 16-bit PNG 895 MB, RGBA PNG 760 MB, GIF 657 MB, WebP 463 MB above the baseline)
    assert peak < decoded + 64, f"{kind}: decoding peaked {peak:.0f} MB above the baseline for {decoded:.0f} MB of pixels"


@pytest.mark.slow
def test_a_photo_over_the_byte_budget_is_refused_before_decoding(tmp_path):
    path = _make(tmp_path / "big.png", "rgba", 6000)  # 6000x6000 RGBA: 206 MB while decoding
    peak, outcome = _peak(path, max_bytes=100 * MB)
    assert outcome.startswith("refused") and "over the 100 MB limit for one photo" in outcome, outcome
    assert str(path) in outcome
    assert peak < 40, f"the refusal decoded the image anyway ({peak:.0f} MB)"


def test_decode_budget_lets_one_large_decode_through_and_queues_the_rest():
    import threading

    budget = DecodeBudget(100)
    order: list[str] = []
    done, holding = threading.Event(), threading.Event()

    def small() -> None:
        with budget.hold(60):
            order.append("small")
            holding.set()
            done.wait(5)

    with budget.hold(500):  # larger than the whole budget, alone: it proceeds
        order.append("big")
        t = threading.Thread(target=small)
        t.start()
        assert not holding.wait(0.2), "a second decode must wait while the budget is spent"
        assert order == ["big"]
    assert holding.wait(5), "the waiting decode proceeds once the budget is free"
    assert order == ["big", "small"] and budget.in_use == 60
    done.set()
    t.join(5)
    assert budget.in_use == 0


_TAG_PEAK = r"""
import os, resource, subprocess, sys
r = subprocess.run([sys.executable, "-m", "facerec.cli", "--db", sys.argv[1], "--threads", "1", "-q", "tag", sys.argv[2]],
                   capture_output=True, text=True, check=False)
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0)
sys.stderr.write(r.stderr[-2000:])
"""


def _tag_peak(db: Path, folder: Path) -> tuple[int, float, str]:
    """(exit code, peak resident MB of a real ``facerec tag`` process, its stderr)."""
    r = subprocess.run(
        [sys.executable, "-c", _TAG_PEAK, str(db), str(folder)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=900, cwd=str(folder.parent), check=False,
    )
    code, peak = r.stdout.split()
    return int(code), float(peak), r.stderr


@pytest.mark.slow
def test_tag_on_a_folder_of_small_files_that_decode_huge(tmp_path, fr_faces, sface_installed):
    """A folder with files of a few hundred KB that decode to 8000x8000 (16-bit, RGBA, palette) or 5000x5000
    (WebP): ``facerec tag`` reads them all with its memory near that of a scan of one ordinary photo (before:
    2.1 GB above it), and tags the ordinary photo after them."""
    plain, bombs = tmp_path / "plain", tmp_path / "bombs"
    plain.mkdir()
    bombs.mkdir()
    for kind, side, name in [("png16", 8000, "a.png"), ("rgba", 8000, "b.png"), ("gif", 8000, "c.gif"), ("webp", 5000, "d.webp")]:
        _make(bombs / name, kind, side)
    for folder in (plain, bombs):
        shutil.copy(fr_faces / "obama" / "obama.jpg", folder / "z_obama.jpg")
    code, base, err = _tag_peak(tmp_path / "plain.db", plain)
    assert code == 0, err
    code, peak, err = _tag_peak(tmp_path / "bombs.db", bombs)
    assert code == 0, err
    assert peak - base < 900, f"tag peaked {peak:.0f} MB, {peak - base:.0f} MB above a scan of one ordinary photo"
