"""Exceptions raised by the core. Every message names what failed and why."""

from __future__ import annotations

import sys
from pathlib import Path


class FacerecError(Exception):
    """Base class of all facerec errors."""


class ImageError(FacerecError):
    """An image could not be read. ``path`` and ``reason`` are kept for reports."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelNotInstalledError(FacerecError):
    """A model pack's weights are missing or corrupt."""


class RuntimeChoiceError(FacerecError, ValueError):
    """``FACEREC_DNN_RUNTIME`` names no network runtime, or one that is not installed (facerec.dnn)."""


class EnrolmentError(FacerecError):
    """An enrolment photo was refused (no face, several faces)."""


class StoreError(FacerecError):
    """The gallery database refused an operation (unknown person, name taken, foreign model...)."""


class GalleryMissingError(StoreError):
    """A read-only command found no gallery at the path (nothing was created there)."""


class GalleryChangedError(StoreError):
    """The gallery changed (a person added, removed, renamed or merged, samples changed, a restore) since the
    caller read it: match again against the current gallery (``GalleryStore.gallery_generation``) and retry."""


class TorchNotAvailableError(FacerecError):
    """A feature needs PyTorch (training, personalisation, the torch-based model packs, the torch detector
    backend) and torch cannot be imported: the standalone bundle leaves it out, or it is not installed.
    ``facerec.threads.require_torch`` and ``torch_module`` raise it; the CLI reports it in one line (exit 2)."""

    def __init__(self, feature: str = "this"):
        self.feature = feature
        if getattr(sys, "frozen", False):
            how = (
                "which the standalone facerec bundle does not include; to use it, install facerec with pip instead "
                "(pip install -e \".[gui,torch]\" in a source checkout; see packaging/INSTALL.md)"
            )
        else:
            how = "which is not installed here (the default install leaves it out); fix: pip install -e \".[torch]\" in a source checkout, or pip install \"facerec[torch]\""
        super().__init__(f"{feature} needs PyTorch, {how}")
