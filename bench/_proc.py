"""Benchmark helpers: run a command while sampling the resident memory of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class RunResult:
    returncode: int
    wall_s: float
    peak_tree_rss_mb: float
    """Largest sum of RSS over the command and all its descendants (sampled every ``interval`` s)."""
    peak_process_rss_mb: float
    """Largest RSS of any single process of the tree (kernel ``ru_maxrss`` via wait4, exact)."""
    stdout: str
    stderr: str
    cpu_s: float = 0.0
    """User + system CPU time of the command and its waited-for descendants."""


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    """Sum of RSS (bytes) of ``root`` and its descendants."""
    kids = _children()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(kids.get(pid, ()))
    return total


def run_measured(cmd: list[str], env: dict | None = None, interval: float = 0.1, cwd: str | None = None) -> RunResult:
    """Run ``cmd`` to completion; wall time, peak tree RSS, peak single-process RSS and its output."""
    out_f = open(_tmpname("out"), "w+")
    err_f = open(_tmpname("err"), "w+")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=out_f, stderr=err_f, cwd=cwd)
    peak = 0
    stop = threading.Event()

    def sampler() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            stop.wait(interval)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out_f.seek(0)
    err_f.seek(0)
    cpu = usage.ru_utime + usage.ru_stime
    res = RunResult(proc.returncode, wall, peak / 2**20, usage.ru_maxrss / 1024, out_f.read(), err_f.read(), cpu)
    for f in (out_f, err_f):
        f.close()
        os.unlink(f.name)
    return res


def _tmpname(tag: str) -> str:
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f"bench-{tag}-")
    os.close(fd)
    return name


SIMD_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")


def cpu_model() -> dict:
    """The processor (name, family/model, the SIMD extensions that decide how fast the networks run): the same
    code ran 5.3x face_recognition's speed on a CPU with AVX-512 and 4.0-4.4x on one with AVX2 only."""
    info: dict = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key in ("model name", "cpu family", "model") and key not in info:
                    info[key] = value
                elif key == "flags":
                    flags = set(value.split())
                    info["simd"] = [x for x in SIMD_FLAGS if x in flags]
                    break
    except OSError:
        pass
    return info


def machine_load() -> dict:
    """How busy the machine is and which CPU it has (benchmarks on shared machines record it next to their
    figures)."""
    la = os.getloadavg()
    return {"loadavg_1_5_15": [round(x, 2) for x in la], "cpu_count": os.cpu_count(), "cpu": cpu_model()}


def emit(result: dict, out: str | None) -> None:
    """Print a benchmark's JSON result, and also write it to ``out`` when given (folders created)."""
    import json
    from pathlib import Path

    text = json.dumps(result, indent=2)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n", encoding="utf-8")
