"""What the fitting code is allowed to see.

:class:`Observation` is built by :mod:`inr_recover.degrade` from the clean signal and is the only data
handed to :func:`inr_recover.fit.fit`. The clean tensor never enters it: only the pipeline's evaluation
(:meth:`inr_recover.experiment.Experiment.evaluate`, and its oracle diagnostic) sees the truth.

The observation is ``y = A(f)`` (+ noise) with entries of ``y`` known or missing: ``f`` is the signal on the model's
grid (:attr:`Observation.grid`) and ``A`` the forward ``operator`` (:class:`inr_recover.degrade.Downsample`), or the
identity when it is None (today's completion and restoration: ``y`` lives on the grid and ``known`` is the mask).
The model is queried at :meth:`Observation.coordinates`: the grid's (:func:`inr_recover.grid.grid_coords`), or the
explicit coordinates of scattered points (point data, ``coords``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from inr_recover.grid import OnGrid, grid_coords


@dataclass(frozen=True)
class Observation(OnGrid):
    values: np.ndarray  # float32 (*y_grid, C): the observed tensor y; entries not known are 0
    known: np.ndarray  # bool (*y_grid, C): True where the entry was observed (not known to be missing)
    operator: object | None = None  # forward map A from the model's grid to y (Downsample); None: the identity
    coords: np.ndarray | None = None  # float32 (N, d): coordinates of N scattered points; None: the grid's

    def __post_init__(self):
        if self.values.shape != self.known.shape:
            raise ValueError(f"observation values {self.values.shape} and mask {self.known.shape} differ in shape")
        if self.known.dtype != np.bool_:
            raise ValueError("the known-entries mask must be boolean")
        if self.coords is not None and (self.coords.ndim != 2 or self.coords.shape[0] != self.values.shape[0]):
            raise ValueError(f"point coordinates {self.coords.shape} do not match {self.values.shape[0]} points")

    @property
    def grid(self) -> tuple:
        """The model's grid (the output of ``f``): ``y``'s own grid unless an operator maps another one onto it."""
        return tuple(self.operator.grid) if self.operator is not None else super().grid

    @property
    def in_features(self) -> int:
        """Coordinate dimensions: the grid's axes, or the points' coordinates."""
        return int(self.coords.shape[1]) if self.coords is not None else len(self.grid)

    def coordinates(self, device=None) -> torch.Tensor:
        """Where the model is queried, ``(prod(grid), in_features)``, row ``i`` the model's output row ``i``."""
        if self.coords is None:
            return grid_coords(self.grid, device)
        return torch.from_numpy(np.ascontiguousarray(self.coords, dtype=np.float32)).to(device)

    def observe(self, f):
        """``A(f)``: a torch tensor of the model's output rows ``(prod(grid), C)`` -> rows of ``y``, or a numpy array
        ``(*grid, C)`` -> ``(*y_grid, C)``. The identity returns ``f`` itself."""
        if self.operator is None:
            return f
        if isinstance(f, np.ndarray):
            return self.operator.forward(torch.from_numpy(np.ascontiguousarray(f))).numpy()
        y = self.operator.forward(f.reshape(*self.grid, f.shape[-1]))
        return y.reshape(-1, f.shape[-1])

    def restricted(self, keep: np.ndarray) -> "Observation":
        """The observation with only the entries in ``keep`` known (e.g. without those held out for selection)."""
        known = self.known & keep
        return replace(self, values=np.where(known, self.values, 0.0).astype(np.float32), known=known)

    @property
    def observed_fraction(self) -> float:
        return float(self.known.mean())

    @property
    def pixelwise(self) -> bool:
        """True when every pixel is either fully observed or fully missing across channels (tube masks)."""
        return bool(np.array_equal(self.known.all(-1), self.known.any(-1)))
