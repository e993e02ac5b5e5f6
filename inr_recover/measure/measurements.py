"""How training sees an observation: a :class:`Measurement`, the protocol the training loop uses without knowing the
kind: draw a batch, apply the forward operator to the model's outputs on it, weigh out the held-out part. The
observation's geometry names its kind (:attr:`inr_recover.measure.geometry.Geometry.measurement`); a new way of
measuring the signal (fresh 3-D points, camera rays) is a new subclass beside a new geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from inr_recover.engine.runtime import upload
from inr_recover.errors import UserError
from inr_recover.measure.grid import predict, rows


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
    of posed views, each rendered along its camera ray: view synthesis). An observation's geometry names its kind
    (:meth:`inr_recover.measure.observation.Observation.measurement`).
    """

    per_row = True

    def __init__(self, obs, train: np.ndarray, encode, device=None):
        """``obs``: the :class:`~inr_recover.measure.observation.Observation`; ``train``: the mask of the entries the
        loss may see; ``encode``: values on [0, 1] -> the task's range."""
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
        idx = self.draw_rows(generator, size)
        return Batch(self.inputs[idx], self.targets[idx], self.weights[idx])

    def draw_rows(self, generator: torch.Generator, size: int) -> torch.Tensor:
        """``size`` row indices uniform with replacement, drawn with ``generator`` (CPU) and copied to the rows'
        device without a synchronisation (:func:`inr_recover.engine.runtime.upload`)."""
        return upload(torch.randint(0, self.inputs.shape[0], (size,), generator=generator), self.inputs.device)

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


