"""Tagging photo folders: incremental, resumable, cancellable, with progress reports.

Each photo is committed in its own transaction, so an interrupted scan loses at most the photos in
flight; a rerun skips every file whose path, size, mtime and model are unchanged. Photos are decoded and
analysed by a small pool of worker threads (one per CPU thread in the settings: OpenCV and the network
runtimes release the GIL, and each thread runs its own copy of a network, facerec.dnn), at most ``workers + prefetch`` photos in flight, so
memory stays flat however large the folder; the calling thread writes results to the store in folder order.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import GalleryChangedError, ImageError
from .files import file_digest, iter_image_files
from .imaging import FILE_SYSTEM_REASONS, LoadedImage
from .library.inflight import KILLED_REASON, ScanJournal, journal_folder
from .library.review import MatchPolicy, rematch
from .pipeline import FaceAnalyzer
from .store import GalleryStore, NewFace
from .threads import shared_among

if TYPE_CHECKING:
    from .library.xmp_sync import XmpRead

log = logging.getLogger(__name__)


@dataclass
class TaggedFace:
    box: list[float]
    person: str | None
    distance: float | None
    score: float

    def to_dict(self) -> dict:
        return {"box": self.box, "person": self.person, "distance": self.distance, "score": self.score}


@dataclass
class TagResult:
    """The outcome for one file; ``skipped`` when it was unchanged since the last scan."""

    path: str
    faces: list[TaggedFace] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False

    def to_dict(self) -> dict:
        return {"path": self.path, "faces": [f.to_dict() for f in self.faces], "error": self.error}


@dataclass
class TagProgress:
    done: int
    total: int
    skipped: int
    errors: int
    faces: int
    elapsed: float
    current: str = ""
    retried: int = 0
    """Photos that failed on an earlier scan (permissions, a drive gone, an I/O error) and are tried again."""

    @property
    def eta(self) -> float | None:
        """Seconds left, estimated from the photos processed so far (skipped ones cost nearly nothing)."""
        worked = self.done - self.skipped
        if worked <= 0 or self.done >= self.total:
            return None
        return self.elapsed / worked * (self.total - self.done)


@dataclass
class _Loaded:
    path: Path
    size: int
    mtime_ns: int
    image: LoadedImage | None = None
    digest: str | None = None
    error: str | None = None
    faces: list | None = None
    taken_at: str | None = None
    matched_at: tuple[str, int] | None = None
    """The gallery generation the faces were matched against."""
    retry: bool = False
    """``error`` is a failure of the file system (worth retrying on the next scan)."""
    xmp: XmpRead | None = None
    """The photo's XMP, read by the worker for import (facerec.library.xmp_sync.read_for_import)."""


def _records_from_store(store: GalleryStore, path: str, error: str | None) -> TagResult:
    faces = [
        TaggedFace(f.box, f.person, None if f.distance is None else round(f.distance, 4), round(f.score, 4))
        for f in store.photo_faces(path)
    ]
    return TagResult(path, faces, error, skipped=True)


