"""SFace on each runtime facerec could use, one thread, side by side (prints JSON): OpenCV DNN (its engines), ONNX
Runtime on the same graph (initializers moved out of the inputs, batch made dynamic, opset 13), and ONNX Runtime
on an int8 copy made by its static quantiser (QDQ, per-channel weights, calibrated on 200 LFW faces of people
in no pair and their mirror images). Reports ms per face at batch 1 and 2 and how far each runtime's vectors
are from OpenCV DNN's (cosine, on 200 other faces).

    python bench/sface_runtimes.py --out bench/results/sface_runtimes.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _proc import emit, machine_load  # noqa: E402
from sface_centre import unpaired_images  # noqa: E402

from facerec.chips import central_face_chips  # noqa: E402
from facerec.config import Settings, shared_data_dir  # noqa: E402
from facerec.embedders.packs import get_pack  # noqa: E402
from facerec.embedders.weights import weights_path  # noqa: E402
from facerec.imaging import LoadedImage  # noqa: E402
from facerec.pipeline import FaceAnalyzer  # noqa: E402


def clean_graph(src: Path, dst: Path) -> None:
    """SFace's graph for ONNX Runtime: initializers out of the graph inputs (else nothing is constant-folded),
    a dynamic batch dimension, opset 13 (per-channel quantisation needs it)."""
    import onnx
    from onnx import version_converter

    m = onnx.load(str(src))
    inits = {i.name for i in m.graph.initializer}
    keep = [i for i in m.graph.input if i.name not in inits]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    for o in m.graph.output:
        o.type.tensor_type.shape.dim[0].dim_param = "n"
    m = version_converter.convert_version(m, 13)
    onnx.save(m, str(dst))


def quantise(src: Path, dst: Path, calib: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            data = np.concatenate([calib, calib[:, :, :, ::-1]])
            self.it = iter([{"data": data[i : i + 1].copy()} for i in range(len(data))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)


def ort_runner(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda blob: sess.run(None, {name: blob})[0]


def cv_runner(path: Path, engine: str | None = None):
    import cv2

    net = cv2.dnn.readNetFromONNX(str(path)) if engine is None else cv2.dnn.readNetFromONNX(str(path), engine=getattr(cv2.dnn, engine))

    def run(blob):
        net.setInput(blob)
        return net.forward()

    return run


def timed(run, blobs: np.ndarray, batch: int) -> float:
    run(blobs[:batch])
    t = time.perf_counter()
    for i in range(0, len(blobs), batch):
        run(blobs[i : i + batch])
    return (time.perf_counter() - t) / len(blobs) * 1000


def main() -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(shared_data_dir() / "lfw"))
    ap.add_argument("--faces", type=int, default=200)
    ap.add_argument("--out")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    weights = weights_path(get_pack("sface"))
    if weights is None:
        raise SystemExit("SFace is not installed: facerec models install sface")
    analyzer = FaceAnalyzer(Settings())
    paths = unpaired_images(Path(args.data))[: 2 * args.faces]
    chips, _ = central_face_chips(paths, lambda p: analyzer.load(p).rgb, lambda rgb: analyzer.detect(LoadedImage.from_array(rgb)), analyzer.embedder.template)
    blobs = chips.astype(np.float32).transpose(0, 3, 1, 2).copy()  # RGB 0..255, NCHW: SFace's input
    calib, test = blobs[: args.faces], blobs[args.faces :]
    out: dict = {"benchmark": "sface_runtimes", "machine": machine_load(), "faces": len(test), "threads": 1, "runtimes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        clean, int8 = Path(tmp) / "clean.onnx", Path(tmp) / "int8.onnx"
        clean_graph(weights, clean)
        quantise(clean, int8, calib)
        runners = {"opencv_dnn (facerec's)": cv_runner(weights)}
        for engine in ("ENGINE_CLASSIC", "ENGINE_NEW"):
            if hasattr(cv2.dnn, engine):
                runners[f"opencv_dnn {engine}"] = cv_runner(weights, engine)
        runners["onnxruntime fp32"] = ort_runner(clean)
        runners["onnxruntime int8 (QDQ)"] = ort_runner(int8)
        ref = None
        for name, run in runners.items():
            vec = np.concatenate([run(test[i : i + 8]).reshape(-1, 128) for i in range(0, len(test), 8)])
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            ref = vec if ref is None else ref
            cos = (vec * ref).sum(1)
            out["runtimes"][name] = {
                "ms_per_face_batch1": round(timed(run, test, 1), 2),
                "ms_per_face_batch2": round(timed(run, test, 2), 2),
                "cosine_to_opencv_min": round(float(cos.min()), 5),
                "cosine_to_opencv_mean": round(float(cos.mean()), 5),
            }
    out["machine"]["load_after"] = machine_load()["loadavg_1_5_15"]
    emit(out, args.out)


if __name__ == "__main__":
    main()
