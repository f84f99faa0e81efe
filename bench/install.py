"""The README's install command on a fresh machine: size and time of a new venv, and that it works.

    python bench/install.py --out bench/results/install.json

Copies the repository's tracked files into a temporary folder, and there, with an empty ``HOME`` (so pip's
cache is cold and no model is installed) and no ``FACEREC_*`` variables, runs the README's first command step
by step, timing each: ``python3 -m venv .venv``, ``pip install -e ".[gui]"``, ``facerec models install sface``
(the face detector's and SFace's weights), then ``facerec --version``, an enrol, an identify and a tag on
``../shared/data/faces`` (skipped if absent) and ``facerec-gui --quit-after`` offscreen. Records the venv's
size (``du``), the largest packages in it, whether torch is installed, each step's wall time and exit code.
``--extras gui,torch`` measures another install the same way; ``--pipx`` installs with ``pipx install
".[gui]"`` instead (pipx itself put in a venv of its own first), the README's other way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import emit, machine_load  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def du_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return round(total / 2**20, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--extras", default="gui", help='the extras to install (the README: "gui")')
    p.add_argument("--python", default="python3", help="the interpreter that makes the venv (the README: python3)")
    p.add_argument("--pipx", action="store_true", help='install with pipx install ".[EXTRAS]" instead of a venv')
    p.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    p.add_argument("--out", metavar="FILE", help="also write the JSON here")
    args = p.parse_args(argv)

    work = Path(args.keep or tempfile.mkdtemp(prefix="facerec-install-"))
    src, home = work / "facerec", work / "home"
    home.mkdir(parents=True, exist_ok=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        rel = Path(name.decode())
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEREC_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen", PATH=f"{src / '.venv' / 'bin'}:{env.get('PATH', '')}")
    env.pop("PIP_CACHE_DIR", None)
    data = Path(os.environ.get("FACEREC_DATA", REPO.parent / "shared" / "data")) / "faces" / "face_recognition"

    if args.pipx:  # pipx in a venv of its own, its apps and venvs under the empty HOME
        bin_dir = home / ".local" / "bin"
        env.update(PIPX_HOME=str(home / ".local" / "pipx"), PIPX_BIN_DIR=str(bin_dir))
        steps = [
            ("venv", [args.python, "-m", "venv", str(work / "pipx-tool")]),
            ("pipx", [str(work / "pipx-tool" / "bin" / "pip"), "install", "-q", "pipx"]),
            ("pip_install", [str(work / "pipx-tool" / "bin" / "pipx"), "install", f".[{args.extras}]"]),
        ]
        venv = home / ".local" / "pipx" / "venvs" / "facerec"
        command = f'pipx install ".[{args.extras}]" && facerec models install sface'
    else:
        bin_dir = src / ".venv" / "bin"
        steps = [
            ("venv", [args.python, "-m", "venv", ".venv"]),
            ("pip_install", [".venv/bin/pip", "install", "-q", "-e", f".[{args.extras}]"]),
        ]
        venv = src / ".venv"
        command = f'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[{args.extras}]" && facerec models install sface'
    facerec = str(bin_dir / "facerec")
    steps += [("models_install", [facerec, "models", "install", "sface"]), ("version", [facerec, "--version"])]
    if data.is_dir():
        steps += [
            ("enrol", [facerec, "enrol", "obama", str(data / "obama" / "obama.jpg")]),
            ("identify", [facerec, "identify", str(data / "obama" / "obama2.jpg")]),
            ("tag", [facerec, "tag", str(data / "_group"), "--json", str(work / "tags.json")]),
        ]
    if "gui" in args.extras.split(","):
        steps.append(("gui", [str(bin_dir / "facerec-gui"), "--quit-after", "500"]))

    result = {"command": command, "extras": args.extras, "load_before": machine_load(), "steps": {}}
    ok = True
    for name, cmd in steps:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True)
        step = {"cmd": " ".join(cmd), "seconds": round(time.perf_counter() - t0, 2), "returncode": proc.returncode}
        if proc.returncode != 0:
            step["stderr_tail"] = proc.stderr[-1500:]
            ok = False
        if name in ("version", "identify"):
            step["stdout"] = proc.stdout.strip()[:300]
        result["steps"][name] = step
        if proc.returncode != 0 and name in ("venv", "pipx", "pip_install"):
            break

    site = next(venv.glob("lib/python*/site-packages"), None)
    result["venv_mb"] = du_mb(venv)
    result["install_seconds"] = round(sum(result["steps"].get(k, {}).get("seconds", 0) for k in ("venv", "pipx", "pip_install")), 1)
    if site is not None:
        sizes = sorted(((du_mb(d), d.name) for d in site.iterdir() if d.is_dir() and not d.name.endswith(".dist-info")), reverse=True)
        result["largest_packages_mb"] = {n: s for s, n in sizes[:8]}
        result["torch_installed"] = any((site / n).exists() for n in ("torch", "torchvision", "facenet_pytorch"))
        result["nvidia_or_triton_installed"] = any((site / n).exists() for n in ("nvidia", "triton"))
    models = home / ".local" / "share" / "facerec" / "models"  # the user data folder on Linux (platformdirs)
    result["models_installed"] = sorted(str(p.relative_to(home)) for p in models.rglob("*") if p.is_file())
    result["all_steps_ok"] = ok
    result["load_after"] = machine_load()
    result["python"] = subprocess.run([args.python, "--version"], capture_output=True, text=True).stdout.strip()
    emit(result, args.out)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
