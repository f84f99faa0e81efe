"""MTCNN's detection cascade in numpy, running facenet-pytorch's networks through OpenVINO (or ONNX Runtime, or
OpenCV's DNN module, where OpenVINO is not installed; facerec.dnn).

A line-by-line port of ``facenet_pytorch.models.utils.detect_face`` (same pyramid, thresholds, box
regression, non-maximum suppression and landmark decoding) for one image, so that detection needs
neither torch nor torchvision: importing those costs seconds and hundreds of MB per process. Resampling
follows facerec's torch detector: OpenCV's area interpolation for the image pyramid and large crops,
torch's "area" interpolation (adaptive average pooling, reimplemented here) for small face crops.
Boxes and landmarks match the torch detector to a fraction of a pixel (tests/test_detection.py). Unlike there,
P-Net reads the whole pyramid at once, its levels packed into one mosaic of a few fixed widths (``pyramid_layout``)
that it reads in strips; the few outputs where a level's pooling window would reach past its edge (the last column
and row of levels of odd size) are computed in numpy (``pnet_numpy``), so each level's results are those of the
level alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .mtcnn_nets import OUTPUTS, facenet_weights_dir, load_nets, pnet_weights

SMALL_CROP_PIXELS = 160 * 160
"""Inputs of at most this many pixels are resampled by adaptive average pooling, larger ones by OpenCV."""


@functools.lru_cache(maxsize=4096)
def _pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    """n_out x n_in averaging matrix of adaptive average pooling along one axis: output cell i is the
    mean of input cells [floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out))."""
    i = np.arange(n_out)
    start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    cells = np.arange(n_in)
    inside = (cells[None, :] >= start[:, None]) & (cells[None, :] < end[:, None])
    matrix = (inside / (end - start)[:, None]).astype(np.float32)
    matrix.flags.writeable = False  # shared by every caller (cached)
    return matrix


def _adaptive_avg_pool(img: np.ndarray, out_h: int, out_w: int, out: np.ndarray | None = None) -> np.ndarray:
    """torch's ``interpolate(mode="area")`` (adaptive average pooling) of an H x W x C float32 array,
    as two small matrix products (the pooling windows are separable); written into ``out`` when given."""
    rows = _pool_matrix(img.shape[0], out_h)
    cols = _pool_matrix(img.shape[1], out_w)
    h, w, c = img.shape
    tall = (rows @ np.ascontiguousarray(img).reshape(h, w * c)).reshape(out_h, w, c)
    return np.matmul(cols, tall, out=out)


def _resample(img: np.ndarray, out_h: int, out_w: int, out: np.ndarray | None = None) -> np.ndarray:
    """``img`` (H x W x 3 float32) resampled to out_h x out_w (see ``SMALL_CROP_PIXELS``); written into ``out``
    (out_h x out_w x 3 float32) when given."""
    import cv2

    if img.shape[0] * img.shape[1] <= SMALL_CROP_PIXELS:
        return _adaptive_avg_pool(img, out_h, out_w, out)
    if out is None:
        return cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_AREA)
    res = cv2.resize(img, (out_w, out_h), dst=out, interpolation=cv2.INTER_AREA)  # written in place (rows of a mosaic)
    if not np.may_share_memory(res, out):  # OpenCV made an array of its own instead
        out[...] = res
    return out


def _scale(images: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``images`` (float32, 0..255) scaled as MTCNN was trained, ``(x - 127.5) * 0.0078125``, into ``out`` (which may
    be ``images`` itself, or a transposed view of a new array): two float32 operations, no temporaries."""
    np.subtract(images, np.float32(127.5), out=out)
    return np.multiply(out, np.float32(0.0078125), out=out)


def _blob(images: np.ndarray) -> np.ndarray:
    """N x H x W x 3 float32 images (0..255) -> N x 3 x H x W network input (R- and O-Net), scaled (``_scale``) into
    one new array."""
    n, h, w, c = images.shape
    blob = np.empty((n, c, h, w), np.float32)
    _scale(images.transpose(0, 3, 1, 2), blob)
    return blob


