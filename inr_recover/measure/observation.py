"""What the fitting code is allowed to see.

:class:`Observation` is built by :mod:`inr_recover.measure.degrade` from the clean signal and is the only data
handed to :func:`inr_recover.engine.fit.fit`. The clean tensor never enters it: only the pipeline's evaluation
(:meth:`inr_recover.run.experiment.Experiment.evaluate`, and its oracle diagnostic) sees the truth.

The observation is ``y = A(f)`` (+ noise) with entries of ``y`` known or missing: ``f`` is the signal on the model's
grid (:attr:`Observation.grid`) and ``A`` the forward ``operator`` (:class:`inr_recover.measure.degrade.Downsample`), or
the identity when it is None (today's completion and restoration: ``y`` lives on the grid and ``known`` is the mask).
The model is queried at :meth:`Observation.coordinates`: the grid's (:func:`inr_recover.measure.grid.grid_coords`), or
the explicit coordinates of scattered points (point data, ``coords``).

Training sees an observation through a :class:`Measurement` (:func:`measurement`): the protocol the training loop
uses without knowing the kind: draw a batch, apply the forward operator to the model's outputs on it, weigh out the
held-out part. A new way of measuring the signal (fresh 3-D points, camera rays) is a new subclass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from inr_recover.errors import UserError
from inr_recover.measure.grid import OnGrid, grid_coords, predict, rows


@dataclass(frozen=True)
class Observation(OnGrid):
    values: np.ndarray  # float32 (*y_grid, C): the observed tensor y; entries not known are 0
    known: np.ndarray  # bool (*y_grid, C): True where the entry was observed (not known to be missing)
    operator: object | None = None  # forward map A from the model's grid to y (Downsample); None: the identity
    coords: np.ndarray | None = None  # float32 (N, d): coordinates of N scattered points; None: the grid's
    source: object | None = None  # (count, seed) -> (coords, values, weights): fresh points (a shape); None: fixed
    rays: object | None = None

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
        """Coordinate dimensions: the grid's axes, the points' coordinates, or a ray sample's position."""
        if self.rays is not None:
            return self.rays.in_features
        return int(self.coords.shape[1]) if self.coords is not None else len(self.grid)

    @property
    def out_features(self) -> int:
        """The model's outputs: the channels, or with rays the density and the colour channels."""
        return self.rays.outputs(self.channels) if self.rays is not None else self.channels

    def coordinates(self, device=None) -> torch.Tensor:
        """Where the model is queried, ``(prod(grid), in_features)``, row ``i`` the model's output row ``i``; with
        rays, the ray table ``(prod(grid), 8)`` whose row ``i`` renders pixel ``i``."""
        if self.rays is not None:
            return torch.from_numpy(self.rays.table).to(device)
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


@dataclass
class Batch:
    """One training batch of a :class:`Measurement`: where the model is queried, the measured values it must explain
    (on the task's range) and their loss weights (0 for entries held out or missing)."""

    inputs: torch.Tensor  # (n, in_features) the model's inputs
    targets: torch.Tensor  # (m, C) measured values, m = n for a per-row measurement
    weights: torch.Tensor  # (m, C)
    bins: tuple | None = None  # rays: the samples' bins (t_starts, t_ends), each (m, S), that Measurement.apply needs


