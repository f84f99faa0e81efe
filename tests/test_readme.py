"""The README followed literally: its command-line walk-through runs, line by line, through the installed
`facerec` entry point with no terminal attached, on a folder laid out as the README names it (photos from
../shared/data); and its install and test commands are the ones .ci/run and pyproject.toml agree with."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def code_block_after(heading: str) -> list[str]:
    """The lines of the first ```bash block after ``heading``, comments stripped."""
    start = README.index(heading)
    block = re.search(r"```bash\n(.*?)```", README[start:], re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_install_and_test_commands():
    install = code_block_after("**Install and start**")[0]
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -e \".[gui]\"")
    test = code_block_after("**Run the whole test suite**")[0]
    assert test.startswith("python3 -m venv .venv && . .venv/bin/activate && ")  # no silently assumed venv
    assert test in (REPO / ".ci" / "run").read_text(), ".ci/run must run the README's test command exactly"
    pyproject = (REPO / "pyproject.toml").read_text()
    deps = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "torch" not in deps and "facenet" not in deps  # the default install has no torch
    assert re.search(r'^license = "MIT"$', pyproject, re.M) and 'license-files = ["LICENSE"]' in pyproject
    system = code_block_after("first install Python's venv module")[0]
    for package in ("python3-venv", "libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0", "libegl1"):
        assert package in system


@pytest.mark.data
@pytest.mark.slow
def test_command_line_walk_through(tmp_path, fr_faces, sface_installed):
    lines = code_block_after("## Command line walk-through")
    work = tmp_path / "work"
    (work / "photos").mkdir(parents=True)
    shutil.copy(fr_faces / "obama" / "obama.jpg", work / "photos" / "obama.jpg")
    shutil.copy(fr_faces / "obama" / "obama2.jpg", work / "photos" / "obama2.jpg")
    shutil.copy(fr_faces / "biden" / "biden.jpg", work / "photos" / "biden.jpg")
    shutil.copy(fr_faces / "biden" / "biden2.jpg", work / "photos" / "biden2.jpg")
    shutil.copy(fr_faces / "_group" / "kit_with_rose.jpg", work / "group.jpg")
    shutil.copy(fr_faces / "_group" / "two_people.jpg", work / "party.jpg")
    pictures = tmp_path / "home" / "Pictures"
    shutil.copytree(fr_faces / "_group", pictures / "group")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    ran = []
    for line in lines:
        args = shlex.split(line)
        assert args[0] == "facerec", line
        if args[1] == "eval":  # 13,233 LFW images: minutes; tests/test_lfw_eval.py covers the evaluation
            continue
        args = [str(tmp_path / "home") + a[1:] if a.startswith("~/") else a for a in args[1:]]
        proc = subprocess.run([sys.executable, "-m", "facerec.cli", *args], cwd=work, env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        ran.append((line, proc.stdout))
    out = {line.split()[1] + " " + line.split()[2]: stdout for line, stdout in ran}
    assert "obama" in out["identify party.jpg"] and "biden" in out["identify party.jpg"]
    listed = {line.split()[0]: line for line in out["people list"].splitlines()}
    assert set(listed) == {"obama", "biden", "kit", "Barack"}
    assert re.search(r"\b1 sample\b", listed["Barack"]) and re.search(r"\b2 samples\b", listed["biden"])
    assert (work / "tags.json").is_file() and (work / "tags.csv").is_file()
