"""Open-set identification on LFW and the calibration of the identification threshold.

Protocol: every person with at least two images is enrolled with up to ``max_gallery`` of their images,
one other image of theirs is a *genuine probe*; every person with a single image is a *stranger*.
A genuine probe counts as identified when the nearest enrolled person is the right one and within the
threshold (the detection-and-identification rate, DIR); a stranger is falsely accepted when any enrolled
person is within the threshold (stranger false-accept rate, FAR).

The 1:1 verification threshold from LFW pairs is too loose for this: a stranger is compared against every
sample of every person, so the threshold must be calibrated on strangers vs. a real-sized gallery. The
strangers are split in two identity-disjoint halves: the threshold is fitted on one and the rates are
reported on the other, so the reported FAR is not measured on the data that chose the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..matching import GalleryIndex


@dataclass
class OpenSetSplit:
    gallery_paths: list[str]
    gallery_labels: np.ndarray
    probe_paths: list[str]
    probe_labels: np.ndarray
    stranger_paths: list[str]


LFW_NOT_STRANGERS = {
    # the same person as an enrolled one, under another spelling of the name
    "Sung_Hong_Choi": "Choi_Sung-hong",
    "Wang_Nan": "Nan_Wang",
    "Hasan_Wirayuda": "Hassan_Wirajuda",
    "Yingfan_Wang": "Wang_Yingfan",
    "Mireya_Elisa_Moscoso_Rodriguez": "Mireya_Moscoso",
    "John_Gruden": "Jon_Gruden",
    # the one image under this name shows the enrolled person (looked at: same face, same setting)
    "Carlos_Ruckauf": "Eduardo_Duhalde",
    "Shavon_Earp": "Diana_Taurasi",
}
"""LFW's single-image "strangers" who are people with several images under another name (found as the
nearest strangers to the gallery, bench/openset.py; twins such as the Olsen or Moraes sisters stay strangers).
Counting them as strangers puts a floor of 8 / 4,069 = 0.2% under any stranger false-accept rate."""


def openset_protocol(identities: dict[str, list[str]], max_gallery: int = 5) -> OpenSetSplit:
    """Gallery / genuine probes / strangers from ``name -> sorted image paths`` (deterministic)."""
    gp, gl, pp, pl, sp = [], [], [], [], []
    for label, (_name, paths) in enumerate(sorted(identities.items())):
        if len(paths) >= 2:
            enrol = paths[:-1][:max_gallery]
            gp.extend(enrol)
            gl.extend([label] * len(enrol))
            pp.append(paths[-1])
            pl.append(label)
        else:
            sp.extend(paths)
    return OpenSetSplit(gp, np.array(gl, np.int64), pp, np.array(pl, np.int64), sp)


def _index(gallery_emb: np.ndarray, gallery_labels: np.ndarray) -> GalleryIndex:
    names = {int(x): str(int(x)) for x in np.unique(gallery_labels)}
    return GalleryIndex(gallery_emb, gallery_labels, names, "eval")


def nearest(index: GalleryIndex, queries: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Nearest person (label) and distance for each query."""
    labels, dists = [], []
    for i in range(0, len(queries), chunk):
        d = index.person_distances(queries[i : i + chunk])
        j = np.argmin(d, axis=1)
        labels.append(index.person_ids[j])
        dists.append(d[np.arange(len(j)), j])
    return np.concatenate(labels), np.concatenate(dists)


def openset_metrics(
    gallery_emb: np.ndarray,
    gallery_labels: np.ndarray,
    probe_emb: np.ndarray,
    probe_labels: np.ndarray,
    stranger_emb: np.ndarray,
    threshold: float,
) -> dict:
    """rank-1 identification rate (ignoring the threshold), DIR and stranger FAR at ``threshold``."""
    index = _index(gallery_emb, gallery_labels)
    p_lab, p_dist = nearest(index, probe_emb)
    _, s_dist = nearest(index, stranger_emb)
    correct = p_lab == probe_labels
    return {
        "threshold": round(float(threshold), 4),
        "gallery_people": int(index.num_people),
        "gallery_samples": int(len(gallery_labels)),
        "genuine_probes": int(len(probe_labels)),
        "strangers": int(len(stranger_emb)),
        "rank1": round(float(correct.mean()), 4),
        "dir": round(float((correct & (p_dist <= threshold)).mean()), 4),
        "stranger_far": round(float((s_dist <= threshold).mean()), 4),
    }


