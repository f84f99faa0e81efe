"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``, CC0) run as a torch module.

The ``.dat`` file is dlib's own serialisation of a ``loss_metric`` network (``dlib/dnn/core.h`` and
``layers.h``). Integers are written as a control byte (low nibble: byte count, bit 7: sign) then little-endian
bytes; floats as an integer mantissa and exponent; strings as a length then bytes; bools as ``'0'``/``'1'``;
tensors as version 2, ``n k nr nc``, then little-endian float32 data. The file holds the loss layer, the
version numbers of every layer from the output inwards (2: a computational layer, 1: a tag or skip layer,
3: the innermost layer with the input), the input layer, then each computational layer's details from the
input outwards, each followed by three flags and three (empty) state tensors.

The network is a ResNet-34-like stack of residual blocks (``con 3x3, affine, relu, con 3x3, affine`` plus the
identity or, for the downsampling blocks, a 2x2 average pool of the input; channels and spatial size padded
with zeros at the end where they differ, as dlib's ``add_prev`` does), a global average pool and a 128-d
``fc_no_bias``. Each ``affine`` (batch-norm folded by dlib) is folded here into the convolution before it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..alignment import Template
from .base import l2_normalize, run_torch

log = logging.getLogger(__name__)

DLIB_150 = Template(
    "dlib-150",
    150,
    ((48.47, 46.59), (102.73, 46.44), (75.41, 78.68), (51.77, 105.82), (99.38, 105.75)),
)
"""MTCNN's 5 landmarks in dlib's ``get_face_chip(img, shape, size=150, padding=0.25)`` chips, measured by
``python bench/dlib_template.py --limit 300`` (mean over 275 LFW faces of MTCNN's landmarks mapped into
dlib's own chips; per-point standard deviation 1.6-6.5 px)."""


class DlibFormatError(ValueError):
    """The file is not a dlib metric network this module understands."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def int(self) -> int:
        c = self.data[self.pos]
        n = c & 0x0F
        if n > 8:
            raise DlibFormatError(f"bad integer control byte {c:#x} at offset {self.pos}")
        v = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + n], "little")
        self.pos += 1 + n
        return -v if c & 0x80 else v

    def ints(self, n: int) -> list[int]:
        return [self.int() for _ in range(n)]

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0**exponent

    def str(self) -> str:
        n = self.int()
        if not 0 <= n <= 256:
            raise DlibFormatError(f"bad string length {n} at offset {self.pos}")
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        return s.decode("ascii", errors="replace")

    def bool(self) -> bool:
        c = self.data[self.pos : self.pos + 1]
        if c not in (b"0", b"1"):
            raise DlibFormatError(f"expected a bool at offset {self.pos}, found {c!r}")
        self.pos += 1
        return c == b"1"

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"unsupported tensor version {version} at offset {self.pos}")
        shape = self.ints(4)
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            raise DlibFormatError("truncated tensor data")
        a = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape).astype(np.float32)
        self.pos += 4 * count
        return a

    def at_empty_tensor(self) -> bool:
        return self.data[self.pos : self.pos + 4] == b"\x01\x02\x01\x00"

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


@dataclass
class DlibLayer:
    kind: str
    """'con', 'affine', 'relu', 'max_pool', 'avg_pool', 'add_prev' or 'fc'."""
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    params: dict = field(default_factory=dict)


@dataclass
class DlibNet:
    loss: str
    mean_rgb: tuple[float, float, float]
    size: tuple[int, int]
    layers: list[DlibLayer]
    """Computational layers from the input outwards."""
    layer_versions: list[int]
    """Version of every layer wrapper, outermost first (1 marks tag and skip layers)."""


def _read_layer(r: _Reader) -> DlibLayer:
    name = r.str()
    if name == "con_4":
        p = r.tensor().reshape(-1)
        nf, nr, nc, sy, sx, py, px = r.ints(7)
        filt = r.ints(5)[1:]  # alias tensors: version, n, k, nr, nc
        r.ints(5)
        r.float(), r.float(), r.float(), r.float()  # learning-rate and weight-decay multipliers
        cin = filt[1]
        nw = nf * cin * nr * nc
        if p.size != nw + nf:
            raise DlibFormatError(f"con: {p.size} parameters, expected {nw + nf}")
        return DlibLayer("con", p[:nw].reshape(nf, cin, nr, nc), p[nw:], {"stride": (sy, sx), "padding": (py, px)})
    if name == "affine_":
        p = r.tensor().reshape(-1)
        r.ints(5)
        r.ints(5)
        r.int()  # mode
        half = p.size // 2
        return DlibLayer("affine", p[:half], p[half:])
    if name in ("relu_", "add_prev_"):
        return DlibLayer(name.rstrip("_"))
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = r.ints(6)
        return DlibLayer(name[:-2], params={"size": (nr, nc), "stride": (sy, sx), "padding": (py, px)})
    if name == "fc_2":
        n_out, n_in = r.ints(2)
        p = r.tensor().reshape(-1)
        r.ints(5)
        r.ints(5)
        bias_mode = r.int()
        r.float(), r.float(), r.float(), r.float()
        w = p[: n_in * n_out].reshape(n_in, n_out)
        b = p[n_in * n_out :] if bias_mode == 0 else None
        return DlibLayer("fc", w, b)
    raise DlibFormatError(f"unsupported dlib layer {name!r}")


def read_dlib_net(path: str | Path) -> DlibNet:
    """Parse a dlib ``loss_metric`` network file."""
    r = _Reader(Path(path).read_bytes())
    if r.int() != 1:
        raise DlibFormatError("not a dlib network file (bad loss layer version)")
    loss = r.str()
    if not loss.startswith("loss_metric"):
        raise DlibFormatError(f"unsupported loss layer {loss!r}")
    r.float(), r.float()  # margin, distance threshold
    versions = []
    while True:
        v = r.int()
        versions.append(v)
        if v == 3:
            break
        if v not in (1, 2) or len(versions) > 10000:
            raise DlibFormatError("unexpected layer version")
    input_name = r.str()
    if input_name != "input_rgb_image_sized":
        raise DlibFormatError(f"unsupported input layer {input_name!r}")
    mean = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    layers = []
    while not r.done:
        layers.append(_read_layer(r))
        for _ in range(3):
            r.bool()
        while r.at_empty_tensor():
            r.tensor()
        if len(layers) == 1:
            r.int()  # sample expansion factor of the innermost layer
    if len(layers) != versions.count(2) + versions.count(3):
        raise DlibFormatError(f"{len(layers)} layers parsed, the header lists {versions.count(2) + 1}")
    return DlibNet(loss, mean, size, layers, versions)


def _torch():
    import torch
    from torch import nn
    from torch.nn import functional as F

    return torch, nn, F


def _add_prev(a, b):
    """dlib's add_prev: the output takes the larger size of each dimension; missing elements count as zero."""
    _, _, F = _torch()
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]

    def pad(t):
        return F.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1]))

    return pad(a) + pad(b)


