"""MTCNN's three networks (P-, R- and O-Net) as ONNX graphs built from facenet-pytorch's weights.

The weights are the ``.pt`` files inside the facenet-pytorch wheel (fetched without torch by ``install_weights``,
or found in an installed facenet-pytorch), read with :mod:`facerec.torch_weights`
(no torch import). Each network is written as a small ONNX graph and run by OpenVINO, ONNX Runtime or ``cv2.dnn``
(facerec.dnn). P-Net's graph takes its input channels last (N x H x W x 3: rows of the mosaic that packs a pyramid's
levels, facerec.mtcnn.pyramid_layout, as they lie in memory).
Building the graphs needs the ``onnx`` package, whose import alone costs about half a second, so the graphs
are built once (by ``facerec models install mtcnn``, or on first use) and cached in facerec's models folder,
next to the weights installed there (``<name>.onnx`` with a ``<name>.onnx.json`` key; see ``cached_onnx``).
The dense layers become convolutions whose kernel covers the whole feature map, with facenet-pytorch's
``permute(0, 3, 2, 1)`` before flattening folded into the kernel layout, so a graph holds only Conv, PRelu,
MaxPool and Softmax nodes (and P-Net's Transpose).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .config import model_search_dirs, models_dir, private_dir
from .dnn import DETECTOR_RUNTIMES, load_model, load_preferred
from .errors import ModelNotInstalledError
from .files import write_file_atomic
from .torch_weights import load_state_dict

log = logging.getLogger(__name__)

# Layer sequences of facenet-pytorch's PNet, RNet and ONet (torch.nn names). ("dense", name, h, w) is a
# Linear layer applied to a C x h x w map flattened in (w, h, c) order; "pool" is MaxPool(k, s, ceil_mode).
# Heads are 1x1 convolutions (or dense layers) on the trunk's output; "softmax" marks the face-score head.
_ARCH = {
    "pnet": {
        "trunk": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 2, 2), ("conv", "conv2"), ("prelu", "prelu2"),
                  ("conv", "conv3"), ("prelu", "prelu3")],
        "heads": [("reg", "conv4_2", False), ("prob", "conv4_1", True)],
    },
    "rnet": {
        "trunk": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3, 2), ("conv", "conv2"), ("prelu", "prelu2"),
                  ("pool", 3, 2), ("conv", "conv3"), ("prelu", "prelu3"), ("dense", "dense4", 3, 3),
                  ("prelu", "prelu4")],
        "heads": [("reg", "dense5_2", False), ("prob", "dense5_1", True)],
    },
    "onet": {
        "trunk": [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3, 2), ("conv", "conv2"), ("prelu", "prelu2"),
                  ("pool", 3, 2), ("conv", "conv3"), ("prelu", "prelu3"), ("pool", 2, 2), ("conv", "conv4"),
                  ("prelu", "prelu4"), ("dense", "dense5", 3, 3), ("prelu", "prelu5")],
        "heads": [("reg", "dense6_2", False), ("landmarks", "dense6_3", False), ("prob", "dense6_1", True)],
    },
}
OUTPUTS = {name: [h[0] for h in arch["heads"]] for name, arch in _ARCH.items()}

SHA256 = {  # facenet-pytorch 2.5.3's data/*.pt: the weights the port was checked against
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}


WHEEL = "facenet-pytorch==2.5.3"
"""The wheel on the package registry that holds MTCNN's weights (MIT); ``facerec models install`` fetches it
without its dependencies (no torch) and keeps only the three ``.pt`` files."""
WHEEL_MEMBER = "facenet_pytorch/data/{name}.pt"
NETS = ("pnet", "rnet", "onet")
MAX_BATCH = {"rnet": 64, "onet": 8}
"""The largest chunk each net's candidates run in on OpenVINO (facerec.dnn.OvModel; P-Net gets one mosaic). O-Net runs
fastest per candidate in chunks of 8 (larger batches outgrow the CPU's caches), and with fewer batch shapes it
prepares fewer kernels; R-Net's 24 px inputs gain from large chunks. bench/mtcnn_chunks.py measures both on the
tagging folder's own candidates."""
BUNDLE_WEIGHTS_DIR = "facenet_pytorch/data"
"""Where a PyInstaller bundle (packaging/facerec.spec) carries the three ``.pt`` files, relative to its
``sys._MEIPASS``: the bundle leaves facenet-pytorch's code (and torch) out but keeps these weights."""


def installed_weights_dir() -> Path:
    """Where ``facerec models install`` puts MTCNN's weights: ``<models dir>/mtcnn``."""
    return models_dir() / "mtcnn"


def weights_dirs() -> list[Path]:
    """Every folder MTCNN's weights are looked for in, first match wins: ``installed_weights_dir()`` (and the
    user-wide models folder, see ``config.model_search_dirs``), the
    ``data`` folder of an installed facenet-pytorch package (found without importing it), and
    ``BUNDLE_WEIGHTS_DIR`` inside a PyInstaller bundle."""
    found = [folder / "mtcnn" for folder in model_search_dirs()]
    try:
        spec = importlib.util.find_spec("facenet_pytorch")
    except (ImportError, ValueError):
        spec = None
    found += [Path(p) / "data" for p in (spec.submodule_search_locations or [])] if spec is not None else []
    if getattr(sys, "_MEIPASS", None):
        found.append(Path(sys._MEIPASS) / BUNDLE_WEIGHTS_DIR)
    return found


def find_weights_dir() -> Path | None:
    """The first of ``weights_dirs()`` holding all three ``.pt`` files, or None (not verified here)."""
    for folder in weights_dirs():
        if all((folder / f"{name}.pt").is_file() for name in NETS):
            return folder
    return None


def facenet_weights_dir() -> Path:
    """The folder holding MTCNN's ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` (see ``weights_dirs``); raises
    ``ModelNotInstalledError`` naming every place looked in when none has them."""
    folder = find_weights_dir()
    if folder is not None:
        return folder
    places = ", ".join(str(p) for p in weights_dirs())
    raise ModelNotInstalledError(
        f"the face detector's weights (MTCNN) are not installed (looked in: {places}); fix: facerec models install mtcnn"
    )


def install_weights(wheel: str | os.PathLike, progress: Callable[[str], None] | None = None) -> Path:
    """Extract the three ``.pt`` files from ``wheel`` (facenet-pytorch 2.5.3's; ``facerec.model_setup`` downloads
    it without torch), check each one's sha256 and put them in ``installed_weights_dir()``. Returns that folder;
    ``ModelNotInstalledError`` naming the file and the reason otherwise (nothing is changed then)."""
    say = progress or (lambda msg: log.info("%s", msg))
    wheel = Path(wheel)
    if not wheel.is_file():
        raise ModelNotInstalledError(f"{wheel}: no such file")
    if not zipfile.is_zipfile(wheel):
        raise ModelNotInstalledError(f"{wheel}: not a wheel (zip) file; expected {WHEEL}'s wheel")
    dest = private_dir(installed_weights_dir())
    with tempfile.TemporaryDirectory(dir=dest) as tmp, zipfile.ZipFile(wheel) as zf:
        tmp_path = Path(tmp)
        for name in NETS:
            member = WHEEL_MEMBER.format(name=name)
            try:
                data = zf.read(member)
            except KeyError:
                raise ModelNotInstalledError(f"{wheel}: does not contain {member}; expected {WHEEL}'s wheel") from None
            digest = hashlib.sha256(data).hexdigest()
            if digest != SHA256[name]:
                raise ModelNotInstalledError(f"{wheel}: {member} has sha256 {digest}, expected {SHA256[name]}; not installed")
            (tmp_path / f"{name}.pt").write_bytes(data)
        for name in NETS:
            os.replace(tmp_path / f"{name}.pt", dest / f"{name}.pt")
    cached_onnx(dest)  # build the nets' graphs now, not on the first detection
    say(f"mtcnn: installed the face detector's weights in {dest} (sha256 verified)")
    return dest


def check_weights(folder: Path) -> dict[str, str]:
    """``ModelNotInstalledError`` unless ``folder`` holds the three expected ``.pt`` files (sha256).
    Returns ``{name: sha256}`` of the files checked."""
    return {name: _checked_digest(folder, name) for name in NETS}


def _checked_digest(folder: Path, name: str) -> str:
    """The sha256 of net ``name``'s weights in ``folder``; ``ModelNotInstalledError`` when missing or not the expected ones."""
    path = folder / f"{name}.pt"
    if not path.is_file():
        raise ModelNotInstalledError(f"MTCNN weights missing: {path}; fix: facerec models install mtcnn --force")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256[name]:
        raise ModelNotInstalledError(
            f"MTCNN weights {path} are not the expected ones (sha256 {digest}); fix: facerec models install mtcnn --force"
        )
    return digest


def _dense_kernel(w: np.ndarray, h: int, wd: int) -> np.ndarray:
    """A Linear weight (out x C*h*w, applied to ``permute(0, 3, 2, 1).flatten()``) as an out x C x h x w
    convolution kernel: the flattened input index is ((x * h) + y) * C + c."""
    out, n = w.shape
    return w.reshape(out, wd, h, n // (h * wd)).transpose(0, 3, 2, 1).copy()


def build_onnx(name: str, state: dict[str, np.ndarray]) -> bytes:
    """The serialized ONNX model of network ``name`` ("pnet", "rnet" or "onet") with the given weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    x = "input"
    if name == "pnet":  # P-Net reads rows of the mosaic as they lie in memory, channels last (facerec.mtcnn.run_pnet)
        nodes.append(helper.make_node("Transpose", ["input"], ["input_nchw"], perm=[0, 3, 1, 2]))
        x = "input_nchw"

    def init(key: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), key))
        return key

    def conv(src: str, layer: str, kernel: np.ndarray) -> str:
        out = f"{layer}_out"
        w = init(f"{layer}.weight", kernel)
        b = init(f"{layer}.bias", state[f"{layer}.bias"])
        nodes.append(helper.make_node("Conv", [src, w, b], [out], kernel_shape=list(kernel.shape[2:])))
        return out

    for i, step in enumerate(_ARCH[name]["trunk"]):
        kind = step[0]
        if kind == "conv":
            x = conv(x, step[1], state[f"{step[1]}.weight"])
        elif kind == "dense":
            _, layer, h, wd = step
            x = conv(x, layer, _dense_kernel(state[f"{layer}.weight"], h, wd))
        elif kind == "prelu":
            slope = init(f"{step[1]}.weight", state[f"{step[1]}.weight"].reshape(-1, 1, 1))
            out = f"{step[1]}_out"
            nodes.append(helper.make_node("PRelu", [x, slope], [out]))
            x = out
        elif kind == "pool":
            out = f"pool{i}_out"
            nodes.append(helper.make_node("MaxPool", [x], [out], kernel_shape=[step[1]] * 2, strides=[step[2]] * 2, ceil_mode=1))
            x = out
    outputs = []
    for out_name, layer, softmax in _ARCH[name]["heads"]:
        w = state[f"{layer}.weight"]
        kernel = w if w.ndim == 4 else w.reshape(w.shape[0], w.shape[1], 1, 1)
        y = conv(x, layer, kernel)
        if softmax:
            nodes.append(helper.make_node("Softmax", [y], [out_name], axis=1))
        else:
            nodes.append(helper.make_node("Identity", [y], [out_name]))
        outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["n", "c", "oh", "ow"]))
    side = {"pnet": None, "rnet": 24, "onet": 48}[name]
    shape = ["n", "h", "w", 3] if side is None else ["n", 3, side, side]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)]
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facerec")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


BUILDER_VERSION = 5
"""Version of ``build_onnx``'s graphs: raise it whenever they change, so that cached graphs are rebuilt."""


def cache_dir(weights_dir: Path) -> Path:
    """Where the graphs built from the weights in ``weights_dir`` are cached: that folder itself when it is one of
    facerec's models folders (``weights_dirs``' first ones), else ``installed_weights_dir()`` (never inside
    another package, such as an installed facenet-pytorch, or a bundle). The cache is keyed by the weights'
    sha256, so one folder serves any copy of the same weights."""
    owned = {(folder / "mtcnn").resolve() for folder in model_search_dirs()}
    return weights_dir if weights_dir.resolve() in owned else installed_weights_dir()


def cache_paths(folder: Path, name: str) -> tuple[Path, Path]:
    """Where network ``name``'s cached ONNX graph and its key (JSON) live in weights folder ``folder``."""
    return folder / f"{name}.onnx", folder / f"{name}.onnx.json"


def _cache_key(weights_sha256: str, onnx_bytes: bytes) -> dict:
    return {"builder": BUILDER_VERSION, "weights_sha256": weights_sha256, "onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest()}


def _read_cache(folder: Path, name: str, weights_sha256: str) -> bytes | None:
    """The cached graph of ``name``, or None when there is none or it does not belong to these weights and this
    builder (stale), or its bytes are not the ones recorded (altered or half written): never used then."""
    model_path, key_path = cache_paths(folder, name)
    try:
        key = json.loads(key_path.read_text(encoding="utf-8"))
        if not isinstance(key, dict) or key.get("builder") != BUILDER_VERSION or key.get("weights_sha256") != weights_sha256:
            log.info("%s: stale (another builder or other weights); rebuilt", model_path)
            return None
        data = model_path.read_bytes()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s: cached graph unreadable (%s); rebuilt", model_path, exc)
        return None
    if key != _cache_key(weights_sha256, data):
        log.warning("%s: not the graph its key records (altered?); rebuilt", model_path)
        return None
    return data


def _write_cache(folder: Path, name: str, weights_sha256: str, data: bytes) -> bool:
    """Cache ``data`` as ``name``'s graph: the graph first, its key last (each written to a temporary file and
    renamed), so a reader never takes a half-written graph. False (logged) when the folder is not writable."""
    model_path, key_path = cache_paths(folder, name)
    try:
        private_dir(folder)
        write_file_atomic(model_path, data)
        write_file_atomic(key_path, json.dumps(_cache_key(weights_sha256, data)).encode("utf-8"))
    except OSError as exc:
        log.debug("%s: cannot cache the ONNX graph (%s); built in memory on each start", model_path, exc)
        return False
    return True


def cached_onnx(folder: Path, digests: dict[str, str] | None = None, files: bool = False) -> dict[str, bytes | Path]:
    """``{name: serialized ONNX model}`` of the three nets built from the weights in ``folder``: read from the
    cache (``cache_dir``) when it was built by this ``BUILDER_VERSION`` from these very weights (sha256) and its
    bytes are intact, else built (``build_onnx``) and cached (atomically; in memory only when the folder is
    read-only). ``digests`` (``check_weights``'s result) saves hashing the weights again; they are checked
    here otherwise (``ModelNotInstalledError`` when missing or altered). With ``files``, a net whose cached
    file holds its graph is given as that file's path (OpenVINO then caches what it compiles from it)."""
    digests = digests or check_weights(folder)
    cache = cache_dir(folder)
    models: dict[str, bytes | Path] = {}
    for name in NETS:
        data = _read_cache(cache, name, digests[name])
        on_disk = data is not None
        if data is None:
            data = build_onnx(name, load_state_dict(folder / f"{name}.pt"))
            on_disk = _write_cache(cache, name, digests[name], data)
        models[name] = cache_paths(cache, name)[0] if files and on_disk else data
    return models


def pnet_weights(weights_dir: Path | None = None) -> dict[str, np.ndarray]:
    """P-Net's weights (its file sha256-checked, as ``load_nets`` checks all three) as float32 arrays by
    facenet-pytorch's names, for the few outputs facerec.mtcnn computes itself (``pnet_numpy``)."""
    weights_dir = weights_dir or facenet_weights_dir()
    _checked_digest(weights_dir, "pnet")
    return load_state_dict(weights_dir / "pnet.pt")


def load_nets(weights_dir: Path | None = None, runtimes: dict[str, str] | None = None) -> dict:
    """``{"pnet": net, "rnet": net, "onet": net}`` built from facenet-pytorch's MTCNN weights (sha256-checked;
    ``ModelNotInstalledError`` when a file is missing or altered; graphs from ``cached_onnx``), each with
    ``run(blob, outputs, extra)``: on the runtime ``runtimes`` names for it ("openvino", "onnxruntime" or
    "opencv"), else on the best one that loads (facerec.dnn.load_preferred, DETECTOR_RUNTIMES)."""
    weights_dir = weights_dir or facenet_weights_dir()
    models = cached_onnx(weights_dir, check_weights(weights_dir), files=True)
    nets = {
        name: load_model(models[name], name, runtimes[name], max_batch=MAX_BATCH.get(name)) if runtimes and name in runtimes
        else load_preferred(models[name], name, DETECTOR_RUNTIMES, max_batch=MAX_BATCH.get(name))
        for name in NETS
    }
    log.debug("MTCNN nets loaded from %s (%s)", weights_dir, {name: net.runtime for name, net in nets.items()})
    return nets
