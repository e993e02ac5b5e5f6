"""What every task shares: :class:`Task` (what a run accepts, which entries drive the loss, which loss, how the output
is formed), the :class:`Evaluation` a task scores its reconstruction with, where it queries the model (:class:`Query`),
the oracle diagnostic (:class:`Oracle`) and :class:`Field`, the base of the 3-D field tasks. Each family is a module or
a folder beside this one: :mod:`~inr_recover.tasks.entries` (complete, restore, fit, recover),
:mod:`~inr_recover.tasks.super_resolve`, :mod:`~inr_recover.tasks.shapes` (sdf, occupancy) and
:mod:`~inr_recover.tasks.views` (view synthesis).

- ``complete``: loss on the observed entries; data consistency: observed entries are kept in the output
  (``x = M * y + (1 - M) * f``).
- ``restore``: loss on the entries not known to be missing; no data consistency (the observed entries are noisy).
- ``fit``: no degradation; loss on every entry (representation quality).
- ``recover``: a real observation without ground truth (see ``data.has_truth``); like ``complete``.
- ``super_resolve``: the observation is a downsampled image (``degrade=downsample_N``); loss on ``A(f)`` against it
  (:meth:`inr_recover.engine.fit.Trainer.loss`), no data consistency (``y`` is not on the output grid). ``train_factor``
  (zero-shot) trains the model as a ``train_factor`` problem on a coarser grid and queries it on the full one
  (:func:`inr_recover.measure.grid.refine_coords`; docs/tasks/super-resolve.md).

The loss (``task.loss``) is one of :data:`inr_recover.tasks.losses.LOSSES`.

``sdf`` and ``occupancy`` (:class:`~inr_recover.tasks.shapes.task.ShapeField`) train a field of a 3-D shape on sampled
points (:mod:`inr_recover.tasks.shapes.mesh`): the signed distance with ``l2`` (SCONE's MSE), the inside/outside label
with ``bce``; the output is scored on a dense grid (IoU, Chamfer distance), not entry by entry.

``task.range`` is the interval the fit trains on: the data, on [0, 1], enter the loss as ``lo + (hi - lo) y``
(``[-1, 1]``: ``2 y - 1``, SIREN/FINER/FreSh/SCONE) and the model's output comes back as ``(f - lo) / (hi - lo)``
before selection, metrics and outputs, which stay on [0, 1] (:meth:`Task.encode`, :meth:`Task.decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Literal

import hydra.utils
import numpy as np
import torch

from inr_recover.config.schema import Positive
from inr_recover.data import Signal
from inr_recover.engine.select import RULES
from inr_recover.errors import UserError
from inr_recover.measure import metrics as M
from inr_recover.measure.degrade import operators
from inr_recover.measure.geometry import Operated
from inr_recover.measure.grid import predict
from inr_recover.measure.observation import Observation
from inr_recover.models.base import model_class
from inr_recover.tasks.losses import LOSSES, Loss


def loader_of(data: dict) -> Callable | None:
    """The function a data config's ``_target_`` names (an old import path resolves to the same one), or None."""
    try:
        return hydra.utils.get_object(data["_target_"]) if data.get("_target_") else None
    except Exception:  # an unknown target: instantiating the data reports it
        return None