def threshold_for_far(stranger_distances: np.ndarray, far: float) -> float:
    """The largest threshold at which at most ``far`` of these strangers are accepted."""
    d = np.sort(np.asarray(stranger_distances, np.float64))
    k = int(np.floor(far * len(d)))
    return float(d[k] - 1e-6) if k < len(d) else float(d[-1])


def calibrate_openset(
    gallery_emb: np.ndarray,
    gallery_labels: np.ndarray,
    probe_emb: np.ndarray,
    probe_labels: np.ndarray,
    stranger_emb: np.ndarray,
    target_far: float = 0.005,
) -> dict:
    """Fit the threshold for ``target_far`` on half the strangers; report metrics on the other half."""
    index = _index(gallery_emb, gallery_labels)
    _, s_dist = nearest(index, stranger_emb)
    fit = np.arange(len(s_dist)) % 2 == 0
    threshold = threshold_for_far(s_dist[fit], target_far)
    held = openset_metrics(gallery_emb, gallery_labels, probe_emb, probe_labels, stranger_emb[~fit], threshold)
    return {"target_far": target_far, "fit_strangers": int(fit.sum()), **held}


def curve(
    gallery_emb: np.ndarray, gallery_labels: np.ndarray, probe_emb: np.ndarray, probe_labels: np.ndarray,
    stranger_emb: np.ndarray, thresholds: np.ndarray,
) -> list[dict]:
    """DIR and stranger FAR over a range of thresholds (for the README and the strictness slider)."""
    index = _index(gallery_emb, gallery_labels)
    p_lab, p_dist = nearest(index, probe_emb)
    _, s_dist = nearest(index, stranger_emb)
    correct = p_lab == probe_labels
    return [
        {"threshold": round(float(t), 3), "dir": round(float((correct & (p_dist <= t)).mean()), 4), "stranger_far": round(float((s_dist <= t).mean()), 4)}
        for t in thresholds
    ]


def size_curve(
    gallery_emb: np.ndarray,
    gallery_labels: np.ndarray,
    stranger_emb: np.ndarray,
    target_far: float,
    sizes: tuple[tuple[int, int], ...] = ((5, 1), (5, 3), (20, 3), (50, 3), (100, 3), (300, 3), (1000, 3), (0, 5)),
    repeats: int = 40,
    seed: int = 0,
) -> list[dict]:
    """The threshold giving ``target_far`` for galleries of different sizes.

    For each (people, samples per person) -- people 0 meaning all of them -- random galleries are drawn
    from the enrolled LFW people and the stranger distance quantile at ``target_far`` is averaged.
    """
    rng = np.random.default_rng(seed)
    people = np.unique(gallery_labels)
    sims = stranger_emb @ gallery_emb.T
    out = []
    for n_people, k in sizes:
        n_people = n_people or len(people)
        reps = repeats if n_people < len(people) else 1
        thresholds, n_samples = [], []
        for _ in range(reps):
            chosen = rng.choice(people, n_people, replace=False)
            cols = np.concatenate([np.flatnonzero(gallery_labels == c)[:k] for c in chosen])
            d = 1.0 - sims[:, cols].max(axis=1)
            thresholds.append(threshold_for_far(d, target_far))
            n_samples.append(len(cols))
        out.append({"people": int(n_people), "samples_per_person": k, "samples": round(float(np.mean(n_samples)), 1), "threshold": round(float(np.mean(thresholds)), 4)})
    return out


def fit_size_curve(points: list[dict]) -> tuple[float, float]:
    """Fit ``t(N) = a - b * log10(N)`` to ``size_curve`` points, shifted down so no point lies below it."""
    n = np.log10([p["samples"] for p in points])
    t = np.array([p["threshold"] for p in points])
    b, a = np.polyfit(n, t, 1)
    a -= max(0.0, float(np.max((a + b * n) - t)))
    return round(float(a), 4), round(float(-b), 4)
