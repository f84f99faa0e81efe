"""Grouping unknown faces by likeness, so a user can name or ignore a whole group at once.

The method (``group_embeddings``): a nearest-neighbour graph (each face's ``neighbours`` nearest faces within
the threshold; faiss when installed and the set is large, else exact blocked search), split into its connected
components, then average linkage inside each component, stopped at ``threshold``: two groups merge only while
the mean cosine distance between their members is at most the threshold (no chaining of different people the
way single linkage or DBSCAN chain them). Average linkage never merges across components (a merge needs at
least one pair within the threshold), so up to ``EXACT_COMPONENT`` faces per component this is exactly batch
average linkage (scipy, all pairwise distances of the component); larger components (chains of look-alikes)
use average linkage among groups joined by a graph edge, with exact mean distances from the groups' vector
sums (``graph_average_linkage``).

The result depends only on the set of faces, never on their order: faces are put in a canonical order
(by their vectors) first, and groups are numbered in that order.

Keeping up with the library (``update_groups``): groups live in the gallery (``face_groups``, ``faces.group_id``)
with stable ids. After a scan only the new faces and the automatic groups they touch are regrouped; each
regrouped cluster keeps the id of the old group it shares most faces with. Groups the user merged or split
(``manual``) are never broken up by the automatic pass; a new face joins one when its mean distance to the
members is within the threshold. Incremental results can differ from a full regroup only where a new face
would change a group it has no neighbour in; tests/test_grouping.py bounds this (adjusted Rand index >= 0.98
between shuffled scan orders and the batch result).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import StoreError
from ..geometry import l2_normalize
from ..store import FaceStatus

log = logging.getLogger(__name__)

DEFAULT_NEIGHBOURS = 32
"""Neighbours per face in the graph; a person with more photos stays connected through shared neighbours."""
EXACT_COMPONENT = 4000
"""Components up to this many faces get exact average linkage (a float64 condensed matrix: 64 MB at 4,000)."""
EXACT_SEARCH = 20_000
"""Up to this many faces the neighbours are searched exactly; above, with a faiss IVF index when installed."""
NPROBE = 24
"""Inverted lists searched per face in the faiss index (of 4 sqrt(N): 1,264 at 100,000 faces)."""
POOL_STATUSES = (FaceStatus.UNKNOWN, FaceStatus.REJECTED)
"""Faces that are grouped: nobody's (rejected: the suggested person was wrong)."""


# -- the method --------------------------------------------------------------------------------------
unit = l2_normalize
"""Rows scaled to unit length (float32, N x D): ``facerec.geometry.l2_normalize``."""


def canonical_order(emb: np.ndarray) -> np.ndarray:
    """A permutation that sorts faces by their vectors alone (so any input order gives the same order)."""
    if len(emb) == 0:
        return np.zeros(0, np.int64)
    probe = np.random.default_rng(20240607).standard_normal(emb.shape[1])
    key = emb.astype(np.float64) @ probe
    return np.lexsort((emb[:, -1], emb[:, 0], key)).astype(np.int64)


