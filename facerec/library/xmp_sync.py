"""The gallery and the photos' XMP: write what facerec knows, import what other apps wrote, keep in sync.

- ``write_xmp``: each photo's named faces (confirmed; suggestions too when asked) into its sidecar (or the
  image's own XMP), merged with what is there (``XmpPacket.merge_faces``), and recorded in the store
  (``XmpRecord``) so a later rewrite replaces exactly facerec's own regions and keywords.
- ``xmp_status``: for each photo with names, whether its XMP is current, stale (a decision changed since
  it was written), missing, or not written yet. Staleness is computed from the store (no triggers), so any
  change (confirm, reject, rename, merge, remove a person, a rescan) shows up whoever made it.
- ``sync_written``: rewrite the stale files facerec wrote (``after_decisions`` does it when the
  ``xmp_sync`` setting is on; the GUI and the CLI call it after decisions).
- ``import_photo_regions`` / ``import_tags``: named regions matched to the detected faces by overlap
  confirm them for that person (created if new); a named region with no detected face becomes a face of
  its own, embedded from the region's box. Faces the user already decided in facerec are left alone, and
  regions facerec wrote itself are not read back as someone else's decisions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


from ..errors import FacerecError, ImageError
from ..store import FaceRecord, FaceStatus, GalleryStore, PhotoRecord, XmpRecord
from .manual import add_manual_face
from .review import Action, decide
from .samples import promote_confirmed
from .xmp import Region, XmpError, XmpPacket, iou, same_name
from .xmp_files import (
    PhotoXmp,
    SidecarStyle,
    embed_packet,
    embedded_packet,
    fsync_folder,
    read_photo_xmp,
    read_sidecar,
    sidecar_path,
    write_atomic,
    xmp_signature,
)

log = logging.getLogger(__name__)

MATCH_IOU = 0.3
"""A region and a detected face overlapping at least this much (or each holding the other's centre) are
the same face. Apps draw face boxes of different sizes (digiKam's include hair), hence the low bar."""
NAMED = (FaceStatus.CONFIRMED.value,)
BATCH = 200
"""Photos written per store transaction by ``write_xmp``."""
WITH_SUGGESTIONS = (FaceStatus.CONFIRMED.value, FaceStatus.SUGGESTED.value)


class XmpState(StrEnum):
    CURRENT = "current"
    """facerec wrote it and it still says what the gallery knows."""
    STALE = "stale"
    """A decision changed since facerec wrote it: ``facerec xmp write`` rewrites it."""
    MISSING = "missing"
    """facerec wrote it, but the file is gone."""
    UNWRITTEN = "unwritten"
    """The photo has named faces and facerec has not written its XMP yet."""


@dataclass
class XmpStatus:
    path: str
    """The photo."""
    target: str
    """The XMP file facerec wrote (or would write)."""
    state: XmpState
    names: list[str]
    """The names facerec knows for the photo now."""


@dataclass
class WriteSummary:
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    """Sidecars facerec had created and deleted again because nothing of its own was left in them."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason) for each file that could not be written (the others are written)."""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"written": self.written, "unchanged": self.unchanged, "removed": self.removed,
                "errors": [{"path": p, "error": e} for p, e in self.errors], "seconds": round(self.seconds, 3)}


@dataclass
class ImportOutcome:
    """What importing one photo's regions (or a folder's) did."""

    photos: int = 0
    """Photos whose XMP had named face regions."""
    regions: int = 0
    """Named face regions read."""
    confirmed: int = 0
    """Detected faces confirmed for the region's person."""
    added: int = 0
    """Named regions with no detected face, added as faces of their own."""
    already: int = 0
    """Regions naming a face already confirmed for that person."""
    kept: int = 0
    """Regions on faces the user had decided otherwise in facerec (left as decided)."""
    people: list[str] = field(default_factory=list)
    """People who did not exist in the gallery before."""
    named: list[str] = field(default_factory=list)
    """Everyone a region named (new or not)."""
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: ImportOutcome) -> None:
        for name in ("photos", "regions", "confirmed", "added", "already", "kept"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.people.extend(p for p in other.people if p not in self.people)
        self.named.extend(p for p in other.named if p not in self.named)
        self.errors.extend(other.errors)

    def to_dict(self) -> dict:
        return {"photos": self.photos, "regions": self.regions, "confirmed": self.confirmed, "added": self.added,
                "already": self.already, "kept": self.kept, "new_people": self.people, "named": self.named,
                "errors": [{"path": p, "error": e} for p, e in self.errors]}


# -- what the gallery says about each photo -----------------------------------------------------------
def wanted_regions(store: GalleryStore, photos: Sequence[PhotoRecord], suggestions: bool = False) -> dict[int, list[Region]]:
    """Photo id -> its named faces as regions (normalised to the upright image), sorted; photos without a
    size (unreadable) are left out."""
    sized = {p.id: p for p in photos if p.width and p.height and not p.error}
    out: dict[int, list[Region]] = {pid: [] for pid in sized}
    if not sized:
        return out
    statuses = WITH_SUGGESTIONS if suggestions else NAMED
    for face in _named_faces(store, statuses, sized):
        photo = sized[face.photo_id]
        out[face.photo_id].append(Region.from_pixels(face.person, face.box, photo.width, photo.height))
    for regions in out.values():
        regions.sort(key=lambda r: (r.name or "", r.box))
    return out


def _named_faces(store: GalleryStore, statuses: Sequence[str], photos: dict[int, PhotoRecord]) -> list[FaceRecord]:
    ids = sorted(photos)
    out: list[FaceRecord] = []
    for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
        chunk = ids[start : start + 500]
        out += store.faces(status=list(statuses), photo_ids=chunk)
    return [f for f in out if f.person]


def _keys(regions: Sequence[Region]) -> list[list]:
    return [[r.name, *(round(v, 5) for v in r.box)] for r in regions]


def xmp_status(
    store: GalleryStore, folder: str | os.PathLike | None = None, style: SidecarStyle | str = SidecarStyle.DIGIKAM,
    suggestions: bool = False,
) -> list[XmpStatus]:
    """Every photo (under ``folder``) that has names or XMP facerec wrote, with the state of that XMP."""
    photos = store.photos(os.fspath(folder) if folder else None)
    by_id = {p.id: p for p in photos}
    records: dict[int, list[XmpRecord]] = {}
    for rec in store.xmp_records([p.id for p in photos]) if photos else []:
        records.setdefault(rec.photo_id, []).append(rec)
    plain = wanted_regions(store, photos, False)
    with_sugg = wanted_regions(store, photos, True) if suggestions or any(r.suggestions for rs in records.values() for r in rs) else plain
    out: list[XmpStatus] = []
    for pid, photo in by_id.items():
        recs = records.get(pid, [])
        if not recs:
            wanted = (with_sugg if suggestions else plain).get(pid, [])
            if wanted:
                out.append(XmpStatus(photo.path, str(sidecar_path(photo.path, style)), XmpState.UNWRITTEN, _names(wanted)))
            continue
        for rec in recs:
            wanted = (with_sugg if rec.suggestions else plain).get(pid, [])
            if not Path(rec.target).exists():
                state = XmpState.MISSING
            elif _keys(wanted) != rec.wanted:
                state = XmpState.STALE
            else:
                state = XmpState.CURRENT
            out.append(XmpStatus(photo.path, rec.target, state, _names(wanted)))
    return out


def _names(regions: Sequence[Region]) -> list[str]:
    return list(dict.fromkeys(r.name for r in regions if r.name))


# -- writing ------------------------------------------------------------------------------------------
def write_xmp(
    store: GalleryStore,
    folder: str | os.PathLike | None = None,
    style: SidecarStyle | str = SidecarStyle.DIGIKAM,
    embedded: bool = False,
    suggestions: bool = False,
    force: bool = False,
    only_written: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> WriteSummary:
    """Write the XMP of every photo (under ``folder``) that has names, or had XMP written by facerec:
    into sidecars (``style``) or, with ``embedded``, into the images themselves (through ExifTool).
    Current files are skipped unless ``force``; ``only_written`` touches only files facerec wrote before
    (each keeps its own sidecar/embedded choice and suggestions setting). One file's failure is recorded
    in ``errors`` and the others go on."""
    t0 = time.perf_counter()
    summary = WriteSummary()
    photos = store.photos(os.fspath(folder) if folder else None)
    records: dict[int, list[XmpRecord]] = {}
    for rec in store.xmp_records(None if folder is None else [p.id for p in photos]) if photos else []:
        records.setdefault(rec.photo_id, []).append(rec)
    if only_written:
        photos = [p for p in photos if p.id in records]
    plain = wanted_regions(store, photos, False)
    with_sugg = wanted_regions(store, photos, True) if suggestions or any(r.suggestions for rs in records.values() for r in rs) else plain
    jobs: list[tuple[PhotoRecord, str, bool, bool, XmpRecord | None]] = []
    for photo in photos:
        if photo.id not in plain:
            continue
        recs = records.get(photo.id, [])
        for rec in recs:
            jobs.append((photo, rec.target, rec.embedded, rec.suggestions, rec))
        if only_written:
            continue
        target = photo.path if embedded else str(sidecar_path(photo.path, style))
        if any(r.target == target for r in recs):
            continue
        if (with_sugg if suggestions else plain)[photo.id]:
            jobs.append((photo, target, embedded, suggestions, None))
    synced: set[Path] = set()
    for start in range(0, len(jobs), BATCH):
        if cancel is not None and cancel.is_set():
            break
        # One store transaction per batch: committing (with a disk sync) once per photo would cost more
        # than writing the sidecars. Should the process die inside a batch, the sidecars written are
        # complete files; only facerec's records of them are lost (their regions then count as another
        # app's: kept, never doubled).
        with store.transaction():
            for i in range(start, min(start + BATCH, len(jobs))):
                photo, target, emb, sugg, rec = jobs[i]
                wanted = (with_sugg if sugg else plain)[photo.id]
                try:
                    outcome = write_photo_xmp(store, photo, wanted, target, emb, sugg, rec, force=force, sync_folder=False)
                except (XmpError, OSError) as exc:
                    reason = exc.reason if isinstance(exc, XmpError) else f"cannot write ({exc.strerror or exc})"
                    log.warning("%s: %s", target, reason)
                    summary.errors.append((target, reason))
                    outcome = None
                if outcome in ("written", "removed"):
                    synced.add(Path(target).parent)
                if outcome == "written":
                    summary.written += 1
                elif outcome == "removed":
                    summary.removed += 1
                elif outcome == "unchanged":
                    summary.unchanged += 1
                if progress:
                    progress(i + 1, len(jobs))
    for parent in synced:  # the renames are on disk before this returns
        fsync_folder(parent)
    summary.seconds = time.perf_counter() - t0
    return summary


def write_photo_xmp(
    store: GalleryStore,
    photo: PhotoRecord,
    wanted: Sequence[Region],
    target: str,
    embedded: bool = False,
    suggestions: bool = False,
    record: XmpRecord | None = None,
    force: bool = False,
    sync_folder: bool = True,
) -> str:
    """Bring one XMP file in line with ``wanted``; returns ``written``, ``unchanged`` or ``removed``.
    Raises ``XmpError`` (an unreadable existing file is never overwritten) or ``OSError``. With
    ``sync_folder`` off the caller syncs the folder afterwards (once for many files)."""
    keys = _keys(wanted)
    exists = Path(target).exists()
    if record is not None and not force and exists and record.wanted == keys:
        return "unchanged"
    if embedded:
        raw = embedded_packet(photo.path)
        packet = XmpPacket.parse(raw, f"{photo.path} (embedded XMP)") if raw else XmpPacket.empty()
        created = False
    else:
        packet = read_sidecar(target) if exists else XmpPacket.empty()
        created = record.created if record is not None and exists else not exists
    previous = [Region.from_key(k) for k in record.written] if record is not None and exists else []
    previous_added = record.added if record is not None and exists else []
    result = packet.merge_faces(wanted, (int(photo.width or 0), int(photo.height or 0)), previous, previous_added)
    if not wanted and not embedded and created and packet.is_empty():
        if exists:
            os.unlink(target)
        if record is not None:
            store.delete_xmp_record(photo.id, target)
        return "removed"
    data = packet.serialize()
    if embedded:
        embed_packet(photo.path, data)
        from ..files import file_digest

        st = os.stat(photo.path)
        store.note_file_rewritten(photo.path, st.st_size, st.st_mtime_ns, file_digest(photo.path))
    else:
        write_atomic(target, data, mode_like=photo.path, sync_folder=sync_folder)
    if not wanted and not result.written and not result.added and record is not None:
        store.delete_xmp_record(photo.id, target)
    else:
        store.save_xmp_record(
            XmpRecord(photo.id, target, embedded, suggestions, keys, [r.key() for r in result.written], result.added, created, time.time())
        )
    store.set_xmp_read(photo.id, xmp_signature(photo.path))  # our own writing is not news for the next scan
    return "written"


def sync_written(store: GalleryStore, folder: str | os.PathLike | None = None) -> WriteSummary:
    """Rewrite the XMP files facerec wrote whose names or boxes no longer match the gallery."""
    return write_xmp(store, folder, only_written=True)


def after_decisions(store: GalleryStore, settings) -> WriteSummary | None:
    """Call after the user's decisions changed (confirm, reject, rename, merge, remove a person): rewrites
    facerec's stale XMP files when the ``xmp_sync`` setting is on. Returns the summary, or None when off
    or when facerec has written no XMP."""
    if not getattr(settings, "xmp_sync", True) or not store.xmp_records_exist():
        return None
    summary = sync_written(store)
    if summary.written or summary.removed:
        log.info("XMP kept in sync: %d rewritten, %d removed", summary.written, summary.removed)
    return summary


# -- reading ------------------------------------------------------------------------------------------
def match_regions(regions: Sequence[Region], faces: Sequence[FaceRecord], width: int, height: int) -> list[tuple[Region, FaceRecord | None]]:
    """Pair each region with the detected face it marks (greedy by overlap, each face used once)."""
    pairs = []
    for ri, r in enumerate(regions):
        for fi, f in enumerate(faces):
            fb = Region.from_pixels(None, f.box, width, height).box
            score = iou(r.box, fb)
            if score < MATCH_IOU and _holds_centre(r.box, fb) and _holds_centre(fb, r.box):
                score = MATCH_IOU
            if score >= MATCH_IOU:
                pairs.append((score, ri, fi))
    pairs.sort(reverse=True)
    used_r: dict[int, FaceRecord] = {}
    used_f: set[int] = set()
    for _, ri, fi in pairs:
        if ri not in used_r and fi not in used_f:
            used_r[ri] = faces[fi]
            used_f.add(fi)
    return [(r, used_r.get(i)) for i, r in enumerate(regions)]


def _holds_centre(outer: Sequence[float], inner: Sequence[float]) -> bool:
    cx, cy = inner[0] + inner[2] / 2, inner[1] + inner[3] / 2
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


def foreign_regions(store: GalleryStore, photo: PhotoRecord, packet: XmpPacket, source: str) -> list[Region]:
    """The packet's named face regions, less those facerec wrote into that file itself."""
    target = photo.path if source == "embedded" else source
    ours = [Region.from_key(k) for rec in store.xmp_records([photo.id]) if rec.target == target for k in rec.written]
    return [
        r for r in packet.regions()
        if r.name and not any(same_name(r.name, o.name) and iou(r.box, o.box) >= 0.9 for o in ours)
    ]


@dataclass
class XmpRead:
    """A photo's XMP as read for import, before the store is consulted (``read_for_import``; facerec.tagging
    reads it in its worker threads, off the thread that writes to the store)."""

    signature: str
    """``xmp_signature`` taken just before reading (a change after it shows at the next scan)."""
    found: PhotoXmp | None = None
    error: tuple[str, str] | None = None
    """(file, reason) when the XMP could not be read."""

    @property
    def names_faces(self) -> bool:
        """Whether the XMP has named face regions (importing it may then decide or add faces)."""
        return self.found is not None and any(r.name for r in self.found.packet.regions())


def read_for_import(path: str, style: SidecarStyle | str = SidecarStyle.DIGIKAM, signature: str | None = None) -> XmpRead:
    """Read one photo's XMP for ``import_photo_regions`` (files only, no store). Never raises for an unreadable
    XMP: ``error`` says which file and why."""
    read = XmpRead(signature if signature is not None else xmp_signature(path, style))
    try:
        read.found = read_photo_xmp(path, style)
    except XmpError as exc:
        read.error = (exc.source, exc.reason)
    except OSError as exc:
        read.error = (path, f"cannot read its XMP ({exc.strerror or exc})")
    return read


def import_photo_regions(
    store: GalleryStore,
    analyzer,
    path: str,
    style: SidecarStyle | str = SidecarStyle.DIGIKAM,
    force: bool = False,
    read: XmpRead | None = None,
) -> ImportOutcome:
    """Import the face regions of one scanned photo's XMP into the gallery (see the module docstring);
    each person's faces are assigned as one undoable decision. Skipped when the photo's XMP has not
    changed since the last import, unless ``force``. ``read``: the XMP already read (``read_for_import``),
    else it is read here. When ``read.names_faces`` is false, this only records that the XMP was read
    (one statement, which joins a transaction the caller holds)."""
    outcome = ImportOutcome()
    photo = store.get_photo(path)
    if photo is None or photo.error or not photo.width or not photo.height:
        return outcome
    signature = read.signature if read is not None else xmp_signature(path, style)
    if not force and store.xmp_read_signature(photo.id) == signature:
        return outcome
    if read is None:
        read = read_for_import(path, style, signature)
    if read.error is not None:
        outcome.errors.append(read.error)
        store.set_xmp_read(photo.id, signature)  # reported once; read again when it changes
        return outcome
    found = read.found
    regions = foreign_regions(store, photo, found.packet, found.source) if found else []
    if regions:
        outcome.photos = 1
        outcome.regions = len(regions)
        faces = store.photo_faces(path)
        assign: dict[str, list[int]] = {}
        for region, face in match_regions(regions, faces, photo.width, photo.height):
            assert region.name
            if store.find_person(region.name) is None and region.name not in outcome.people:
                outcome.people.append(region.name)
            if region.name not in outcome.named:
                outcome.named.append(region.name)
            if face is None:
                _add_region_face(store, analyzer, photo, region, outcome)
            elif face.status == FaceStatus.CONFIRMED and same_name(face.person, region.name):
                outcome.already += 1
            elif face.status in (FaceStatus.CONFIRMED, FaceStatus.REJECTED, FaceStatus.IGNORED):
                outcome.kept += 1
            else:
                assign.setdefault(region.name, []).append(face.id)
        for name, ids in assign.items():
            result = decide(store, None, ids, Action.ASSIGN, name)
            outcome.confirmed += len(result.changed)
    store.set_xmp_read(photo.id, signature)
    return outcome


def _add_region_face(store: GalleryStore, analyzer, photo: PhotoRecord, region: Region, outcome: ImportOutcome) -> None:
    """A named region where the detector found no face: a face of its own (facerec.library.manual),
    embedded from the region's box and assigned to the region's person."""
    assert region.name
    box = region.pixels(int(photo.width or 0), int(photo.height or 0))
    try:
        add_manual_face(store, analyzer, photo.path, box, person=region.name)
    except (ImageError, FacerecError, OSError, ValueError) as exc:
        outcome.errors.append((photo.path, f"region {region.name!r}: no face could be made from its box ({exc})"))
        return
    outcome.added += 1


def import_tags(
    store: GalleryStore,
    analyzer,
    folder: str | os.PathLike,
    recursive: bool = True,
    style: SidecarStyle | str = SidecarStyle.DIGIKAM,
    promote: bool = True,
    progress: Callable[[object], None] | None = None,
    cancel: threading.Event | None = None,
) -> ImportOutcome:
    """Bootstrap the gallery from a library tagged in digiKam, Lightroom, Picasa...: scan ``folder``
    (photos already scanned and unchanged are not analysed again), import every photo's named regions
    (again, even if imported before), and with ``promote`` make the confirmed faces of the people found
    enrolment samples, so they are recognised in other photos."""
    from ..tagging import tag_folder

    total = ImportOutcome()
    cancel = cancel or threading.Event()
    for result in tag_folder(folder, store, analyzer, recursive=recursive, progress=progress, cancel=cancel, read_xmp=False):
        if result.error:
            total.errors.append((result.path, result.error))
            continue
        try:
            total.add(import_photo_regions(store, analyzer, result.path, style, force=True))
        except FacerecError as exc:
            total.errors.append((result.path, str(exc)))
    if promote and not cancel.is_set():
        for name in total.named:  # the people the regions named: their confirmed faces become samples
            person = store.find_person(name)
            if person is not None:
                promote_confirmed(store, person.id)
    return total
