"""MTCNN's three networks (P-, R- and O-Net) as OpenCV DNN nets, built from facenet-pytorch's weights.

The weights are the ``.pt`` files inside the facenet-pytorch wheel, read with :mod:`facerec.torch_weights`
(no torch import). Each network is written as a small ONNX graph in memory and loaded by ``cv2.dnn``.
The dense layers become convolutions whose kernel covers the whole feature map, with facenet-pytorch's
``permute(0, 3, 2, 1)`` before flattening folded into the kernel layout, so a graph holds only Conv, PRelu,
MaxPool and Softmax nodes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np

from .dnn import NetPool
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


BUNDLE_WEIGHTS_DIR = "facenet_pytorch/data"
"""Where a PyInstaller bundle (packaging/facerec.spec) carries the three ``.pt`` files, relative to its
``sys._MEIPASS``: the bundle leaves facenet-pytorch's code (and torch) out but keeps these weights."""


def facenet_weights_dir() -> Path:
    """The folder holding MTCNN's ``pnet.pt``, ``rnet.pt`` and ``onet.pt``: the ``data`` folder of the installed
    facenet-pytorch package, found without importing it, else (a PyInstaller bundle, which leaves that package
    out) ``BUNDLE_WEIGHTS_DIR`` inside the bundle."""
    spec = importlib.util.find_spec("facenet_pytorch")
    found = [Path(p) / "data" for p in (spec.submodule_search_locations or [])] if spec is not None else []
    if getattr(sys, "_MEIPASS", None):
        found.append(Path(sys._MEIPASS) / BUNDLE_WEIGHTS_DIR)
    for folder in found:
        if folder.is_dir():
            return folder
    if found:
        return found[0]  # load_nets names the missing files
    raise RuntimeError("facenet-pytorch is not installed: MTCNN's weights come from it (pip install facenet-pytorch)")


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
    shape = ["n", 3, "h", "w"] if side is None else ["n", 3, side, side]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="facerec")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def load_nets(weights_dir: Path | None = None) -> dict[str, NetPool]:
    """``{"pnet": net, "rnet": net, "onet": net}`` built from facenet-pytorch's MTCNN weights."""
    weights_dir = weights_dir or facenet_weights_dir()
    nets = {}
    for name in ("pnet", "rnet", "onet"):
        path = weights_dir / f"{name}.pt"
        if not path.is_file():
            raise RuntimeError(f"MTCNN weights missing: {path} (reinstall facenet-pytorch==2.5.3)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != SHA256[name]:
            raise RuntimeError(f"MTCNN weights {path} are not the expected ones (sha256 {digest}); reinstall facenet-pytorch==2.5.3")
        nets[name] = NetPool(build_onnx(name, load_state_dict(path)), name)
    log.debug("MTCNN nets built from %s", weights_dir)
    return nets
