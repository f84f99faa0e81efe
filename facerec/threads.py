"""CPU thread limits for OpenCV, numpy's BLAS and (only once something imports it) torch.

The tagging and live paths run on OpenCV alone; torch is imported only by the torch-based embedders,
the torch detector and training. ``set_threads`` records the limit and applies it to whatever is
loaded; ``torch_module()`` imports torch with that limit applied.

numpy's BLAS is held to one thread: its products here are small (crop resampling, gallery search), and
OpenBLAS's idle threads spin for a while after every call, which measured as a whole core of wasted CPU
during folder tagging and halved the throughput of two photos analysed in parallel
(bench/tagging.py). A 100k-sample gallery search is as fast with one thread (bench/gallery.py).
"""

from __future__ import annotations

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
    layers are too small to split well (bench/tagging.py: 21.5 vs 17.2 photos/s on 2 cores).
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


def torch_module():
    """``torch``, imported with the thread limit in force."""
    import torch

    with _lock:
        if _threads is not None and torch.get_num_threads() != _threads:
            torch.set_num_threads(_threads)
    return torch
