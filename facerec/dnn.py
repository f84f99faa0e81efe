"""The runtimes that run facerec's ONNX networks (MTCNN's three nets, the embedders) on the CPU, and the choice.

- ``openvino`` (``OvModel``; the default, installed with facerec): the fastest here. On one thread
  (bench/detector_runtimes.py) whole detections take 0.74-0.82x their time on ONNX Runtime and SFace 0.56x its
  time on OpenCV DNN, with the same outputs to a few 1e-6 (float32 is forced: on a CPU with bfloat16 units
  OpenVINO would otherwise lower the precision by itself, and vectors would move).
- ``onnxruntime`` (``OrtModel``): MTCNN's runtime where OpenVINO is missing (when installed).
- ``opencv`` (``NetPool``): OpenCV's DNN module, always installed; the last resort for every net.

``load_preferred`` takes the first of a net's runtimes that is installed and loads the model; when loading fails
there (a broken install, a bundle without OpenVINO's plugins) it logs why and takes the next one.
``FACEREC_DNN_RUNTIME`` (``openvino``, ``onnxruntime`` or ``opencv``) makes every net that can use that runtime
use it, and only it (side-by-side benchmarks; a way round a runtime that misbehaves on some machine).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RUNTIMES = ("openvino", "onnxruntime", "opencv")
DETECTOR_RUNTIMES = RUNTIMES
"""MTCNN's runtimes, best first (bench/detector_runtimes.py)."""
EMBEDDER_RUNTIMES = ("openvino", "opencv")
"""The ONNX embedders' runtimes (SFace, the compact model), best first: ONNX Runtime ran SFace 2.4x slower than
OpenCV DNN (bench/sface_runtimes.py), so it is not used for them."""
RUNTIME_ENV = "FACEREC_DNN_RUNTIME"


def runtime_available(name: str) -> bool:
    """Whether runtime ``name`` is installed (checked without importing it; OpenCV always is)."""
    if name == "opencv":
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def forced_runtime() -> str | None:
    """The runtime ``FACEREC_DNN_RUNTIME`` names, or None when unset; ``RuntimeChoiceError`` naming the variable
    when it names no runtime or one that is not installed."""
    from .errors import RuntimeChoiceError

    name = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if not name:
        return None
    if name not in RUNTIMES:
        raise RuntimeChoiceError(f"{RUNTIME_ENV}={name!r}: not a runtime (choose from {', '.join(RUNTIMES)})")
    if not runtime_available(name):
        raise RuntimeChoiceError(f"{RUNTIME_ENV}={name!r}: {name} is not installed")
    return name


def candidate_runtimes(preferred: tuple[str, ...]) -> list[str]:
    """The runtimes a net with these ``preferred`` runtimes (best first) is tried on, in order: only the one
    ``FACEREC_DNN_RUNTIME`` names when it is among them, else the installed ones, OpenCV last."""
    forced = forced_runtime()
    if forced in preferred:
        return [forced]  # type: ignore[list-item]
    found = [r for r in preferred if r != "opencv" and runtime_available(r)]
    return found + ["opencv"]


def load_model(model: bytes | Path, name: str, runtime: str, max_copies: int | None = None, max_batch: int | None = None):
    """``model`` (a serialized ONNX graph, or its file) ready to run on ``runtime``: an object with
    ``run(blob, outputs, extra)``, ``runtime`` and ``copies``. ``max_copies`` bounds the per-thread copies of
    OpenCV and OpenVINO (ONNX Runtime shares one session between threads); ``max_batch`` is the largest chunk
    OpenVINO runs a batch in (default ``MAX_BATCH``; the other runtimes take any batch whole)."""
    if runtime == "openvino":
        return OvModel(model, name, max_copies=max_copies, max_batch=max_batch or MAX_BATCH)
    data = Path(model).read_bytes() if isinstance(model, Path) else model
    if runtime == "onnxruntime":
        return OrtModel(data, name)
    if runtime == "opencv":
        return NetPool(data, name, max_copies=max_copies)
    raise ValueError(f"unknown runtime {runtime!r} (choose from {', '.join(RUNTIMES)})")


