"""S-INR's generalized superpixels, computed from the observation only (never the clean tensor).

1. :func:`interpolate_observation`: fill the missing entries of a few evenly spaced channels with the mean of
   their ``k`` nearest observed grid neighbours (the official completion script: k = 3 nearest neighbours on
   bands 10, 20, 30 of 31).
2. :func:`kmeans_pp`: k-means with k-means++ seeding on ``[values, alpha * normalised grid position]``
   (official: alpha = 5 with positions in [0, 1]; ``n_clusters = #pixels / pixels_per_superpixel``).
3. :func:`connected_labels`: k-means clusters need not be connected; every cluster is split into its connected
   components (``scipy.ndimage.label``, face connectivity) and components smaller than ``min_size`` are merged
   into the neighbouring superpixel they share most border with, so every superpixel is one connected region.
   Labels are ``0 .. K-1`` with no gap (the official code indexes ``label - 1`` with labels from 0, which merges
   cluster 0 into cluster K-1; not reproduced here).

Scattered points (point data) have coordinates instead of grid positions: steps 1 and 2 use them (k nearest
observed points; ``alpha *`` positions in [0, 1]), and step 3 is skipped (points have no face neighbours; the paper's
Algorithm 1 and the official point scripts cluster without it).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from inr_recover.errors import UserError


def interpolate_observation(values: np.ndarray, known: np.ndarray, channels, k: int = 3,
                            positions: np.ndarray | None = None) -> np.ndarray:
    """``(*grid, len(channels))``: the observed values of ``channels``, missing entries filled by k-NN means (neighbours
    on the grid, or by ``positions`` ``(N, d)`` of scattered points)."""
    grid = values.shape[:-1]
    pos = positions if positions is not None else np.stack(np.meshgrid(*[np.arange(n) for n in grid], indexing="ij"), -1).reshape(-1, len(grid))
    out = np.empty((pos.shape[0], len(channels)), dtype=np.float64)
    for j, c in enumerate(channels):
        v = values[..., c].reshape(-1).astype(np.float64)
        m = known[..., c].reshape(-1)
        out[:, j] = v
        if m.all():
            continue
        if not m.any():
            raise UserError(f"S-INR: channel {c} has no observed entry to build superpixels from")
        kk = min(k, int(m.sum()))
        _, idx = cKDTree(pos[m]).query(pos[~m], k=kk)
        out[~m, j] = v[m][idx.reshape(-1, kk)].mean(1)
    return out.reshape(*grid, len(channels))


def kmeans_pp(x: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007) on rows of ``x``; labels ``(N,)``."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.as_tensor(x, dtype=torch.float64)
    n = X.shape[0]
    k = max(1, min(k, n))
    centers = X[torch.randint(n, (1,), generator=gen)]
    d2 = torch.cdist(X, centers).square().squeeze(1)
    for _ in range(1, k):
        nxt = torch.multinomial(d2 / d2.sum(), 1, generator=gen) if d2.sum() > 0 else torch.randint(n, (1,), generator=gen)
        centers = torch.cat([centers, X[nxt]])
        d2 = torch.minimum(d2, torch.cdist(X, X[nxt]).square().squeeze(1))
    labels = None
    for _ in range(iterations):
        new = torch.cdist(X, centers).argmin(1)
        if labels is not None and torch.equal(new, labels):
            break
        labels = new
        counts = torch.bincount(labels, minlength=k).to(X.dtype)
        sums = torch.zeros_like(centers).index_add_(0, labels, X)
        keep = counts > 0  # an emptied cluster keeps its old center
        centers[keep] = sums[keep] / counts[keep, None]
    return labels.numpy()


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
                n_channels: int = 3, knn: int = 3, min_size_fraction: float = 0.25, seed: int = 0,
                n_superpixels: int | None = None, positions: np.ndarray | None = None) -> np.ndarray:
    """Generalized superpixels of an observation ``(*grid, C)``: integer labels ``(*grid)``, each connected; with
    ``positions`` (``(N, d)`` in [0, 1], scattered points) labels ``(N,)`` (module doc). ``n_superpixels`` k-means
    clusters, default ``#samples / pixels_per_superpixel``."""
    grid, C = values.shape[:-1], values.shape[-1]
    if pixels_per_superpixel < 1:
        raise UserError(f"S-INR: pixels_per_superpixel must be >= 1, got {pixels_per_superpixel}")
    channels = np.unique(np.round(np.linspace(0, C - 1, min(C, n_channels))).astype(int))
    vals = interpolate_observation(values, known, channels, knn, positions).reshape(-1, len(channels))
    pos = positions if positions is not None else np.stack(
        np.meshgrid(*[np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1) for n in grid], indexing="ij"), -1)
    feats = np.concatenate([vals, alpha * pos.reshape(-1, pos.shape[-1])], 1)
    npix = int(np.prod(grid))
    k = int(n_superpixels) if n_superpixels is not None else max(1, int(round(npix / pixels_per_superpixel)))
    labels = kmeans_pp(feats, k, seed).reshape(grid)
    if positions is not None:
        return np.unique(labels, return_inverse=True)[1].reshape(grid)
    return connected_labels(labels, max(1, int(min_size_fraction * pixels_per_superpixel)))


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
