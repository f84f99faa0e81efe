"""OpenCV Zoo's SFace (Apache-2.0): a 128-d MobileFaceNet-style ArcFace model, run by OpenVINO (or OpenCV's DNN
module where OpenVINO is missing; facerec.dnn).

facerec centres SFace's vectors: the network's unit vector minus the mean vector of many faces
(``resources/models/sface-2021dec-centre.json``, made by bench/sface_centre.py), normalised again. The mean
(length ~0.32) is what all faces share; taking it out spreads faces apart: LFW 1:1 99.55% -> 99.63%, and with
1,680 people enrolled the share of them named at 0.1% stranger false accepts 94.5% -> 96.1% (bench/openset.py).
Centred vectors live under their own model id (``sface-2021dec-centred``); a gallery holding the network's
plain vectors (model id ``sface-2021dec``) is converted once when opened (``centre``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..alignment import ARCFACE_112
from ..config import resources_dir
from ..dnn import EMBEDDER_RUNTIMES, load_preferred
from ..errors import ModelNotInstalledError
from .base import l2_normalize

CENTRE_RESOURCE = "models/sface-2021dec-centre.json"
"""The mean vector, relative to ``config.resources_dir()``."""
PLAIN_MODEL_ID = "sface-2021dec"
"""The model id of SFace's own (uncentred) vectors, as galleries before centring stored them."""


@functools.lru_cache(maxsize=1)
def centre_vector() -> np.ndarray:
    """The mean SFace vector (128 float32, read-only), from ``CENTRE_RESOURCE``; ``ModelNotInstalledError`` when
    the file is missing or malformed."""
    path = resources_dir() / CENTRE_RESOURCE
    try:
        vec = np.asarray(json.loads(path.read_text())["vector"], np.float32)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotInstalledError(f"{path}: cannot read SFace's centre vector ({exc}); reinstall facerec") from None
    if vec.shape != (SFaceEmbedder.dim,) or not np.all(np.isfinite(vec)):
        raise ModelNotInstalledError(f"{path}: SFace's centre vector has shape {vec.shape}, expected ({SFaceEmbedder.dim},)")
    vec.flags.writeable = False
    return vec


def centre(vectors: np.ndarray) -> np.ndarray:
    """N x 128 SFace unit vectors -> N x 128 centred unit vectors: ``normalise(v - centre_vector())``. What the
    embedder applies, and what converts vectors stored under ``PLAIN_MODEL_ID`` (with or without flipping), so a
    converted gallery equals a re-enrolled one."""
    return l2_normalize(np.asarray(vectors, np.float32).reshape(-1, SFaceEmbedder.dim) - centre_vector())


class SFaceEmbedder:
    """SFace on 112x112 chips aligned to the ArcFace template. Batched; thread-safe: up to ``max_copies``
    threads embed at once (each copy holds its own 37 MB of weights and working buffers; embedding is a
    smaller share of a photo's work than detection)."""

    template = ARCFACE_112
    dim = 128

    def __init__(
        self, weights: Path, model_id: str, threshold: float, batch_size: int = 32, max_copies: int = 2, flip: bool = False,
        centred: bool = False,
    ):
        self.model_id = model_id
        self.default_threshold = threshold
        self.batch_size = batch_size
        self.flip = flip
        """Test-time flipping: a face's vector is the mean of its chip's and its mirror image's (re-normalised)."""
        self.centred = centred
        """Subtract SFace's mean vector (``centre``) from every output."""
        if centred:
            centre_vector()  # a missing resource fails at load time
        self._net = load_preferred(Path(weights), model_id, EMBEDDER_RUNTIMES, max_copies=max_copies)

    @property
    def cache_id(self) -> str:
        """What an embedding cache must match: the weights and how they are applied."""
        return self.model_id + ("+flip" if self.flip else "")

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """N x 112 x 112 x 3 uint8 RGB chips -> N x 128 float32 unit vectors."""
        chips = np.asarray(chips, dtype=np.uint8)
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if not self.flip:
            out = self._embed(chips)
        else:
            both = self._embed(np.concatenate([chips, chips[:, :, ::-1]]))
            out = l2_normalize(both[: len(chips)] + both[len(chips) :])
        return centre(out) if self.centred else out

    def embed_plain(self, chips: np.ndarray) -> np.ndarray:
        """N x 112 x 112 x 3 uint8 RGB chips -> N x 128 float32 unit vectors of the network itself: no flipping,
        no centring (what ``embed`` builds on; benchmarks cache these and apply both themselves)."""
        chips = np.asarray(chips, dtype=np.uint8)
        return self._embed(chips) if len(chips) else np.zeros((0, self.dim), np.float32)

    def _embed(self, chips: np.ndarray) -> np.ndarray:
        import cv2

        out = []
        for i in range(0, len(chips), self.batch_size):
            # The network takes RGB in 0..255 (OpenCV's FaceRecognizerSF swaps its BGR input to RGB).
            blob = cv2.dnn.blobFromImages(list(chips[i : i + self.batch_size]), 1.0, (112, 112), (0, 0, 0), swapRB=False)
            out.append(self._net.run(blob)[0].reshape(len(blob), -1).copy())
        return l2_normalize(np.concatenate(out))


def load(weights: Path, model_id: str, threshold: float) -> SFaceEmbedder:
    """The sface pack's factory: centred vectors for the published weights (the pack's model id); a ``--weights``
    file of other weights (model id ``<pack id>+<sha256 prefix>``) gets its network's plain vectors, since the
    centre was measured for the published weights only."""
    from .packs import get_pack

    return SFaceEmbedder(weights, model_id, threshold, centred=model_id == get_pack("sface").model_id)
