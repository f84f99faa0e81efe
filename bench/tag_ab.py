"""``facerec tag FOLDER`` with two (or more) source trees side by side: wall and CPU seconds, and whether they
write the same results.

Each tree's CLI (``python -m facerec.cli tag FOLDER -q --json``, the tree on PYTHONPATH) runs in turn, round
after round, each time on a fresh copy of the same gallery home (``--home``, copied to a temporary folder),
so the machine's load hits all trees alike; medians over the rounds. Two modes:

- ``full``: every photo analysed (a fresh copy of the home);
- ``unchanged``: the folder tagged once untimed, then again timed (every photo skipped): startup and the
  per-photo bookkeeping only.

``--separate-models`` gives each tree a models folder of its own (the installed weights copied, without what
facerec caches beside them: built MTCNN graphs, OpenVINO's compiled models), filled by one untimed run per tree
before the rounds: trees whose caches differ (another graph builder) would otherwise rebuild each other's.

Make the "before" tree with e.g. ``git worktree add /tmp/before main`` (or ``git archive REV | tar -x -C DIR``).

    python bench/tag_ab.py --tree before=/tmp/before --tree after=. --folder PHOTOS --home HOME \\
        [--modes full unchanged] [--rounds 5] [--out bench/results/tag_ab.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _proc import emit, machine_load, run_measured  # noqa: E402


def _tag(tree: Path, folder: Path, home: Path, out_json: Path, models: Path | None = None):
    env = {**os.environ, "PYTHONPATH": str(tree), "FACEREC_HOME": str(home)}
    if models is not None:
        env["FACEREC_MODELS"] = str(models)
    cmd = [sys.executable, "-m", "facerec.cli", "tag", str(folder), "-q", "--json", str(out_json)]
    result = run_measured(cmd, env=env, cwd=str(tree))  # in the tree: ``-m`` puts the working folder first on sys.path
    if result.returncode not in (0, 1):  # 1: some photos unreadable (same for every tree)
        raise SystemExit(f"{tree}: facerec tag failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def _own_models(dest: Path) -> Path:
    """A copy of the installed models folder (``config.models_dir``) in ``dest``: the weights only."""
    from facerec.config import models_dir

    src = models_dir()
    for path in src.rglob("*"):
        if path.is_file() and path.suffix in (".onnx", ".pt") and not path.relative_to(src).parts[0].startswith("openvino"):
            if path.suffix == ".onnx" and path.parent.name == "mtcnn":
                continue  # built from the .pt files by each tree's own builder
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", action="append", required=True, metavar="NAME=PATH", help="a source tree to run (twice or more)")
    ap.add_argument("--folder", required=True, type=Path, help="the photos to tag")
    ap.add_argument("--home", required=True, type=Path, help="a gallery home (FACEREC_HOME) copied for every run")
    ap.add_argument("--modes", nargs="+", default=["full", "unchanged"], choices=["full", "unchanged"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--separate-models", action="store_true", help="a models folder of its own for each tree")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args(argv)
    trees = dict(t.split("=", 1) for t in args.tree)
    if len(trees) < 2:
        ap.error("give at least two --tree NAME=PATH")
    load_before = machine_load()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="tag-ab-") as tmp:
        models: dict[str, Path | None] = dict.fromkeys(trees)
        if args.separate_models:
            for name, tree in trees.items():
                models[name] = _own_models(Path(tmp) / f"models-{name}")
                warm = Path(tmp) / f"warm-{name}"
                shutil.copytree(args.home, warm)
                _tag(Path(tree).resolve(), args.folder, warm, warm / "out.json", models[name])
        for mode in args.modes:
            runs: dict[str, dict[str, list[float]]] = {name: {"wall_s": [], "cpu_s": []} for name in trees}
            same = True
            for _ in range(args.rounds):
                outputs = {}
                for name, tree in trees.items():
                    home = Path(tmp) / f"home-{name}"
                    shutil.rmtree(home, ignore_errors=True)
                    shutil.copytree(args.home, home)
                    out_json = home / "out.json"
                    if mode == "unchanged":
                        _tag(Path(tree).resolve(), args.folder, home, out_json, models[name])
                    r = _tag(Path(tree).resolve(), args.folder, home, out_json, models[name])
                    runs[name]["wall_s"].append(r.wall_s)
                    runs[name]["cpu_s"].append(r.cpu_s)
                    outputs[name] = json.loads(out_json.read_text())
                first = next(iter(outputs.values()))
                same = same and all(o == first for o in outputs.values())
            results[mode] = {
                name: {k: round(statistics.median(v), 3) for k, v in r.items()} | {"runs_wall_s": [round(x, 3) for x in r["wall_s"]]}
                for name, r in runs.items()
            }
            results[mode]["same_results"] = same
    emit({
        "benchmark": "facerec tag, source trees side by side",
        "folder": str(args.folder), "photos": sum(1 for p in args.folder.rglob("*") if p.is_file()),
        "trees": trees, "rounds": args.rounds, "separate_models": args.separate_models, "results": results,
        "machine_load_before": load_before, "machine_load_after": machine_load(),
    }, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
