"""Spatial-temporal skeleton graphs for the refiner (numpy only; travels with checkpoints).

Nodes are numbered frame-major: node ``n = t * V + v`` for frame ``t`` and joint (or part) ``v``.
Each graph is returned as a stack of ``K = 6`` matrices ``A[k, j, i]`` (source ``j`` to receiver
``i``), one per neighbour class seen from the receiving node ``i``:

    0  self
    1  bone neighbour farther from the spine than i
    2  bone neighbour closer to the spine than i
    3  left/right symmetric partner
    4  the same joint one frame earlier
    5  the same joint one frame later

A layer aggregates ``out[:, c, i] = sum_k sum_j y_k[:, c, j] * A[k, j, i]``.

The long-range refiner convolves each frame on its own, over the one-frame graph's four spatial
classes (0-3); time is left to its dilated temporal convolutions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

NUM_CLASSES = 6


SELF, FARTHER, CLOSER, SYMMETRIC, PREVIOUS, NEXT = range(NUM_CLASSES)

# Classes 0-3 (self, farther, closer, symmetric): those of a one-frame graph.
NUM_SPATIAL_CLASSES = 4


NORMALIZATIONS = ("reference", "symmetric")


def hop_distances(num_nodes: int, edges: Sequence[tuple[int, int]], center: int) -> list[int]:
    """Breadth-first hop distance of every node to ``center`` on an undirected one-frame graph."""
    neighbours: list[list[int]] = [[] for _ in range(num_nodes)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    distance = [-1] * num_nodes
    distance[center] = 0
    queue = deque([center])
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if distance[other] < 0:
                distance[other] = distance[node] + 1
                queue.append(other)
    if min(distance) < 0:
        raise ValueError(f"edges: expected a connected graph, node(s) {[i for i, d in enumerate(distance) if d < 0]} unreachable")
    return distance


def build_partitioned_adjacency(
    num_nodes: int,
    edges: Sequence[tuple[int, int]],
    symmetric_pairs: Sequence[tuple[int, int]],
    center: int,
    num_frames: int,
    normalization: str = "reference",
) -> np.ndarray:
    """Six-class spatial-temporal adjacency ``(6, N*T, N*T)`` float32 for a one-frame graph.

    ``edges`` are the undirected spatial edges of one frame (bones, or part links), whose class
    (farther / closer) follows the hop distance to ``center``; ``symmetric_pairs`` are left/right
    partners. Self-loops and temporal links (same node, consecutive frames) are added here.

    ``normalization="reference"``: divide each column of the binary union adjacency by the
    receiver's degree (``Â = B diag(1/d)``) and split ``Â`` by class, so every node averages over all
    its neighbours and ``sum_k A_k = Â`` (the reference code; it produced the published numbers).
    ``normalization="symmetric"``: the paper's equation (2), ``D_k^-1/2 A_k D_k^-1/2`` per class, with
    ``D_k`` the row (source) and column (receiver) degrees of each binary class matrix.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization: expected one of {NORMALIZATIONS}, got {normalization!r}")
    if num_frames < 1:
        raise ValueError(f"num_frames: expected >= 1, got {num_frames}")
    distance = hop_distances(num_nodes, edges, center)
    total = num_nodes * num_frames
    classes = np.zeros((NUM_CLASSES, total, total), dtype=np.float64)  # binary, [k, source, receiver]
    for t in range(num_frames):
        base = t * num_nodes
        for v in range(num_nodes):
            classes[SELF, base + v, base + v] = 1
        for a, b in edges:
            if distance[a] == distance[b]:
                raise ValueError(f"edges: ({a}, {b}) joins two nodes at the same distance from the centre")
            far, near = (a, b) if distance[a] > distance[b] else (b, a)
            classes[FARTHER, base + far, base + near] = 1  # the receiver `near` hears from farther `far`
            classes[CLOSER, base + near, base + far] = 1
        for a, b in symmetric_pairs:
            classes[SYMMETRIC, base + a, base + b] = 1
            classes[SYMMETRIC, base + b, base + a] = 1
        if t > 0:
            for v in range(num_nodes):
                classes[PREVIOUS, base - num_nodes + v, base + v] = 1  # source one frame earlier
                classes[NEXT, base + v, base - num_nodes + v] = 1  # source one frame later
    if normalization == "reference":
        union = classes.sum(axis=0)
        degree = union.sum(axis=0)  # receiver (column) degree, self-loop included
        adjacency = classes / degree[None, None, :]
    else:
        out_degree = classes.sum(axis=2, keepdims=True)  # (K, N, 1) per source
        in_degree = classes.sum(axis=1, keepdims=True)  # (K, 1, N) per receiver
        product = out_degree * in_degree
        adjacency = classes / np.sqrt(np.where(product > 0, product, 1.0))
    return adjacency.astype(np.float32)


def joint_graph(
    parents: Sequence[int],
    joints_left: Sequence[int],
    joints_right: Sequence[int],
    spine: int,
    num_frames: int,
    normalization: str = "reference",
) -> np.ndarray:
    """The joint-level graph: bones from ``parents``, partners from left/right, distances to ``spine``."""
    bones = [(p, c) for c, p in enumerate(parents) if p >= 0]
    pairs = list(zip(joints_left, joints_right))
    return build_partitioned_adjacency(len(parents), bones, pairs, spine, num_frames, normalization)


def part_graph(
    part_names: Sequence[str],
    part_pairs: Sequence[tuple[str, str]],
    center_part: str,
    num_frames: int,
    normalization: str = "reference",
) -> np.ndarray:
    """The coarse part graph: every part other than ``center_part`` links to it, paired parts
    (left/right arms, legs) are symmetric partners."""
    index = {name: i for i, name in enumerate(part_names)}
    if center_part not in index:
        raise ValueError(f"center_part: expected one of {list(part_names)}, got {center_part!r}")
    center = index[center_part]
    links = [(index[name], center) for name in part_names if name != center_part]
    pairs = [(index[a], index[b]) for a, b in part_pairs]
    return build_partitioned_adjacency(len(part_names), links, pairs, center, num_frames, normalization)

