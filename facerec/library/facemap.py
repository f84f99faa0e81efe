"""The map of faces: the gallery's samples and the library's faces placed in two dimensions by likeness.

PCA (scikit-learn) shows the embedding space's main directions: people far apart there are never confused.
t-SNE (scikit-learn, on the first 50 principal components) keeps each face's nearest neighbours close, for a
closer look at who sits next to whom. Points are coloured by person (named: enrolled, confirmed or suggested),
unknown faces grey; ``draw_map`` renders it with Pillow (no matplotlib needed).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from ..geometry import l2_normalize

log = logging.getLogger(__name__)

TSNE_MAX_POINTS = 5000
"""t-SNE above this many points takes minutes: a fixed random subset is mapped instead (PCA maps all)."""
UNKNOWN_COLOUR = (150, 150, 150)
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194),
    (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150),
    (197, 176, 213), (196, 156, 148), (247, 182, 210), (219, 219, 141), (158, 218, 229),
)
"""Distinct colours (matplotlib's tab20 without its greys) for the people with the most points."""


class MapMethod(StrEnum):
    PCA = "pca"
    TSNE = "tsne"


@dataclass
class MapPoint:
    """One face on the map."""

    kind: str
    """``sample`` (an enrolment photo) or ``face`` (a face of the library)."""
    id: int
    """The sample id or the face id."""
    x: float
    y: float
    person: str | None
    """Named (a sample's person, or a confirmed/suggested face's); None for unknown faces."""
    status: str
    """``sample``, or the face's status."""
    path: str | None = None
    box: list[float] | None = None


@dataclass
class FaceMap:
    """Points in map coordinates (each axis scaled to [0, 1])."""

    method: str
    model_id: str
    points: list[MapPoint] = field(default_factory=list)
    mapped_of: int = 0
    """How many faces there were (t-SNE maps a subset of ``TSNE_MAX_POINTS``)."""
    explained: list[float] = field(default_factory=list)
    """PCA: the share of variance on each axis."""

    def people(self) -> list[tuple[str, int]]:
        """(person, points) largest first."""
        counts: dict[str, int] = {}
        for p in self.points:
            if p.person:
                counts[p.person] = counts.get(p.person, 0) + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold()))

    def colours(self) -> dict[str, tuple[int, int, int]]:
        """Person -> colour: the palette's distinct colours for the largest people, a hashed one for the rest."""
        return {name: PALETTE[i] if i < len(PALETTE) else person_colour(name) for i, (name, _) in enumerate(self.people())}

    def to_dict(self) -> dict:
        return {
            "method": self.method, "model_id": self.model_id, "mapped_of": self.mapped_of,
            "explained": [round(v, 4) for v in self.explained],
            "points": [{"kind": p.kind, "id": p.id, "x": round(p.x, 4), "y": round(p.y, 4), "person": p.person,
                        "status": p.status} for p in self.points],
        }


def person_colour(name: str | None) -> tuple[int, int, int]:
    """A stable, saturated colour for a person (grey for unknown)."""
    if not name:
        return UNKNOWN_COLOUR
    import colorsys

    h = int.from_bytes(hashlib.sha1(name.casefold().encode()).digest()[:4], "big")
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, 0.75, 0.85 + 0.15 * ((h >> 9) % 2))
    return int(r * 255), int(g * 255), int(b * 255)


