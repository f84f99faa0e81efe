"""Faces drawn by hand where the detector missed one: embedded, stored as manual faces, and nameable.

A hand-drawn box has no landmarks, so the face is aligned in two steps: the detector is run within the
box (with a margin around it, and lenient thresholds, since the user says there is a face); a detection
centred inside the box gives the landmarks. Otherwise the box itself is taken as the face and the
embedder's landmark template is mapped onto it (a box crop). Either way the face is embedded like any
other, stored with ``source = 'manual'`` (rescans keep it), and re-matched like any undecided face; with
a name it is assigned at once. The whole step is one undoable operation.

This is the one implementation of manual faces (the photo viewer, ``facerec faces add``, and XMP import
of regions the detector did not find all call ``add_manual_face``).

API::

    add_manual_face(store, analyzer, "/photos/a.jpg", (x1, y1, x2, y2), person="Kit", policy=policy)
        # -> ManualFace(face_id, how ('detected' | 'box'), box, decision)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import StoreError
from ..geometry import box_iou
from ..imaging import LoadedImage
from ..store import GalleryStore
from .review import Action, DecisionResult, MatchPolicy, apply_decision, rematch
from .undo import operation

log = logging.getLogger(__name__)

MARGIN = 0.4
"""The detector looks this fraction of the box's size beyond each side of it."""
MIN_BOX = 8
"""Smallest box side accepted, in pixels of the original photo."""


@dataclass
class ManualFace:
    face_id: int
    how: str
    """'detected' (landmarks from the detector within the box) or 'box' (the template mapped onto the box)."""
    box: list[float]
    """The stored box (the detector's when it found the face, else the drawn one), original pixels."""
    decision: DecisionResult | None = None


def box_landmarks(box: Sequence[float] | np.ndarray, template) -> np.ndarray:
    """5 x 2 landmarks for a face filling ``box`` exactly as the embedder's template fills its chip."""
    x1, y1, x2, y2 = (float(v) for v in box)
    rel = template.array / float(template.size)
    return np.stack([x1 + rel[:, 0] * (x2 - x1), y1 + rel[:, 1] * (y2 - y1)], axis=1).astype(np.float32)


def locate_face(analyzer, image: LoadedImage, box: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float, str]:
    """(box, landmarks, score, how) in ``image``'s array coordinates for a face drawn at ``box`` (array
    coordinates): the detector's face centred inside the box, else the box with template landmarks."""
    from ..chips import RETRY_DETECTOR
    from ..detection import MTCNNDetector

    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    H, W = image.rgb.shape[:2]
    cx1, cy1 = int(max(0, x1 - MARGIN * w)), int(max(0, y1 - MARGIN * h))
    cx2, cy2 = int(min(W, x2 + MARGIN * w)), int(min(H, y2 + MARGIN * h))
    crop = np.ascontiguousarray(image.rgb[cy1:cy2, cx1:cx2])
    best = None
    if crop.shape[0] >= 12 and crop.shape[1] >= 12:
        analyzer.apply_threads()
        lenient = MTCNNDetector(RETRY_DETECTOR, device=analyzer.settings.device)
        for face in lenient.detect(crop):
            fb = face.box + np.array([cx1, cy1, cx1, cy1], np.float32)
            fcx, fcy = (fb[0] + fb[2]) / 2, (fb[1] + fb[3]) / 2
            if not (x1 <= fcx <= x2 and y1 <= fcy <= y2):
                continue
            overlap = box_iou(fb, (x1, y1, x2, y2))
            if best is None or overlap > best[0]:
                best = (overlap, fb, face.landmarks + np.array([cx1, cy1], np.float32), float(face.score))
    if best is not None and best[0] >= 0.3:
        return best[1], best[2], best[3], "detected"
    arr_box = np.array([x1, y1, x2, y2], np.float32)
    return arr_box, box_landmarks(arr_box, analyzer.embedder.template), 0.0, "box"


def add_manual_face(
    store: GalleryStore,
    analyzer,
    path: str | os.PathLike,
    box: Sequence[float],
    person: str | int | None = None,
    policy: MatchPolicy | None = None,
) -> ManualFace:
    """Embed the face drawn at ``box`` (x1, y1, x2, y2 in the photo's original pixels) in a photo of the
    library and store it as a manual face; with ``person``, assign it to them (a new name creates them).
    Undecided faces are then re-matched (``policy``, default the analyzer's). One undoable operation.
    Raises StoreError for a photo not in the library or a box outside it, ImageError for an unreadable file."""
    path = str(path)
    record = store.get_photo(path)
    if record is None:
        raise StoreError(f"{path}: not in the library (scan its folder first)")
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 - x1 < MIN_BOX or y2 - y1 < MIN_BOX:
        raise StoreError(f"{path}: a face box must be at least {MIN_BOX} pixels wide and high")
    image = analyzer.load(path)
    full_w, full_h = image.full_size
    x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(full_w), x2), min(float(full_h), y2)
    if x2 - x1 < MIN_BOX or y2 - y1 < MIN_BOX:
        raise StoreError(f"{path}: the box {list(box)} lies outside the photo ({full_w} x {full_h})")
    s = image.scale
    arr_box, landmarks, score, how = locate_face(analyzer, image, (x1 / s, y1 / s, x2 / s, y2 / s))
    from ..alignment import align

    analyzer.apply_threads()
    chip = align(image.rgb, landmarks, analyzer.embedder.template)
    embedding = analyzer.embedder.embed(chip[None])[0]
    stored_box = [float(v) * s for v in arr_box]
    policy = policy or MatchPolicy.from_analyzer(analyzer)
    name = f" as {person}" if person is not None else ""
    with operation(store, "manual-face", f"face drawn in {os.path.basename(path)}{name}") as op:
        face_id = store.add_face(record.id, stored_box, embedding, analyzer.model_id, landmarks * s, score, source="manual")
        op.created("faces", face_id)
        if person is not None:
            decision = apply_decision(op, store, policy, [face_id], Action.ASSIGN, person)
        else:
            decision = None
            rematch(store, policy, op)
    log.info("%s: manual face %d (%s)", path, face_id, how)
    return ManualFace(face_id, how, [round(v, 1) for v in stored_box], decision)

