"""Decisions on library faces, and re-matching: every decision teaches at once.

States (``FaceStatus``, stored in ``faces.status``):

- ``unknown``: no person within the threshold (``distance`` is to the nearest person, for sorting);
- ``suggested`` (stored as ``auto``): the matcher proposes ``person_id``; the user has not decided;
- ``confirmed``: the user said this face is ``person_id`` (by confirming a suggestion, or by assigning it);
- ``rejected``: the user said it is not ``person_id``; the rejection is remembered per person
  (``face_rejections``), so the face is never suggested for that person again, but it may be suggested
  for someone else (then it is ``suggested`` again, and the rejection stays);
- ``ignored``: "not a face" or "don't care": out of suggestions and groups until ``reset``.

Policy ("decisions teach at once"): a confirmed face is evidence for its person immediately, alongside
the enrolment samples: ``GalleryStore.gallery_index`` holds both, marked by kind (``SAMPLE`` /
``CONFIRMED_FACE`` in ``GalleryIndex.sample_kind``), for re-matching, new scans and the live view alike.
Confirmed faces stay distinct from samples: they are withdrawn by rejecting, ignoring or resetting the
face (or by undo), and "use confirmed as samples" (``facerec.library.samples.promote_confirmed``) still copies them into samples.

Re-matching (``rematch``) recomputes, from the stored embeddings (no detection, no embedding), every
undecided face (unknown, suggested, rejected) of one model against that evidence, at the threshold in
force for the evidence's size. ``decide`` runs it after each batch of decisions, in the same transaction
and undo entry; ``facerec.library.people`` after a merge, rename or removal; callers after a new person is
enrolled or the threshold changes.

API (shapes)::

    policy = MatchPolicy.from_analyzer(analyzer)      # or MatchPolicy.fixed(model_id, threshold)
    decide(store, policy, [12, 13], Action.CONFIRM)   # -> DecisionResult(op_id, changed, refused, rematch)
    decide(store, policy, [12], Action.ASSIGN, "Kit Harington")
    rematch(store, policy)                            # -> RematchResult(examined, changed, suggested, threshold, seconds)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from ..errors import StoreError
from ..matching import GalleryIndex
from ..store import FaceStatus, GalleryStore
from .undo import Operation, operation

log = logging.getLogger(__name__)

UNDECIDED = (FaceStatus.UNKNOWN, FaceStatus.SUGGESTED, FaceStatus.REJECTED)
"""States the matcher may change; confirmed and ignored faces are the user's."""
_CHUNK = 4096


class Action(StrEnum):
    CONFIRM = "confirm"
    """Confirm the suggested person (or, with a person given, the same as ASSIGN)."""
    ASSIGN = "assign"
    """Confirm as the given person (a new name creates the person)."""
    REJECT = "reject"
    """Not the person it is suggested (or confirmed) as; never suggested for them again."""
    IGNORE = "ignore"
    """Not a face / don't care."""
    RESET = "reset"
    """Forget the decision (confirm, ignore): undecided again, re-matched. Rejections stay."""


@dataclass
class MatchPolicy:
    """Which faces are matched (``model_id``) and the threshold for an evidence index of a given size."""

    model_id: str
    threshold_for: Callable[[GalleryIndex], float]

    @classmethod
    def fixed(cls, model_id: str, threshold: float) -> MatchPolicy:
        return cls(model_id, lambda index: float(threshold))

    @classmethod
    def from_settings(cls, settings) -> MatchPolicy:
        """The settings' model pack and threshold in force, without loading the model (CLI decisions)."""
        from ..embedders import get_pack
        from ..pipeline import threshold_in_force

        return cls(get_pack(settings.model).model_id, lambda index: threshold_in_force(settings, len(index)))

    @classmethod
    def from_analyzer(cls, analyzer) -> MatchPolicy:
        """The analyzer's model and its threshold in force (user setting, else the calibrated size curve)."""
        return cls(analyzer.model_id, analyzer.threshold_for)


@dataclass
class RematchResult:
    examined: int
    """Undecided faces of the policy's model."""
    changed: int
    """Faces whose person, state or distance changed."""
    suggested: int
    """Faces suggested for someone after re-matching."""
    threshold: float
    seconds: float


@dataclass
class DecisionResult:
    op_id: int | None
    """The undo log entry (None when nothing changed)."""
    changed: list[int] = field(default_factory=list)
    """Faces the decision was applied to."""
    refused: list[tuple[int, str]] = field(default_factory=list)
    """(face id, reason) for faces left as they were: no such face, nothing to confirm or reject..."""
    rematch: RematchResult | None = None


