"""Face embedders: the ``Embedder`` protocol (``base``), the model packs (``packs``), where their weights are
(``weights``), installing them (``installer``) and loading them once per process (``loader``)."""

from .base import Embedder, l2_normalize
from .installer import install_pack
from .loader import load_embedder
from .packs import ModelPack, WeightsSource, get_pack, list_packs
from .weights import is_installed, verify_weights, weights_path

__all__ = [
    "Embedder", "ModelPack", "WeightsSource", "get_pack", "install_pack", "is_installed", "l2_normalize", "list_packs",
    "load_embedder", "verify_weights", "weights_path",
]