def _faiss():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def nearest(query: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``base`` for each row of ``query`` (unit vectors): (distances Q x k,
    indices Q x k; -1 where ``base`` has fewer rows). Exact up to ``EXACT_SEARCH`` base rows, or without
    faiss; above, a faiss IVF index (4 sqrt(N) lists, ``NPROBE`` searched per query)."""
    k = max(1, min(k, len(base)))
    faiss = _faiss()
    if faiss is not None and len(base) > EXACT_SEARCH:
        nlist = int(4 * np.sqrt(len(base)))
        quantizer = faiss.IndexFlatIP(base.shape[1])
        index = faiss.IndexIVFFlat(quantizer, base.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = 1234
        index.train(np.ascontiguousarray(base))
        index.add(np.ascontiguousarray(base))
        index.nprobe = NPROBE
        sim, idx = index.search(np.ascontiguousarray(query), k)
        return (1.0 - sim).astype(np.float32), idx.astype(np.int64)
    if faiss is not None:
        index = faiss.IndexFlatIP(base.shape[1])
        index.add(np.ascontiguousarray(base))
        sim, idx = index.search(np.ascontiguousarray(query), k)
        return (1.0 - sim).astype(np.float32), idx.astype(np.int64)
    dist = np.empty((len(query), k), np.float32)
    idx = np.empty((len(query), k), np.int64)
    step = max(1, 50_000_000 // max(1, len(base)))  # about 200 MB of similarities at a time
    for s in range(0, len(query), step):
        sim = query[s : s + step] @ base.T
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(sim, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[s : s + step] = np.take_along_axis(part, order, axis=1)
        dist[s : s + step] = 1.0 - np.take_along_axis(ps, order, axis=1)
    return dist, idx


def neighbour_edges(emb: np.ndarray, threshold: float, k: int = DEFAULT_NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges (E x 2, i < j) between faces that are among each other's ``k`` nearest and within
    ``threshold``, and their cosine distances (E)."""
    n = len(emb)
    if n < 2:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    dist, idx = nearest(emb, emb, k + 1)
    rows = np.repeat(np.arange(n), idx.shape[1])
    cols, d = idx.ravel(), dist.ravel()
    keep = (cols >= 0) & (cols != rows) & (d <= threshold)
    a, b = np.minimum(rows[keep], cols[keep]), np.maximum(rows[keep], cols[keep])
    pairs, first = np.unique(np.stack([a, b], axis=1), axis=0, return_index=True)
    return pairs, d[keep][first]


def group_embeddings(embeddings: np.ndarray, threshold: float, neighbours: int = DEFAULT_NEIGHBOURS) -> np.ndarray:
    """Group labels (N int64, 0..G-1) for N face embeddings: average linkage on the neighbour graph, stopped
    at ``threshold`` (cosine distance). The same set in any order gets the same groups and numbers."""
    emb = unit(np.asarray(embeddings).reshape(len(embeddings), -1)) if len(embeddings) else np.zeros((0, 1), np.float32)
    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int64)
    order = canonical_order(emb)
    e = np.ascontiguousarray(emb[order])
    pairs, _ = neighbour_edges(e, threshold, neighbours)
    comp = _components(n, pairs)
    labels = np.full(n, -1, np.int64)
    sizes = np.bincount(comp)
    members = np.argsort(comp, kind="stable")  # faces of each component, in canonical order
    starts = np.concatenate([[0], np.cumsum(sizes)])
    # a component whose faces are all within the threshold of each other (every pair an edge) is one group:
    # every mean of its distances is within the threshold. Single faces and pairs are such cliques.
    edges_in = np.bincount(comp[pairs[:, 0]], minlength=len(sizes)) if len(pairs) else np.zeros(len(sizes), np.int64)
    clique = (edges_in == sizes * (sizes - 1) // 2) & (sizes <= neighbours + 1)
    labels[clique[comp]] = comp[clique[comp]]
    next_label = len(sizes)
    large = np.flatnonzero(sizes > EXACT_COMPONENT)
    for c in np.flatnonzero(~clique):
        idx = members[starts[c] : starts[c + 1]]
        edges = pairs[comp[pairs[:, 0]] == c] if c in large else None
        sub = _average_linkage(e, idx, threshold, edges)
        labels[idx] = sub + next_label
        next_label += int(sub.max()) + 1
    # number the groups by their first face in canonical order, then return them in the caller's order
    _, first = np.unique(labels, return_index=True)
    renumber = np.empty(labels.max() + 1, np.int64)
    renumber[labels[np.sort(first)]] = np.arange(len(first))
    out = np.empty(n, np.int64)
    out[order] = renumber[labels]
    return out


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    return connected_components(g, directed=False)[1].astype(np.int64)


def _average_linkage(e: np.ndarray, idx: np.ndarray, threshold: float, edges: np.ndarray | None) -> np.ndarray:
    """Labels 0..g-1 for the component ``idx`` of ``e``: exact average linkage (scipy, every pairwise
    distance) when ``edges`` is None, else average linkage over the component's graph ``edges``."""
    x = e[idx]
    if edges is None:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import pdist

        d = np.clip(pdist(x.astype(np.float64), "cosine"), 0.0, 2.0)
        return fcluster(linkage(d, method="average"), t=threshold, criterion="distance").astype(np.int64) - 1
    local = np.full(len(e), -1, np.int64)
    local[idx] = np.arange(len(idx))
    return graph_average_linkage(x, local[edges], threshold)


def graph_average_linkage(x: np.ndarray, edges: np.ndarray, threshold: float) -> np.ndarray:
    """Average linkage among groups joined by at least one of ``edges`` (E x 2), with their exact mean cosine
    distance, stopped at ``threshold``; labels 0..g-1 (N).

    For unit vectors the mean distance between groups A and B is ``1 - sum(A) . sum(B) / (|A| |B|)``, so each
    group keeps only its vector sum: memory grows with the edges, not with N^2. (scikit-learn's
    connectivity-restricted average linkage averages over the graph's edges only, which with edges cut at the
    threshold merges like single linkage: measured 6x too few groups on bench/clustering.py's scale set.)
    """
    import heapq

    n = len(x)
    sums = x.astype(np.float64)
    size = np.ones(n)
    version = np.zeros(n, np.int64)
    alive = np.ones(n, bool)
    parent = np.arange(n)
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for a, b in edges.tolist():
        if a != b:
            nbrs[a].add(b)
            nbrs[b].add(a)
    heap = [(float(1.0 - sums[a] @ sums[b]), a, b, 0, 0) for a, b in edges.tolist() if a < b]
    heapq.heapify(heap)
    while heap:
        d, a, b, va, vb = heapq.heappop(heap)
        if d > threshold:
            break
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue  # a stale entry: one of the two has merged since
        sums[a] += sums[b]
        size[a] += size[b]
        alive[b] = False
        parent[b] = a
        version[a] += 1
        for c in nbrs[b]:
            nbrs[c].discard(b)
            if c != a:
                nbrs[c].add(a)
        nbrs[a] = (nbrs[a] | nbrs[b]) - {a, b}
        nbrs[b] = set()
        if nbrs[a]:
            cs = np.fromiter(nbrs[a], np.int64, len(nbrs[a]))
            dist = 1.0 - (sums[cs] @ sums[a]) / (size[cs] * size[a])
            for c, dc in zip(cs.tolist(), dist.tolist()):
                if dc <= threshold:
                    heapq.heappush(heap, (dc, min(a, c), max(a, c), int(version[min(a, c)]), int(version[max(a, c)])))
    root = parent.copy()
    while True:  # follow merges to the surviving group
        nxt = parent[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    return np.unique(root, return_inverse=True)[1].astype(np.int64)


# -- groups in the library ---------------------------------------------------------------------------
@dataclass
class FaceGroup:
    """One group of unknown faces as the library keeps it."""

    id: int
    face_ids: list[int]
    """Closest to the group's centre first."""
    manual: bool = False
    """Merged or split by the user: the automatic pass never breaks it up."""
    spread: float = 0.0
    """Mean cosine distance of the members to the group's centre direction."""
    centroid: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.face_ids)

    def to_dict(self) -> dict:
        return {"id": self.id, "faces": list(self.face_ids), "size": len(self.face_ids), "manual": self.manual,
                "spread": round(self.spread, 4)}


@dataclass
class GroupUpdate:
    """What ``update_groups`` did."""

    faces: int
    """Faces in the pool (unknown faces of this model)."""
    new_faces: int
    regrouped: int
    """Faces whose group was recomputed (the new ones and those of the groups they touched)."""
    joined: int
    """New faces that joined an existing group."""
    groups: int
    created: int
    seconds: float


def grouping_threshold(model: str = "sface") -> float:
    """The model pack's grouping threshold (cosine distance; measured by bench/clustering.py)."""
    from ..embedders import get_pack

    pack = get_pack(model)
    value = getattr(pack, "grouping_threshold", None)
    return float(value if value is not None else pack.verification_threshold)


def pack_model_id(model: str = "sface") -> str:
    """The model id that the pack ``model`` stores with its faces (faces of other models are not grouped)."""
    from ..embedders import get_pack

    return get_pack(model).model_id


def update_groups(store, model_id: str, threshold: float, full: bool = False,
                  neighbours: int = DEFAULT_NEIGHBOURS) -> GroupUpdate:
    """Bring the stored groups up to date with the library's unknown faces of ``model_id``.

    New faces (no group yet) are grouped with the automatic groups they have a neighbour in; the regrouped
    clusters keep their old ids by largest overlap, the rest get new ids. With ``full``, every automatic
    group is regrouped (the same ids kept where faces overlap). Returns what was done.
    """
    t0 = time.perf_counter()
    ids, gids, emb = store.grouping_pool(model_id, POOL_STATUSES)
    emb = unit(emb) if len(emb) else emb
    manual_ids = {g for g, m in store.group_flags().items() if m}
    is_manual = np.isin(gids, list(manual_ids)) if manual_ids else np.zeros(len(ids), bool)
    new = gids == 0
    if full:
        pool = ~is_manual
    elif not new.any():
        store.apply_groups({}, {})  # drop groups whose faces left the pool (named, ignored, deleted)
        return GroupUpdate(len(ids), 0, 0, 0, len(set(gids[gids > 0].tolist())), 0, time.perf_counter() - t0)
    else:
        pool = new.copy()
        old = np.flatnonzero(~new)
        if len(old):
            dist, near = nearest(emb[new], emb[old], neighbours)
            hit = near[dist <= threshold]
            touched = set(gids[old[hit[hit >= 0]]].tolist()) - manual_ids
            pool |= np.isin(gids, list(touched))
    pool_idx = np.flatnonzero(pool)

    moves: dict[int, int] = {}
    joined = 0
    # new faces first try the manual groups (fixed units): mean distance to the members within the threshold
    if manual_ids:
        joins = _join_manual(emb, gids, is_manual, pool_idx, threshold)
        for i, g in joins.items():
            moves[int(ids[i])] = g
        joined += sum(1 for i in joins if new[i])
        pool_idx = np.array([i for i in pool_idx if i not in joins], np.int64)

    labels = group_embeddings(emb[pool_idx], threshold, neighbours) if len(pool_idx) else np.zeros(0, np.int64)
    keep_ids = _carry_ids(labels, gids[pool_idx])
    created: dict[int, bool] = {}
    for lab, gid in enumerate(keep_ids):
        members = pool_idx[labels == lab]
        if gid is None:
            gid = -(len(created) + 1)  # a new group, numbered by the store
            created[gid] = False
        else:
            joined += int(np.sum(new[members]))
        for i in members:
            if gids[i] != gid:
                moves[int(ids[i])] = gid
    real = store.apply_groups(moves, created)
    groups = len(set(gids[gids > 0].tolist()) | set(real.values()) | {g for g in moves.values() if g > 0})
    out = GroupUpdate(len(ids), int(new.sum()), len(pool_idx), joined, groups, len(created), time.perf_counter() - t0)
    log.info("grouping: %s", out)
    return out


def _join_manual(emb, gids, is_manual, pool_idx, threshold) -> dict[int, int]:
    """Pool faces whose mean distance to a manual group is within the threshold -> that group (the nearest)."""
    out: dict[int, tuple[int, float]] = {}
    man = np.flatnonzero(is_manual)
    for g in np.unique(gids[man]):
        m = man[gids[man] == g]
        mean = 1.0 - (emb[pool_idx] @ emb[m].T).mean(axis=1)
        for i, d in zip(pool_idx, mean):
            if d <= threshold and (int(i) not in out or d < out[int(i)][1]):
                out[int(i)] = (int(g), float(d))
    return {i: g for i, (g, _) in out.items()}


def _carry_ids(labels: np.ndarray, old: np.ndarray) -> list[int | None]:
    """For each new cluster, the old group id it keeps (largest overlap first, each old id used once)."""
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    counts: dict[tuple[int, int], int] = {}
    for lab, g in zip(labels.tolist(), old.tolist()):
        if g > 0:
            counts[(lab, g)] = counts.get((lab, g), 0) + 1
    out: list[int | None] = [None] * n_clusters
    used: set[int] = set()
    for (lab, g), _c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])):
        if out[lab] is None and g not in used:
            out[lab] = g
            used.add(g)
    return out


