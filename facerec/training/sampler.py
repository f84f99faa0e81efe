"""P x K batches: P identities, K images of each (drawn with replacement when an identity has fewer)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class PKSampler:
    """Yields index batches of ``P * K`` items, ordered identity by identity.

    Identities with fewer than ``min_images`` (default 2) images are never drawn: they cannot give a
    positive pair. One epoch visits every eligible identity once (``len(self)`` batches).
    """

    def __init__(self, labels: np.ndarray, p: int, k: int, seed: int = 0, min_images: int = 2):
        if p < 2 or k < 2:
            raise ValueError("a P x K batch needs P >= 2 identities and K >= 2 images each")
        self.labels = np.asarray(labels)
        self.p, self.k = int(p), int(k)
        self.rng = np.random.default_rng(seed)
        by_label: dict[int, list[int]] = {}
        for i, lab in enumerate(self.labels):
            by_label.setdefault(int(lab), []).append(i)
        self.by_label = {lab: np.array(ix) for lab, ix in by_label.items() if len(ix) >= min_images}
        self.eligible = np.array(sorted(self.by_label))
        if len(self.eligible) < self.p:
            raise ValueError(f"only {len(self.eligible)} identities have >= {min_images} images; P is {self.p}")

    def __len__(self) -> int:
        return len(self.eligible) // self.p

    def batch(self, identities: np.ndarray) -> np.ndarray:
        out = []
        for lab in identities:
            ix = self.by_label[int(lab)]
            out.append(self.rng.choice(ix, self.k, replace=len(ix) < self.k))
        return np.concatenate(out)

    def __iter__(self) -> Iterator[np.ndarray]:
        """One epoch."""
        order = self.rng.permutation(self.eligible)
        for b in range(len(self)):
            yield self.batch(order[b * self.p : (b + 1) * self.p])

    def forever(self) -> Iterator[np.ndarray]:
        while True:
            yield from self
