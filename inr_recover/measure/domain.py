"""What a model's input is (:class:`Domain`): the coordinates it will be queried at, so that a constructor needs no
special case for 2-D images, 3-D videos and shapes, scattered points or camera rays.

Coordinates are always in ``[-1, 1]^dim`` (:func:`inr_recover.measure.grid.grid_coords`, the point data's unit-sphere
embedding, the shapes' cube). A domain is either a regular ``grid`` of samples (images, volumes: ``dim`` equals the
number of grid axes) or ``samples`` scattered points without one (point data, a shape's training points, the samples
along camera rays: then ``extent``, the views' pixels along a side, is the sampling rate where one is known).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    dim: int  # coordinates per point (a model's in_features)
    samples: int  # how many points the signal is sampled at
    grid: tuple | None = None  # the sample grid's shape, when the samples lie on a regular grid
    extent: int | None = None  # samples along a side without a grid (view synthesis: the views' shorter side)

    @classmethod
    def on_grid(cls, grid) -> "Domain":
        """The regular grid of shape ``grid`` (one coordinate per axis)."""
        grid = tuple(int(n) for n in grid)
        return cls(dim=len(grid), samples=math.prod(grid), grid=grid)

    @classmethod
    def of(cls, obs) -> "Domain":
        """The domain of an :class:`~inr_recover.measure.observation.Observation`: its grid, or its scattered points."""
        return obs.geometry.domain(obs)

    @property
    def side(self) -> float:
        """The number of samples along a side of the plane the signal's frequencies are set against: ``min(H, W)``
        of a grid of two or more axes, the ``extent`` where given, else ``sqrt(N)`` (the side of a square grid of as
        many samples)."""
        if self.extent is not None:
            return float(self.extent)
        if self.grid is not None and len(self.grid) > 1:
            return float(min(self.grid[:2]))
        return math.sqrt(self.samples)