def tag_folder(
    folder: str | os.PathLike,
    store: GalleryStore,
    analyzer: FaceAnalyzer,
    recursive: bool = True,
    progress: Callable[[TagProgress], None] | None = None,
    cancel: threading.Event | None = None,
    force: bool = False,
    prefetch: int = 2,
    workers: int | None = None,
    read_xmp: bool | None = None,
    remote=None,
) -> Iterator[TagResult]:
    """Detect, embed and identify every photo under ``folder``; yield one ``TagResult`` per image file.

    Unreadable files yield a result with ``error`` set (and are remembered, so they are not retried
    until they change). Stops early, between photos, when ``cancel`` is set. ``workers`` photos are
    analysed at once (default: the analyzer's ``threads`` setting), with ``prefetch`` more queued.
    ``read_xmp`` (default: the ``xmp_read_on_scan`` setting): import face regions other apps wrote into
    the photos' XMP (facerec.library.xmp_sync), for new photos and for unchanged ones whose XMP changed.
    ``remote`` (e.g. ``facerec.ray_tagging.RayAnalysis``) analyses the photos elsewhere instead of in local
    threads: it has ``workers`` and ``submit(item, gallery) -> Future[item]``; results are still saved here.
    """
    if read_xmp is None:
        read_xmp = bool(getattr(analyzer.settings, "xmp_read_on_scan", False))
    cancel = cancel or threading.Event()
    walk_errors: list[TagResult] = []

    def on_walk_error(path: str, reason: str) -> None:
        walk_errors.append(TagResult(path, error=reason))

    files = list(iter_image_files(folder, recursive=recursive, on_error=on_walk_error))
    model_id = analyzer.model_id  # loads the embedder: a missing model stops the scan here, not photo by photo
    if analyzer.detector.backend == "opencv":  # and so does a missing face detector (its weights, not loaded yet)
        from .mtcnn_nets import facenet_weights_dir

        facenet_weights_dir()
    gallery = _Gallery(store, analyzer)  # and the library follows the gallery and threshold
    min_face_size = int(analyzer.settings.detector.min_face_size)
    journal = ScanJournal.open(journal_folder(getattr(store, "path", None)))
    for culprit in sorted(journal.culprits):  # photos that killed an earlier scan: recorded, then skipped
        try:
            st = os.stat(culprit)
        except OSError:
            continue
        log.warning("%s: %s", culprit, KILLED_REASON)
        store.save_photo(culprit, st.st_size, st.st_mtime_ns, None, None, None, model_id, error=KILLED_REASON, min_face_size=min_face_size)
    total = len(files) + len(walk_errors)
    t0 = time.monotonic()
    counts = {"done": 0, "skipped": 0, "errors": 0, "faces": 0, "retried": 0}

    def report(current: str = "") -> None:
        if progress:
            progress(TagProgress(
                counts["done"], total, counts["skipped"], counts["errors"], counts["faces"], time.monotonic() - t0, current, counts["retried"],
            ))

    for res in walk_errors:
        counts["done"] += 1
        counts["errors"] += 1
        report(res.path)
        yield res

    todo: list[_Loaded] = []
    for path in files:
        try:
            st = path.stat()
        except OSError as exc:
            counts["done"] += 1
            counts["errors"] += 1
            yield TagResult(str(path), error=f"cannot access file ({exc.strerror or exc})")
            continue
        rec = store.get_photo(str(path))
        unchanged = rec and rec.size == st.st_size and rec.mtime_ns == st.st_mtime_ns and rec.model_id == model_id
        if unchanged and rec.error is not None and rec.retry:  # failed for the file system's sake: try again
            counts["retried"] += 1
            log.info("%s: retrying (it failed on the last scan: %s)", path, rec.error)
        elif not force and unchanged and rec.min_face_size in (None, min_face_size):
            counts["done"] += 1
            counts["skipped"] += 1
            counts["errors"] += rec.error is not None
            if read_xmp and rec.error is None:
                _import_xmp(store, analyzer, str(path))
            result = _records_from_store(store, str(path), rec.error)
            counts["faces"] += len(result.faces)
            report(str(path))
            yield result
            continue
        todo.append(_Loaded(path, st.st_size, st.st_mtime_ns))
    report()

    workers = max(1, int(workers or (remote.workers if remote is not None else analyzer.settings.threads)))
    xmp_style = analyzer.settings.xmp_sidecar_style if read_xmp else None
    pending: deque[Future] = deque()
    # photos that were in flight, with others, when a scan died: analysed first, one at a time
    queued = deque(sorted(todo, key=lambda it: str(it.path) not in journal.suspects))
    alone = {"now": False}

    def submit_next() -> bool:
        if cancel.is_set() or not queued:
            return False
        serial = str(queued[0].path) in journal.suspects
        if pending and (serial or alone["now"]):
            return False
        item = queued.popleft()
        alone["now"] = serial
        item.matched_at = gallery.generation
        pending.append(
            remote.submit(item, gallery.index) if remote is not None else pool.submit(_journaled, journal, item, analyzer, gallery.index, xmp_style)
        )
        return True

    def fill() -> None:
        while len(pending) < workers + max(0, prefetch) and submit_next():
            pass

    analyzer.apply_threads()
    with shared_among(workers), ThreadPoolExecutor(workers, thread_name_prefix="facerec-tag") as pool:
        try:
            fill()
            while pending:
                item = pending.popleft().result()
                if not pending:
                    alone["now"] = False
                fill()
                if cancel.is_set():
                    break
                result = _save(item, store, model_id, gallery, analyzer, min_face_size, xmp_style)
                if item.xmp is not None and result.error is None and _import_xmp(store, analyzer, result.path, item.xmp):
                    result = dataclasses.replace(_records_from_store(store, result.path, None), skipped=False)
                item.image = item.faces = item.xmp = None  # ``todo`` still lists this item: drop the pixels so memory stays flat
                counts["done"] += 1
                counts["errors"] += result.error is not None
                counts["faces"] += len(result.faces)
                report(result.path)
                yield result
        finally:
            for fut in pending:  # the consumer stopped early, or a cancel: photos not yet started are dropped
                fut.cancel()
            journal.close()


def _import_xmp(store: GalleryStore, analyzer: FaceAnalyzer, path: str, read: XmpRead | None = None) -> bool:
    """Import the face regions of a photo's XMP (if it changed since last time; ``read``: already read by a
    worker); True when faces changed. An unreadable sidecar is logged and the scan goes on."""
    from .library.xmp_sync import import_photo_regions

    outcome = import_photo_regions(store, analyzer, path, analyzer.settings.xmp_sidecar_style, read=read)
    for source, reason in outcome.errors:
        log.warning("%s: XMP not imported: %s", source, reason)
    return bool(outcome.confirmed or outcome.added)


