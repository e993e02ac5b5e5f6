"""``task=super_resolve``: the observation is a downsampled image, the loss on ``A(f)`` against it; zero-shot queries
on a finer grid than the one trained (:mod:`inr_recover.tasks.base`'s module doc)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from inr_recover.errors import UserError
from inr_recover.measure.degrade import Downsample
from inr_recover.measure.geometry import GRID, Operated
from inr_recover.measure.grid import refine_coords
from inr_recover.measure.observation import Observation
from inr_recover.tasks.base import Query
from inr_recover.tasks.entries import Recovery
from inr_recover.tasks.losses import LOSSES


@dataclass
class SuperResolve(Recovery):
    """``task=super_resolve``: the observation is a downsampled image ``y = A(f)``; the loss compares ``A`` of the
    model's output with it. ``train_factor`` (zero-shot, docs/tasks/super-resolve.md "Super-resolution"): a trained
    model explains ``y`` through a downsampling by ``train_factor`` from a grid ``train_factor`` times ``y``'s, and is
    then queried on the signal's grid, that grid refined ``factor / train_factor`` times (:func:`refine_coords`);
    ``train_factor=1`` fits ``y`` on its own grid."""

    loss: Literal[tuple(LOSSES)] | None = "l2"  # WIRE's SR code and I-INR's objective: squared error
    data_consistency: bool = False  # y is not on the output grid
    train_factor: int | None = None  # train at this factor, query at the degradation's (zero-shot)

    def __post_init__(self):
        super().__post_init__()
        if self.train_factor is not None and not (isinstance(self.train_factor, int) and self.train_factor >= 1):
            raise UserError(f"task.train_factor={self.train_factor!r}: a positive integer")

    def check_observation(self, obs: Observation, degrade: str) -> None:
        if not isinstance(obs.geometry, Operated):
            raise UserError(
                f"task={self.name} needs a downsampled observation (degrade=downsample_2, downsample_3, downsample_4)"
            )

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """Zero-shot: the observation seen through ``Downsample(train_factor)`` from the training grid, queried on the
        signal's grid. A :class:`~inr_recover.models.base.Solver` maps ``y`` at the degradation's own factor."""
        f, op = self.train_factor, obs.geometry.operator
        if f is None or f == op.factor or not trains:
            return obs, None
        if op.factor % f:
            raise UserError(f"task.train_factor={f} does not divide the degradation's factor {op.factor}")
        train_grid = (op.out_grid[0] * f, op.out_grid[1] * f, *op.out_grid[2:])
        obs = replace(obs, geometry=Operated(Downsample(f, op.kernel).on(train_grid)) if f > 1 else GRID)
        return obs, Query(
            refine_coords(train_grid, op.factor // f, device),
            signal.grid,
            "zero_shot",
            {
                "train_factor": f,
                "factor": op.factor,
                "query": "the training grid refined at its sub-pixel centres (docs/tasks/super-resolve.md)",
            },
        )