def list_groups(store, model_id: str, min_size: int = 1) -> list[FaceGroup]:
    """The stored groups of ``model_id``'s unknown faces, largest first (members closest to the centre first)."""
    ids, gids, emb = store.grouping_pool(model_id, POOL_STATUSES)
    flags = store.group_flags()
    out: list[FaceGroup] = []
    if len(ids) == 0:
        return out
    emb = unit(emb)
    order = np.argsort(gids, kind="stable")
    bounds = np.flatnonzero(np.diff(gids[order])) + 1
    for part in np.split(order, bounds):
        g = int(gids[part[0]])
        if g == 0 or len(part) < min_size:
            continue
        centre = unit(emb[part].mean(axis=0))
        d = 1.0 - emb[part] @ centre
        o = np.argsort(d, kind="stable")
        out.append(FaceGroup(g, [int(ids[i]) for i in part[o]], bool(flags.get(g, False)), float(d.mean()), centre))
    out.sort(key=lambda grp: (-len(grp), grp.id))
    return out


def merge_groups(store, group_ids: Sequence[int]) -> int:
    """Merge groups into the first one given; the result is manual (never split by the automatic pass).
    Returns the kept group id."""
    group_ids = list(dict.fromkeys(int(g) for g in group_ids))
    if len(group_ids) < 2:
        raise StoreError("merging needs at least two group ids")
    members = store.group_members(group_ids)
    missing = [g for g in group_ids if not members.get(g)]
    if missing:
        raise StoreError(f"no group with id {', '.join(map(str, missing))}")
    target = group_ids[0]
    moves = {fid: target for g in group_ids[1:] for fid in members[g]}
    store.apply_groups(moves, {}, manual=[target])
    return target


