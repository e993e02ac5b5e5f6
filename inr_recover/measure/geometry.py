"""Where an observation's values sit and how the model is queried for them: one :class:`Geometry` per observation
(:attr:`inr_recover.measure.observation.Observation.geometry`), in the role of nerfstudio's ``RayBundle`` and
deepinv's ``Physics``. It gives the model's grid, its input and output sizes, the coordinates it is queried at, its
:class:`~inr_recover.measure.domain.Domain`, the forward map ``A`` from the model's output to ``y``, which models can
take it (:meth:`Geometry.refusal`) and the :class:`~inr_recover.measure.measurements.Measurement` training sees it
through.

- :class:`Geometry`: entries of the grid ``y`` lives on, the model queried at the grid's coordinates
  (:func:`inr_recover.measure.grid.grid_coords`; completion, restoration, representation);
- :class:`Operated`: ``y = A f`` with ``A`` a forward operator from the model's grid onto ``y``'s
  (:class:`inr_recover.measure.degrade.Downsample`: super-resolution);
- :class:`Scattered`: values at explicit coordinates (point data, a shape's training points); a shape with
  ``data.fresh`` draws new ones at every step (:class:`inr_recover.tasks.shapes.task.FreshPoints`);
- :class:`inr_recover.tasks.views.rays.Rays`: pixels rendered along camera rays (view synthesis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.measure.measurements import Downsampled, Entries


class Geometry:
    """The grid ``y`` lives on, queried at its coordinates, ``A`` the identity."""

    measurement: ClassVar[type] = Entries  # how training measures an observation of this geometry

    def check(self, obs) -> None:
        """Raise ValueError when ``obs``'s values do not fit this geometry."""

    def grid(self, obs) -> tuple:
        """The model's grid (the output of ``f``): ``y``'s own."""
        return tuple(obs.values.shape[:-1])

    def in_features(self, obs) -> int:
        """Coordinates per query: the grid's axes."""
        return len(self.grid(obs))

    def out_features(self, obs) -> int:
        """The model's outputs: the channels."""
        return obs.channels

    def coordinates(self, obs, device=None) -> torch.Tensor:
        """Where the model is queried, ``(prod(grid), in_features)``, row ``i`` the model's output row ``i``."""
        return grid_coords(self.grid(obs), device)

    def domain(self, obs) -> Domain:
        return Domain.on_grid(self.grid(obs))

    def observe(self, f, grid: tuple):
        """``A(f)`` of the model's output on ``grid``: here ``f`` itself."""
        return f

    def refusal(self, model: type, name: str) -> str | None:
        """Why ``model=name`` (its class, :class:`~inr_recover.models.base.INR`'s ``needs_grid`` and
        ``needs_entries``) cannot take an observation of this geometry; None: it can."""
        return None


@dataclass(frozen=True)
class Operated(Geometry):
    """``y = A f``: ``A`` (``operator``, :class:`~inr_recover.measure.degrade.Downsample`) maps the model's grid
    ``operator.grid`` onto ``y``'s; a measured value depends on a block of outputs, so a batch is the whole grid."""

    operator: object
    measurement: ClassVar[type] = Downsampled

    def grid(self, obs) -> tuple:
        return tuple(self.operator.grid)

    def observe(self, f, grid: tuple):
        """A torch tensor of the model's output rows ``(prod(grid), C)`` -> rows of ``y``, or a numpy array
        ``(*grid, C)`` -> ``(*y_grid, C)``."""
        if isinstance(f, np.ndarray):
            return self.operator.forward(torch.from_numpy(np.ascontiguousarray(f))).numpy()
        return self.operator.forward(f.reshape(*grid, f.shape[-1])).reshape(-1, f.shape[-1])

    def refusal(self, model: type, name: str) -> str | None:
        if model.needs_entries:
            return (
                f"model={name} reads the observation entry by entry on its grid and this one is downsampled; "
                "use model=bicubic or a coordinate network (siren, choir, wire, ...)"
            )
        return None


@dataclass(frozen=True)
class Scattered(Geometry):
    """``N`` values at explicit ``coords (N, d)`` (float32, in ``[-1, 1]^d``), one row of ``y`` each."""

    coords: np.ndarray

    def check(self, obs) -> None:
        if self.coords.ndim != 2 or self.coords.shape[0] != obs.values.shape[0]:
            raise ValueError(f"point coordinates {self.coords.shape} do not match {obs.values.shape[0]} points")

    def in_features(self, obs) -> int:
        return int(self.coords.shape[1])

    def coordinates(self, obs, device=None) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.coords, dtype=np.float32)).to(device)

    def domain(self, obs) -> Domain:
        return Domain(dim=self.in_features(obs), samples=int(self.coords.shape[0]))

    def refusal(self, model: type, name: str) -> str | None:
        if model.needs_grid:
            return (
                f"model={name} needs samples on a regular grid and this data is scattered points; "
                "use knn, tree, forest or a coordinate network (siren, choir, sinr, wire, ...)"
            )
        return None


GRID = Geometry()  # the default: entries of the grid
