"""What the fitting code is allowed to see.

:class:`Observation` is built by :mod:`inr_recover.measure.degrade` from the clean signal and is the only data
handed to :func:`inr_recover.engine.fit.fit`. The clean tensor never enters it: only the pipeline's evaluation
(:meth:`inr_recover.run.experiment.Experiment.evaluate`, and its oracle diagnostic) sees the truth.

The observation is ``y = A(f)`` (+ noise) with entries of ``y`` known or missing: ``f`` is the signal on the model's
grid (:attr:`Observation.grid`), and its :mod:`~inr_recover.measure.geometry` says where ``y``'s values sit, where the
model is queried (:meth:`Observation.coordinates`: the grid's coordinates, scattered points, camera rays), what ``A``
is (the identity, or a forward operator: :class:`inr_recover.measure.degrade.Downsample`) and which
:mod:`~inr_recover.measure.measurements` class training sees it through (:meth:`Observation.measurement`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from inr_recover.measure.geometry import GRID, Geometry
from inr_recover.measure.grid import OnGrid
from inr_recover.measure.measurements import Measurement


@dataclass(frozen=True)
class Observation(OnGrid):
    values: np.ndarray  # float32 (*y_grid, C): the observed tensor y; entries not known are 0
    known: np.ndarray  # bool (*y_grid, C): True where the entry was observed (not known to be missing)
    geometry: Geometry = GRID  # where y's values sit and how the model is queried for them

    def __post_init__(self):
        if self.values.shape != self.known.shape:
            raise ValueError(f"observation values {self.values.shape} and mask {self.known.shape} differ in shape")
        if self.known.dtype != np.bool_:
            raise ValueError("the known-entries mask must be boolean")
        self.geometry.check(self)

    @property
    def grid(self) -> tuple:
        """The model's grid (the output of ``f``): ``y``'s own unless an operator maps another one onto it."""
        return self.geometry.grid(self)

    @property
    def in_features(self) -> int:
        """Coordinates per query: the grid's axes, the points' coordinates, or a ray sample's position."""
        return self.geometry.in_features(self)

    @property
    def out_features(self) -> int:
        """The model's outputs: the channels, or with rays the density and the colour channels."""
        return self.geometry.out_features(self)

    def coordinates(self, device=None) -> torch.Tensor:
        """Where the model is queried, ``(prod(grid), in_features)``, row ``i`` the model's output row ``i``; with
        rays, the ray table ``(prod(grid), 8)`` whose row ``i`` renders pixel ``i``."""
        return self.geometry.coordinates(self, device)

    def observe(self, f):
        """``A(f)``: a torch tensor of the model's output rows ``(prod(grid), C)`` -> rows of ``y``, or a numpy array
        ``(*grid, C)`` -> ``(*y_grid, C)``. The identity returns ``f`` itself."""
        return self.geometry.observe(f, self.grid)

    def measurement(self, train: np.ndarray, encode, device=None) -> Measurement:
        """What training sees of this observation (its geometry's kind) when its loss sees the entries in ``train``
        (``encode`` maps values on [0, 1] to the task's range)."""
        return self.geometry.measurement(self, train, encode, device)

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
