"""facenet-pytorch's InceptionResnetV1 trained on VGGFace2 (David Sandberg's 20180402-114759 model), 512-d.

The weights are facenet-pytorch's release file (a torch ``state_dict``, including an 8631-class ``logits``
layer that is not used here); ``facerec models install facenet-vggface2`` downloads it, or pass ``--weights``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from ..alignment import Template
from ..errors import ModelNotInstalledError
from .base import l2_normalize, run_torch, standardize

log = logging.getLogger(__name__)

FACENET_160 = Template(
    "facenet-160",
    160,
    ((52.61, 65.93), (110.01, 65.34), (81.35, 91.48), (56.69, 112.81), (107.06, 112.34)),
)
"""Where MTCNN's landmarks fall in facenet's training crops: the MTCNN box plus a margin of 32 px, resized to
160x160 (``align_dataset_mtcnn.py --image_size 160 --margin 32``). Measured by
``python bench/facenet_template.py --limit 200`` (mean landmark position within 200 LFW MTCNN boxes).
Not validated for accuracy here: the weights cannot be downloaded where this was written."""

WEIGHTS_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"


def load_state_dict(path: Path) -> dict:
    """Read and check a facenet-pytorch InceptionResnetV1 ``state_dict`` (the classifier is dropped)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelNotInstalledError(
            f"{path}: not a readable torch weights file ({type(exc).__name__}: {exc}); "
            "fix: facerec models install facenet-vggface2 --force"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelNotInstalledError(f"{path}: expected a state_dict, found {type(state).__name__}")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    expected = InceptionResnetV1(pretrained=None, classify=False).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        raise ModelNotInstalledError(
            f"{path}: not an InceptionResnetV1 state_dict ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} wrongly shaped tensors, e.g. {(missing + unexpected + wrong)[:3]}); "
            "fix: facerec models install facenet-vggface2 --force"
        )
    return state


class FacenetEmbedder:
    """InceptionResnetV1 on 160x160 RGB chips aligned to ``FACENET_160``; 512-d unit vectors. Thread-safe."""

    template = FACENET_160
    dim = 512

    def __init__(self, weights: Path, model_id: str, threshold: float, batch_size: int = 32):
        from facenet_pytorch import InceptionResnetV1

        self.model_id = model_id
        self.default_threshold = threshold
        self.batch_size = batch_size
        self.model = InceptionResnetV1(pretrained=None, classify=False).eval()
        self.model.load_state_dict(load_state_dict(Path(weights)))
        self._lock = threading.Lock()

    def embed(self, chips: np.ndarray) -> np.ndarray:
        # facenet's fixed_image_standardization is (x - 127.5) / 128
        return l2_normalize(run_torch(self.model, chips, self.batch_size, self._lock, self.dim, standardize))
