"""CPU thread limits for OpenCV, numpy's BLAS and (only once something imports it) torch.

The tagging and live paths run on OpenCV alone; torch is imported only by the torch-based embedders,
the torch detector and training. ``set_threads`` records the limit and applies it to whatever is
loaded; ``torch_module()`` imports torch with that limit applied. Features that need torch call
``require_torch`` at their entry, so that without torch (the standalone bundle leaves it out) they stop
with one clear ``TorchNotAvailableError`` instead of an import traceback.

numpy's BLAS is held to one thread: its products here are small (crop resampling, gallery search), and
OpenBLAS's idle threads spin for a while after every call: during folder tagging they kept a second core
busy doing nothing, taking it from the second photo being analysed. A 100k-sample gallery search is as
fast with one thread (bench/gallery.py; a 1M-sample one uses the faiss index, facerec.matching).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_threads: int | None = None


def set_threads(n: int) -> None:
    """Limit OpenCV and torch to ``n`` CPU threads (torch now if imported, else when first imported here)."""
    global _threads
    n = max(1, int(n))
    with _lock:
        import cv2

        from threadpoolctl import threadpool_limits

        cv2.setNumThreads(n)
        threadpool_limits(1, user_api="blas")
        _threads = n
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(n)


@contextmanager
def shared_among(workers: int) -> Iterator[None]:
    """While the block runs, each of ``workers`` parallel workers gets its share of the OpenCV threads.

    Analysing two photos at once, each on one thread, beats two threads on one photo at a time: MTCNN's
    layers are too small to split well across threads.
    """
    total = _threads
    if total is None or workers <= 1:
        yield
        return
    import cv2

    cv2.setNumThreads(max(1, total // workers))
    try:
        yield
    finally:
        cv2.setNumThreads(total)


TORCH_PACKAGES = ("torch", "torchvision", "facenet_pytorch")
"""Top-level packages that only the torch features import (the standalone bundle leaves them out)."""


def is_torch_missing(exc: BaseException) -> bool:
    """Whether ``exc`` is the failed import of torch, torchvision or facenet-pytorch's code."""
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in TORCH_PACKAGES


def torch_available() -> bool:
    """Whether torch can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or half-imported torch
        return False


def require_torch(feature: str) -> None:
    """Raise :class:`~facerec.errors.TorchNotAvailableError` naming ``feature`` when torch cannot be imported.

    The one check every torch feature makes at its entry (model packs with ``needs_torch``, the torch
    detector backend, ``facerec train`` and ``adapt``), before any work; cheap, torch is not imported."""
    if not torch_available():
        from .errors import TorchNotAvailableError

        raise TorchNotAvailableError(feature)


def torch_module(feature: str = "this"):
    """``torch``, imported with the thread limit in force (TorchNotAvailableError when it cannot be)."""
    try:
        import torch
    except ModuleNotFoundError as exc:
        if not is_torch_missing(exc):
            raise
        from .errors import TorchNotAvailableError

        raise TorchNotAvailableError(feature) from exc

    with _lock:
        if _threads is not None and torch.get_num_threads() != _threads:
            torch.set_num_threads(_threads)
    return torch
