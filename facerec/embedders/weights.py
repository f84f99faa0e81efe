"""Where a pack's weights are on this machine, and their checksum check (remembered for unchanged files)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..config import model_search_dirs, models_dir, resources_dir
from ..errors import ModelNotInstalledError
from ..files import sha256_file, write_file_atomic
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


log = logging.getLogger(__name__)

_verified: dict[Path, list[int]] = {}
"""The checksum cache of this process: path -> ``_stamp`` of files whose sha256 matched."""
VERIFIED_RECORD = "verified-weights.json"
"""The checksum cache across processes, in the models folder: resolved path -> {"sha256", "stamp"} of files whose
sha256 matched (hashing SFace's 37 MB took ~23 ms of every start)."""


def _stamp(st: os.stat_result) -> list[int]:
    """What changes when a file's content can have changed: size, modification and change times (a write sets the
    change time, which no user can set back), inode and device (a file replaced by another)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _read_record() -> dict:
    try:
        record = json.loads((models_dir() / VERIFIED_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _remember(path: Path, sha256: str, stamp: list[int]) -> None:
    """Add the file to ``VERIFIED_RECORD`` (replaced atomically); where the models folder cannot be written, the
    check simply runs again next time."""
    record = _read_record()
    record[str(path.resolve())] = {"sha256": sha256, "stamp": stamp}
    try:
        write_file_atomic(models_dir() / VERIFIED_RECORD, json.dumps(record).encode("utf-8"))
    except OSError as exc:
        log.debug("checksum of %s not remembered (%s)", path, exc)


def verify_weights(pack: ModelPack, path: Path) -> None:
    """Check the file's sha256, once per unchanged file: ``ModelNotInstalledError`` (with the fix) when it does not
    match. A match is remembered in this process and in ``VERIFIED_RECORD`` (with the file's ``_stamp``)."""
    if not pack.source.sha256:
        return
    stamp = _stamp(path.stat())
    if _verified.get(path) == stamp:
        return
    known = _read_record().get(str(path.resolve()))
    if isinstance(known, dict) and known.get("sha256") == pack.source.sha256 and known.get("stamp") == stamp:
        _verified[path] = stamp
        return
    digest = sha256_file(path)
    if digest != pack.source.sha256:
        raise ModelNotInstalledError(
            f"{path}: weights for model {pack.name!r} are corrupt (sha256 {digest[:12]}..., expected "
            f"{pack.source.sha256[:12]}...); fix: facerec models install {pack.name} --force"
        )
    _verified[path] = stamp
    _remember(path, digest, stamp)