def rematch(
    store: GalleryStore,
    policy: MatchPolicy,
    op: Operation | None = None,
    index: GalleryIndex | None = None,
    grown: Collection[int] | None = None,
) -> RematchResult:
    """Re-identify every undecided face of ``policy.model_id`` from its stored embedding against the
    evidence (samples + confirmed faces), skipping the people each face was rejected for. Writes only the
    faces that change (recorded in ``op`` when given, so undo puts them back). Returns the counts.

    ``grown``: people whose evidence only grew since the library was last matched (a confirmation or an
    assignment). Then only the distances to them are computed and combined with each face's stored
    nearest distance (a face's nearest person can only become one of them, and the threshold, which
    depends on the evidence's size, is applied again to every face): the result of a full re-match at a
    fraction of the cost."""
    t0 = time.perf_counter()
    conn = op.conn if op is not None else None
    index = index if index is not None else store.gallery_index(policy.model_id)
    threshold = float(policy.threshold_for(index))
    rows = store.undecided_faces(policy.model_id, UNDECIDED, conn)
    if not rows:
        return RematchResult(0, 0, 0, threshold, time.perf_counter() - t0)
    ids = np.array([r["id"] for r in rows], np.int64)
    emb = np.frombuffer(b"".join(r["embedding"] for r in rows), dtype="<f4").reshape(len(rows), -1)
    rejected: dict[int, list[int]] = {}
    for fid, pid in store.rejections_of_faces(policy.model_id, UNDECIDED, conn):
        rejected.setdefault(fid, []).append(pid)
    if grown is None:
        best_pid, best_dist = _nearest(index, emb, ids, rejected)
    else:
        best_pid, best_dist = _nearest(index, emb, ids, rejected, only=set(grown))
        stored_pid = np.array([r["person_id"] if r["status"] == FaceStatus.SUGGESTED else -1 for r in rows], np.int64)
        stored_dist = np.array([np.inf if r["distance"] is None else r["distance"] for r in rows], np.float64)
        keep = stored_dist <= best_dist
        best_pid = np.where(keep, stored_pid, best_pid)
        best_dist = np.where(keep, stored_dist, best_dist)
        full = np.flatnonzero([r["status"] == FaceStatus.REJECTED for r in rows])  # their stored distance is not a nearest one
        if len(full):
            best_pid[full], best_dist[full] = _nearest(index, emb[full], ids[full], rejected)
    updates = []
    suggested = 0
    for i, r in enumerate(rows):
        dist = round(float(best_dist[i]), 6) if np.isfinite(best_dist[i]) else None
        old_dist = None if r["distance"] is None else round(float(r["distance"]), 6)
        if dist is not None and dist <= threshold and best_pid[i] >= 0:
            new = (int(best_pid[i]), FaceStatus.SUGGESTED.value, dist)
            suggested += 1
        elif r["status"] == FaceStatus.REJECTED:
            new = (r["person_id"], r["status"], old_dist)  # stays "not X" until someone else matches
        else:
            new = (None, FaceStatus.UNKNOWN.value, dist)
        if new[:2] != (r["person_id"], r["status"]) or not _same_distance(new[2], old_dist):
            updates.append((*new, r["id"]))
    if updates:
        if op is not None:
            op.keep("faces", [u[-1] for u in updates])
        store.update_face_matches(updates)
    result = RematchResult(len(rows), len(updates), suggested, threshold, time.perf_counter() - t0)
    log.debug("rematch %s: %s", policy.model_id, result)
    return result


