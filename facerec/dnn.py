"""OpenCV DNN models shared by threads: one ``cv2.dnn.Net`` per calling thread, read from one ONNX model.

A ``cv2.dnn.Net`` keeps its activations inside, so two threads must never run the same net at once.
Each thread gets its own copy (a few MB for MTCNN, 37 MB for SFace), so photos can be analysed in
parallel without a lock.
"""

from __future__ import annotations

import threading

import numpy as np


class PerThreadNet:
    """An ONNX model run by OpenCV, with one network instance per thread (created on first use)."""

    def __init__(self, model: bytes, name: str = "model"):
        import cv2

        self.name = name
        self._model = np.frombuffer(model, np.uint8)
        self._local = threading.local()
        self._local.net = cv2.dnn.readNetFromONNX(self._model)  # parse now: a bad model fails at load time

    def _net(self):
        net = getattr(self._local, "net", None)
        if net is None:
            import cv2

            net = self._local.net = cv2.dnn.readNetFromONNX(self._model)
        return net

    def run(self, blob: np.ndarray, outputs: list[str] | None = None) -> list[np.ndarray]:
        """The named outputs (default: the model's single output) for an N x C x H x W float32 blob."""
        net = self._net()
        net.setInput(blob)
        return list(net.forward(outputs)) if outputs else [net.forward()]