def build_torch_model(net: DlibNet):
    """The torch ``nn.Module`` equivalent of a parsed dlib metric ResNet (weights loaded, eval mode)."""
    torch, nn, F = _torch()

    def fused_conv(con: DlibLayer, affine: DlibLayer) -> nn.Conv2d:
        w, b = con.weights, con.bias
        gamma, beta = affine.weights, affine.bias
        m = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=con.params["stride"], padding=con.params["padding"])
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(w * gamma[:, None, None, None]))
            m.bias.copy_(torch.from_numpy(b * gamma + beta))
        return m

    class Block(nn.Module):
        def __init__(self, conv1, conv2, down):
            super().__init__()
            self.conv1, self.conv2, self.down = conv1, conv2, down

        def forward(self, x):
            y = self.conv2(F.relu(self.conv1(x)))
            skip = F.avg_pool2d(x, 2, 2) if self.down else x
            return F.relu(_add_prev(y, skip))

    class DlibResNet(nn.Module):
        def __init__(self):
            super().__init__()
            L = net.layers
            kinds = [l.kind for l in L]
            if kinds[:4] != ["con", "affine", "relu", "max_pool"]:
                raise DlibFormatError(f"unexpected stem {kinds[:4]}")
            self.stem = fused_conv(L[0], L[1])
            mp = L[3].params
            self.pool = nn.MaxPool2d(mp["size"], mp["stride"], mp["padding"])
            blocks, i = [], 4
            while kinds[i : i + 5] == ["con", "affine", "relu", "con", "affine"]:
                down = kinds[i + 5] == "avg_pool"
                tail = ["avg_pool", "add_prev", "relu"] if down else ["add_prev", "relu"]
                if kinds[i + 5 : i + 5 + len(tail)] != tail:
                    raise DlibFormatError(f"unexpected residual block layers {kinds[i:i + 8]}")
                blocks.append(Block(fused_conv(L[i], L[i + 1]), fused_conv(L[i + 3], L[i + 4]), down))
                i += 5 + len(tail)
            self.blocks = nn.Sequential(*blocks)
            if kinds[i:] != ["avg_pool", "fc"] or L[i].params["size"] != (0, 0):
                raise DlibFormatError(f"unexpected head {kinds[i:]}")
            fc = L[i + 1]
            self.fc = nn.Linear(fc.weights.shape[0], fc.weights.shape[1], bias=fc.bias is not None)
            with torch.no_grad():
                self.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(fc.weights.T)))
                if fc.bias is not None:
                    self.fc.bias.copy_(torch.from_numpy(fc.bias))
            self.register_buffer("mean", torch.tensor(net.mean_rgb, dtype=torch.float32).view(1, 3, 1, 1))

        def forward(self, chips):
            """N x 3 x H x W float RGB in 0..255 -> N x 128 raw dlib descriptors (not normalised)."""
            x = (chips - self.mean) / 256.0
            x = self.pool(F.relu(self.stem(x)))
            x = self.blocks(x)
            return self.fc(x.mean(dim=(2, 3)))

    n_down = sum(1 for l in net.layers if l.kind == "avg_pool" and l.params["size"] != (0, 0))
    model = DlibResNet().eval()
    # Each identity block has one tag layer; each downsampling block a tag, a second tag and a skip.
    expected_marks = len(model.blocks) + 2 * n_down
    if net.layer_versions.count(1) != expected_marks:
        raise DlibFormatError(f"{net.layer_versions.count(1)} tag/skip layers, expected {expected_marks}")
    return model


class DlibResNetEmbedder:
    """dlib's ResNet on 150x150 RGB chips aligned to ``DLIB_150``; unit-length 128-d vectors. Thread-safe."""

    template = DLIB_150
    dim = 128

    def __init__(self, weights: Path, model_id: str, threshold: float, batch_size: int = 32):
        self.model_id = model_id
        self.default_threshold = threshold
        self.batch_size = batch_size
        try:
            net = read_dlib_net(weights)
        except (DlibFormatError, IndexError) as exc:
            from ..errors import ModelNotInstalledError

            raise ModelNotInstalledError(f"{weights}: not a dlib face recognition network ({exc})") from None
        self.model = build_torch_model(net)
        self._lock = threading.Lock()

    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        """dlib's raw descriptors (as ``compute_face_descriptor`` returns them) for N x 150 x 150 x 3 chips."""
        return run_torch(self.model, chips, self.batch_size, self._lock, self.dim)
    def embed(self, chips: np.ndarray) -> np.ndarray:
        return l2_normalize(self.descriptors(chips))
