"""Tagging a folder on a Ray cluster: the per-photo work (decode, detect, embed, match) runs in Ray actors
that keep their models loaded; this process walks the folder, skips unchanged photos, and writes every result
to the gallery in its own transaction (``facerec.tagging.tag_folder`` with a remote analysis), so progress,
cancel and resume behave exactly as on one machine.

Paths must be readable by every node under the same name (a shared mount); facerec and its model weights must be
installed on every node (``pip install 'facerec[cluster]'``, ``facerec models install``). Each actor uses one CPU.
An actor that dies (its process killed, its node lost) is restarted and the photos it had in flight are sent
again (Ray task retries); a photo that kills its worker ``max_attempts`` times is recorded as an error. A photo's
rows are written once per run, when its result arrives here, keyed by its path (with its content hash).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

from .config import Settings
from .errors import FacerecError

log = logging.getLogger(__name__)

FORWARDED_ENV = ("FACEREC_MODELS", "FACEREC_HOME", "FACEREC_DATA", "PYTHONPATH", "OMP_NUM_THREADS")
"""Environment variables the driver passes on to the actors (where models and code are found)."""


class ClusterError(FacerecError):
    """Ray is missing, or the cluster cannot be reached or has no room for a worker."""


def _ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("tagging on a cluster needs Ray: pip install 'facerec[cluster]'") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` (``host:port``, ``auto``, ``ray://host:10001``), or start a local Ray
    instance when ``address`` is None or ``local`` (with ``num_cpus`` CPUs, default all). Idempotent."""
    _check_reachable(address)
    ray = _ray()
    if ray.is_initialized():
        return
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    kwargs: dict = {"runtime_env": {"env_vars": env}, "log_to_driver": False, "configure_logging": False}
    try:
        if address in (None, "", "local"):
            ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as exc:  # ConnectionError, RuntimeError, ...: say which cluster and why
        raise ClusterError(f"cannot join the Ray cluster at {address or 'a local instance'}: {exc}") from None


def _check_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """Fail fast (Ray itself waits minutes) when a ``host:port`` address does not answer."""
    m = re.fullmatch(r"([\w.-]+):(\d+)", address or "")
    if not m:
        return
    try:
        socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); is 'ray start --head' running there?") from None


class _Worker:
    """One Ray actor: a FaceAnalyzer with its models loaded once, analysing photos sent to it."""

    def __init__(self, settings: dict, weights: str | None):
        from .pipeline import FaceAnalyzer

        self.analyzer = FaceAnalyzer(Settings.from_dict(settings), weights=weights)
        self.analyzer.apply_threads()
        self.model_id = self.analyzer.model_id  # loads the embedder now, not on the first photo

    def pid(self) -> int:
        return os.getpid()

    def cpu_seconds(self) -> float:
        """User + system CPU time this worker process has used."""
        t = os.times()
        return t.user + t.system

    def analyse(self, item, gallery):
        from .tagging import _analyse

        item = _analyse(item, self.analyzer, gallery)
        if item.image is not None:  # send back the sizes, not the pixels
            item.image = _Size(item.image.full_size)
        for face in item.faces or ():
            face.chip = None
        return item


@dataclasses.dataclass
class _Size:
    """What the gallery needs of a decoded image: its full size (width, height)."""

    full_size: tuple[int, int]


class RayAnalysis:
    """Analyses photos in ``workers`` Ray actors (``tag_folder(..., remote=RayAnalysis(...))``).

    ``submit(item, gallery)`` returns a Future of the analysed item, which comes back with ``item.error`` set
    (never raises) when the photo could not be analysed, e.g. its worker died ``max_attempts`` times on it.
    """

    def __init__(self, settings: Settings, workers: int | None = None, weights: str | None = None, max_attempts: int = 3):
        ray = _ray()
        if not ray.is_initialized():
            connect()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, int(workers or cpus))
        settings = dataclasses.replace(settings, threads=1)  # one CPU per actor
        actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=max(0, max_attempts - 1))(_Worker)
        self.actors = [actor.remote(settings.to_dict(), weights) for _ in range(self.workers)]
        self._next = 0
        self._gallery_ref = None
        self._gallery = None
        self._lock = threading.Lock()

    def pids(self) -> list[int]:
        """The process id of every actor (waits until they have loaded their models)."""
        ray = _ray()
        return ray.get([a.pid.remote() for a in self.actors])

    def cpu_seconds(self) -> float:
        """CPU time used so far by all the actors together (benchmarks: CPU cost per photo)."""
        ray = _ray()
        return float(sum(ray.get([a.cpu_seconds.remote() for a in self.actors])))

    def submit(self, item, gallery) -> Future:
        ray = _ray()
        with self._lock:
            if gallery is not self._gallery:  # one copy in the object store, shared by every task
                self._gallery, self._gallery_ref = gallery, ray.put(gallery)
            actor = self.actors[self._next % len(self.actors)]
            self._next += 1
        ref = actor.analyse.remote(item, self._gallery_ref)
        out: Future = Future()

        def done(fut: Future) -> None:
            if out.cancelled():
                return
            try:
                out.set_result(fut.result())
            except Exception as exc:  # RayActorError (worker died too often), RayTaskError, cancellation
                item.error = f"analysis failed on the cluster ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                out.set_result(item)

        ref.future().add_done_callback(done)
        return out

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def tag_folder_on_ray(
    folder: str | os.PathLike,
    store,
    analyzer,
    address: str | None = None,
    workers: int | None = None,
    recursive: bool = True,
    progress: Callable | None = None,
    cancel: threading.Event | None = None,
    force: bool = False,
    prefetch: int = 2,
    analysis: RayAnalysis | None = None,
) -> Iterator:
    """``tag_folder`` with the photos analysed by Ray actors; yields one ``TagResult`` per image file, in folder
    order. ``address``: the cluster (None: a local Ray instance). ``analysis``: reuse actors already started."""
    from .tagging import tag_folder

    owned = analysis is None
    if owned:
        connect(address)
        analysis = RayAnalysis(analyzer.settings, workers, weights=getattr(analyzer, "_weights", None))
    try:
        yield from tag_folder(
            Path(folder), store, analyzer, recursive=recursive, progress=progress, cancel=cancel, force=force,
            prefetch=prefetch, remote=analysis,
        )
    finally:
        if owned:
            analysis.close()