def load_preferred(
    model: bytes | Path, name: str, preferred: tuple[str, ...], max_copies: int | None = None, max_batch: int | None = None
):
    """``load_model`` on the first of ``candidate_runtimes(preferred)`` that loads it; a runtime that fails is
    logged (warning) and the next one tried. The last one's error is raised when every one fails."""
    candidates = candidate_runtimes(preferred)
    for i, runtime in enumerate(candidates):
        try:
            net = load_model(model, name, runtime, max_copies=max_copies, max_batch=max_batch)
        except Exception as exc:
            if i == len(candidates) - 1:
                raise
            log.warning("%s: cannot run on %s (%s); using %s", name, runtime, _one_line(exc), candidates[i + 1])
            continue
        log.debug("%s runs on %s", name, runtime)
        return net
    raise AssertionError("unreachable: opencv is always a candidate")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of an exception on one line, at most ``limit`` characters, characters that are not
    printable escaped (a runtime's message may quote bytes of the file it could not read)."""
    text = " / ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}" for ch in text)
    text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _CopyPool:
    """Copies of a model for concurrent callers: a caller takes an idle copy (``_acquire``), makes a new one while
    there are fewer than ``max_copies`` (unbounded when None), or else waits; and gives it back (``_release``).
    The first copy is made at construction, so a bad model fails at load time."""

    def __init__(self, make: Callable[[], Any], max_copies: int | None):
        self.max_copies = max_copies
        self._make = make
        self._cond = threading.Condition()
        self._idle = [make()]
        self._copies = 1

    @property
    def copies(self) -> int:
        """How many copies exist now."""
        return self._copies

    def _acquire(self):
        with self._cond:
            while not self._idle and self.max_copies is not None and self._copies >= self.max_copies:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._copies += 1
        try:
            return self._make()
        except BaseException:
            with self._cond:
                self._copies -= 1
                self._cond.notify()
            raise

    def _release(self, copy) -> None:
        with self._cond:
            self._idle.append(copy)
            self._cond.notify()


