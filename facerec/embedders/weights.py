"""Where a pack's weights are on this machine, and their checksum check (cached per process per unchanged file)."""

from __future__ import annotations

from pathlib import Path

from ..config import model_search_dirs, resources_dir
from ..errors import ModelNotInstalledError
from ..files import sha256_file
from .packs import ModelPack, WeightsSource, get_pack


def package_file(source: WeightsSource) -> Path | None:
    """The file ``source.package_path`` inside the installed package ``source.package`` (not imported), if present."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(source.package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        candidate = Path(base) / source.package_path
        if candidate.is_file():
            return candidate
    return None


def weights_path(pack: ModelPack) -> Path | None:
    """Where the pack's weights are, if present (not yet verified)."""
    if pack.source.package:
        found = package_file(pack.source)
        if found:
            return found
    if pack.source.resource:
        shipped = resources_dir() / pack.source.resource
        if shipped.is_file():
            return shipped
    for folder in model_search_dirs():  # the models folder, then the user-wide one when FACEREC_HOME moved it
        candidate = folder / pack.source.filename
        if candidate.is_file():
            return candidate
    return None


def is_installed(pack: ModelPack | str) -> bool:
    """True when the pack's weights file is present (not verified)."""
    pack = get_pack(pack) if isinstance(pack, str) else pack
    return weights_path(pack) is not None


_verified: dict[Path, tuple[int, int]] = {}
"""The checksum cache: path -> (size, mtime_ns) of files whose sha256 matched."""


def verify_weights(pack: ModelPack, path: Path) -> None:
    """Check the file's sha256 (once per process per unchanged file)."""
    if not pack.source.sha256:
        return
    st = path.stat()
    if _verified.get(path) == (st.st_size, st.st_mtime_ns):
        return
    digest = sha256_file(path)
    if digest != pack.source.sha256:
        raise ModelNotInstalledError(
            f"{path}: weights for model {pack.name!r} are corrupt (sha256 {digest[:12]}..., expected "
            f"{pack.source.sha256[:12]}...); fix: facerec models install {pack.name} --force"
        )
    _verified[path] = (st.st_size, st.st_mtime_ns)
