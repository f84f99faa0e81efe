"""The training loop: P x K batches, online-mined triplet loss (plus optional distillation from a teacher's
embeddings), augmentation, checkpoints with resume, progress logging and a loss-curve PNG."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .augment import AugmentConfig, augment, to_tensor
from .data import ChipSet
from .losses import MINERS, distillation_loss, triplet_loss
from .sampler import PKSampler

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    miner: str = "semi-hard"
    margin: float = 0.2
    p: int = 16
    k: int = 4
    steps: int = 1000
    lr: float = 2e-3
    weight_decay: float = 5e-4
    warmup: int = 50
    distill_weight: float = 0.0
    """Weight of ``1 - cos(student, teacher)``; needs teacher embeddings."""
    augment: bool = True
    device: str = "auto"
    checkpoint_dir: str | None = None
    checkpoint_every: int = 100
    resume: bool = False
    log_every: int = 10
    val_every: int = 0
    """Validate every this many steps (0: only at the end, when validation chips are given)."""
    seed: int = 0
    max_seconds: float | None = None
    """Training-time budget (summed over resumed runs): the learning-rate schedule follows whichever of
    ``steps`` and this runs out first, and training stops (checkpointed) when it is spent."""

    def __post_init__(self) -> None:
        if self.miner not in MINERS:
            raise ValueError(f"unknown miner {self.miner!r}; choose from {', '.join(MINERS)}")


@dataclass
class TrainResult:
    step: int
    history: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)
    checkpoint: str | None = None
    curve: str | None = None
    seconds: float = 0.0

    def mean_loss(self, first: int | None = None, last: int | None = None) -> float:
        h = self.history[:first] if first else self.history[-last:] if last else self.history
        return float(np.mean([r["loss"] for r in h])) if h else float("nan")


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def embed_chips(model: torch.nn.Module, chips: np.ndarray, device: torch.device, batch: int = 128) -> np.ndarray:
    """Unit embeddings of uint8 chips with the model in eval mode (restores the previous mode)."""
    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(chips), batch):
            e = model(to_tensor(chips[i : i + batch], device))
            out.append(torch.nn.functional.normalize(e, dim=1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def pair_accuracy(emb: np.ndarray, labels: np.ndarray, seed: int = 0, max_pairs: int = 3000) -> dict:
    """Verification on all same-identity pairs (up to ``max_pairs``) and as many random different ones.

    The threshold is the best one on these pairs (an optimistic, monitoring-only figure).
    """
    from ..evaluation.lfw import best_threshold

    rng = np.random.default_rng(seed)
    pos = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels)) if labels[i] == labels[j]]
    if not pos:
        return {"pairs": 0, "accuracy": float("nan"), "threshold": float("nan")}
    if len(pos) > max_pairs:
        pos = [pos[i] for i in rng.choice(len(pos), max_pairs, replace=False)]
    neg: list[tuple[int, int]] = []
    while len(neg) < len(pos):
        i, j = rng.integers(0, len(labels), 2)
        if labels[i] != labels[j]:
            neg.append((i, j))
    pairs = np.array(pos + neg)
    same = np.array([True] * len(pos) + [False] * len(neg))
    dist = 1.0 - np.sum(emb[pairs[:, 0]] * emb[pairs[:, 1]], axis=1)
    t = best_threshold(dist, same)
    return {"pairs": int(len(pairs)), "accuracy": float(np.mean((dist <= t) == same)), "threshold": float(t)}


def save_curve(history: list[dict], path: Path, val: list[dict] | None = None) -> Path | None:
    """Loss curve (raw and smoothed) as a PNG; ``None`` when matplotlib is missing (pip install 'facerec[train]')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib not installed; no loss curve (pip install 'facerec[train]')")
        return None
    steps = np.array([r["step"] for r in history])
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, colour in (("loss", "C0"), ("triplet", "C1"), ("distill", "C2")):
        if history and key in history[0]:
            y = np.array([r[key] for r in history])
            ax.plot(steps, y, colour, alpha=0.25, lw=0.8)
            w = max(1, len(y) // 30)
            if len(y) >= w:
                ax.plot(steps[w - 1 :], np.convolve(y, np.ones(w) / w, mode="valid"), colour, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if val:
        ax2 = ax.twinx()
        ax2.plot([v["step"] for v in val], [v["accuracy"] for v in val], "C3o-", label="val accuracy")
        ax2.set_ylabel("validation pair accuracy")
        ax2.legend(loc="upper right")
    ax.legend(loc="upper center")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


class Trainer:
    """Trains ``model`` (an ``nn.Module`` mapping N x 3 x S x S to N x D) on a ``ChipSet``."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig, arch: str = "compact", arch_kwargs: dict | None = None):
        self.config = config
        self.device = pick_device(config.device)
        self.model = model.to(self.device)
        self.arch, self.arch_kwargs = arch, dict(arch_kwargs or {})
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.step = 0
        self.elapsed = 0.0
        self.history: list[dict] = []
        self.val: list[dict] = []
        self.ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None

    # -- schedule ---------------------------------------------------------------------------------
    def progress(self) -> float:
        """Fraction of the training budget (steps or time) spent."""
        c = self.config
        frac = self.step / max(1, c.steps)
        if c.max_seconds:
            frac = max(frac, self.elapsed / c.max_seconds)
        return min(1.0, frac)

    def lr_at(self, step: int) -> float:
        c = self.config
        if step < c.warmup:
            return c.lr * (step + 1) / c.warmup
        frac = self.progress()
        return c.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    # -- checkpoints ------------------------------------------------------------------------------
    def save_checkpoint(self, sampler: PKSampler) -> Path | None:
        if self.ckpt_dir is None:
            return None
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = self.ckpt_dir / CHECKPOINT
        tmp = path.with_name(path.name + ".part")
        torch.save(
            {
                "arch": self.arch,
                "kwargs": self.arch_kwargs,
                "state_dict": self.model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "step": self.step,
                "elapsed": self.elapsed,
                "history": self.history,
                "val": self.val,
                "sampler_rng": sampler.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "config": asdict(self.config),
            },
            str(tmp),
        )
        tmp.replace(path)
        (self.ckpt_dir / "history.json").write_text(json.dumps({"history": self.history, "val": self.val}))
        return path

    def load_checkpoint(self, sampler: PKSampler) -> bool:
        path = self.ckpt_dir / CHECKPOINT if self.ckpt_dir else None
        if path is None or not path.is_file():
            return False
        blob = torch.load(str(path), map_location=self.device, weights_only=False)
        if blob.get("arch") != self.arch or blob.get("kwargs") != self.arch_kwargs:
            raise ValueError(f"{path}: checkpoint is {blob.get('arch')} {blob.get('kwargs')}, not {self.arch} {self.arch_kwargs}")
        self.model.load_state_dict(blob["state_dict"])
        self.opt.load_state_dict(blob["optimizer"])
        self.step = int(blob["step"])
        self.elapsed = float(blob.get("elapsed", 0.0))
        self.history = list(blob["history"])
        self.val = list(blob.get("val", []))
        sampler.rng.bit_generator.state = blob["sampler_rng"]
        torch.set_rng_state(blob["torch_rng"])
        log.info("resumed from %s at step %d", path, self.step)
        return True

    # -- training ---------------------------------------------------------------------------------
    def validate(self, val: ChipSet) -> dict:
        emb = embed_chips(self.model, val.chips, self.device)
        res = pair_accuracy(emb, val.labels, seed=self.config.seed)
        res["step"] = self.step
        self.val.append(res)
        log.info("step %d: validation pair accuracy %.4f on %d pairs", self.step, res["accuracy"], res["pairs"])
        return res

    def fit(self, train: ChipSet, teacher: np.ndarray | None = None, val: ChipSet | None = None) -> TrainResult:
        """Train until ``config.steps`` (resuming from the checkpoint directory when asked)."""
        c = self.config
        if c.distill_weight > 0 and teacher is None:
            raise ValueError("distill_weight > 0 needs teacher embeddings")
        if val is not None:
            from .splits import check_disjoint

            check_disjoint(train.names, val.names)
        torch.manual_seed(c.seed)
        sampler = PKSampler(train.labels, c.p, c.k, seed=c.seed)
        if c.resume:
            self.load_checkpoint(sampler)
        if val is not None and self.step == 0:
            self.validate(val)  # "before" figure
        teacher_t = torch.from_numpy(np.asarray(teacher, np.float32)).to(self.device) if teacher is not None else None
        aug_cfg = AugmentConfig()
        self.model.train()
        started = t_log = t_step = time.time()
        batches = sampler.forever()
        last_ckpt = None
        while self.step < c.steps:
            idx = next(batches)
            order = np.argsort(idx, kind="stable")  # sorted reads are faster on a memory map
            chips = np.asarray(train.chips[idx[order]])[np.argsort(order)]
            x = to_tensor(chips, self.device)
            if c.augment:
                x = augment(x, aug_cfg)
            labels = torch.from_numpy(train.labels[idx]).to(self.device)
            for g in self.opt.param_groups:
                g["lr"] = self.lr_at(self.step)
            emb = self.model(x)
            loss_t, stats = triplet_loss(emb, labels, c.margin, c.miner)
            loss = loss_t
            rec = {"step": self.step + 1, "triplet": stats.loss, "active": stats.active, "d_ap": stats.d_ap, "d_an": stats.d_an}
            if teacher_t is not None and c.distill_weight > 0:
                dl = distillation_loss(emb, teacher_t[torch.from_numpy(idx).to(self.device)])
                loss = loss + c.distill_weight * dl
                rec["distill"] = float(dl.detach())
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            now = time.time()
            self.elapsed += now - t_step
            t_step = now
            rec["loss"] = float(loss.detach())
            rec["lr"] = self.lr_at(self.step - 1)
            self.history.append(rec)
            if c.log_every and self.step % c.log_every == 0:
                recent = self.history[-c.log_every :]
                log.info(
                    "step %d/%d loss %.4f (triplet %.4f, active %.2f%s) lr %.2e %.2f s/step",
                    self.step, c.steps, np.mean([r["loss"] for r in recent]), np.mean([r["triplet"] for r in recent]),
                    np.mean([r["active"] for r in recent]),
                    f", distill {np.mean([r['distill'] for r in recent]):.4f}" if "distill" in rec else "",
                    rec["lr"], (time.time() - t_log) / len(recent),
                )
                t_log = time.time()
            if val is not None and c.val_every and self.step % c.val_every == 0:
                self.validate(val)
            if self.ckpt_dir and (self.step % c.checkpoint_every == 0 or self.step == c.steps):
                last_ckpt = self.save_checkpoint(sampler)
            if c.max_seconds and self.elapsed >= c.max_seconds:
                log.info("time budget reached at step %d", self.step)
                break
        if val is not None and (not self.val or self.val[-1]["step"] != self.step):
            self.validate(val)
        if self.ckpt_dir:
            last_ckpt = self.save_checkpoint(sampler)
        curve = save_curve(self.history, self.ckpt_dir / "loss.png", self.val) if self.ckpt_dir else None
        return TrainResult(
            self.step, self.history, self.val, str(last_ckpt) if last_ckpt else None, str(curve) if curve else None,
            time.time() - started,
        )