class NetPool(_CopyPool):
    """An ONNX model run by OpenCV's DNN module. A ``cv2.dnn.Net`` keeps its activations inside, so two threads
    never run the same copy at once: each caller takes a copy of its own (``_CopyPool``). MTCNN's nets are a few
    MB, so every thread may have its own; a copy of SFace holds its 37 MB of weights plus working buffers."""

    runtime = "opencv"

    def __init__(self, model: bytes, name: str = "model", max_copies: int | None = None):
        self.name = name
        self._model = np.frombuffer(model, np.uint8)
        super().__init__(self._read, max_copies)

    def _read(self):
        import cv2

        return cv2.dnn.readNetFromONNX(self._model)

    def run(self, blob: np.ndarray, outputs: list[str] | None = None, extra: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """The named outputs (default: the model's single output) for an N x C x H x W float32 blob (the input
        named ``input`` when there are ``extra`` inputs, given by name)."""
        net = self._acquire()
        try:
            net.setInput(blob, "input" if extra else "")
            for key, value in (extra or {}).items():
                net.setInput(value, key)
            return list(net.forward(outputs)) if outputs else [net.forward()]
        finally:
            self._release(net)


class OrtModel:
    """An ONNX model run by ONNX Runtime on the CPU, on the calling thread. One session serves every thread
    (``InferenceSession.run`` is thread-safe and releases the GIL), so there are no copies to pool."""

    runtime = "onnxruntime"
    copies = 1

    def __init__(self, model: bytes, name: str = "model", threads: int = 1):
        import onnxruntime as ort

        self.name = name
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # SFace's initializers listed as inputs warn once per tensor otherwise
        self._session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def run(self, blob: np.ndarray, outputs: list[str] | None = None, extra: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """The named outputs (default: every output) for an N x C x H x W float32 blob (the first input) and the
        ``extra`` inputs by name."""
        return self._session.run(outputs, {self._input: np.ascontiguousarray(blob, dtype=np.float32), **(extra or {})})


MAX_BATCH = 64
"""OpenVINO runs larger batches in chunks of this many (``OvModel.run``), unless a model is given its own limit."""


def batch_bucket(n: int, max_batch: int = MAX_BATCH) -> int:
    """The batch size a chunk of ``n`` inputs (at most ``max_batch``, a power of two) is padded to for OpenVINO: the
    next power of two. OpenVINO prepares its kernels anew for every input shape it has not seen (for MTCNN's small
    nets, several times the run itself), and R- and O-Net get a different number of face candidates in every photo; a
    few sizes keep the kernels prepared, and the padding (zeros, cut from the outputs) costs less."""
    return 1 << max(0, min(n, max_batch) - 1).bit_length()


@functools.lru_cache(maxsize=1)
def _ov_core():
    """OpenVINO's ``Core``. Imported without OpenVINO's model conversion tools (``openvino.tools.ovc``, which
    ``import openvino`` loads when it can, with their telemetry; ``python -X importtime -c "import openvino"`` shows
    their share of each start), which facerec never uses;
    ``import openvino.tools.ovc`` still works afterwards."""
    import sys

    if "openvino" not in sys.modules and "openvino.tools.ovc" not in sys.modules:
        sys.modules["openvino.tools.ovc"] = None  # type: ignore[assignment]  # makes its import fail, as if absent
        try:
            import openvino as ov
        finally:
            del sys.modules["openvino.tools.ovc"]
    else:
        import openvino as ov
    return ov.Core()


@functools.lru_cache(maxsize=1)
def _ov_onnx_frontend():
    """OpenVINO's ONNX reader (its ``supported(path)`` checks a file's header)."""
    _ov_core()
    from openvino.frontend import FrontEndManager

    return FrontEndManager().load_by_framework("onnx")


OV_CACHE = "openvino-cache"
"""The folder, in facerec's models folder (``config.models_dir``), where OpenVINO keeps what it compiled from model
files (``OvModel``); OpenVINO keys each entry by the model and the settings it was compiled with."""


class OvModel(_CopyPool):
    """An ONNX model run by OpenVINO on the CPU in float32. Copies (``_CopyPool``) of one inference stream of one
    thread each, which OpenVINO runs on the calling thread: measured faster, with two threads analysing photos,
    than one compiled model with a stream per thread (whose requests run on OpenVINO's own threads).

    A model given as a file is compiled from it with OpenVINO's cache (``OV_CACHE``, where that folder can be
    written), so a later start imports the compiled model instead of compiling it; its input shape is the file's.
    A model given as bytes gets a dynamic batch dimension. Batches run in chunks of at most ``max_batch`` (a power of
    two) padded to ``batch_bucket`` sizes when the batch is dynamic, one item at a time when the model's batch is 1. A shape
    OpenVINO has not seen costs time to prepare, in each copy: callers do well to send few shapes (facerec.mtcnn
    packs P-Net's pyramid into one mosaic of a few sizes)."""

    runtime = "openvino"

    def __init__(self, model: bytes | Path, name: str = "model", max_copies: int | None = None, max_batch: int = MAX_BATCH):
        if max_batch < 1 or max_batch & (max_batch - 1):
            raise ValueError(f"max_batch must be a power of two, not {max_batch}")
        self.name = name
        self.max_batch = max_batch
        self._config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "f32",  # never bf16/fp16, whatever the CPU offers: outputs must not move
            "NUM_STREAMS": 1,
            "INFERENCE_NUM_THREADS": 1,
            "ENABLE_CPU_PINNING": False,  # the worker threads and OpenCV share the cores
        }
        if isinstance(model, Path):
            from .config import models_dir

            if not _ov_onnx_frontend().supported(str(model)):  # else OpenVINO tries every other format's reader,
                raise ValueError(f"{model}: not an ONNX model")  # which print its bytes to the terminal
            cache = models_dir() / OV_CACHE
            if _writable_folder(cache):
                self._config["CACHE_DIR"] = str(cache)
            self._source: Any = str(model)
        else:
            self._source = _dynamic_batch(_ov_core().read_model(model))
        super().__init__(self._compile, max_copies)
        shape = self._idle[0][0].model_inputs[0].get_partial_shape()
        self._batch_one = shape.rank.is_static and shape[0].is_static and shape[0].get_length() == 1

    def _compile(self):
        compiled = _ov_core().compile_model(self._source, "CPU", self._config)
        ports = {name: port for port in compiled.outputs for name in port.get_names()}
        return compiled.create_infer_request(), ports, list(compiled.outputs)

    def run(self, blob: np.ndarray, outputs: list[str] | None = None, extra: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        """The named outputs (default: every output) for an N x C x H x W float32 blob (the first input) and the
        ``extra`` inputs by name (given as they are: not padded)."""
        copy = self._acquire()
        request, ports, every = copy
        wanted = [ports[o] for o in outputs] if outputs else every
        try:
            blob = np.ascontiguousarray(blob, dtype=np.float32)
            n = len(blob)
            feed: dict[Any, np.ndarray] = dict(extra or {})  # the first input by index, the others by name
            if self._batch_one:
                runs = [request.infer({**feed, 0: blob[i : i + 1]}, share_inputs=True) for i in range(n)]
                return [np.concatenate([r[p] for r in runs]) for p in wanted]
            parts = []
            for start in range(0, n, self.max_batch):
                chunk = blob[start : start + self.max_batch]
                k = len(chunk)
                size = batch_bucket(k, self.max_batch)
                if size != k:
                    chunk = np.concatenate([chunk, np.zeros((size - k, *blob.shape[1:]), np.float32)])
                result = request.infer({**feed, 0: chunk}, share_inputs=True)
                parts.append([result[p][:k] for p in wanted])  # copies (share_outputs is off)
            return parts[0] if len(parts) == 1 else [np.concatenate(outs) for outs in zip(*parts)]
        finally:
            self._release(copy)


def _dynamic_batch(net):
    """OpenVINO model ``net`` with the first dimension of each input made dynamic (where it was fixed)."""
    import openvino as ov

    shapes = {}
    for port in net.inputs:
        shape = port.get_partial_shape()
        if shape.rank.is_static and len(shape) and shape[0].is_static:
            shape[0] = ov.Dimension(-1)
            shapes[port] = shape
    if shapes:
        net.reshape(shapes)
    return net


def _writable_folder(path: Path) -> bool:
    """Whether ``path`` is (or was just made, owner-only, with its parents) a folder this process can write in."""
    from .config import private_dir

    try:
        private_dir(path)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)
