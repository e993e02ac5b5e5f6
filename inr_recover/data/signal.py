"""What every loader returns (a ``conf/data/*.yaml``'s ``_target_``): a :class:`Signal`, the data a run recovers.

Four kinds implement it: :class:`~inr_recover.data.prepare.GridSignal` (a tensor on a grid: images, spectral cubes,
videos), :class:`~inr_recover.data.points.Points` (values at scattered coordinates), the shape of
:mod:`inr_recover.tasks.shapes.mesh` (labelled points around a mesh) and the scene of
:mod:`inr_recover.tasks.views.scene` (posed views). The defaults below are those of data without their own: stored on
[0, 1], nothing missing, its ground truth known, no time axis, no file layout of its own.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from inr_recover.measure.grid import OnGrid


class Signal(OnGrid):
    """``values (*grid, C)``: the data on the run's sample grid (scattered data: one row per point, at ``coords``)."""

    values: np.ndarray
    name: str
    scattered: ClassVar[bool] = False  # values at explicit ``coords (N, d)`` (float32, a field of theirs), not a grid
    has_truth = True  # false: the data is itself the observation (task=recover), nothing to score against
    missing = None  # bool like ``values``: entries the input itself lacks; None: none
    rgb_bands = None  # the channels a figure shows as R, G, B; None: the default choice
    key = None  # the array's key in the file it came from (and the key a .mat output is written under)
    path = None  # the file it came from
    time_index = None  # (N,) the time step of each scattered point, for data with time as a coordinate
    lo, hi = 0.0, 1.0  # raw = lo + values * (hi - lo)

    def record(self) -> dict:
        """The data as the run used it (``results.json`` ``data``)."""
        raise NotImplementedError

    def frames_view(self, values: np.ndarray) -> np.ndarray:
        """``values`` (shaped like :attr:`values`) as ``(T, H, W, C)`` images; scattered data: one image one pixel
        wide, ``(1, N, 1, C)`` (the shared PSNR code paths: the oracle curve)."""
        return values.reshape(1, -1, 1, values.shape[-1])

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        """``values`` back in the input's units."""
        return values

    def to_own_axes(self, values: np.ndarray) -> np.ndarray:
        """``values`` in the input's own axis order."""
        return values