class _Gallery:
    """The gallery a scan matches against, with the generation it was read at (``GalleryStore.gallery_generation``).

    ``refresh`` reads the current gallery again (after a person was added, removed, renamed or merged, samples
    or confirmed faces changed, or a restore) and re-matches the stored faces nobody has decided on."""

    def __init__(self, store: GalleryStore, analyzer: FaceAnalyzer):
        self.store, self.analyzer = store, analyzer
        self.refresh()

    def refresh(self) -> None:
        self.generation = self.store.gallery_generation()  # read first: a change after it is seen at the next write
        self.index = self.store.gallery_index(self.analyzer.model_id)
        rematch(self.store, MatchPolicy.from_analyzer(self.analyzer), index=self.index)
        log.info("%s: matching against gallery generation %s (%d vectors)", self.store.path, self.generation, len(self.index))


def _journaled(journal: ScanJournal, item: _Loaded, analyzer: FaceAnalyzer, gallery, xmp_style: str | None = None) -> _Loaded:
    """``_analyse``, written down in the scan's journal while it runs (so a photo that kills the process is
    known on the next run); with ``xmp_style``, the photo's XMP is read too (``item.xmp``), so that the thread
    writing to the store need not."""
    journal.start(item.path)
    try:
        item = _analyse(item, analyzer, gallery)
        if xmp_style is not None and item.error is None:
            from .library.xmp_sync import read_for_import

            item.xmp = read_for_import(str(item.path), xmp_style)
        return item
    finally:
        journal.end(item.path)


def _analyse(item: _Loaded, analyzer: FaceAnalyzer, gallery) -> _Loaded:
    """Decode, detect, embed and identify one photo (in a worker thread) against ``gallery`` (read at
    ``item.matched_at``); failures become ``item.error``."""
    try:
        item.image = analyzer.load(item.path)
        item.digest = file_digest(item.path)
        item.taken_at = item.image.taken_at
    except ImageError as exc:
        item.error = exc.reason
        item.retry = exc.reason.startswith(FILE_SYSTEM_REASONS)
        return item
    except OSError as exc:
        item.error = f"cannot read file ({exc.strerror or exc})"
        item.retry = True
        return item
    try:
        item.faces = analyzer.analyze(item.image, gallery=gallery)
    except Exception as exc:  # one bad photo must never stop the scan
        log.exception("%s: analysis failed", item.path)
        item.error = f"analysis failed ({type(exc).__name__}: {exc})"
    return item


def _save(
    item: _Loaded, store: GalleryStore, model_id: str, gallery: _Gallery, analyzer: FaceAnalyzer, min_face_size: int | None = None,
    xmp_style: str | None = None,
) -> TagResult:
    """Record one analysed photo (or its error) in the store, in its own transaction. When the gallery has
    changed since the photo's faces were matched, they are matched again against the current gallery first.
    With ``xmp_style``, an XMP that names no faces is recorded as read in the same transaction (``item.xmp``,
    read here when the worker did not); one that does is left in ``item.xmp`` for the caller to import
    (decisions of their own, after the photo is saved)."""
    path = str(item.path)
    if item.image is None:
        reason = item.error or "unreadable"
        store.save_photo(path, item.size, item.mtime_ns, None, None, None, model_id, error=reason, min_face_size=min_face_size, retry=item.retry)
        return TagResult(path, error=reason)
    if item.error is not None:
        store.save_photo(
            path, item.size, item.mtime_ns, item.digest, *item.image.full_size, model_id, error=item.error,
            taken_at=item.taken_at, min_face_size=min_face_size,
        )
        return TagResult(path, error=item.error)
    if xmp_style is not None and item.xmp is None:
        from .library.xmp_sync import read_for_import

        item.xmp = read_for_import(path, xmp_style)
    while True:
        new_faces = [
            NewFace(
                [float(v) for v in f.box], f.landmarks, f.score, f.embedding,
                f.match.person_id if f.match else None, f.match.distance if f.match else None,
            )
            for f in item.faces
        ]
        try:
            noted = item.xmp is not None and not item.xmp.names_faces  # nothing to import: noted as read at once
            with store.transaction():
                store.save_photo(
                    path, item.size, item.mtime_ns, item.digest, *item.image.full_size, model_id, new_faces,
                    taken_at=item.taken_at, min_face_size=min_face_size, gallery_generation=item.matched_at,
                )
                if noted:
                    _import_xmp(store, analyzer, path, item.xmp)
            if noted:  # committed with the photo
                item.xmp = None
            break
        except GalleryChangedError:
            if store.gallery_generation() != gallery.generation:
                gallery.refresh()
            item.matched_at = gallery.generation
            if item.faces:
                matches = analyzer.identify(np.stack([f.embedding for f in item.faces]), gallery.index)
                for face, match in zip(item.faces, matches):
                    face.match = match
    # Read back: decisions the user made on an earlier scan of this photo are kept by save_photo.
    result = _records_from_store(store, path, None)
    result.skipped = False
    return result
