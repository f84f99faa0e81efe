"""OpenCV DNN models shared by threads: a small pool of ``cv2.dnn.Net`` copies read from one ONNX model.

A ``cv2.dnn.Net`` keeps its activations inside, so two threads must never run the same copy at once.
A caller takes an idle copy, makes a new one while there are fewer than ``max_copies``, or else waits
for one. MTCNN's nets are a few MB, so every thread may have its own; a copy of SFace holds its 37 MB of
weights plus working buffers, so its pool is kept small.
"""

from __future__ import annotations

import threading

import numpy as np


class NetPool:
    """An ONNX model run by OpenCV, with up to ``max_copies`` network copies (unbounded when None)."""

    def __init__(self, model: bytes, name: str = "model", max_copies: int | None = None):
        self.name = name
        self.max_copies = max_copies
        self._model = np.frombuffer(model, np.uint8)
        self._cond = threading.Condition()
        self._idle = [self._read()]  # parse now: a bad model fails at load time
        self._copies = 1

    def _read(self):
        import cv2

        return cv2.dnn.readNetFromONNX(self._model)

    def _acquire(self):
        with self._cond:
            while not self._idle and self.max_copies is not None and self._copies >= self.max_copies:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._copies += 1
        try:
            return self._read()
        except BaseException:
            with self._cond:
                self._copies -= 1
                self._cond.notify()
            raise

    def _release(self, net) -> None:
        with self._cond:
            self._idle.append(net)
            self._cond.notify()

    @property
    def copies(self) -> int:
        """How many network copies exist now."""
        return self._copies

    def run(self, blob: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
        """The named outputs (default: the model's single output) for an N x C x H x W float32 blob."""
        net = self._acquire()
        try:
            net.setInput(blob)
            return list(net.forward(outputs)) if outputs else [net.forward()]
        finally:
            self._release(net)


class OrtModel:
    """An ONNX model run by ONNX Runtime on the CPU, on the calling thread. One session serves every thread
    (``InferenceSession.run`` is thread-safe and releases the GIL), so there are no copies to pool."""

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

    @property
    def copies(self) -> int:
        return 1

    def run(self, blob: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
        """The named outputs (default: every output) for an N x C x H x W float32 blob."""
        return self._session.run(outputs, {self._input: np.ascontiguousarray(blob, dtype=np.float32)})
