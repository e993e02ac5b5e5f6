"""Tasks: what a run accepts, which entries drive the loss, which loss, how the output is formed and how it is
evaluated (:mod:`inr_recover.evaluation`). :class:`Task` serves the tasks on a grid or on scattered points;
:class:`SuperResolve` and :class:`Shape` add what their observation and evaluation need.

- ``complete``: loss on the observed entries; data consistency: observed entries are kept in the output
  (``x = M * y + (1 - M) * f``).
- ``restore``: loss on the entries not known to be missing; no data consistency (the observed entries are noisy).
- ``fit``: no degradation; loss on every entry (representation quality).
- ``recover``: a real observation without ground truth (see ``data.has_truth``); like ``complete``.
- ``super_resolve``: the observation is a downsampled image (``degrade=downsample_N``); loss on ``A(f)`` against it
  (:meth:`inr_recover.fit.Trainer.loss`), no data consistency (``y`` is not on the output grid). ``train_factor``
  (zero-shot) trains the model as a ``train_factor`` problem on a coarser grid and queries it on the full one
  (:func:`inr_recover.grid.refine_coords`; docs/tasks/super-resolve.md).

Losses (``task.loss``, each method's from its recipe under ``protocol=official``, docs/protocols.md "Protocols"):

- ``l1``, ``l2``, ``huber``: ``sum(w * rho(f - y)) / numel``, the masked mean over all entries (CHOIR's
  ``L1Loss(f M, y M)``; SIREN's ``mean(M (f - y)^2)``, which FINER/FINER++/SCONE/FreSh's MSE equals with a mask).
- ``fro``: ``||w (f - y)||_2``, the Frobenius norm, neither squared nor averaged (LRTFR, DRO-TFF, CRNL:
  ``torch.norm(X_Out * mask - X * mask, 2)``).
- ``group_fro``: ``sum_j ||w_j (f_j - y_j)||_2`` over the model's loss groups (:meth:`INR.loss_groups`; S-INR: its
  superpixels, ``sinr_completion.py``); one group (``fro``) for a model without groups.
- ``bce``: binary cross-entropy of the output as a logit against 0/1 labels, ``sum(w * BCE(f, y)) / numel``
  (``task=occupancy``).

``sdf`` and ``occupancy`` (``Task.shape``) train a field of a 3-D shape on sampled points (:mod:`inr_recover.shapes`):
the signed distance with ``l2`` (SCONE's MSE), the inside/outside label with ``bce``; the output is scored on a dense
grid (IoU, Chamfer distance), not entry by entry.

The scale sets what gradient clipping (``optim.grad_clip``, a bound on the parameters' gradient norm) and weight
decay see: a mean loss's gradient is ``1 / numel`` of the summed one, while ``fro``'s gradient with respect to the
output is the unit vector ``w (f - y) / ||w (f - y)||`` whatever the size; Adam's step itself is invariant to a
constant factor on the loss (up to its eps), not to clipping or weight decay, which is why each recipe keeps its
own loss, clipping and decay together.

``task.range`` is the interval the fit trains on: the data, on [0, 1], enter the loss as ``lo + (hi - lo) y``
(``[-1, 1]``: ``2 y - 1``, SIREN/FINER/FreSh/SCONE) and the model's output comes back as ``(f - lo) / (hi - lo)``
before selection, metrics and outputs, which stay on [0, 1] (:meth:`Task.encode`, :meth:`Task.decode`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import numpy as np
import torch

from inr_recover import shapes
from inr_recover.degrade import Downsample, operators
from inr_recover.errors import UserError
from inr_recover.evaluation import GridEvaluation, PointEvaluation, Query, ShapeEvaluation, ViewEvaluation
from inr_recover.grid import refine_coords
from inr_recover.observation import Observation
from inr_recover.schema import NonNegative, Positive
from inr_recover.select import RULES
from inr_recover.views import Rays

LOSSES = ("l1", "l2", "huber", "fro", "group_fro", "bce")
SHAPES = ("sdf", "occupancy")


@dataclass
class Task:
    name: str
    loss: Literal[LOSSES] | None = "l1"  # None: no training loop (a Solver under protocol=official)
    data_consistency: bool = True
    huber_delta: Positive = 0.1
    allows_degradation: bool = True
    select: Literal[tuple(RULES)] = "final"  # what `select=auto` means for this task (inr_recover/select.py)
    patience: int | None = None  # the default select.patience (early stopping; None: never), measured per task
    min_iterations: int = 0  # the default select.min_iterations
    needs_truth: bool = True  # false: the data file is the observation itself, nothing to score against (recover)
    range: tuple | None = (0.0, 1.0)  # the interval the loss sees the data on (module doc)
    batch_size: int | None = None  # the default batch_size (the top-level key's): shapes draw 10000 points per step
    # loss and range are None for a method without a training loop under protocol=official (no recipe)

    def __post_init__(self):
        if self.loss is not None and self.loss not in LOSSES:
            raise UserError(f"task.loss='{self.loss}' is not one of {', '.join(LOSSES)}")
        if self.range is not None:
            lo, hi = (float(v) for v in self.range)
            if not lo < hi:
                raise UserError(f"task.range={list(self.range)} must be [lo, hi] with lo < hi, e.g. [0, 1] or [-1, 1]")
            self.range = (lo, hi)

    def trains(self) -> None:
        """Refuse to train without a loss and a range (a model config with no recipe under protocol=official)."""
        if self.loss is None or self.range is None:
            raise UserError("this method has no training recipe for protocol=official (task.loss / task.range are null): "
                            "give its conf/model/<name>.yaml a `recipe:`, run protocol=common, or set task.loss, "
                            "task.range, optim.lr, optim.weight_decay and optim.grad_clip")

    def encode(self, y):
        """Data on [0, 1] -> the training range: ``lo + (hi - lo) y``."""
        lo, hi = self.range
        return y if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * y

    def decode(self, f):
        """A model output on the training range -> [0, 1]: ``(f - lo) / (hi - lo)``."""
        lo, hi = self.range
        return f if (lo, hi) == (0.0, 1.0) else (f - lo) / (hi - lo)

    def penalty(self, residual: torch.Tensor) -> torch.Tensor:
        """The loss per entry: ``|r|``, ``r^2`` (also for ``fro`` and ``group_fro``, monotone in their sums of
        squares: what ``select.error=penalty`` averages) or Huber."""
        if self.loss == "l1":
            return residual.abs()
        if self.loss in ("l2", "fro", "group_fro"):
            return residual.square()
        return torch.nn.functional.huber_loss(residual, torch.zeros_like(residual), reduction="none", delta=self.huber_delta)

    def loss_fn(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                groups: torch.Tensor | None = None) -> torch.Tensor:
        """The data term on the model output (module doc); ``groups`` (one id per row) for ``group_fro``."""
        if self.loss == "fro":
            return torch.linalg.vector_norm(weight * (pred - target))
        if self.loss == "bce":  # pred: logits, target: 0/1 (task=occupancy)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(pred, target, reduction="none")
            return (weight * bce).sum() / pred.numel()
        if self.loss == "group_fro":
            if groups is None:
                return torch.linalg.vector_norm(weight * (pred - target))
            sq = torch.zeros(int(groups.max()) + 1, dtype=pred.dtype, device=pred.device)
            sq = sq.index_add(0, groups, (weight * (pred - target)).square().sum(-1))
            return sq[sq > 0].sqrt().sum()  # groups with a zero residual have a zero (sub)gradient
        return (weight * self.penalty(pred - target)).sum() / pred.numel()

    def output(self, prediction, observed, known):
        """Form the reconstruction from the model's prediction (numpy or torch arrays)."""
        if not self.data_consistency:
            return prediction
        if isinstance(prediction, torch.Tensor):
            return torch.where(known, observed, prediction)
        return np.where(known, observed, prediction)

    @property
    def input_gradients(self) -> bool:
        """Whether the loss has a term in the model's gradient with respect to its inputs (:meth:`gradient_term`)."""
        return False

    def gradient_term(self, gradients: torch.Tensor) -> torch.Tensor:
        """The loss term on ``d f / d x`` at a batch's inputs ``(n, d)`` (with :attr:`input_gradients`)."""
        raise NotImplementedError

    def check(self, c: dict, solver: bool) -> None:
        """Refuse a configuration (``c``: resolved) this task cannot run, before any work; ``solver``: the model has no
        training loop."""
        if not self.allows_degradation and operators(c["degrade"]):
            raise UserError(f"task={self.name} measures representation quality and takes degrade=none (got degrade={c['degrade']['name']})")
        if c["data"].get("has_truth") is False and self.needs_truth:
            raise UserError("data.has_truth=false needs task=recover (there is no ground truth to score against)")
        self.check_data(c["data"])

    def check_data(self, data: dict) -> None:
        """Refuse data this task cannot take (``data``: its resolved config): here, a field's (:data:`FIELD_DATA`)."""
        if data.get("_target_") in FIELD_DATA:
            raise UserError(f"data={data.get('name')} is {FIELD_DATA[data['_target_']]}")

    def check_observation(self, obs: Observation, degrade: str) -> None:
        """Refuse an observation this task cannot take (``degrade``: its name): here, a downsampled one."""
        if obs.operator is not None:
            raise UserError(f"degrade={degrade} observes a downsampled image: use task=super_resolve")

    def check_model(self, model) -> None:
        """Refuse, before training, a built model whose outputs this task cannot train."""

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """What the model trains on (the observation) and where it is queried for the reconstruction when not where it
        trained (None); ``trains``: the model has a training loop."""
        return obs, None

    def evaluation(self, signal, obs: Observation, forward=None) -> GridEvaluation:
        """How the reconstruction is scored, shown and reported: on the grid, or on the points of scattered data."""
        return (PointEvaluation if signal.scattered else GridEvaluation)(self, signal, obs, forward)


