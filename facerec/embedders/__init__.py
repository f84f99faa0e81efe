"""Face embedders: the ``Embedder`` protocol and the registry of model packs."""

from .base import Embedder, l2_normalize
from .registry import ModelPack, get_pack, install_pack, is_installed, list_packs, load_embedder

__all__ = ["Embedder", "ModelPack", "get_pack", "install_pack", "is_installed", "list_packs", "load_embedder", "l2_normalize"]
