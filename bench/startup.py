"""Startup times, each in fresh processes: ``facerec --help``, ``import facerec.pipeline``, the first
``analyze`` of a photo (models load then), a warm ``analyze``, and the GUI's first window (offscreen Qt).

    python bench/startup.py --out bench/results/startup.json

Prints JSON with the median and best of ``--repeat`` runs of each, and the machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import emit, machine_load  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

HELP_PROBE = """
import sys
from facerec.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "cv2", "facenet_pytorch", "PIL", "numpy", "PySide6") if m in sys.modules)
print("HEAVY", ",".join(heavy), file=sys.stderr)
"""

ANALYZE_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import facerec.pipeline
t1 = time.perf_counter()
from facerec.config import Settings
from facerec.pipeline import FaceAnalyzer
analyzer = FaceAnalyzer(Settings())
faces = analyzer.analyze(sys.argv[1])
t2 = time.perf_counter()
analyzer.analyze(sys.argv[1])
t3 = time.perf_counter()
print("RESULT " + json.dumps({"import_pipeline_s": t1 - t0, "first_analyze_s": t2 - t1, "warm_analyze_s": t3 - t2, "faces": len(faces)}))
"""

GUI_PROBE = """
import sys, time
from PySide6.QtCore import QTimer
import ui.main_window as mw

_show = mw.MainWindow.show

def show(self):
    _show(self)
    def shown():
        print("SHOWN %.6f" % time.time(), flush=True)
        self.close()
    QTimer.singleShot(0, shown)

mw.MainWindow.show = show
from ui.app import main
sys.exit(main([]))
"""


def _env(home: Path) -> dict:
    env = dict(os.environ, FACEREC_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    env.setdefault("FACEREC_MODELS", str(Path.home() / ".cache" / "facerec-test" / "models"))
    return env


def _stats(xs: list[float]) -> dict:
    return {"median_s": round(statistics.median(xs), 3), "best_s": round(min(xs), 3), "runs": len(xs)}


def time_help(env: dict, repeat: int) -> dict:
    exe = Path(sys.executable).with_name("facerec")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "facerec.cli", "--help"]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    probe = subprocess.run([sys.executable, "-c", HELP_PROBE], env=env, capture_output=True, text=True)
    heavy = next((line.split(" ", 1)[1] for line in probe.stderr.splitlines() if line.startswith("HEAVY")), "?")
    return {"command": " ".join(["facerec", "--help"]), **_stats(times), "target_s": 1.0, "heavy_modules_imported": heavy.split(",") if heavy else []}


def time_analyze(env: dict, repeat: int, photo: Path) -> dict:
    runs = []
    for _ in range(repeat):
        r = subprocess.run([sys.executable, "-c", ANALYZE_PROBE, str(photo)], env=env, capture_output=True, text=True)
        line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            return {"error": r.stderr[-2000:]}
        runs.append(json.loads(line[7:]))
    out = {"photo": str(photo), "faces": runs[0]["faces"]}
    for key in ("import_pipeline_s", "first_analyze_s", "warm_analyze_s"):
        out[key] = _stats([r[key] for r in runs])
    return out


def time_gui(env: dict, repeat: int) -> dict:
    if not (REPO / "ui" / "app.py").exists():
        return {"skipped": "ui/app.py not found"}
    times = []
    for _ in range(repeat):
        t0 = time.time()
        r = subprocess.run([sys.executable, "-c", GUI_PROBE], env=env, capture_output=True, text=True, cwd=REPO, timeout=120)
        line = next((x for x in r.stdout.splitlines() if x.startswith("SHOWN ")), None)
        if line is None:
            return {"error": (r.stderr or r.stdout)[-2000:]}
        times.append(float(line.split()[1]) - t0)
    return {"command": "facerec-gui (QT_QPA_PLATFORM=offscreen), process start to first window shown", **_stats(times), "target_s": 3.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--photo", type=Path, help="photo for the analyze timings (default: a shared 1080p photo)")
    ap.add_argument("--no-gui", action="store_true")
    ap.add_argument("--out", metavar="FILE")
    args = ap.parse_args(argv)
    data = Path(os.environ.get("FACEREC_DATA") or REPO.parent / "shared" / "data")
    photo = args.photo or data / "faces" / "face_recognition" / "obama" / "obama-1080p.jpg"
    result: dict = {
        "benchmark": "startup",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), **machine_load()},
    }
    with tempfile.TemporaryDirectory(prefix="facerec-startup-") as home:
        env = _env(Path(home))
        result["help"] = time_help(env, args.repeat)
        result["analyze"] = time_analyze(env, max(1, args.repeat // 2), photo)
        if not args.no_gui:
            result["gui_first_window"] = time_gui(env, max(1, args.repeat // 2))
    result["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