SHAPE_LOADER = "inr_recover.shapes.load_mesh"  # the data of task=sdf|occupancy
SCENE_LOADER = "inr_recover.views.load_blender"  # the data of task=view_synthesis
FIELD_DATA = {SHAPE_LOADER: "a 3-D shape: use task=sdf or task=occupancy",
              SCENE_LOADER: "posed views of a scene: use task=view_synthesis"}
HOLDS_OUT = ("inr_recover.select.Holdout",)  # rules that keep observed points out of the loss


@dataclass
class SuperResolve(Task):
    """``task=super_resolve``: the observation is a downsampled image ``y = A(f)``; the loss compares ``A`` of the model's
    output with it. ``train_factor`` (zero-shot, docs/tasks/super-resolve.md "Super-resolution"): a trained model explains ``y`` through a
    downsampling by ``train_factor`` from a grid ``train_factor`` times ``y``'s, and is then queried on the signal's
    grid, that grid refined ``factor / train_factor`` times (:func:`refine_coords`); ``train_factor=1`` fits ``y`` on
    its own grid."""

    loss: Literal[LOSSES] | None = "l2"  # WIRE's SR code and I-INR's objective: squared error
    data_consistency: bool = False  # y is not on the output grid
    train_factor: int | None = None  # train at this factor, query at the degradation's (zero-shot)

    def __post_init__(self):
        super().__post_init__()
        if self.train_factor is not None and not (isinstance(self.train_factor, int) and self.train_factor >= 1):
            raise UserError(f"task.train_factor={self.train_factor!r}: a positive integer")

    def check_observation(self, obs: Observation, degrade: str) -> None:
        if obs.operator is None:
            raise UserError(f"task={self.name} needs a downsampled observation (degrade=downsample_2, downsample_3, downsample_4)")

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """Zero-shot: the observation seen through ``Downsample(train_factor)`` from the training grid, queried on the
        signal's grid. A :class:`~inr_recover.models.base.Solver` maps ``y`` at the degradation's own factor."""
        f, op = self.train_factor, obs.operator
        if f is None or f == op.factor or not trains:
            return obs, None
        if op.factor % f:
            raise UserError(f"task.train_factor={f} does not divide the degradation's factor {op.factor}")
        train_grid = (op.out_grid[0] * f, op.out_grid[1] * f, *op.out_grid[2:])
        obs = replace(obs, operator=Downsample(f, op.kernel).on(train_grid) if f > 1 else None)
        return obs, Query(refine_coords(train_grid, op.factor // f, device), signal.grid, "zero_shot",
                          {"train_factor": f, "factor": op.factor,
                           "query": "the training grid refined at its sub-pixel centres (docs/tasks/super-resolve.md)"})


@dataclass
class Field(Task):
    """A 3-D field measured through sampled points or rays (:class:`Shape`, :class:`ViewSynthesis`): data of its own
    (``loader``), no degradation (the points or views are the observation), a coordinate network with a raw output
    queried away from where it trained, so no data consistency."""

    data_consistency: bool = False  # the output is queried elsewhere than the training inputs
    allows_degradation: bool = False  # the sampled points or views are the observation
    loader: ClassVar[str] = ""  # the data config's _target_
    takes: ClassVar[str] = ""  # which data, for the refusal
    raw: ClassVar[str] = ""  # what the network's raw output is, for the refusal of a sigmoid head

    def check_data(self, data: dict) -> None:
        if data.get("_target_") != self.loader:
            raise UserError(f"task={self.name} takes {self.takes}")

    def check(self, c: dict, solver: bool) -> None:
        super().check(c, solver)
        if solver:
            raise UserError(f"model={c['model'].get('name', c['model']['_target_'])} has no network to query away from "
                            f"its training inputs; task={self.name} takes a coordinate network (siren, choir, finer, wire, gauss, ...)")

    def check_model(self, model) -> None:
        if model.sigmoid_output():
            raise UserError(f"{type(model).__name__} ends in a sigmoid (outputs in (0, 1)); task={self.name} needs "
                            f"{self.raw}: set model.out_activation=none")


@dataclass
class Shape(Field):
    """``task=sdf|occupancy``: the field of a 3-D shape (:mod:`inr_recover.shapes`) trained on points sampled around a
    mesh, queried at the cell centres of a ``data.resolution^3`` grid of the cube and scored there and on the mesh
    extracted from it (:class:`~inr_recover.evaluation.ShapeEvaluation`)."""

    shape: Literal[SHAPES] = "sdf"  # what the network outputs: the signed distance, or the logit of "inside"
    loss: Literal[LOSSES] | None = "l2"  # task=sdf's; task=occupancy: bce
    loader: ClassVar[str] = SHAPE_LOADER
    takes: ClassVar[str] = "a 3-D shape (data=bunny, dragon, mesh)"
    raw: ClassVar[str] = "a signed output (a distance, a logit)"
    batch_size: int | None = 10000  # points per step (FINER++: 10k per iteration)
    eikonal: NonNegative = 0.0  # weight of the eikonal term (:meth:`gradient_term`); 0: none (SCONE, FINER++)

    def __post_init__(self):
        super().__post_init__()
        if self.eikonal and self.shape != "sdf":
            raise UserError(f"task.eikonal applies to task=sdf (a distance's gradient has unit norm, a logit's has not); "
                            f"drop it with task={self.name}")

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
            raise UserError("data.fresh=true draws new training points at every step, so none can be held out: use select=final")

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """The pool of points as the observation (with ``data.fresh``, a source of new points for every step:
        :class:`~inr_recover.observation.Resampled`), queried on the cell centres of the cube."""
        r = signal.resolution
        if signal.fresh:
            obs = replace(obs, source=signal.draw)
        return obs, Query(torch.from_numpy(shapes.cell_centres(r).astype(np.float32)).to(device), (r, r, r))

    def evaluation(self, signal, obs: Observation, forward=None) -> ShapeEvaluation:
        return ShapeEvaluation(self, signal, obs, forward)


@dataclass
class ViewSynthesis(Field):
    """``task=view_synthesis``: a radiance field trained on the rays of posed training views (:mod:`inr_recover.views`:
    the network maps a sample's position to density and colour, composited along each ray), rendered at the test
    views and scored there only (:class:`~inr_recover.evaluation.ViewEvaluation`)."""

    loss: Literal[LOSSES] | None = "l2"  # torch-ngp's MSELoss (FINER's NeRF script)
    batch_size: int | None = 4096  # rays per step (torch-ngp --num_rays 4096)
    samples: Positive = 128  # stratified samples per ray
    eval_every: Positive = 1000  # the default eval_every: an evaluation renders every training ray
    eval_chunk: Positive = 4096  # the default eval_chunk: rays per forward pass in rendering (torch-ngp --max_ray_batch)
    loader: ClassVar[str] = SCENE_LOADER
    takes: ClassVar[str] = "posed views of a scene (data=lego, or data=blender data.scene=NAME data.root=DIR)"
    raw: ClassVar[str] = "raw outputs (a density before exp, a colour before the renderer's sigmoid)"

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """The training views as pixels rendered along their rays (:class:`~inr_recover.observation.Rendered`); the
        test views' rays rendered for the reconstruction."""
        test = Rays(signal.test_rays, int(self.samples), signal.background)
        obs = replace(obs, rays=Rays(signal.rays, int(self.samples), signal.background))
        return obs, Query(torch.from_numpy(signal.test_rays).to(device), signal.test.shape[:3], render=test.render)

    def evaluation(self, signal, obs: Observation, forward=None) -> ViewEvaluation:
        return ViewEvaluation(self, signal, obs, forward)