def split_group(store, group_id: int, face_ids: Sequence[int]) -> int:
    """Move ``face_ids`` out of ``group_id`` into a new group; both become manual. Returns the new group's id."""
    members = store.group_members([group_id]).get(int(group_id), [])
    if not members:
        raise StoreError(f"no group with id {group_id}")
    face_ids = list(dict.fromkeys(int(f) for f in face_ids))
    outside = [f for f in face_ids if f not in set(members)]
    if outside:
        raise StoreError(f"faces {', '.join(map(str, outside))} are not in group {group_id}")
    if not face_ids or len(face_ids) == len(members):
        raise StoreError(f"splitting group {group_id} needs some, but not all, of its {len(members)} faces")
    real = store.apply_groups(dict.fromkeys(face_ids, -1), {-1: True}, manual=[int(group_id)])
    return real[-1]


def decide_group(store, group_id: int, action: str, person: str | None = None, policy=None):
    """Name (``assign``, with ``person``) or ``ignore`` every face of a group, as one undoable decision of
    facerec.library.review (which re-matches the library with ``policy``); the emptied group is dropped.
    Returns review's DecisionResult."""
    from .review import Action, decide

    action = Action(action)
    if action not in (Action.ASSIGN, Action.IGNORE):
        raise StoreError(f"a group can be named or ignored, not {action.value!r}")
    if action is Action.ASSIGN and not person:
        raise StoreError("naming a group needs a person's name")
    members = store.group_members([int(group_id)]).get(int(group_id))
    if not members:
        raise StoreError(f"no group with id {group_id}")
    result = decide(store, policy, members, action, person)
    store.apply_groups({}, {})  # faces that left the pool leave their group; an empty group goes
    return result
