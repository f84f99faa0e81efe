"""Loading a pack's embedder, once per process: the model cache shared by the CLI, the GUI and the benchmarks."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..config import model_search_dirs
from ..errors import ModelNotInstalledError
from .base import Embedder
from .installer import install_pack, require_runtime, resolve
from .packs import get_pack
from .weights import verify_weights, weights_path

log = logging.getLogger(__name__)

_embedders: dict[tuple[str, Path, float | None], tuple[tuple[int, int], Embedder]] = {}
"""The model cache: (pack, weights file, threshold) -> ((size, mtime_ns) of the file when loaded, embedder)."""
_lock = threading.Lock()


def load_embedder(name: str, weights: str | os.PathLike | None = None, threshold: float | None = None) -> Embedder:
    """Load (once, thread-safely) the embedder of a pack. ``weights`` overrides the weights file. The file is
    looked up on every call: a removed model is noticed, and a reinstalled one (new mtime) is loaded again."""
    pack = get_pack(name)
    require_runtime(pack)
    with _lock:
        path = Path(weights) if weights else weights_path(pack)
        if path is None and pack.source.url and not weights:
            log.info("%s: weights not installed; downloading them on first use", pack.name)
            path = install_pack(pack.name, progress=lambda msg: log.info("%s", msg))
        if path is None or not path.is_file():
            raise ModelNotInstalledError(
                f"model {pack.name!r} is not installed (weights: {pack.source.describe()}; looked for "
                f"{pack.source.filename} in: {', '.join(str(d) for d in model_search_dirs())}); "
                f"fix: facerec models install {pack.name}"
            )
        st = path.stat()
        key, stamp = (name, path, threshold), (st.st_size, st.st_mtime_ns)
        cached = _embedders.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if not weights:
            verify_weights(pack, path)
        factory = resolve(pack.factory)
        embedder = factory(path, pack.model_id, pack.threshold if threshold is None else threshold)
        _embedders[key] = (stamp, embedder)
        return embedder
