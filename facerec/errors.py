"""Exceptions raised by the core. Every message names what failed and why."""

from __future__ import annotations

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


class EnrolmentError(FacerecError):
    """An enrolment photo was refused (no face, several faces)."""


class StoreError(FacerecError):
    """The gallery database refused an operation (unknown person, name taken, foreign model...)."""
