"""Order items so that similar ones sit together: the leaf order of average-linkage clustering.

Used to lay out a heatmap of pairwise redundancy so that blocks of redundant neurons show.
"""
from __future__ import annotations

import numpy as np


def cluster_order(similarity: np.ndarray) -> list[int]:
    """Leaf order of average-linkage agglomerative clustering on a symmetric (n, n) similarity.

    The two most similar clusters (mean similarity over their members' pairs) are merged until one
    remains; the merged cluster takes the earlier one's place, with the earlier one on its left, so the
    order is deterministic (ties go to the earliest pair of clusters).
    """
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"similarity must be a square matrix, got shape {s.shape}")
    clusters = [[i] for i in range(len(s))]
    while len(clusters) > 1:
        best, pair = -np.inf, (0, 1)
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                mean = s[np.ix_(clusters[a], clusters[b])].mean()
                if mean > best:
                    best, pair = mean, (a, b)
        a, b = pair
        merged = clusters[a] + clusters[b]
        clusters = [c for k, c in enumerate(clusters) if k not in pair]
        clusters.insert(a, merged)
    return clusters[0] if clusters else []