def _nearest(
    index: GalleryIndex, emb: np.ndarray, ids: np.ndarray, rejected: dict[int, list[int]], only: set[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each face's nearest person (id, -1 for none) and distance (inf for none), among ``only`` these
    people when given, never one the face was rejected for."""
    best_pid = np.full(len(emb), -1, np.int64)
    best_dist = np.full(len(emb), np.inf, np.float64)
    if only is not None:
        rows = np.flatnonzero(np.isin(index.sample_person, np.fromiter(only, np.int64, len(only))))
        if not len(rows):
            return best_pid, best_dist
        evidence, owners = index.embeddings[rows], index.sample_person[rows]
    elif len(index):
        evidence, owners = index.embeddings, index.sample_person
    else:
        return best_pid, best_dist
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    people = owners[starts]
    column = {int(p): j for j, p in enumerate(people)}
    row_of = {int(fid): i for i, fid in enumerate(ids)}
    masked = [(row_of[f], [column[p] for p in pids if p in column]) for f, pids in rejected.items() if f in row_of]
    for start in range(0, len(emb), _CHUNK):
        sims = index.project(emb[start : start + _CHUNK]) @ evidence.T
        if len(starts) != len(evidence):
            sims = np.maximum.reduceat(sims, starts, axis=1)
        d = (1.0 - sims) * np.float32(index.distance_scale)
        for i, cols in masked:
            if start <= i < start + len(d) and cols:
                d[i - start, cols] = np.inf
        j = np.argmin(d, axis=1)
        best_dist[start : start + len(d)] = d[np.arange(len(d)), j]
        best_pid[start : start + len(d)] = people[j]
    best_pid[~np.isfinite(best_dist)] = -1
    return best_pid, best_dist


def decide(
    store: GalleryStore,
    policy: MatchPolicy | None,
    face_ids: Sequence[int],
    action: Action | str,
    person: str | int | None = None,
) -> DecisionResult:
    """Apply one decision to faces, as one undoable operation, then re-match the undecided faces (when
    ``policy`` is given) in the same operation. ``person``: for ASSIGN (a new name creates the person),
    optional for CONFIRM. Faces it cannot apply to are listed in ``refused``; the others are decided."""
    action = Action(action)
    if action is Action.CONFIRM and person is not None:
        action = Action.ASSIGN
    ids = list(dict.fromkeys(int(i) for i in face_ids))
    summary = f"{action.value} {_ids_text(ids)}" + (f" as {person}" if action is Action.ASSIGN else "")
    with operation(store, action.value, summary) as op:
        return apply_decision(op, store, policy, ids, action, person)


def apply_decision(
    op: Operation, store: GalleryStore, policy: MatchPolicy | None, ids: Sequence[int], action: Action, person: str | int | None = None
) -> DecisionResult:
    """``decide`` inside an operation the caller holds (e.g. a face drawn by hand and named at once)."""
    if action is Action.ASSIGN and person is None:
        raise StoreError("assigning faces needs a person's name")
    result = DecisionResult(None)
    target = None
    if action is Action.ASSIGN:
        target = store.find_person(person)
        if target is None:
            if isinstance(person, int):
                raise StoreError(f"no person with id {person}")
            target = store.add_person(str(person))
            op.created("people", target.id)
    grown: set[int] | None = set()  # people whose evidence only grew (None: someone's shrank: re-match all)
    for fid in ids:
        row = store.face_state(fid)
        if row is None:
            result.refused.append((fid, "no such face (removed by a rescan?)"))
            continue
        status, pid = row["status"], row["person_id"]
        op.keep("faces", [fid])
        withdrawn = status == FaceStatus.CONFIRMED and not (action is Action.CONFIRM or (action is Action.ASSIGN and pid == target.id))
        if withdrawn or action is Action.RESET:
            grown = None
        if action is Action.ASSIGN:
            op.keep_rejections([fid])
            store.assign_face(fid, target.id)
            if grown is not None:
                grown.add(target.id)
        elif action is Action.CONFIRM:
            if pid is None or status not in (FaceStatus.SUGGESTED, FaceStatus.CONFIRMED):
                result.refused.append((fid, "no suggested person to confirm (assign a name instead)"))
                continue
            store.confirm_face(fid)
            if grown is not None:
                grown.add(pid)
        elif action is Action.REJECT:
            if pid is None or status not in (FaceStatus.SUGGESTED, FaceStatus.CONFIRMED, FaceStatus.REJECTED):
                result.refused.append((fid, "no person to reject"))
                continue
            op.keep_rejections([fid])
            store.reject_face(fid, pid)
        elif action is Action.IGNORE:
            store.clear_face(fid, FaceStatus.IGNORED)
        else:  # RESET
            store.clear_face(fid, FaceStatus.UNKNOWN)
        result.changed.append(fid)
    if result.changed and policy is not None:
        result.rematch = rematch(store, policy, op, grown=grown)
    result.op_id = op.id if op.rows else None
    return result


def rematch_logged(store: GalleryStore, policy: MatchPolicy, summary: str) -> RematchResult:
    """``rematch`` as its own undoable operation (after a threshold change, a new person...)."""
    with operation(store, "rematch", summary) as op:
        return rematch(store, policy, op)


def _same_distance(a: float | None, b: float | None) -> bool:
    """Equal up to float32 noise (a scan stores float32 distances, re-matching computes them again)."""
    return (a is None) == (b is None) and (a is None or abs(a - b) < 1e-5)


def _ids_text(ids: Sequence[int]) -> str:
    text = ", ".join(str(i) for i in ids[:8])
    return f"face {text}" if len(ids) == 1 else f"faces {text}" + (f" (+{len(ids) - 8})" if len(ids) > 8 else "")
