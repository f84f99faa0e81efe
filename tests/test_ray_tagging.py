"""Tagging on a real Ray cluster: a head and a worker node (``ray start`` on 127.0.0.1, one CPU each) started by
this module, the gallery on a real PostgreSQL server (pgserver). The cluster finds the same faces and names as
the local tagger; a worker killed mid-run loses only its photos in flight, and every photo is written once;
cancel and resume work as on one machine."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from facerec.enrolment import enrol_image
from facerec.store import GalleryStore
from facerec.tagging import tag_folder
from postgres_server import postgres_server, postgres_url  # noqa: F401

from facerec.ray_tagging import RayAnalysis, connect, tag_folder_on_ray

pytestmark = [
    pytest.mark.slow,
    pytest.mark.data,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'facerec[cluster]')"),
]

PEOPLE = {
    "Obama": "obama/obama.jpg",
    "Biden": "biden/biden.jpg",
    "Kit Harington": "kit_harington/john1.jpeg",
    "Rose Leslie": "rose_leslie/img1.jpg",
    "Alex Lacamoire": "alex_lacamoire/img1.jpg",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ok, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.5)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def ray_cluster(sface_installed):
    """``host:port`` of a two-node Ray cluster on this machine (``ray start --block``, each in its own process
    group); afterwards exactly those processes are stopped (not ``ray stop``, which stops every Ray on the machine)."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    temp = tempfile.mkdtemp(prefix="fr-ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    # Token authentication, as a real cluster should run: the head, the worker node and this driver share a token.
    secrets = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.urandom(32).hex(), "RAY_USAGE_STATS_ENABLED": "0",
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    env = dict(os.environ, **secrets)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats", "--block"]
    nodes: list[subprocess.Popen] = []
    saved = {k: os.environ.get(k) for k in secrets}

    def start(args: list[str], log: str) -> None:
        with open(Path(temp) / log, "wb") as out:
            nodes.append(subprocess.Popen([ray_bin, "start", *args, *common], env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))

    try:
        start(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}"], "head.log")
        _wait(lambda: _port_open(port), "the Ray head")
        start([f"--address={address}"], "worker.log")
        os.environ.update(secrets)  # before ray's first import in this process: it reads the token once
        connect(address)
        import ray

        _wait(lambda: sum(n["Alive"] for n in ray.nodes()) == 2, "the Ray worker node")
        yield address
    finally:
        if "ray" in sys.modules:
            sys.modules["ray"].shutdown()
        for proc in reversed(nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        shutil.rmtree(temp, ignore_errors=True)


def test_unreachable_cluster_is_a_clear_error_at_once():
    """Runs first, before the cluster fixture imports ray into this process (port 1: nothing listens)."""
    from facerec.ray_tagging import ClusterError

    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1 "):
        connect("127.0.0.1:1")
    assert time.monotonic() - t0 < 30 and "ray" not in sys.modules


def _enrolled(target, analyzer, fr_faces) -> GalleryStore:
    store = GalleryStore(target)
    for name, photo in PEOPLE.items():
        enrol_image(store, analyzer, name, fr_faces / photo)
    return store


def _tags(results) -> dict[str, list[tuple]]:
    return {r.path: sorted((tuple(round(v) for v in f.box), f.person) for f in r.faces) for r in results}


@pytest.mark.slow
def test_cluster_finds_the_same_faces_and_names_as_the_local_tagger(ray_cluster, analyzer, fr_faces, postgres_url, tmp_path):
    import ray

    assert len(ray.nodes()) == 2 and ray.cluster_resources()["CPU"] == 2
    local = _enrolled(tmp_path / "local.db", analyzer, fr_faces)
    shared = _enrolled(postgres_url, analyzer, fr_faces)
    expected = _tags(tag_folder(fr_faces, local, analyzer))
    progress = []
    on_cluster = list(tag_folder_on_ray(fr_faces, shared, analyzer, address=ray_cluster, workers=2, progress=progress.append))
    assert _tags(on_cluster) == expected
    assert not [r for r in on_cluster if r.error]
    named = {p for faces in expected.values() for _, p in faces} - {None}
    assert named == set(PEOPLE)  # every enrolled person is found somewhere
    assert progress[-1].done == progress[-1].total == len(expected)
    assert shared.stats()["photos"] == len(expected) and shared.stats()["faces"] == local.stats()["faces"]
    # A rerun writes nothing: every photo is unchanged (resume)
    again = list(tag_folder_on_ray(fr_faces, shared, analyzer, address=ray_cluster, workers=2))
    assert all(r.skipped for r in again) and _tags(again) == expected
    local.close()
    shared.close()


@pytest.mark.slow
def test_killed_worker_loses_only_its_photos_in_flight(ray_cluster, analyzer, fr_faces, postgres_url):
    store = _enrolled(postgres_url, analyzer, fr_faces)
    analysis = RayAnalysis(analyzer.settings, workers=2)
    pids = analysis.pids()
    cancel = threading.Event()
    killed = []
    results = []
    for res in tag_folder_on_ray(fr_faces, store, analyzer, cancel=cancel, analysis=analysis):
        results.append(res)
        if len(results) == 3:
            os.kill(pids[1], signal.SIGKILL)  # one worker dies with photos in flight
            killed.append(pids[1])
        if len(results) == 12:
            cancel.set()  # stop between photos...
    assert len(results) == 12
    resumed = list(tag_folder_on_ray(fr_faces, store, analyzer, analysis=analysis))  # ...and resume
    assert sum(r.skipped for r in resumed) == 12
    done = results + [r for r in resumed if not r.skipped]
    paths = [r.path for r in done]
    assert len(paths) == len(set(paths)) == len(resumed)  # every photo exactly once
    assert not [r for r in done if r.error]
    assert store.stats()["photos"] == len(resumed)
    assert len({f.id for f in store.faces()}) == store.stats()["faces"]
    assert killed and killed[0] not in analysis.pids()  # the dead worker was replaced
    analysis.close()
    store.close()


@pytest.mark.slow
def test_cli_tag_on_the_cluster_into_a_postgresql_gallery(ray_cluster, analyzer, fr_faces, postgres_url, tmp_path):
    """``facerec --db postgresql://... tag FOLDER --ray HOST:PORT``, as a user runs it (its own process)."""
    import json

    _enrolled(postgres_url, analyzer, fr_faces).close()
    out_json = tmp_path / "tags.json"
    cmd = [sys.executable, "-m", "facerec.cli", "--db", postgres_url, "-q", "tag", str(fr_faces), "--recursive",
           "--ray", ray_cluster, "--ray-workers", "2", "--json", str(out_json)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    records = json.loads(out_json.read_text())
    files = sorted(str(p) for p in fr_faces.rglob("*") if p.is_file())
    assert sorted(r["path"] for r in records) == files and not [r for r in records if r["error"]]
    assert {f["person"] for r in records for f in r["faces"]} - {None} == set(PEOPLE)
    with GalleryStore(postgres_url) as store:
        assert store.stats()["photos"] == len(files)
