"""What the fitting code is allowed to see.

:class:`Observation` is built by :mod:`inr_recover.degrade` from the clean signal and is the only data
handed to :func:`inr_recover.fit.fit`. The clean tensor never enters it: only the pipeline's evaluation
(:meth:`inr_recover.experiment.Experiment.evaluate`, and its oracle diagnostic) sees the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inr_recover.grid import OnGrid


@dataclass(frozen=True)
class Observation(OnGrid):
    values: np.ndarray  # float32 (*grid, C): the observed tensor; entries not known are 0
    known: np.ndarray  # bool (*grid, C): True where the entry was observed (not known to be missing)

    def __post_init__(self):
        if self.values.shape != self.known.shape:
            raise ValueError(f"observation values {self.values.shape} and mask {self.known.shape} differ in shape")
        if self.known.dtype != np.bool_:
            raise ValueError("the known-entries mask must be boolean")

    def restricted(self, keep: np.ndarray) -> "Observation":
        """The observation with only the entries in ``keep`` known (e.g. without those held out for selection)."""
        known = self.known & keep
        return Observation(values=np.where(known, self.values, 0.0).astype(np.float32), known=known)

    @property
    def observed_fraction(self) -> float:
        return float(self.known.mean())

    @property
    def pixelwise(self) -> bool:
        """True when every pixel is either fully observed or fully missing across channels (tube masks)."""
        return bool(np.array_equal(self.known.all(-1), self.known.any(-1)))
