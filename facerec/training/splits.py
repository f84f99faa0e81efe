"""Identity-disjoint train/validation splits, checked by code.

LFW View 2 (``pairs.txt``) has 10 folds whose identities are disjoint; ``lfw_fold_identities`` collects
each fold's identities so that training on folds 1-9 can exclude every identity of fold 10.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


class SplitLeakError(AssertionError):
    """An identity is on both sides of a split that must be identity-disjoint."""


@dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    val: tuple[str, ...]

    def __post_init__(self) -> None:
        check_disjoint(self.train, self.val)


def check_disjoint(train: Iterable[str], val: Iterable[str]) -> None:
    """Raise ``SplitLeakError`` if any identity is in both ``train`` and ``val``."""
    common = set(train) & set(val)
    if common:
        shown = ", ".join(sorted(common)[:5])
        raise SplitLeakError(f"{len(common)} identities are in both train and validation: {shown}")


def random_split(identities: Sequence[str], val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Split identities (not images) at random."""
    names = sorted(identities)
    random.Random(seed).shuffle(names)
    n_val = max(1, int(round(len(names) * val_fraction))) if len(names) > 1 else 0
    return Split(tuple(sorted(names[n_val:])), tuple(sorted(names[:n_val])))


def lfw_fold_identities(pairs_file: Path) -> list[set[str]]:
    """The identities named in each fold of LFW View 2 ``pairs.txt``."""
    lines = [ln.split() for ln in Path(pairs_file).read_text().splitlines() if ln.strip()]
    n_folds, n = int(lines[0][0]), int(lines[0][1])
    rows = lines[1:]
    folds: list[set[str]] = []
    for k in range(n_folds):
        names: set[str] = set()
        for r in rows[k * 2 * n : (k + 1) * 2 * n]:
            names.add(r[0])
            if len(r) == 4:
                names.add(r[2])
        folds.append(names)
    return folds


def lfw_split(all_identities: Iterable[str], pairs_file: Path, val_fold: int = 10) -> Split:
    """Train on every identity not in ``val_fold`` (1-based); validate on that fold's identities."""
    folds = lfw_fold_identities(pairs_file)
    val = folds[val_fold - 1]
    for k, other in enumerate(folds):
        if k != val_fold - 1:
            check_disjoint(other, val)  # View 2 folds are identity-disjoint; make sure of it
    train = sorted(set(all_identities) - val)
    return Split(tuple(train), tuple(sorted(val)))
