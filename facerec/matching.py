"""Open-set identification: each query face gets the nearest enrolled person, or ``None`` (unknown).

Distances are cosine distances between unit vectors (``1 - cos``, 0 = identical, 2 = opposite). A person's
distance to a query is the distance to their nearest sample. A face is named only when that distance is
at most the threshold; the threshold is calibrated for searching a gallery (see ``evaluation.openset``),
which is stricter than the 1:1 threshold from LFW pairs, because a stranger gets one chance per sample.

Search is exact (one matrix product) up to ``ANN_MIN_SAMPLES`` samples. Above that, when ``faiss`` is
installed (``pip install faiss-cpu``), an inverted-file index proposes each query's nearest samples and
their distances are exact. An approximate search can miss a person but never names a stranger: every
candidate it returns is still held to the threshold, and a stranger is beyond it for every sample.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

ANN_MIN_SAMPLES = 200_000
"""From this many samples, search through a faiss IVF index when faiss is installed (bench/gallery.py:
exact search costs 2.3 ms p95 at 100k samples and 25 ms at 1M; the IVF index 0.1-0.7 ms)."""
ANN_LISTS = 1024
ANN_PROBES = 32
ANN_SAMPLES_PER_QUERY = 64


@dataclass
class Candidate:
    person_id: int
    name: str
    distance: float


@dataclass
class Match:
    person_id: int | None
    name: str | None
    distance: float
    """Distance to the nearest person (even when above the threshold); ``inf`` with an empty gallery."""
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.person_id is not None


SAMPLE, CONFIRMED_FACE = 0, 1
"""Kinds of evidence in a ``GalleryIndex`` (``sample_kind``): both count alike when matching."""


class GalleryIndex:
    """Enrolled samples of one model in memory; exact search with one matrix product (or, for very large
    galleries with faiss installed, an inverted-file index; see the module docstring).

    Rows are kept grouped by person so each person's best similarity is a single ``np.maximum.reduceat``.
    """

    distance_scale = 1.0
    """Distances are multiplied by this (a personalisation head rescales them; see facerec.personalisation)."""

    def __init__(
        self, embeddings: np.ndarray, person_ids: np.ndarray, names: dict[int, str], model_id: str,
        ann_min_samples: int | None = ANN_MIN_SAMPLES, kinds: np.ndarray | None = None,
    ):
        embeddings = np.asarray(embeddings, dtype=np.float32).reshape(len(person_ids), -1) if len(person_ids) else np.zeros((0, 0), np.float32)
        person_ids = np.asarray(person_ids, dtype=np.int64)
        order = np.argsort(person_ids, kind="stable")
        self.embeddings = np.ascontiguousarray(embeddings[order])
        self.sample_person = person_ids[order]
        self.sample_kind = (np.zeros(len(person_ids), np.int8) if kinds is None else np.asarray(kinds, np.int8))[order]
        """Per row: ``SAMPLE`` (an enrolment sample) or ``CONFIRMED_FACE`` (a library face the user confirmed)."""
        self.names = dict(names)
        self.model_id = model_id
        if len(self.sample_person):
            starts = np.flatnonzero(np.r_[True, self.sample_person[1:] != self.sample_person[:-1]])
        else:
            starts = np.zeros(0, np.int64)
        self._starts = starts
        self.person_ids = self.sample_person[starts] if len(starts) else np.zeros(0, np.int64)
        self.ann_min_samples = ann_min_samples
        self._ann = None
        self._ann_lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Picklable (sent to cluster workers, facerec.ray_tagging): without the lock and the faiss index."""
        state = self.__dict__.copy()
        state["_ann"], state["_ann_lock"] = None, None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._ann_lock = threading.Lock()

    @classmethod
    def empty(cls, model_id: str = "") -> GalleryIndex:
        return cls(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), {}, model_id)

    def __len__(self) -> int:
        return len(self.sample_person)

    @property
    def num_people(self) -> int:
        return len(self.person_ids)

    def project(self, queries: np.ndarray) -> np.ndarray:
        """Queries as M x D float32 rows in the space of ``embeddings`` (a personalisation head maps them)."""
        return np.asarray(queries, dtype=np.float32).reshape(-1, self.embeddings.shape[1] if len(self) else 0)

    def person_distances(self, queries: np.ndarray) -> np.ndarray:
        """M x P matrix: distance of each query to each person's nearest sample (columns follow ``person_ids``)."""
        q = self.project(queries)
        if len(q) == 1:
            # One query is a matrix-vector product bound by memory bandwidth: numpy's own single-threaded
            # loop is as fast as BLAS and never stalls waiting for BLAS worker threads on a busy machine.
            sims = np.einsum("nd,d->n", self.embeddings, q[0])[None]
        else:
            sims = q @ self.embeddings.T
        if len(self._starts) == len(self):  # one sample per person: nothing to reduce
            best = sims
        else:
            best = np.maximum.reduceat(sims, self._starts, axis=1)
        return (1.0 - best) * np.float32(self.distance_scale)

    def _ann_index(self):
        """The faiss IVF index over the samples, built on first use; None when search stays exact."""
        if self.ann_min_samples is None or len(self) < self.ann_min_samples:
            return None
        with self._ann_lock:
            if self._ann is None:
                try:
                    import faiss
                except ImportError:
                    self._ann = False
                    log.info("gallery of %d samples searched exactly (pip install faiss-cpu to index it)", len(self))
                    return None
                dim = self.embeddings.shape[1]
                lists = min(ANN_LISTS, max(1, len(self) // 64))
                index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
                rng = np.random.default_rng(0)
                train = self.embeddings[rng.choice(len(self), min(len(self), 40 * lists), replace=False)]
                index.train(np.ascontiguousarray(train))
                index.add(self.embeddings)
                index.nprobe = ANN_PROBES
                self._ann = index
            return self._ann or None

    def _ranked(self, queries: np.ndarray, k: int) -> list[tuple[list[int], list[float]]]:
        """For each query, up to ``k`` (person id, distance) pairs, nearest first."""
        ann = self._ann_index()
        if ann is not None:
            q = self.project(queries)
            sims, rows = ann.search(np.ascontiguousarray(q), max(ANN_SAMPLES_PER_QUERY, 8 * k))
            out = []
            for row_sims, row_ids in zip(sims, rows):
                best: dict[int, float] = {}
                for sim, i in zip(row_sims.tolist(), row_ids.tolist()):
                    if i >= 0:
                        pid = int(self.sample_person[i])
                        best.setdefault(pid, (1.0 - sim) * self.distance_scale)  # results come nearest first
                ranked = list(best.items())[:k]
                out.append(([p for p, _ in ranked], [d for _, d in ranked]))
            return out
        dist = self.person_distances(queries)
        k = min(k, dist.shape[1])
        if k < dist.shape[1]:
            idx = np.argpartition(dist, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(dist.shape[1]), dist.shape)
        top = np.take_along_axis(dist, idx, axis=1)
        order = np.argsort(top, axis=1, kind="stable")
        idx, top = np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)
        return list(zip(self.person_ids[idx].tolist(), top.tolist()))

    def search(self, queries: np.ndarray, threshold: float, top_k: int = 3) -> list[Match]:
        """Identify each query vector: nearest person within ``threshold``, else unknown; plus top-k candidates."""
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None]
        if len(self) == 0:
            return [Match(None, None, float("inf")) for _ in range(len(queries))]
        matches = []
        for row_pids, row_dist in self._ranked(queries, max(1, top_k)):
            cands = [Candidate(p, self.names.get(p, "?"), d) for p, d in zip(row_pids, row_dist)]
            best = cands[0] if cands else None
            if best is not None and best.distance <= threshold:
                matches.append(Match(best.person_id, best.name, best.distance, cands))
            else:
                matches.append(Match(None, None, best.distance if best else float("inf"), cands))
        return matches


def size_threshold(curve: tuple[float, float], n_samples: int) -> float:
    """The calibrated threshold ``a - b * log10(N)`` for a gallery of ``n_samples`` samples.

    A stranger is compared with every sample, so the more samples, the stricter the threshold must be to
    keep the same stranger false-accept rate (see ``evaluation.openset.size_curve``).
    """
    a, b = curve
    return float(a - b * math.log10(max(1, int(n_samples))))
