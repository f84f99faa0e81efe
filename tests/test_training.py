"""Triplet-loss training: miners and sampler on synthetic tensors, identity-disjoint splits, and a short
real run of `facerec train` (AT&T/ORL faces, already cropped) in which the loss must fall."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facerec.training.losses import mine_batch_hard, mine_semi_hard, pairwise_distances, triplet_loss
from facerec.training.sampler import PKSampler
from facerec.training.splits import Split, SplitLeakError, check_disjoint, lfw_fold_identities, lfw_split, random_split


def _points(xs):
    """Points on the unit circle at these angles: distances grow with the angle between them."""
    a = torch.tensor(xs, dtype=torch.float32)
    return torch.stack([torch.cos(a), torch.sin(a)], 1)


def test_pairwise_distances_are_euclidean_on_unit_vectors():
    e = torch.randn(6, 8)
    d = pairwise_distances(e)
    n = torch.nn.functional.normalize(e, dim=1)
    assert torch.allclose(d, torch.cdist(n, n), atol=1e-3)
    assert torch.all(d.diagonal() == 0)


def test_batch_hard_picks_farthest_positive_and_nearest_negative():
    # angles: identity 0 at 0.0, 0.1, 0.5; identity 1 at 0.32, 1.0
    emb = _points([0.0, 0.1, 0.5, 0.32, 1.0])
    labels = torch.tensor([0, 0, 0, 1, 1])
    a, p, n = mine_batch_hard(pairwise_distances(emb), labels)
    got = {int(i): (int(j), int(k)) for i, j, k in zip(a, p, n)}
    assert got[0] == (2, 3)  # farthest positive of 0.0 is 0.5; nearest negative is 0.32
    assert got[1] == (2, 3)
    assert got[2] == (0, 3)
    assert got[3] == (4, 2)  # 0.32: its only positive is 1.0; nearest negative 0.5
    assert got[4] == (3, 2)


def test_batch_hard_skips_anchors_without_positives():
    emb = _points([0.0, 0.1, 0.2])
    a, p, n = mine_batch_hard(pairwise_distances(emb), torch.tensor([0, 0, 1]))
    assert sorted(a.tolist()) == [0, 1]


def test_semi_hard_prefers_nearest_negative_beyond_the_positive():
    # anchor 0 at 0.0, positive 1 at 0.2; negatives at 0.1 (hard), 0.25 (semi-hard), 0.6 (easy)
    emb = _points([0.0, 0.2, 0.1, 0.25, 0.6])
    labels = torch.tensor([0, 0, 1, 2, 3])
    a, p, n = mine_semi_hard(pairwise_distances(emb), labels)
    got = {(int(i), int(j)): int(k) for i, j, k in zip(a, p, n)}
    assert got[(0, 1)] == 3
    # anchor 1 at 0.2, positive 0 at 0.0 (d=0.2): negatives at d 0.1, 0.05, 0.4 -> only 0.6 is farther
    assert got[(1, 0)] == 4


def test_semi_hard_falls_back_to_easiest_negative_when_all_are_closer():
    emb = _points([0.0, 1.0, 0.1, 0.2])
    labels = torch.tensor([0, 0, 1, 1])
    a, p, n = mine_semi_hard(pairwise_distances(emb), labels)
    got = {(int(i), int(j)): int(k) for i, j, k in zip(a, p, n)}
    assert got[(0, 1)] == 3  # both negatives are closer than the positive: take the farther one


@pytest.mark.parametrize("miner", ["semi-hard", "batch-hard"])
def test_triplet_loss_zero_when_identities_are_far_apart(miner):
    emb = _points([0.0, 0.01, 1.5, 1.51])
    loss, stats = triplet_loss(emb, torch.tensor([0, 0, 1, 1]), margin=0.2, miner=miner)
    assert float(loss) == 0.0 and stats.active == 0.0 and stats.triplets > 0


@pytest.mark.parametrize("miner", ["semi-hard", "batch-hard"])
def test_triplet_loss_has_gradient_when_mixed(miner):
    emb = torch.randn(16, 8, requires_grad=True)
    labels = torch.arange(4).repeat_interleave(4)
    loss, stats = triplet_loss(emb, labels, margin=0.5, miner=miner)
    loss.backward()
    assert float(loss.detach()) > 0 and torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


def test_unknown_miner_is_refused():
    with pytest.raises(ValueError):
        triplet_loss(torch.randn(4, 3), torch.tensor([0, 0, 1, 1]), miner="random")


def test_pk_sampler_batches():
    labels = np.array([0] * 5 + [1] * 2 + [2] * 1 + [3] * 8 + [4] * 3)
    s = PKSampler(labels, p=2, k=3, seed=1)
    assert set(s.eligible.tolist()) == {0, 1, 3, 4}  # identity 2 has one image: no positive pair
    assert len(s) == 2
    seen = set()
    for batch in s:
        assert batch.shape == (6,)
        ids = labels[batch].reshape(2, 3)
        assert all(len(set(row)) == 1 for row in ids) and ids[0, 0] != ids[1, 0]
        seen |= set(ids[:, 0].tolist())
    assert seen == {0, 1, 3, 4}  # one epoch visits every eligible identity
    with pytest.raises(ValueError):
        PKSampler(labels, p=5, k=2)


def test_identity_disjoint_check():
    check_disjoint(["a", "b"], ["c"])
    with pytest.raises(SplitLeakError, match="1 identities"):
        check_disjoint(["a", "b"], ["b", "c"])
    with pytest.raises(SplitLeakError):
        Split(("a", "b"), ("a",))
    s = random_split([f"p{i}" for i in range(20)], 0.25, seed=3)
    assert len(s.val) == 5 and len(s.train) == 15 and not set(s.train) & set(s.val)


def test_lfw_view2_split(shared_data):
    pairs = shared_data / "lfw" / "pairs.txt"
    if not pairs.is_file():
        pytest.skip("LFW not in shared data")
    folds = lfw_fold_identities(pairs)
    assert len(folds) == 10
    for i in range(10):
        for j in range(i + 1, 10):
            check_disjoint(folds[i], folds[j])
    everyone = set().union(*folds) | {"Not_In_Any_Fold"}
    split = lfw_split(everyone, pairs, val_fold=10)
    assert set(split.val) == folds[9] and "Not_In_Any_Fold" in split.train
    assert not set(split.train) & folds[9]


@pytest.mark.slow
def test_train_cli_loss_falls_and_resumes(shared_data, tmp_path, capsys):
    from facerec.cli import main

    att = shared_data / "faces" / "att_orl"
    if not att.is_dir():
        pytest.skip("AT&T/ORL faces not in shared data")
    torch.manual_seed(0)
    ckpt = tmp_path / "run"
    common = ["-q", "train", "--data", str(att), "--crop", "resize", "--max-identities", "12", "--val-fraction", "0.25",
              "-P", "4", "-K", "4", "--width", "8", "--dim", "32", "--lr", "3e-3", "--checkpoint-dir", str(ckpt), "--checkpoint-every", "20", "--threads", "1"]
    assert main([*common, "--steps", "40"]) == 0
    summary = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert summary["steps"] == 40
    assert summary["loss_last"] < 0.85 * summary["loss_first"], summary
    assert (ckpt / "checkpoint.pt").is_file()
    try:
        import matplotlib  # noqa: F401  (the optional `train` extra)
    except ImportError:
        assert summary["loss_curve"] is None
    else:
        assert (ckpt / "loss.png").stat().st_size > 1000
    assert summary["validation"]["pairs"] > 0  # 3 held-out people, never trained on
    history = json.loads((ckpt / "history.json").read_text())["history"]
    assert len(history) == 40

    assert main([*common, "--steps", "50", "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert resumed["steps"] == 50
    assert len(json.loads((ckpt / "history.json").read_text())["history"]) == 50

    # the exported weights run as an embedder
    from facerec.training.embedder import TorchEmbedder

    emb = TorchEmbedder(resumed["weights"], "test", 0.5).embed(np.zeros((2, 112, 112, 3), np.uint8))
    assert emb.shape == (2, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)


def test_compact_pack_runs_through_the_pipeline(shared_data):
    """The shipped compact model: registered, sha256-checked, and it tells a person from a stranger."""
    from facerec.config import Settings
    from facerec import embedders
    from facerec.embedders import load_embedder
    from facerec.pipeline import FaceAnalyzer

    lfw = shared_data / "lfw"
    if not lfw.is_dir():
        pytest.skip("LFW not in shared data")
    pack = embedders.get_pack("compact")
    if not embedders.is_installed(pack):
        pytest.skip("compact weights not in this checkout (resources/models/compact-v1.pt)")
    embedder = load_embedder("compact")
    assert embedder.model_id == "compact-v1" and embedder.dim == 128
    analyzer = FaceAnalyzer(Settings(model="compact"))
    # fold-10 people (never trained on)
    paths = [lfw / "Ariel_Sharon" / "Ariel_Sharon_0001.jpg", lfw / "Ariel_Sharon" / "Ariel_Sharon_0002.jpg",
             lfw / "Allen_Iverson" / "Allen_Iverson_0001.jpg"]
    emb = np.stack([max(analyzer.analyze(p), key=lambda f: f.area).embedding for p in paths])
    same, diff = 1 - emb[0] @ emb[1], 1 - emb[0] @ emb[2]
    assert same < diff


def test_shipped_compact_onnx_equals_the_torch_model(shared_data):
    """resources/models/compact-v1.onnx (what the pack runs, through OpenCV DNN, no torch) gives the same
    embeddings as compact-v1.pt run by torch, on real aligned faces and on noise."""
    from facerec.config import REPO_ROOT
    from facerec.embedders.compact import OnnxEmbedder, load
    from facerec.training.embedder import TorchEmbedder
    from facerec.pipeline import FaceAnalyzer

    models = REPO_ROOT / "resources" / "models"
    if not (models / "compact-v1.pt").is_file():
        pytest.skip("compact-v1.pt not in this checkout")
    analyzer = FaceAnalyzer()
    chips = []
    for path in sorted((shared_data / "faces" / "face_recognition").rglob("*.jpg"))[:8]:
        image = analyzer.load(path)
        detected = analyzer.detect(image)
        if detected:
            from facerec.alignment import ARCFACE_112, align_many

            chips.append(align_many(image.rgb, [d.landmarks for d in detected], ARCFACE_112))
    chips.append(np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8))
    chips = np.concatenate(chips)
    assert len(chips) >= 10
    by_torch = TorchEmbedder(models / "compact-v1.pt", "compact-v1", 0.3).embed(chips)
    onnx = load(models / "compact-v1.onnx", "compact-v1", 0.3)
    assert isinstance(onnx, OnnxEmbedder) and onnx.dim == 128
    by_onnx = onnx.embed(chips)
    assert by_onnx.shape == by_torch.shape
    np.testing.assert_allclose(by_onnx, by_torch, atol=1e-5)
    assert np.abs(1 - np.sum(by_onnx * by_torch, axis=1)).max() < 1e-6  # cosine distances between them: 0
