"""``FaceAnalyzer``: the one facade that detects, aligns, embeds and identifies faces.

The CLI, the tagger, the GUI's live view and the benchmarks all go through it::

    analyzer = FaceAnalyzer(Settings())
    faces = analyzer.analyze("photo.jpg", gallery=store.gallery_index(analyzer.model_id))
    for face in faces:
        print(face.box, face.match.name if face.match.known else "unknown", face.match.distance)
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass

import numpy as np

from .alignment import align_many
from .config import Settings
from .detection import DetectedFace, MTCNNDetector
from .imaging import LoadedImage, load_image
from .matching import GalleryIndex, Match, size_threshold
from .threads import set_threads

log = logging.getLogger(__name__)


@dataclass
class Face:
    """One face found in an image; coordinates are in the original (full-resolution, upright) image."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    embedding: np.ndarray | None = None
    chip: np.ndarray | None = None
    """The aligned face (embedder input size), kept when asked for (thumbnails, enrolment)."""
    match: Match | None = None

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    def to_dict(self) -> dict:
        d = {"box": [round(float(v), 1) for v in self.box], "score": round(float(self.score), 4)}
        if self.match is not None:
            d["person"] = self.match.name
            d["distance"] = None if not np.isfinite(self.match.distance) else round(float(self.match.distance), 4)
        return d


class FaceAnalyzer:
    """Owns a detector and an embedder (both loaded lazily) and runs the whole pipeline."""

    def __init__(self, settings: Settings | None = None, embedder=None, detector: MTCNNDetector | None = None, weights: str | None = None):
        self.settings = settings or Settings()
        self._embedder = embedder
        self._weights = weights
        self.detector = detector or MTCNNDetector(self.settings.detector, device=self.settings.device)
        self._lock = threading.Lock()
        # Thread limits are applied on the first detection or embedding (work that needs no inference,
        # such as a rescan of unchanged photos or gallery edits, never loads OpenCV's DNN module), and
        # again when the settings change.
        self._threads_applied: int | None = None

    def apply_threads(self) -> None:
        """Apply the settings' CPU thread limit (done by every detection or embedding, once per value)."""
        if self._threads_applied != self.settings.threads:
            set_threads(self.settings.threads)
            self._threads_applied = self.settings.threads

    # -- models -----------------------------------------------------------------------------------
    def prepare(self) -> FaceAnalyzer:
        """Load the detector's and the embedder's models now (as insightface's ``prepare``) and apply the thread
        limit: what would otherwise happen on the first analysis. Raises ``ModelNotInstalledError`` (with the
        fix) when a model is missing. Returns the analyzer."""
        from concurrent.futures import ThreadPoolExecutor

        self.apply_threads()
        with ThreadPoolExecutor(1, thread_name_prefix="facerec-load") as pool:  # the two load side by side
            detector = pool.submit(self.detector.load)
            _ = self.embedder
            detector.result()
        return self

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from .embedders import load_embedder

                self._embedder = load_embedder(self.settings.model, weights=self._weights)
            if hasattr(self._embedder, "flip"):
                self._embedder.flip = bool(self.settings.flip)  # follows the setting, also when changed later
            return self._embedder

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def threshold(self) -> float:
        """The user's threshold, else the model's calibrated default for a large gallery."""
        return float(self.settings.threshold) if self.settings.threshold is not None else float(self.embedder.default_threshold)

    def threshold_for(self, gallery: GalleryIndex | None) -> float:
        """The threshold in force against this gallery: the user's setting, else the model's calibrated
        gallery-size curve (stricter as the gallery grows, never looser than the 1:1 LFW threshold)."""
        if self.settings.threshold is not None or gallery is None:
            return self.threshold
        from .embedders.packs import PACKS

        pack = PACKS.get(self.settings.model)
        if pack is None or pack.threshold_curve is None or pack.model_id != self.model_id:
            return self.threshold
        return min(size_threshold(pack.threshold_curve, len(gallery)), pack.verification_threshold)

    # -- steps ------------------------------------------------------------------------------------
    def load(self, path: str | os.PathLike) -> LoadedImage:
        return load_image(path, max_side=self.settings.decode_max_side, max_pixels=self.settings.max_pixels)

    def detect(self, image: LoadedImage) -> list[DetectedFace]:
        """Faces in the image's array coordinates."""
        self.apply_threads()
        return self.detector.detect(image.rgb)

    def embed_faces(self, image: LoadedImage, detected: list[DetectedFace]) -> tuple[np.ndarray, np.ndarray]:
        """Aligned chips and their embeddings for faces detected in ``image``."""
        self.apply_threads()
        chips = align_many(image.rgb, [d.landmarks for d in detected], self.embedder.template)
        return chips, self.embedder.embed(chips)

    def identify(self, embeddings: np.ndarray, gallery: GalleryIndex | None, top_k: int | None = None) -> list[Match]:
        if gallery is None:
            gallery = GalleryIndex.empty(self.model_id)
        if len(gallery) and gallery.model_id != self.model_id:
            raise ValueError(f"gallery holds {gallery.model_id} vectors but the embedder is {self.model_id}")
        return gallery.search(embeddings, self.threshold_for(gallery), top_k or self.settings.top_k)

    def analyze(
        self,
        image: LoadedImage | str | os.PathLike | np.ndarray,
        gallery: GalleryIndex | None = None,
        keep_chips: bool = False,
        detected: list[DetectedFace] | None = None,
    ) -> list[Face]:
        """Detect, align, embed and (with a gallery) identify every face in an image, path or RGB array."""
        if isinstance(image, np.ndarray):
            image = LoadedImage.from_array(image)
        elif not isinstance(image, LoadedImage):
            image = self.load(image)
        if detected is None:
            detected = self.detect(image)
        if not detected:
            return []
        chips, emb = self.embed_faces(image, detected)
        matches = self.identify(emb, gallery) if gallery is not None else [None] * len(detected)
        s = image.scale
        return [
            Face(d.box * s, d.score, d.landmarks * s, emb[i], chips[i] if keep_chips else None, matches[i])
            for i, d in enumerate(detected)
        ]


def chip_thumbnail(chip: np.ndarray, size: int = 96, quality: int = 85) -> bytes:
    """A small JPEG of an aligned face chip, stored with enrolment samples."""
    from PIL import Image

    img = Image.fromarray(np.asarray(chip, dtype=np.uint8))
    if img.size[0] != size:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def threshold_in_force(settings: Settings, gallery_size: int) -> float:
    """The identification threshold (cosine distance) used with ``settings`` against a gallery of
    ``gallery_size`` samples, without loading a model: the user's threshold, else the pack's calibrated
    gallery-size curve (never looser than its 1:1 LFW threshold), else the pack's fixed threshold. The same
    number ``FaceAnalyzer.threshold_for`` gives; the CLI and the GUI show this one."""
    if settings.threshold is not None:
        return float(settings.threshold)
    from .embedders import get_pack

    pack = get_pack(settings.model)
    if pack.threshold_curve is None:
        return float(pack.threshold)
    return min(size_threshold(pack.threshold_curve, gallery_size), pack.verification_threshold)