NMS_MATRIX_MAX = 400
"""Up to this many boxes, non-maximum suppression computes all overlaps at once (an n x n matrix) and
walks it (about 10x faster on the few hundred boxes of a pyramid level); above, it computes one row per
kept box (the matrix costs more than it saves)."""


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first.

    ``union`` is torchvision's ``nms`` (the first two stages); ``min`` is facenet-pytorch's
    ``nms_numpy(..., "Min")`` (the last stage), areas counted inclusively and equal scores taken in
    the same order as there (the last of an ascending ``argsort``), so the same box wins a tie.
    Shape: 1-d int64 array of indices into ``boxes``.
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    one = 1.0 if method == "min" else 0.0
    order = np.argsort(scores)[::-1] if method == "min" else np.argsort(-scores, kind="stable")
    b = boxes[order]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = (x2 - x1 + one) * (y2 - y1 + one)

    def overlap(i: int, rest) -> np.ndarray:
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one)
        inter = w * h
        return inter / np.minimum(area[i], area[rest]) if method == "min" else inter / (area[i] + area[rest] - inter)

    n = len(b)
    if n <= NMS_MATRIX_MAX:
        # the same elementwise arithmetic as the per-row form, for every pair at once
        w = np.maximum(0.0, np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]) + one)
        h = np.maximum(0.0, np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]) + one)
        inter = w * h
        if method == "min":
            over = inter / np.minimum(area[:, None], area[None])
        else:
            over = inter / (area[:, None] + area[None] - inter)
        suppress = over > threshold
        alive = np.ones(n, bool)
        keep = []
        for i in range(n):
            if alive[i]:
                keep.append(i)
                alive &= ~suppress[i]  # also clears i and boxes already decided, which are not visited again
        return order[np.asarray(keep, np.int64)]
    keep = []
    rest = np.arange(n)
    while rest.size:
        i = rest[0]
        keep.append(i)
        rest = rest[1:]
        rest = rest[overlap(i, rest) <= threshold]
    return order[np.asarray(keep, np.int64)]


def _rerec(boxes: np.ndarray) -> np.ndarray:
    """Boxes made square around their centres (side = the longer side)."""
    boxes = boxes.copy()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(w, h)
    boxes[:, 0] += w * 0.5 - side * 0.5
    boxes[:, 1] += h * 0.5 - side * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def _bbreg(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    boxes = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, 0] += reg[:, 0] * w
    boxes[:, 1] += reg[:, 1] * h
    boxes[:, 2] += reg[:, 2] * w
    boxes[:, 3] += reg[:, 3] * h
    return boxes


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each box's pixels (clipped to the image, as facenet-pytorch does) resampled to size x size, as one
    N x size x size x 3 float32 array; and the indices of the boxes that had any pixels."""
    h, w = img.shape[:2]
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x, y = np.maximum(b[:, 0], 1), np.maximum(b[:, 1], 1)
    ex, ey = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    valid = np.flatnonzero((ey > y - 1) & (ex > x - 1))
    crops = np.empty((len(valid), size, size, img.shape[2]), np.float32)
    for i, k in enumerate(valid.tolist()):
        _resample(img[y[k] - 1 : ey[k], x[k] - 1 : ex[k]], size, size, crops[i])
    return crops, valid


MOSAIC_BUCKET = 32
"""A mosaic of pyramid levels (``pyramid_layout``) wider than every one of ``PNET_WIDTHS`` is padded to a multiple of
this many pixels (and so is the height of one that does not run in strips)."""
PNET_WIDTHS = (288, 448, 672, 864, 1056)
"""The widths a pyramid's levels are packed to (``pyramid_layout``: the one of these, at least as wide as the first
level, that gives P-Net the fewest pixels to read). With strips of a fixed height, P-Net meets at most these few
input shapes, whatever the photos' sizes: OpenVINO prepares its kernels anew for every shape it meets, in each
thread's copy of the net, and the tagging benchmark's 107 photos gave 20 shapes at widths rounded up to
``MOSAIC_BUCKET``, for as many P-Net pixels in all (bench/pnet_strips.py)."""
PNET_STRIP_ROWS = 106
"""Mosaics go through P-Net in horizontal strips of this many rows, one strip per run; each strip gives
``PNET_STRIP_OUT_ROWS`` (48) rows of P-Net's output, and the strips overlap by the ``PNET_CONTEXT_ROWS`` (10)
input rows an output row reads beyond its own two. A strip's working set stays in the CPU's caches, and the
runtime's buffers stay the size of one strip instead of growing (and being faulted in anew) with every larger
photo: bench/pnet_strips.py."""
PNET_CONTEXT_ROWS = 10
"""Input rows P-Net reads beyond the two of its own for each output row (three 3x3 convolutions, one 2x2 pooling
between them): consecutive strips overlap by this many rows."""
PNET_STRIP_STEP = PNET_STRIP_ROWS - PNET_CONTEXT_ROWS
"""Rows from one strip's top to the next one's (96)."""
PNET_STRIP_OUT_ROWS = PNET_STRIP_STEP // 2
"""P-Net's output rows from one strip (48)."""
PNET_STRIP_MIN_PIXELS = 0
"""Mosaics of at least this many pixels run in strips (``PNET_STRIP_ROWS``), smaller ones in one run of their own
size: 0, all of them, so that P-Net's input shapes are the few ``PNET_WIDTHS`` (bench/pnet_strips.py compares)."""
PNET_EDGE = 11
"""Columns (rows) of input behind P-Net's last output column (row) of a level of odd width (height): the 12 input
pixels an output reads, less the one past the level's edge that ceil-mode pooling leaves out (``PyramidLayout.edges``)."""