@dataclass
class Task:
    name: str
    loss: Literal[tuple(LOSSES)] | None = "l1"  # None: no training loop (a Solver under protocol=official)
    data_consistency: bool = True
    huber_delta: Positive = 0.1
    allows_degradation: bool = True
    select: Literal[tuple(RULES)] = "final"  # what `select=auto` means for this task (inr_recover/engine/select.py)
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
            raise UserError(
                "this method has no training recipe for protocol=official (task.loss / task.range are null): "
                "give its conf/model/<name>.yaml a `recipe:`, run protocol=common, or set task.loss, "
                "task.range, optim.lr, optim.weight_decay and optim.grad_clip"
            )

    def encode(self, y):
        """Data on [0, 1] -> the training range: ``lo + (hi - lo) y``."""
        lo, hi = self.range
        return y if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * y

    def decode(self, f):
        """A model output on the training range -> [0, 1]: ``(f - lo) / (hi - lo)``."""
        lo, hi = self.range
        return f if (lo, hi) == (0.0, 1.0) else (f - lo) / (hi - lo)

    @property
    def data_loss(self) -> Loss:
        """The data term of ``task.loss`` (:mod:`inr_recover.tasks.losses`)."""
        return LOSSES[self.loss](self.huber_delta)

    def penalty(self, residual: torch.Tensor) -> torch.Tensor:
        """The loss per entry of a residual (what ``select.error=penalty`` averages)."""
        return self.data_loss.penalty(residual)

    def loss_fn(
        self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, groups: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The data term on the model output; ``groups`` (one id per row) for ``group_fro``."""
        return self.data_loss(pred, target, weight, groups)

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
            raise UserError(
                f"task={self.name} measures representation quality and takes degrade=none (got "
                f"degrade={c['degrade']['name']})"
            )
        if c["data"].get("has_truth") is False and self.needs_truth:
            raise UserError("data.has_truth=false needs task=recover (there is no ground truth to score against)")
        self.check_data(c["data"])

    def check_data(self, data: dict) -> None:
        """Refuse data this task cannot take (``data``: its resolved config): here, a field's
        (:meth:`Field.families`)."""
        for field in Field.families():
            if loader_of(data) is field.loader:
                raise UserError(f"data={data.get('name')} is {field.data_is}")

    def check_observation(self, obs: Observation, degrade: str) -> None:
        """Refuse an observation this task cannot take (``degrade``: its name): here, a downsampled one."""
        if isinstance(obs.geometry, Operated):
            raise UserError(f"degrade={degrade} observes a downsampled image: use task=super_resolve")

    def check_model(self, model) -> None:
        """Refuse, before training, a built model whose outputs this task cannot train."""

    def query(self, obs: Observation, signal, trains: bool, device) -> tuple[Observation, Query | None]:
        """What the model trains on (the observation) and where it is queried for the reconstruction when not where it
        trained (None); ``trains``: the model has a training loop."""
        return obs, None

    def evaluation(self, signal, obs: Observation, forward=None) -> Evaluation:
        """How the reconstruction is scored, shown and reported (each family's :class:`Evaluation`)."""
        raise NotImplementedError(f"{type(self).__name__} names no evaluation")


@dataclass
class Query:
    """Where the model is queried for the reconstruction when not where it trained: ``coords`` on ``grid``; ``record``
    goes into ``results.json`` under its ``key`` (zero-shot super-resolution) when not None."""

    coords: torch.Tensor
    grid: tuple
    key: str | None = None
    record: dict | None = None
    render: object | None = None  # (model, coords, chunk) -> outputs: how the model is seen there (rays: rendered)

    def predict(self, model, chunk: int | None) -> torch.Tensor:
        """The model's output at :attr:`coords`, ``chunk`` rows per forward pass, through :attr:`render` when set."""
        return (self.render or predict)(model, self.coords, chunk)


class Oracle:
    """The diagnostic PSNR of the reconstruction against the truth at each evaluation point: the fit's ``on_eval``,
    whose return value the fit ignores, so it never steers training or selection. ``evaluation`` None (no truth on the
    training grid: zero-shot, shapes, recover): no curve."""

    def __init__(self, evaluation: "Evaluation | None"):
        self.evaluation = evaluation if evaluation is not None and evaluation.truth is not None else None
        self.curve = {"iteration": [], "psnr": []}  # saved in checkpoints (the fit's ``extra``)

    def __call__(self, iteration: int, prediction: np.ndarray) -> None:
        if self.evaluation is not None:
            psnr = self.evaluation.oracle_psnr(prediction)
            self.curve["iteration"].append(iteration)  # after the PSNR: a Ctrl-C inside it leaves no iteration unpaired
            self.curve["psnr"].append(psnr)

    def record(self, history: dict, headline: dict) -> dict | None:
        """The best PSNR over the evaluation points, when and how long it took (the fit's ``history``: its seconds at
        that iteration), and the gap to the headline."""
        if not self.curve["psnr"]:
            return None
        k = int(np.argmax(self.curve["psnr"]))
        iteration = self.curve["iteration"][k]
        return {
            "note": "diagnostic only: best PSNR against the truth over eval points; never a headline",
            "psnr_peak": self.curve["psnr"][k],
            "iteration": iteration,
            "seconds_to_peak": history["seconds"][history["iteration"].index(iteration)],
            "gap_db": self.curve["psnr"][k] - headline.get("psnr", float("nan")),
        }


def fmt(value, places: int) -> str:
    return "n/a" if value is None else f"{value:.{places}f}"


class Evaluation:
    """How a task judges a finished fit: the truth it scores against (``truth``, None without one), the fit to what was
    observed (:meth:`observed`), the headline metrics (:meth:`score`), the figure, the run's extra products and its
    one-line report. Only an evaluation and the oracle diagnostic see the truth; ``fit`` never does."""

    def __init__(self, task, signal: Signal, obs: Observation, forward=None):
        """``forward``: the degradation's forward operator (the one that made ``y`` from the truth), or None."""
        self.task, self.signal, self.obs, self.forward = task, signal, obs, forward
        self.truth = None

    def oracle_psnr(self, prediction: np.ndarray) -> float:
        """The PSNR of the task's output of ``prediction`` against the truth (the oracle diagnostic)."""
        recon = self.task.output(prediction, self.obs.values, self.obs.known)
        return M.psnr(self.truth, np.clip(self.signal.frames_view(recon), 0, 1))

    def observed(self, prediction: np.ndarray, holdout: np.ndarray | None) -> dict:
        """How closely the prediction fits the observed entries it trained on, and those held out (if any)."""
        obs = self.obs
        train = obs.known if holdout is None else obs.known & ~holdout
        fitted = obs.observe(prediction)  # A(f): on the observed entries' own grid
        rec = {"fraction": obs.observed_fraction, "psnr_fit": M.psnr(np.clip(fitted[train], 0, 1), obs.values[train])}
        if holdout is not None:
            rec["psnr_holdout"] = M.psnr(np.clip(fitted[holdout], 0, 1), obs.values[holdout])
        return rec

    def score(self, recon: np.ndarray, names: tuple, seed: int) -> dict:
        """The headline metrics of the reconstruction against the truth (``names``: ``cfg.metrics.names``)."""
        raise NotImplementedError

    def save_observation(self, out_dir: Path) -> None:
        """Files that let a later run take this observation as its input: none by default."""

    def products(self, out_dir: Path, recon: np.ndarray, save) -> dict:
        """Files beyond the arrays that the run writes, named in ``results.json`` (``save``: the ``save`` options):
        none by default."""
        return {}

    def figure(self, path: Path, recon: np.ndarray, m: dict) -> None:
        raise NotImplementedError

    def report(self, results: dict) -> str:
        """The headline part of the run's last log line."""
        raise NotImplementedError


@dataclass
class Field(Task):
    """A 3-D field measured through sampled points or rays (:class:`~inr_recover.tasks.shapes.task.ShapeField`,
    :class:`~inr_recover.tasks.views.task.ViewSynthesis`): data of its own (``loader``), no degradation (the points or
    views are the observation), a coordinate network with a raw output queried away from where it trained, so no data
    consistency."""

    data_consistency: bool = False  # the output is queried elsewhere than the training inputs
    allows_degradation: bool = False  # the sampled points or views are the observation
    loader: ClassVar[Callable | None] = None  # the function a data config's _target_ names to load its data
    takes: ClassVar[str] = ""  # which data, for the refusal
    raw: ClassVar[str] = ""  # what the network's raw output is, for the refusal of a sigmoid head
    data_is: ClassVar[str] = ""  # what its data is and which task takes it, for another task's refusal

    @staticmethod
    def families() -> list[type["Field"]]:
        """Every field task (the subclasses of :class:`Field`, each family's module imported by
        :mod:`inr_recover.tasks`)."""
        out, todo = [], list(Field.__subclasses__())
        while todo:
            cls = todo.pop(0)
            out.append(cls)
            todo.extend(cls.__subclasses__())
        return out

    def check_data(self, data: dict) -> None:
        if loader_of(data) is not type(self).loader:  # the function itself, not bound to this task
            raise UserError(f"task={self.name} takes {self.takes}")

    def check(self, c: dict, solver: bool) -> None:
        super().check(c, solver)
        if solver:
            raise UserError(
                f"model={c['model'].get('name', c['model']['_target_'])} has no network to query away from "
                f"its training inputs; task={self.name} takes a coordinate network (siren, choir, finer, wire, gauss, "
                "...)"
            )
        if getattr(model_class(c["model"]), "ends_in_sigmoid", lambda _: False)(c["model"]):
            raise UserError(
                f"model={c['model'].get('name')} ends in a sigmoid (outputs in (0, 1)); task={self.name} needs "
                f"{self.raw}: set model.out_activation=none"
            )

    def check_model(self, model) -> None:
        if model.sigmoid_output():
            raise UserError(
                f"{type(model).__name__} ends in a sigmoid (outputs in (0, 1)); task={self.name} needs "
                f"{self.raw}: set model.out_activation=none"
            )
