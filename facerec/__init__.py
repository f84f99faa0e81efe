"""facerec: local-first face recognition.

A small flat API over the pipeline (see ``pipeline.FaceAnalyzer`` for the facade)::

    from facerec import FaceAnalyzer, GalleryStore, Settings
    store = GalleryStore("gallery.db")
    analyzer = FaceAnalyzer(Settings())
    faces = analyzer.analyze("photo.jpg", gallery=store.gallery_index(analyzer.model_id))

Heavy dependencies load lazily: importing ``facerec`` is cheap.
"""

from __future__ import annotations

import os as _os

# torch's (and faiss's) OpenMP workers spin while idle by default, costing several times the CPU of the
# inference itself on a busy laptop; passive waiting must be chosen before they are first imported, and
# every facerec module imports this package first.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# numpy's (and OpenCV's own) OpenBLAS start a helper thread per extra core when they load, which spins for a while
# before it sleeps: ~0.15 CPU-seconds taken from each start of `facerec tag` (bench/tag_ab.py's CPU seconds). facerec
# holds BLAS to one thread anyway (facerec.threads); asked before the libraries load, they start no helpers at all.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

_LAZY = {
    "Settings": "facerec.config",
    "FaceAnalyzer": "facerec.pipeline",
    "Face": "facerec.pipeline",
    "GalleryStore": "facerec.store",
    "GalleryIndex": "facerec.matching",
    "Match": "facerec.matching",
    "load_image": "facerec.imaging",
    "LoadedImage": "facerec.imaging",
    "ImageError": "facerec.errors",
    "FacerecError": "facerec.errors",
    "enrol_image": "facerec.enrolment",
    "tag_folder": "facerec.tagging",
}

__all__ = ["__version__", *_LAZY]  # noqa: PLE0604  (the lazily imported names: strings)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facerec' has no attribute {name!r}")
