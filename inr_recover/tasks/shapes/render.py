"""Shaded views of a 3-D shape, offscreen on the CPU (``render.png``: the reconstruction beside the truth, as FINER++'s
Figure 10 shows them): points drawn uniformly on each surface, projected orthographically along the view, the nearest
point per pixel kept (a depth buffer by sorting), each shaded by its normal facing the camera (Lambert, two-sided:
``0.25 + 0.75 |n . v|``). No OpenGL is needed; 300k points per surface and view take about a second here."""
from __future__ import annotations

from pathlib import Path

import numpy as np

VIEWS = ((20.0, -60.0), (20.0, 30.0), (60.0, 120.0))  # (elevation, azimuth) in degrees


def rotation(elevation: float, azimuth: float) -> np.ndarray:
    """The rotation that turns the world so that the camera at (``elevation``, ``azimuth``) looks down ``-z``, with
    the world's ``y`` up."""
    e, a = np.radians(elevation), np.radians(azimuth)
    turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return tilt @ turn


def splat(points: np.ndarray, normals: np.ndarray, view: tuple, box: tuple, size: int = 320) -> np.ndarray:
    """The shaded image ``(size, size)`` of oriented points seen from ``view`` (NaN where no point falls), ``box``
    the ``(lo, hi)`` of the image plane's square in camera coordinates (shared by the panels compared)."""
    r = rotation(*view)
    p, n = points @ r.T, normals @ r.T
    lo, hi = box
    ij = np.clip(((p[:, :2] - lo) / (hi - lo) * (size - 1)).round().astype(np.int64), 0, size - 1)
    flat = (size - 1 - ij[:, 1]) * size + ij[:, 0]  # row 0 at the top
    order = np.lexsort((-p[:, 2], flat))  # per pixel, the nearest (largest z) first
    pixels, first = np.unique(flat[order], return_index=True)
    image = np.full(size * size, np.nan)
    image[pixels] = 0.25 + 0.75 * np.abs(n[order[first], 2])
    return image.reshape(size, size)


def save_renders(path: Path, surfaces: dict, samples: int = 300000, seed: int = 0) -> Path:
    """``render.png``: one column per surface of ``surfaces`` ({title: mesh with ``surface(count, seed)``}), one row
    per view of :data:`VIEWS`, the same framing for all (the first surface's extent)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inr_recover.run.outputs import save_open_figure

    drawn = {title: mesh.surface(samples, seed) for title, mesh in surfaces.items()}
    first = next(iter(drawn.values()))[0]
    centre, radius = (first.max(0) + first.min(0)) / 2, np.linalg.norm(first.max(0) - first.min(0)) / 2
    fig, axes = plt.subplots(len(VIEWS), len(drawn), figsize=(3.2 * len(drawn), 3.2 * len(VIEWS)), squeeze=False)
    for row, view in enumerate(VIEWS):
        c = rotation(*view) @ centre
        box = (c[:2] - radius, c[:2] + radius)
        for col, (title, (points, normals)) in enumerate(drawn.items()):
            ax = axes[row][col]
            ax.imshow(splat(points, normals, view, box), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=10)
    return save_open_figure(fig, path)