class Measurement:
    """How training measures the signal: a forward operator as an object (deepinv's ``Physics``), on a device.

    It draws a training batch (:meth:`sample`: its inputs, targets and weights), applies its forward operator to the
    model's outputs on a batch (:meth:`apply`), predicts what the model measures of every row (:meth:`predict`, then
    :meth:`measured`, for selection and the result), and keeps the held-out part out of the loss: ``train`` is the mask
    of the observed entries the loss may see (the selection rule's split,
    :attr:`inr_recover.engine.select.Selector.train_mask`),
    all others weigh 0. The training loop (:mod:`inr_recover.engine.fit`) uses only these methods and attributes:

    - ``inputs`` (all the model's inputs), ``values`` (``y`` on [0, 1], what selection scores against), ``targets``
      (``y`` on the task's range) and ``weights``, as rows;
    - ``per_row``: each measured value depends on one input row, so a random subset of rows (a mini-batch) or a prefix
      (the memory probe, :meth:`first`) is itself a measurement.

    Kinds: :class:`Entries` (entries of a grid or of scattered points, observed one by one: completion, restoration,
    point data), :class:`Downsampled` (``y = A f`` with ``A`` area downsampling of the whole grid: super-resolution),
    :class:`Resampled` (fresh labelled points every step: a shape with ``data.fresh``) and :class:`Rendered` (pixels
    of posed views, each rendered along its camera ray: view synthesis). :func:`measurement` picks the kind of an
    :class:`Observation`.
    """

    per_row = True

    def __init__(self, obs: "Observation", train: np.ndarray, encode, device=None):
        self.obs = obs
        self.inputs = obs.coordinates(device)
        self.values = rows(obs.values, device)
        self.targets = encode(self.values)
        self.weights = rows(train.astype(np.float32), device)

    def batch_size(self, requested: int | None) -> int | None:
        """The mini-batch size a fit uses: ``requested`` (a positive number of rows), or None for all rows."""
        if requested is not None and requested <= 0:
            raise UserError(f"batch_size must be positive, got {requested}")
        return requested if requested is not None and requested < self.inputs.shape[0] else None

    def sample(self, generator: torch.Generator, size: int | None = None) -> Batch:
        """All rows (``size`` None), or ``size`` rows drawn uniformly with replacement with ``generator`` (CPU)."""
        if size is None:
            return Batch(self.inputs, self.targets, self.weights)
        idx = torch.randint(0, self.inputs.shape[0], (size,), generator=generator).to(self.inputs.device)
        return Batch(self.inputs[idx], self.targets[idx], self.weights[idx])

    def first(self, n: int) -> Batch:
        """The first ``n`` rows (the memory probe's batches)."""
        return Batch(self.inputs[:n], self.targets[:n], self.weights[:n])

    def apply(self, outputs: torch.Tensor, batch: Batch | None = None) -> torch.Tensor:
        """``A(f)``: the model's output rows on a batch's inputs -> the values the batch measures."""
        return outputs

    def predict(self, model, chunk: int | None) -> torch.Tensor:
        """The model's output at every row's input (:attr:`inputs`), ``chunk`` rows per forward pass."""
        return predict(model, self.inputs, chunk)

    def measured(self, prediction: torch.Tensor) -> torch.Tensor:
        """What the observation measures of a whole :meth:`predict`: ``A`` of it (scored against :attr:`values`)."""
        return self.apply(prediction)


class Entries(Measurement):
    """Entries observed one by one (``A`` the identity on the observed entries): completion, restoration, point data."""


class Downsampled(Measurement):
    """``y = A f`` with ``A`` the observation's operator on the whole grid
    (:class:`inr_recover.measure.degrade.Downsample`):
    every measured value depends on a block of outputs, so a batch is the whole grid."""

    per_row = False

    def batch_size(self, requested: int | None) -> None:
        if super().batch_size(requested) is not None or requested is not None:
            raise UserError(
                "this observation is a downsampled image: its operator needs the whole grid at every step, "
                "so batch_size must be null"
            )
        return None

    def first(self, n: int) -> Batch:
        raise ValueError("a downsampled measurement has no per-row prefix")

    def apply(self, outputs: torch.Tensor, batch: Batch | None = None) -> torch.Tensor:
        return self.obs.observe(outputs)


def measurement(obs: Observation, train: np.ndarray, encode, device=None) -> Measurement:
    """The measurement of ``obs`` whose loss sees the entries in ``train`` (``encode`` maps values on [0, 1] to the
    task's range): the ``measurement`` class its operator, rays or source of fresh points names
    (:class:`Downsampled`, :class:`~inr_recover.tasks.views.rays.Rendered`,
    :class:`~inr_recover.tasks.shapes.task.Resampled`), else :class:`Entries`."""
    part = next((p for p in (obs.operator, obs.rays, obs.source) if p is not None), None)
    return (Entries if part is None else part.measurement)(obs, train, encode, device)
