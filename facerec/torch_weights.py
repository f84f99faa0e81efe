"""Read a PyTorch ``state_dict`` file into numpy arrays without importing torch.

facenet-pytorch ships MTCNN's weights as small ``.pt`` files; importing torch (and torchvision, which
facenet-pytorch pulls in) costs seconds and hundreds of MB, which the torch-free detector avoids. Both of
torch's formats are read: the legacy pickle stream (what facenet-pytorch 2.5 ships) and the zip archive.
Only tensors, ordered dicts and plain values are allowed: any other class in the pickle is refused, so
reading a file never runs code from it.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass
class _Storage:
    dtype: type
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple

    def array(self) -> np.ndarray:
        base = self.storage.data
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset :], shape=self.shape, strides=tuple(s * item for s in self.stride), writeable=False
        )
        return np.array(view)  # a compact copy, detached from the storage buffer


def _rebuild_tensor(storage, offset, shape, stride, *_):
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


def _rebuild_parameter(data, *_):
    return data


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _DTYPES[name]


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a weights file")

    def persistent_load(self, pid):
        if pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid[0]!r}")
        storage_type, key, _location, numel = pid[1:5]
        key = str(key)
        if key not in self._storages:
            self._storages[key] = _Storage(storage_type.dtype, int(numel))
        return self._storages[key]


def _resolve(obj):
    if isinstance(obj, _TensorRef):
        return obj.array()
    if isinstance(obj, dict):
        return collections.OrderedDict((k, _resolve(v)) for k, v in obj.items())
    return obj


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a torch ``state_dict`` file, as numpy arrays keyed by parameter name."""
    path = Path(path)
    storages: dict[str, _Storage] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            pkl = next(n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
            prefix = pkl[: -len("data.pkl")]
            with zf.open(pkl) as f:
                result = _Unpickler(f, storages).load()
            for key, st in storages.items():
                st.data = np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=st.dtype, count=st.numel)
        return _resolve(result)
    with open(path, "rb") as f:
        if pickle.load(f) != _LEGACY_MAGIC:
            raise ValueError(f"{path}: not a PyTorch weights file")
        pickle.load(f)  # protocol version
        pickle.load(f)  # system info
        result = _Unpickler(f, storages).load()
        for key in pickle.load(f):
            st = storages[str(key)]
            numel = int.from_bytes(f.read(8), "little")
            st.data = np.frombuffer(f.read(numel * np.dtype(st.dtype).itemsize), dtype=st.dtype, count=numel)
    return _resolve(result)
