"""S-INR's generalized superpixels, computed from the observation only (never the clean tensor).

As the official completion loader (jiayili11/S-INR ``dataloader.py`` 300-327):

1. :func:`segmentation_channels` and :func:`interpolate_observation`: the missing entries of a few channels (bands
   10, 20, 30 of 31) are filled by ``KNeighborsRegressor(n_neighbors=3)`` on the observed grid indices.
2. ``sklearn.cluster.KMeans(n_clusters, init='k-means++')`` (``n_init='auto'``, scikit-learn's default since 1.4:
   one k-means++ start) on ``[alpha * i / n_i ..., values]`` (alpha = 5, grid index over its axis length),
   ``n_clusters = #pixels / pixels_per_superpixel``; ``random_state`` is the model's seed (official: unseeded,
   numpy's global state).
3. Optionally (``connected``; not in the official code) :func:`connected_labels` splits every cluster into its
   connected components and merges fragments smaller than ``min_size`` into the neighbour they share most border
   with. Labels are ``0 .. K-1`` with no gap (the official code indexes ``label - 1`` with labels from 0, which
   merges cluster 0 into cluster K-1; not reproduced here).

Scattered points (point data) have coordinates instead of grid positions: steps 1 and 2 use them (k nearest
observed points; ``alpha *`` positions in [0, 1]), and step 3 never applies (points have no face neighbours; the
paper's Algorithm 1 and the official point scripts cluster without it).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsRegressor

from inr_recover.errors import UserError


def interpolate_observation(values: np.ndarray, known: np.ndarray, channels, k: int = 3,
                            positions: np.ndarray | None = None) -> np.ndarray:
    """``(*grid, len(channels))``: the observed values of ``channels``, missing entries filled by
    ``KNeighborsRegressor(n_neighbors=k)`` on the grid indices (official) or on ``positions`` ``(N, d)`` of scattered
    points."""
    grid = values.shape[:-1]
    pos = positions if positions is not None else np.argwhere(np.ones(grid, dtype=bool))
    out = np.empty((pos.shape[0], len(channels)), dtype=np.float64)
    for j, c in enumerate(channels):
        v = values[..., c].reshape(-1).astype(np.float64)
        m = known[..., c].reshape(-1)
        out[:, j] = v
        if m.all():
            continue
        if not m.any():
            raise UserError(f"S-INR: channel {c} has no observed entry to build superpixels from")
        out[~m, j] = KNeighborsRegressor(n_neighbors=min(k, int(m.sum()))).fit(pos[m], v[m]).predict(pos[~m])
    return out.reshape(*grid, len(channels))


def segmentation_channels(C: int, n: int = 3) -> np.ndarray:
    """Channels clustered: all when ``C <= n``, else ``min(floor(j C / n), C - 1)`` for j = 1..n (the official
    bands 10, 20, 30 of 31)."""
    if C <= n:
        return np.arange(C)
    return np.unique(np.minimum(np.arange(1, n + 1) * C // n, C - 1))


def connected_labels(labels: np.ndarray, min_size: int = 1) -> np.ndarray:
    """Relabel so every label is one connected region (face connectivity) of at least ``min_size`` points
    (smaller fragments join the neighbour with the longest shared border), labels ``0 .. K-1``."""
    out = np.zeros(labels.shape, dtype=np.int64)
    count = 0
    for c in np.unique(labels):
        comp, n = ndimage.label(labels == c)
        sel = comp > 0
        out[sel] = comp[sel] + count - 1
        count += n
    sizes = np.bincount(out.ravel(), minlength=count)
    struct = ndimage.generate_binary_structure(labels.ndim, 1)
    for lab in np.argsort(sizes, kind="stable"):
        if sizes[lab] >= min_size or sizes[lab] == 0 or sizes[lab] == out.size:
            continue
        region = out == lab
        ring = ndimage.binary_dilation(region, struct) & ~region
        neighbours, shared = np.unique(out[ring], return_counts=True)
        target = neighbours[np.argmax(shared)]
        out[region] = target
        sizes[target] += sizes[lab]
        sizes[lab] = 0
    _, out = np.unique(out, return_inverse=True)
    return out.reshape(labels.shape)


def superpixels(values: np.ndarray, known: np.ndarray, pixels_per_superpixel: int, alpha: float = 5.0,
                n_channels: int = 3, knn: int = 3, connected: bool = False, min_size_fraction: float = 0.25,
                seed: int = 0, n_superpixels: int | None = None, positions: np.ndarray | None = None) -> np.ndarray:
    """Generalized superpixels of an observation ``(*grid, C)``: integer labels ``(*grid)`` (each one connected
    region when ``connected``); with ``positions`` (``(N, d)`` in [0, 1], scattered points) labels ``(N,)`` (module
    doc). ``n_superpixels`` k-means clusters, default ``#samples / pixels_per_superpixel``."""
    grid, C = values.shape[:-1], values.shape[-1]
    if pixels_per_superpixel < 1:
        raise UserError(f"S-INR: pixels_per_superpixel must be >= 1, got {pixels_per_superpixel}")
    channels = segmentation_channels(C, n_channels)
    vals = interpolate_observation(values, known, channels, knn, positions).reshape(-1, len(channels))
    pos = positions if positions is not None else np.stack(
        np.meshgrid(*[np.arange(n) / n for n in grid], indexing="ij"), -1)
    feats = np.concatenate([alpha * pos.reshape(-1, pos.shape[-1]), vals], 1)
    npix = int(np.prod(grid))
    k = int(n_superpixels) if n_superpixels is not None else max(1, int(npix / pixels_per_superpixel))
    k = min(k, npix)
    labels = KMeans(n_clusters=k, init="k-means++", n_init="auto", random_state=seed).fit(feats).labels_.reshape(grid)
    if connected and positions is None:
        return connected_labels(labels, max(1, int(min_size_fraction * pixels_per_superpixel)))
    return np.unique(labels, return_inverse=True)[1].reshape(grid)


def overlap_members(labels: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Superpixels covering each grid point when every superpixel is extended by a ring of ``width`` points, as
    the official code: the face neighbours of the region (its ``cv2.Laplacian`` edge outside the region), dilated
    ``width - 1`` times with the full 3^d neighbourhood (its 3x3 kernel). CSR ``(ptr, members)`` over the flat grid,
    each point's own label first. ``width = 0``: every point is covered by its own superpixel only."""
    flat = labels.reshape(-1)
    points, owners = [np.arange(flat.size)], [flat]
    if width > 0:
        face = ndimage.generate_binary_structure(labels.ndim, 1)
        full = ndimage.generate_binary_structure(labels.ndim, labels.ndim)
        index = np.arange(flat.size).reshape(labels.shape)
        for lab, box in enumerate(ndimage.find_objects(labels + 1)):
            box = tuple(slice(max(s.start - width, 0), s.stop + width) for s in box)
            region = labels[box] == lab
            ring = ndimage.binary_dilation(region, face)
            if width > 1:
                ring = ndimage.binary_dilation(ring, full, iterations=width - 1)
            ring &= ~region
            points.append(index[box][ring])
            owners.append(np.full(int(ring.sum()), lab))
    points, owners = np.concatenate(points), np.concatenate(owners)
    order = np.argsort(points, kind="stable")  # own label (listed first) stays first
    ptr = np.concatenate([[0], np.cumsum(np.bincount(points, minlength=flat.size))])
    return ptr, owners[order]