def _pnet_out(h: int, w: int) -> tuple[int, int]:
    """P-Net's output rows and columns over an h x w input alone (a 3x3 convolution, 2x2 ceil-mode pooling, two more
    3x3 convolutions)."""
    return (h - 1) // 2 - 4, (w - 1) // 2 - 4

@dataclass(frozen=True)
class PyramidLayout:
    """Where each level of an image pyramid sits in one mosaic that P-Net reads at once (in strips)."""

    scales: tuple[float, ...]
    sizes: tuple[tuple[int, int], ...]
    """Each level's height and width."""
    origins: tuple[tuple[int, int], ...]
    """Each level's top-left corner (y, x) in the mosaic; always even, so P-Net's 2x2 pooling cells line up with
    the level's own."""
    shape: tuple[int, int]
    """The mosaic's height and width (one of ``PNET_WIDTHS``, or a multiple of ``MOSAIC_BUCKET``; the height is
    ``strips * PNET_STRIP_STEP + PNET_CONTEXT_ROWS`` when the mosaic runs in strips, else a multiple of
    ``MOSAIC_BUCKET``)."""
    strips: int = 0
    """How many strips of ``PNET_STRIP_ROWS`` rows P-Net reads the mosaic in; 0: the whole mosaic in one run."""

    def edges(self) -> tuple[list[tuple[int, int, int, int, int]], list[tuple[int, int, int, int, int]]]:
        """The pieces of the levels whose P-Net outputs the mosaic does not give (``run_pnet``), as (level, y, x, h, w)
        rectangles of the mosaic: the last 11 columns of each level of odd width (the last output column reads a
        pooling window only half inside the level: alone, P-Net's ceil-mode pooling clips it; in the mosaic it
        reaches into the next column), and the last 11 rows of each level of odd height. Each piece starts at an even
        offset in its level and gives, alone, one column (row) of outputs: the level's last."""
        right, bottom = [], []
        for i, ((lh, lw), (y, x)) in enumerate(zip(self.sizes, self.origins)):
            if lw & 1:
                right.append((i, y, x + lw - PNET_EDGE, lh, PNET_EDGE))
            if lh & 1:
                bottom.append((i, y + lh - PNET_EDGE, x, PNET_EDGE, lw))
        return right, bottom


def _even(n: int) -> int:
    return n + (n & 1)