def embed_2d(emb: np.ndarray, method: MapMethod | str = MapMethod.PCA, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """N x 2 map coordinates (each axis scaled to [0, 1]) and, for PCA, the variance share of each axis."""
    method = MapMethod(method)
    n = len(emb)
    if n == 0:
        return np.zeros((0, 2)), []
    if n < 3:
        xy = np.zeros((n, 2))
        xy[:, 0] = np.arange(n)
        return _scale(xy), []
    from sklearn.decomposition import PCA

    explained: list[float] = []
    if method is MapMethod.PCA:
        pca = PCA(n_components=2, random_state=seed)
        xy = pca.fit_transform(emb)
        explained = [float(v) for v in pca.explained_variance_ratio_]
    else:
        from sklearn.manifold import TSNE

        reduced = PCA(n_components=min(50, n - 1, emb.shape[1]), random_state=seed).fit_transform(emb)
        xy = TSNE(n_components=2, perplexity=float(min(30.0, max(2.0, (n - 1) / 3))), init="pca",
                  random_state=seed, metric="cosine").fit_transform(reduced)
    return _scale(xy), explained


def _scale(xy: np.ndarray) -> np.ndarray:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (xy - lo) / np.where(hi - lo > 0, hi - lo, 1.0)


def face_map(store, model_id: str, method: MapMethod | str = MapMethod.PCA, samples: bool = True, seed: int = 0) -> FaceMap:
    """The map of ``model_id``'s gallery samples (with ``samples``) and library faces (every status)."""
    from ..store import FACE_STATUSES

    method = MapMethod(method)
    ids, _, emb = store.grouping_pool(model_id, FACE_STATUSES)
    records = {f.id: f for f in store.faces()} if len(ids) else {}
    points: list[MapPoint] = []
    vectors = []
    if samples:
        sids, names, semb = store.sample_vectors(model_id)
        for sid, name in zip(sids.tolist(), names):
            points.append(MapPoint("sample", sid, 0.0, 0.0, name, "sample"))
        if len(sids):
            vectors.append(semb)
    for fid in ids.tolist():
        f = records.get(fid)
        if f is None:
            continue
        named = f.person if f.status in ("auto", "confirmed") else None
        points.append(MapPoint("face", fid, 0.0, 0.0, named, f.status, f.path, list(f.box)))
    if len(ids):
        keep = np.array([fid in records for fid in ids.tolist()], bool)
        vectors.append(emb[keep])
    total = len(points)
    if not points:
        return FaceMap(method.value, model_id, [], 0)
    x = np.concatenate(vectors).astype(np.float32)
    x = l2_normalize(x)
    if method is MapMethod.TSNE and total > TSNE_MAX_POINTS:
        pick = np.sort(np.random.default_rng(seed).choice(total, TSNE_MAX_POINTS, replace=False))
        points = [points[i] for i in pick]
        x = x[pick]
    xy, explained = embed_2d(x, method, seed)
    for p, (px, py) in zip(points, xy.tolist()):
        p.x, p.y = px, py
    log.info("map of %d faces (%s)", len(points), method.value)
    return FaceMap(method.value, model_id, points, total, explained)


def draw_map(fmap: FaceMap, out: str | Path, size: tuple[int, int] = (1400, 1000), legend: int = 24) -> Path:
    """Render the map to a PNG (Pillow): unknown faces grey, named ones in their person's colour, samples
    as rings, and a legend of the ``legend`` largest people. Returns the path written."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    panel = 260
    img = Image.new("RGB", (w, h), (252, 252, 250))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    margin = 40
    pw, ph = w - panel - 2 * margin, h - 2 * margin
    draw.rectangle([margin - 8, margin - 8, margin + pw + 8, margin + ph + 8], outline=(215, 215, 210))

    def at(p: MapPoint) -> tuple[float, float]:
        return margin + p.x * pw, margin + (1.0 - p.y) * ph

    colours = fmap.colours()
    for p in sorted(fmap.points, key=lambda q: q.person is not None):  # unknown faces underneath
        cx, cy = at(p)
        colour = colours.get(p.person, UNKNOWN_COLOUR) if p.person else UNKNOWN_COLOUR
        if p.kind == "sample":
            draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], outline=colour, width=2)
        else:
            r = 3 if p.person else 2.5
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    x0 = w - panel + 10
    axes = "PCA" if fmap.method == MapMethod.PCA else "t-SNE"
    title = f"Map of faces ({axes}, {fmap.model_id})"
    draw.text((margin, 12), title, fill=(30, 30, 30), font=font)
    sub = f"{len(fmap.points)} faces" + (f" of {fmap.mapped_of}" if fmap.mapped_of > len(fmap.points) else "")
    if fmap.explained:
        sub += f"; axes hold {100 * sum(fmap.explained):.0f}% of the variance"
    draw.text((x0, margin - 8), sub, fill=(60, 60, 60), font=font)
    y = margin + 14
    draw.ellipse([x0, y + 2, x0 + 8, y + 10], fill=UNKNOWN_COLOUR)
    draw.text((x0 + 14, y), f"unknown ({sum(1 for p in fmap.points if not p.person)})", fill=(60, 60, 60), font=font)
    y += 16
    draw.ellipse([x0, y + 1, x0 + 10, y + 11], outline=(90, 90, 90), width=2)
    draw.text((x0 + 14, y), "enrolment sample (ring)", fill=(60, 60, 60), font=font)
    y += 22
    people = fmap.people()
    for name, n in people[:legend]:
        draw.ellipse([x0, y + 2, x0 + 8, y + 10], fill=colours[name])
        draw.text((x0 + 14, y), f"{name[:28]} ({n})", fill=(40, 40, 40), font=font)
        y += 16
    if len(people) > legend:
        draw.text((x0 + 14, y), f"... and {len(people) - legend} more", fill=(90, 90, 90), font=font)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out
