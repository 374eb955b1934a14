"""Integer apportionment and contiguous partitioning of a cell graph (pure, deterministic).

Used by the city builder (:mod:`gridpulse.city.builder`) to hand out grids to districts
by population and to group a district's grids into towns, and a town's into communities,
so that every group is one connected patch of neighbouring grids.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np


def largest_remainder(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method).

    Every share is at least ``minimum``; what is left above the minimums is divided by
    quota, and the leftover units go to the largest fractional parts (ties: lower index).
    """
    n = len(weights)
    rest = total - minimum * n
    if n == 0 or rest < 0:
        raise ValueError(f"cannot split {total} into {n} shares of at least {minimum}")
    wsum = float(sum(weights))
    quotas = [rest * w / wsum for w in weights]
    shares = [int(q) for q in quotas]
    order = sorted(range(n), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[: rest - sum(shares)]:
        shares[i] += 1
    return [s + minimum for s in shares]


def components(neighbours: Sequence[Sequence[int]], members: Sequence[int] | None = None) -> list[list[int]]:
    """Connected components of the graph restricted to ``members`` (default: all nodes)."""
    allowed = set(range(len(neighbours)) if members is None else members)
    seen: set[int] = set()
    out = []
    for start in sorted(allowed):
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            node = stack.pop()
            comp.append(node)
            for nb in neighbours[node]:
                if nb in allowed and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        out.append(sorted(comp))
    return out


def bridge_components(points: np.ndarray, neighbours: list[list[int]]) -> list[list[int]]:
    """Join disconnected parts (islands) by an edge between their closest cells.

    Islands cannot touch the mainland, yet a town may well span a strait; linking each
    island to its nearest cell elsewhere keeps "contiguous" meaningful across water.
    """
    nbrs = [list(n) for n in neighbours]
    while True:
        comps = components(nbrs)
        if len(comps) <= 1:
            return nbrs
        small = min(comps, key=lambda c: (len(c), c[0]))
        others = np.array([i for c in comps if c is not small for i in c])
        d = ((points[small][:, None, :] - points[others][None, :, :]) ** 2).sum(axis=2)
        a, b = np.unravel_index(int(np.argmin(d)), d.shape)
        u, v = small[a], int(others[b])
        nbrs[u].append(v)
        nbrs[v].append(u)


def kmeans_seeds(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 10) -> list[int]:
    """Pick ``k`` distinct, well spread cells: k-means on ``points``, snapped to the nearest cell."""
    n = len(points)
    if k > n:
        raise ValueError(f"{k} seeds requested from {n} cells")
    centres = points[rng.choice(n, size=k, replace=False)].copy()
    for _ in range(iterations):
        d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        label = d.argmin(axis=1)
        for j in range(k):
            mine = points[label == j]
            if len(mine):
                centres[j] = mine.mean(axis=0)
    seeds: list[int] = []
    taken = np.zeros(n, dtype=bool)
    for j in range(k):
        d = ((points - centres[j]) ** 2).sum(axis=1)
        d[taken] = np.inf
        best = int(np.argmin(d))
        taken[best] = True
        seeds.append(best)
    return seeds


def flood(points: np.ndarray, neighbours: Sequence[Sequence[int]], members: Sequence[int],
          seeds: Sequence[int], targets: Sequence[float]) -> dict[int, int]:
    """Grow one region per seed over ``members`` until every member belongs to one.

    The region furthest below its target share grows next, taking the unclaimed
    neighbouring cell closest to its seed; regions only ever grow through neighbours,
    so each stays connected. Returns ``{cell: region index}``.
    """
    allowed = set(members)
    label: dict[int, int] = {}
    heaps: list[list[tuple[float, int]]] = [[] for _ in seeds]
    sizes = [0] * len(seeds)

    def claim(region: int, cell: int) -> None:
        label[cell] = region
        sizes[region] += 1
        for nb in neighbours[cell]:
            if nb in allowed and nb not in label:
                dist = float(((points[nb] - points[seeds[region]]) ** 2).sum())
                heapq.heappush(heaps[region], (dist, nb))

    for region, cell in enumerate(seeds):
        claim(region, cell)
    active = set(range(len(seeds)))
    while len(label) < len(allowed) and active:
        region = min(active, key=lambda r: (sizes[r] / targets[r], r))
        heap = heaps[region]
        while heap and heap[0][1] in label:
            heapq.heappop(heap)
        if not heap:
            active.discard(region)
            continue
        claim(region, heapq.heappop(heap)[1])
    if len(label) < len(allowed):
        raise ValueError("cell graph is not connected: some cells are unreachable from every seed")
    return label


def ensure_minimum(label: dict[int, int], neighbours: Sequence[Sequence[int]], minimum: Sequence[int]) -> None:
    """Move border cells into regions smaller than ``minimum`` (in place), keeping donors connected."""
    while True:
        sizes = [0] * len(minimum)
        for region in label.values():
            sizes[region] += 1
        short = [r for r, s in enumerate(sizes) if s < minimum[r]]
        if not short:
            return
        region = short[0]
        mine = sorted(c for c, r in label.items() if r == region)
        moved = False
        for cell in sorted({nb for c in mine for nb in neighbours[c] if nb in label and label[nb] != region}):
            donor = label[cell]
            if sizes[donor] - 1 < max(minimum[donor], 1):
                continue
            rest = [c for c, r in label.items() if r == donor and c != cell]
            if len(components(neighbours, rest)) == 1:
                label[cell] = region
                moved = True
                break
        if not moved:
            raise ValueError(f"region {region} cannot reach its minimum of {minimum[region]} cells")
