"""Typed settings in one place: defaults, the settings file, and the user's data directories.

Where things live (all overridable):

- ``FACEREC_HOME``: if set, every file below lives under it (tests and portable installs use it).
- gallery database: ``<user data dir>/gallery.db``, or ``--db PATH`` / ``Settings.db_path``.
- model weights: ``<user data dir>/models/``, or ``FACEREC_MODELS``; with ``FACEREC_HOME`` set, also looked
  for in the user-wide models folder (``model_search_dirs()``).
- settings: ``<user config dir>/settings.json``.
- shared test/benchmark data: ``FACEREC_DATA`` (default ``../shared/data`` next to the repository).
- icons, style sheet, bundled weights: ``resources_dir()`` (read-only, shipped with the package).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

APP_NAME = "facerec"
REPO_ROOT = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """Icons, style sheet and bundled weights: ``facerec/resources/`` in an installed wheel (pyproject.toml maps
    the repository's top-level ``resources/`` there), else that top-level ``resources/`` itself (source
    checkouts, editable installs, a PyInstaller bundle with ``--add-data resources:resources``)."""
    packaged = Path(__file__).resolve().parent / "resources"
    return packaged if packaged.is_dir() else REPO_ROOT / "resources"


def _home_override() -> Path | None:
    home = os.environ.get("FACEREC_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    """Directory holding the gallery database and model weights."""
    home = _home_override()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` and any missing parents owner-only (0700, whatever the umask); folders that exist keep
    their permissions. facerec's data and settings folders are made through this, whoever comes first (the
    gallery, ``facerec models install``, the settings). Returns the path."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # another process made it at the same moment
            continue
        os.chmod(d, 0o700)
    return path


def config_dir() -> Path:
    """Directory holding ``settings.json``."""
    home = _home_override()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    """Model weights; ``FACEREC_MODELS`` overrides (tests share one installed copy this way)."""
    env = os.environ.get("FACEREC_MODELS")
    return Path(env).expanduser() if env else data_dir() / "models"


def user_models_dir() -> Path:
    """The user-wide models folder (``<user data dir>/models``), whatever ``FACEREC_HOME`` says."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"


def model_search_dirs() -> list[Path]:
    """Every folder model weights are looked for in, first match wins: ``models_dir()`` (where installs go),
    then, when ``FACEREC_HOME`` moved that away and ``FACEREC_MODELS`` is not set, the user-wide
    ``user_models_dir()``, so a model installed once for the user is found by every ``FACEREC_HOME``."""
    dirs = [models_dir()]
    if not os.environ.get("FACEREC_MODELS") and _home_override() is not None and user_models_dir() != dirs[0]:
        dirs.append(user_models_dir())
    return dirs


def keep_models_dir(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Pin ``FACEREC_MODELS`` in ``env`` (default: this process's environment) to the models folder in use
    now, so that a ``FACEREC_HOME`` set afterwards (a throwaway gallery for benchmarks or screenshots)
    still finds the installed models. Returns ``env``."""
    env = os.environ if env is None else env
    env.setdefault("FACEREC_MODELS", str(models_dir()))
    return env


def default_db_path() -> Path:
    return data_dir() / "gallery.db"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def shared_data_dir() -> Path:
    """Location of the shared face data used by tests and benchmarks."""
    env = os.environ.get("FACEREC_DATA")
    if env:
        return Path(env).expanduser()
    return REPO_ROOT.parent / "shared" / "data"


def default_threads() -> int:
    """All of the machine's cores, up to 8 (more gains little for photo-at-a-time work)."""
    return max(1, min(8, os.cpu_count() or 2))


@dataclass
class DetectorSettings:
    min_face_size: int = 20
    """Smallest face side in pixels, measured on the image as it is fed to the detector."""
    score_threshold: float = 0.90
    """Faces whose MTCNN score is below this are dropped."""
    stage_thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    max_side: int = 1024
    """Images are shrunk so their longer side is at most this before detection; boxes are mapped back."""
    backend: str = "opencv"
    """``opencv`` (torch-free, the default) or ``torch`` (facenet-pytorch's own MTCNN; always used on GPU)."""


def is_database_url(db: object) -> bool:
    """A ``postgresql://`` gallery URL (facerec.database), not a file path."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


@dataclass
class Settings:
    model: str = "sface"
    """Name of the embedder model pack (see ``facerec models list``)."""
    threshold: float | None = None
    """Open-set identification threshold (cosine distance). ``None`` means the model's calibrated default."""
    top_k: int = 3
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    decode_max_side: int = 2048
    """Large photos are decoded reduced (JPEG draft mode) to about this longer side."""
    max_pixels: int = 150_000_000
    """Images with more pixels than this are refused (decompression-bomb guard)."""
    db_path: Path | str | None = None
    """The gallery: a SQLite file (default: in the data folder) or a ``postgresql://`` URL of a shared one."""
    threads: int = field(default_factory=default_threads)
    """CPU threads for detection and embedding; a folder scan analyses this many photos at once."""
    device: str = "cpu"
    flip: bool = False
    """Test-time flipping: a face's vector is the mean of its own and its mirror image's (embedders that support
    it, SFace), for twice the embedding work. Off by default: with SFace's centred vectors it raises LFW 1:1
    accuracy (99.63% -> 99.73%) but lowers the open-set rate that matters when scanning (DIR at 0.1% stranger
    FAR 96.1% -> 95.1%; bench/openset.py, bench/results/openset.json)."""
    xmp_read_on_scan: bool = True
    """A scan imports the face regions other apps wrote into sidecars or the photos' XMP (facerec.library.xmp_sync)."""
    xmp_sidecar_style: str = "digikam"
    """Name of new XMP sidecars: ``digikam`` (photo.jpg.xmp) or ``lightroom`` (photo.xmp)."""
    xmp_sync: bool = True
    """Rewrite the XMP files facerec wrote whenever a decision changes them (else they are reported stale
    by ``facerec xmp status`` until ``facerec xmp write``)."""

    @property
    def gallery_path(self) -> Path | str:
        """The gallery: a SQLite file, or a PostgreSQL URL (``postgresql://...``, kept as text)."""
        if is_database_url(self.db_path):
            return str(self.db_path)
        return Path(self.db_path) if self.db_path else default_db_path()

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["db_path"] = str(self.db_path) if self.db_path else None
        d["detector"]["stage_thresholds"] = list(self.detector.stage_thresholds)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        d = dict(d)
        det = dict(d.pop("detector", {}) or {})
        if "stage_thresholds" in det:
            det["stage_thresholds"] = tuple(det["stage_thresholds"])
        known = {f.name for f in dataclasses.fields(DetectorSettings)}
        detector = DetectorSettings(**{k: v for k, v in det.items() if k in known})
        known = {f.name for f in dataclasses.fields(cls)} - {"detector"}
        s = cls(detector=detector, **{k: v for k, v in d.items() if k in known})
        if s.db_path and not is_database_url(s.db_path):
            s.db_path = Path(s.db_path)
        return s

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read the settings file; a missing or unreadable file gives the defaults (with a warning)."""
        path = path or settings_path()
        if not path.exists():
            return cls()
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable settings file %s: %s", path, exc)
            return cls()

    def save(self, path: Path | None = None) -> Path:
        """Write the settings file atomically."""
        path = path or settings_path()
        private_dir(path.parent)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        os.replace(tmp, path)
        return path
