"""``task=sdf|occupancy``: the field of a 3-D shape trained on points sampled around its mesh (:class:`ShapeField`),
from a fixed pool or from points drawn afresh at every step (:class:`FreshPoints`, measured by :class:`Resampled`)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, ClassVar, Literal

import numpy as np
import torch

from inr_recover.config.schema import NonNegative
from inr_recover.errors import UserError
from inr_recover.measure.geometry import Scattered
from inr_recover.measure.grid import predict
from inr_recover.measure.measurements import Batch, Measurement
from inr_recover.measure.observation import Observation
from inr_recover.tasks.base import Field, Query
from inr_recover.tasks.losses import LOSSES
from inr_recover.tasks.shapes.evaluation import ShapeEvaluation
from inr_recover.tasks.shapes.labels import LABELS, Label
from inr_recover.tasks.shapes.mesh import CLOUD_FILES, frame_named, load_mesh
from inr_recover.tasks.shapes.metrics import CONVENTIONS, grid_rows

HOLDS_OUT = ("inr_recover.engine.select.Holdout",)  # rules that keep observed points out of the loss


class Resampled(Measurement):
    """Points drawn afresh at every step from the observation's geometry (:class:`FreshPoints`; the FINER++ SDF
    protocol: "10k points are randomly sampled in each iteration"), each batch's seed drawn from the fit's generator,
    so a resumed fit draws the same points; the whole measurement (selection's scores, the memory probe) is the fixed
    pool ``obs.values`` at its coordinates. Nothing can be held out of points that are new at every step."""

    def __init__(self, obs: "Observation", train: np.ndarray, encode, device=None):
        if not train.all():
            raise UserError("data.fresh=true draws new training points at every step, so none can be held out: "
                            "use select=final")
        super().__init__(obs, train, encode, device)
        self.encode = encode

    def sample(self, generator: torch.Generator, size: int | None = None) -> Batch:
        """``size`` fresh points, their labels and loss weights (:meth:`FreshPoints.draw`; all the pool when ``size``
        is None)."""
        if size is None:
            return super().sample(generator, size)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        coords, values, weights = self.obs.geometry.draw(size, seed, self.inputs.device)
        return Batch(coords, self.encode(values), weights)


@dataclass(frozen=True)
class FreshPoints(Scattered):
    """The pool's points ``coords``, and where fresh training points come from: ``draw(count, seed, device) ->
    (coords, values, weights)`` on the device (a shape's :meth:`~inr_recover.tasks.shapes.mesh.Shape.draw`); measured by
    :class:`Resampled`."""

    draw: Callable
    measurement: ClassVar[type] = Resampled


@dataclass(frozen=True)
class Grids:
    """How a shape's Query is rendered: the model at every point of the grids whose axes ``(n,)`` are concatenated in
    the Query's ``coords`` (``sizes``: each grid's points per axis; :meth:`~.metrics.Convention.grids`), ``chunk``
    points per forward pass, each chunk's points made on the device from their flat indices ('ij' order): a 512^3
    grid's 1.6 GB of float32 points never exist at once, only its 0.5 GB of outputs."""

    sizes: tuple

    def __call__(self, model, axes: torch.Tensor, chunk: int | None) -> torch.Tensor:
        out, at, row = None, 0, 0
        for n in self.sizes:
            axis, total = axes[at : at + n], n**3
            at += n
            for i in range(0, total, chunk or total):
                y = predict(model, grid_rows(axis, i, min(i + (chunk or total), total)), None)
                if out is None:
                    out = y.new_empty(sum(k**3 for k in self.sizes), y.shape[-1])
                out[row : row + len(y)] = y
                row += len(y)
        return out


@dataclass
class ShapeField(Field):
    """``task=sdf|occupancy``: the field of a 3-D shape (:mod:`inr_recover.tasks.shapes.mesh`) trained on points sampled
    around a mesh, queried at the cell centres of a ``data.resolution^3`` grid of the cube and scored there and on the
    mesh extracted from it (:class:`~inr_recover.tasks.shapes.evaluation.ShapeEvaluation`)."""

    shape: Literal[tuple(LABELS)] = "sdf"  # what the network outputs: the signed distance, or the logit of "inside"
    loss: Literal[tuple(LOSSES)] | None = "l2"  # task=sdf's; task=occupancy: bce
    loader: ClassVar[Callable] = load_mesh
    takes: ClassVar[str] = "a 3-D shape (data=bunny, dragon, mesh)"
    raw: ClassVar[str] = "a signed output (a distance, a logit)"
    data_is: ClassVar[str] = "a 3-D shape: use task=sdf or task=occupancy"
    batch_size: int | None = 10000  # points per step (FINER++: 10k per iteration)
    eikonal: NonNegative = 0.0  # weight of the eikonal term (:meth:`gradient_term`); 0: none (SCONE, FINER++)

    def __post_init__(self):
        super().__post_init__()
        if self.eikonal and not self.label.distance:
            raise UserError(
                f"task.eikonal applies to task=sdf (a distance's gradient has unit norm, a logit's has not); "
                f"drop it with task={self.name}"
            )

    @property
    def label(self) -> Label:
        """The label strategy of ``shape`` (:mod:`inr_recover.tasks.shapes.labels`)."""
        return LABELS[self.shape]

    @property
    def input_gradients(self) -> bool:
        return self.eikonal > 0

    def gradient_term(self, gradients: torch.Tensor) -> torch.Tensor:
        """SIREN's eikonal constraint ``eikonal * mean(| |grad f(x)| - 1 |)`` over the batch's points (vsitzmann/siren
        ``loss_functions.sdf``: ``grad_constraint``, weighed 5e1 beside 3e3 for its surface term)."""
        return self.eikonal * (gradients.norm(dim=-1) - 1).abs().mean()

    def check(self, c: dict, solver: bool) -> None:
        super().check(c, solver)
        if c["data"].get("fresh") and c["select"]["_target_"] in HOLDS_OUT:
            raise UserError(
                "data.fresh=true draws new training points at every step, so none can be held out: use select=final"
            )
        self.check_convention(c["data"])

    @staticmethod
    def check_convention(data: dict) -> None:
        """``metrics.shape`` (``data.convention``) against the frame and the truth, before the mesh is read: FINER's and
        SCONE's numbers are defined in BACON's frame (distances scale with it), FINER's against a true mesh."""
        convention, frame = data.get("convention", "ours"), data.get("frame", "bbox")
        frame_named(frame)
        if convention not in CONVENTIONS:
            raise UserError(f"metrics.shape='{convention}' is not one of {', '.join(CONVENTIONS)}")
        scoring = CONVENTIONS[convention]
        if frame not in scoring.frames:
            raise UserError(
                f"metrics.shape={convention} is defined in the frame its paper trains in (its distances scale with "
                f"it): set data.frame={scoring.frames[0]}"
            )
        name = str(data.get("path") or data.get("file") or "")
        cloud_is_truth = data.get("kind") == "points_with_normals" and data.get("cloud") is None and name.lower(
        ).endswith(CLOUD_FILES)
        if scoring.needs_mesh and cloud_is_truth:
            raise UserError(
                f"metrics.shape={convention} scores against the true mesh: give the mesh as data.path and the "
                "oriented cloud as data.cloud"
            )

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """The pool of points as the observation (with ``data.fresh``, a source of new points for every step:
        :class:`Resampled`), queried on the grids of the shape's convention (``metrics.shape``; :class:`Grids`): its
        one volume ``(N, N, N)``, or the points of its grids one after the other."""
        if signal.fresh:
            obs = replace(obs, geometry=FreshPoints(obs.geometry.coords, signal.draw))
        axes = list(CONVENTIONS[signal.convention].grids(signal).values())
        coords = torch.from_numpy(np.concatenate(axes).astype(np.float32) * np.float32(signal.input_scale))
        sizes = tuple(len(a) for a in axes)
        grid = (sizes[0],) * 3 if len(sizes) == 1 else (sum(n**3 for n in sizes),)
        return obs, Query(coords.to(device), grid, render=Grids(sizes))

    def evaluation(self, signal, obs: Observation, forward=None) -> ShapeEvaluation:
        return ShapeEvaluation(self, signal, obs, forward)