def _bucket(n: int) -> int:
    return -(-n // MOSAIC_BUCKET) * MOSAIC_BUCKET


def _skyline(sizes: list[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int]:
    """Origins (y, x) of levels of these sizes, largest first, packed into ``width`` columns (each at the lowest
    free place, bottom-left first, on even rows and columns), and the rows they take."""
    skyline = np.zeros(width, np.int64)  # the lowest free row of each column
    origins = []
    edges = [0]
    for lh, lw in sizes:
        best = None
        for x in edges:
            if x + lw <= width:
                y = int(skyline[x : x + lw].max())
                if best is None or (y, x) < best:
                    best = (y, x)
        assert best is not None  # every level is narrower than the first, which fits
        y, x = best
        skyline[x : x + _even(lw)] = y + _even(lh)
        edges.append(x + _even(lw))
        origins.append((y, x))
    return origins, int(skyline.max())


def _strips_for(sizes: list[tuple[int, int]], origins: list[tuple[int, int]]) -> int:
    """Strips of ``PNET_STRIP_ROWS`` rows that give every P-Net output row over these levels."""
    out_rows = max(y // 2 + _pnet_out(lh, lw)[0] for (lh, lw), (y, _) in zip(sizes, origins))
    return max(1, -(-out_rows // PNET_STRIP_OUT_ROWS))


@functools.lru_cache(maxsize=256)
def pyramid_layout(h: int, w: int, min_face_size: int, factor: float) -> PyramidLayout:
    """The pyramid MTCNN builds for an h x w image (its first level at ``12 / min_face_size``, each next one
    ``factor`` smaller, down to 12 px) packed into one mosaic, every level at the lowest free place (a skyline,
    bottom-left first), of the one of ``PNET_WIDTHS`` that gives P-Net the fewest pixels to read (a pyramid wider
    than all of them: its two largest levels side by side). One P-Net input (in strips) per photo instead of one
    per level, and few input shapes (OpenVINO prepares its kernels for each new shape)."""
    m = 12.0 / min_face_size
    minl = min(h, w) * m
    scales = []
    scale = m
    while minl >= 12:
        scales.append(scale)
        scale *= factor
        minl *= factor
    sizes = [(int(h * s + 1), int(w * s + 1)) for s in scales]
    if not sizes:  # an image under min_face_size: no level (and no face) at all
        return PyramidLayout((), (), (), (0, 0))
    widths = [width for width in PNET_WIDTHS if width >= _even(sizes[0][1])] or [_bucket(sum(_even(lw) for _, lw in sizes[:2]))]
    best = None
    for width in widths:
        origins, rows = _skyline(sizes, width)
        if rows * width >= PNET_STRIP_MIN_PIXELS:
            strips = _strips_for(sizes, origins)
            rows = strips * PNET_STRIP_STEP + PNET_CONTEXT_ROWS
        else:
            strips, rows = 0, _bucket(rows)
        if best is None or rows * width < best.shape[0] * best.shape[1]:  # ties: the narrower
            best = PyramidLayout(tuple(scales), tuple(sizes), tuple(origins), (rows, width), strips)
    assert best is not None
    return best


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Valid convolution of a C-contiguous H x W x C float32 map by an O x C x k x k kernel: (H - k + 1) x (W - k + 1)
    x O. Each output reads k runs of k * C contiguous floats (a row of its window), gathered into one matrix."""
    o, c, k, _ = weight.shape
    h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
    rows, cols, item = x.strides
    windows = np.lib.stride_tricks.as_strided(x, (h, w, k, k * c), (rows, cols, rows, item), writeable=False)
    kernel = weight.transpose(0, 2, 3, 1).reshape(o, k * k * c)  # (row, column, channel), as the windows
    return (windows.reshape(h * w, k * k * c) @ kernel.T + bias).reshape(h, w, o)


def _prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """torch's PReLU, in place: x where x > 0, else ``slope`` (per channel, the last axis) times x."""
    negative = np.minimum(x, 0)
    np.maximum(x, 0, out=x)
    negative *= slope
    x += negative
    return x


def pnet_numpy(weights: dict[str, np.ndarray], image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P-Net in numpy, as facenet-pytorch runs it, over ``image`` (H x W x 3 float32, scaled; H and W even): its box
    regression (4 x OH x OW) and face probabilities (2 x OH x OW). ``mask`` ((H - 2) x (W - 2) x 1), 0 over the
    first layer's outputs that read one piece of the image only, -1e30 elsewhere, is added before the pooling, as in
    ``PyramidLayout.edges``: P-Net's outputs over each piece (at even offsets) are then those of the piece alone.
    For the few outputs ``run_pnet`` cannot take from the runtime."""
    z = _prelu(_conv(image, weights["conv1.weight"], weights["conv1.bias"]), weights["prelu1.weight"])
    z += mask
    h, w, c = z.shape
    z = np.maximum(z[0::2], z[1::2]).reshape(h // 2, w // 2, 2, c)  # 2 x 2 max-pooling: pairs of rows, then of columns
    z = np.maximum(z[:, :, 0], z[:, :, 1])
    z = _prelu(_conv(z, weights["conv2.weight"], weights["conv2.bias"]), weights["prelu2.weight"])
    z = _prelu(_conv(z, weights["conv3.weight"], weights["conv3.bias"]), weights["prelu3.weight"])
    heads = _conv(z, np.concatenate([weights["conv4_2.weight"], weights["conv4_1.weight"]]),
                  np.concatenate([weights["conv4_2.bias"], weights["conv4_1.bias"]]))
    logits = heads[:, :, 4:]
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return heads[:, :, :4].transpose(2, 0, 1), (e / e.sum(axis=2, keepdims=True)).transpose(2, 0, 1)


def _stacked(mosaic: np.ndarray, pieces: list[tuple[int, int, int, int, int]], vertical: bool) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """The rectangles (level, y, x, h, w) of ``mosaic`` copied into one new image, one below (beside) the other at
    even offsets; ``pnet_numpy``'s mask for them; and where each lies in the image (y, x)."""
    along = [_even(p[3] if vertical else p[4]) for p in pieces]
    across = _even(max(p[4] if vertical else p[3] for p in pieces))
    shape = (sum(along), across) if vertical else (across, sum(along))
    image = np.zeros((*shape, 3), np.float32)
    mask = np.full((shape[0] - 2, shape[1] - 2, 1), -1e30, np.float32)
    places = []
    offset = 0
    for (_, y, x, h, w), step in zip(pieces, along):
        oy, ox = (offset, 0) if vertical else (0, offset)
        image[oy : oy + h, ox : ox + w] = mosaic[y : y + h, x : x + w]
        mask[oy : oy + h - 2, ox : ox + w - 2] = 0.0
        places.append((oy, ox))
        offset += step
    return image, mask, places


def run_pnet(run: Callable[[np.ndarray], list[np.ndarray]], layout: PyramidLayout, mosaic: np.ndarray, weights: dict[str, np.ndarray]):
    """P-Net's box regression (1 x 4 x OH x OW) and face probabilities (1 x 2 x OH x OW) over the H x W x 3 float32
    mosaic of ``layout``, already scaled (``_scale``): over each level, the outputs of the level alone. The runtime
    (``run(blob) -> [reg, prob]``; ``blob``: 1 x H x W x 3, P-Net's graph takes its input channels last) reads the
    mosaic in one run, or one run per strip (``layout.strips``; each strip is a run of the mosaic's own rows, so no
    copy; OH then covers at least the mosaic's output rows); the last output column (row) of each level of odd width
    (height), whose pooling window the mosaic does not clip at the level's edge, comes from ``pnet_numpy`` on the
    level's edge (``PyramidLayout.edges``) with the P-Net ``weights``."""
    if not layout.strips:
        outs = run(mosaic[None])
    else:
        rows = PNET_STRIP_OUT_ROWS
        outs = []
        for k in range(layout.strips):
            top = k * PNET_STRIP_STEP
            parts = run(mosaic[None, top : top + PNET_STRIP_ROWS])
            if not outs:
                outs = [np.empty((1, p.shape[1], layout.strips * rows, p.shape[3]), np.float32) for p in parts]
            for out, part in zip(outs, parts):
                out[:, :, k * rows : (k + 1) * rows] = part
    for pieces, vertical in zip(layout.edges(), (True, False)):
        if not pieces:
            continue
        image, mask, places = _stacked(mosaic, pieces, vertical)
        fixed = pnet_numpy(weights, image, mask)
        for (level, *_), (oy, ox) in zip(pieces, places):
            (lh, lw), (y, x) = layout.sizes[level], layout.origins[level]
            oh, ow = _pnet_out(lh, lw)
            for out, got in zip(outs, fixed):
                if vertical:  # the level's last output column
                    out[0, :, y // 2 : y // 2 + oh, x // 2 + ow - 1] = got[:, oy // 2 : oy // 2 + oh, 0]
                else:  # its last output row
                    out[0, :, y // 2 + oh - 1, x // 2 : x // 2 + ow] = got[:, 0, ox // 2 : ox // 2 + ow]
    return outs


class OpenCVMTCNN:
    """The MTCNN cascade in numpy and OpenCV, its nets run by facerec.dnn. Thread-safe: concurrent callers run
    separate copies of the nets (OpenVINO, OpenCV) or share one ONNX Runtime session, so several threads detect
    in parallel."""

    def __init__(self, min_face_size: int = 20, thresholds=(0.6, 0.7, 0.7), factor: float = 0.709):
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        folder = facenet_weights_dir()
        self._nets = load_nets(folder)
        self._pnet_weights = pnet_weights(folder)

    def _run(self, name: str, blob: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
        return self._nets[name].run(blob, OUTPUTS[name], extra)

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N x 4, x1 y1 x2 y2), scores (N) and landmarks (N x 5 x 2) of the faces in an
        H x W x 3 uint8 RGB image, in pixel coordinates."""
        return self._detect(np.asarray(rgb, dtype=np.float32))

    def _detect(self, img: np.ndarray):
        h, w = img.shape[:2]
        empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))
        # Stage 1: the proposal net over the image pyramid, all levels in one mosaic (pyramid_layout).
        layout = pyramid_layout(h, w, self.min_face_size, self.factor)
        if not layout.scales:
            return empty
        mosaic = np.zeros((*layout.shape, 3), np.float32)
        for (lh, lw), (y, x) in zip(layout.sizes, layout.origins):
            _resample(img, lh, lw, mosaic[y : y + lh, x : x + lw])
        _scale(mosaic, mosaic)
        reg, prob = run_pnet(lambda blob: self._run("pnet", blob), layout, mosaic, self._pnet_weights)
        stage1 = []
        for scale, (lh, lw), (y, x) in zip(layout.scales, layout.sizes, layout.origins):
            oh, ow = _pnet_out(lh, lw)  # P-Net's output on the level alone
            level_prob = prob[0, 1, y // 2 : y // 2 + oh, x // 2 : x // 2 + ow]
            ys, xs = np.nonzero(level_prob >= self.thresholds[0])
            if len(ys) == 0:
                continue
            cells = np.stack([xs, ys], 1).astype(np.float32)
            q1 = np.floor((2 * cells + 1) / scale)
            q2 = np.floor((2 * cells + 12) / scale)
            found = np.concatenate([q1, q2, level_prob[ys, xs][:, None], reg[0][:, y // 2 + ys, x // 2 + xs].T], 1)
            stage1.append(found[_nms(found[:, :4], found[:, 4], 0.5)])
        if not stage1:
            return empty
        boxes = np.concatenate(stage1)
        boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
        regw = boxes[:, 2] - boxes[:, 0]
        regh = boxes[:, 3] - boxes[:, 1]
        boxes = np.stack([
            boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
            boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4],
        ], 1)
        boxes = _rerec(boxes)

        # Stage 2: the refinement net on 24 x 24 crops.
        crops, valid = _crops(img, boxes, 24)
        if not len(crops):
            return empty
        boxes = boxes[valid]
        reg, prob = self._run("rnet", _blob(crops))
        score = prob[:, 1, 0, 0]
        keep = score > self.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], score[keep, None]], 1)
        reg = reg[keep, :, 0, 0]
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _rerec(_bbreg(boxes[pick], reg[pick]))
        if len(boxes) == 0:
            return empty

        # Stage 3: the output net on 48 x 48 crops: final score, box and landmarks.
        crops, valid = _crops(img, boxes, 48)
        if not len(crops):
            return empty
        boxes = boxes[valid]
        reg, marks, prob = self._run("onet", _blob(crops))
        score = prob[:, 1, 0, 0]
        keep = score > self.thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], score[keep, None]], 1)
        reg, marks = reg[keep, :, 0, 0], marks[keep, :, 0, 0]
        bw = boxes[:, 2] - boxes[:, 0] + 1
        bh = boxes[:, 3] - boxes[:, 1] + 1
        px = bw[:, None] * marks[:, :5] + boxes[:, 0:1] - 1
        py = bh[:, None] * marks[:, 5:10] + boxes[:, 1:2] - 1
        points = np.stack([px, py], 2)
        boxes = _bbreg(boxes, reg)
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7, method="min")
        boxes, points = boxes[pick], points[pick]
        return boxes[:, :4].astype(np.float32), boxes[:, 4].astype(np.float32), points.astype(np.float32)
