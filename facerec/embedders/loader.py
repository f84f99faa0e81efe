"""Loading a pack's embedder, once per process: the model cache shared by the CLI, the GUI and the benchmarks."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..config import model_search_dirs
from ..errors import FacerecError, ModelNotInstalledError
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
        model_id = pack.model_id
        if not weights:
            verify_weights(pack, path)
        else:
            model_id = custom_model_id(pack, path)
        factory = resolve(pack.factory)
        try:
            embedder = factory(path, model_id, pack.threshold if threshold is None else threshold)
        except FacerecError:  # said in its own words (a missing model, a runtime setting)
            raise
        except Exception as exc:  # a file that is not this pack's weights at all
            raise ModelNotInstalledError(f"{path}: cannot be loaded as {pack.name} weights ({type(exc).__name__}: {exc})") from None
        if weights:
            _check_output(pack, path, embedder)
        _embedders[key] = (stamp, embedder)
        return embedder


def custom_model_id(pack, path: Path) -> str:
    """The model id that vectors of a ``--weights`` file are stored under: the pack's own when the file is the
    published one (same sha256), else ``<pack model id>+<sha256 prefix>``, so vectors of other weights are
    never matched against (or mixed with) the genuine pack's. A pack that transforms its network's vectors (SFace's
    centring, measured for the published weights) names other weights after the network's own vectors instead
    (``ModelPack.legacy``'s id: ``sface-2021dec+<sha256 prefix>``). A pack's ``check`` runs on other files first."""
    from ..files import sha256_file

    digest = sha256_file(path)
    if pack.source.sha256 and digest == pack.source.sha256:
        return pack.model_id
    if pack.check:
        resolve(pack.check)(path)
    base = pack.legacy[0] if pack.legacy is not None else pack.model_id
    log.warning("%s: weights that are not %s's published file: its vectors are stored as %s+%s", path, pack.name, base, digest[:12])
    return f"{base}+{digest[:12]}"


def _check_output(pack, path: Path, embedder) -> None:
    """A ``--weights`` file must give the pack's vectors: ``dim`` finite numbers per face."""
    import numpy as np

    size = pack.template.size
    chip = np.random.default_rng(0).integers(0, 255, (1, size, size, 3), dtype=np.uint8)
    try:
        out = np.asarray(embedder.embed(chip))
    except Exception as exc:
        raise ModelNotInstalledError(f"{path}: not usable as {pack.name} weights ({type(exc).__name__}: {exc})") from None
    if out.shape != (1, pack.dim) or not np.all(np.isfinite(out)):
        raise ModelNotInstalledError(f"{path}: not usable as {pack.name} weights (gives vectors of shape {out.shape}, expected (1, {pack.dim}))")
