"""Export a trained embedder weights file (``save_weights_file``'s ``.pt``) to ONNX, so that it runs through
OpenCV DNN without torch, like SFace. The graph takes N x 3 x 112 x 112 RGB in 0..255 (the input scaling,
``(x - 127.5) / 128``, is inside the graph) and returns N x dim raw embeddings.

``python -m facerec.training.export resources/models/compact-v1.pt resources/models/compact-v1.onnx``
(needs torch; the default install runs the ONNX file without it; tests/test_models.py checks both agree).
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from .model import load_weights_file

log = logging.getLogger(__name__)


class _Scaled(nn.Module):
    """The network with ``standardize`` in front of it (the ONNX file then takes plain 0..255 pixels)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model((x - 127.5) / 128.0)


def export_onnx(weights: str | Path, out: str | Path, size: int = 112) -> Path:
    """Write ``out`` (ONNX, opset 13, dynamic batch) from ``weights``; returns ``out``."""
    import onnx

    model, blob = load_weights_file(weights, fuse=True)
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    example = torch.zeros(2, 3, size, size)
    with warnings.catch_warnings():  # the TorchScript exporter: no onnxscript needed, same graph every run
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _Scaled(model), (example,), str(tmp), input_names=["input"], output_names=["embedding"],
            dynamic_axes={"input": {0: "n"}, "embedding": {0: "n"}}, opset_version=13, dynamo=False,
        )
    proto = onnx.load(str(tmp))
    onnx.checker.check_model(proto)
    proto.producer_name = f"facerec ({blob.get('model_id', Path(weights).stem)})"
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    log.info("wrote %s (%d bytes)", out, out.stat().st_size)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m facerec.training.export", description=__doc__.split("\n\n")[0])
    p.add_argument("weights", help="a .pt weights file written by facerec train")
    p.add_argument("out", help="the .onnx file to write")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    export_onnx(args.weights, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
