"""Tasks: which entries drive the loss, which loss, and how the output is formed.

- ``complete``: loss on the observed entries; data consistency: observed entries are kept in the output
  (``x = M * y + (1 - M) * f``).
- ``restore``: loss on the entries not known to be missing; no data consistency (the observed entries are noisy).
- ``fit``: no degradation; loss on every entry (representation quality).
- ``recover``: a real observation without ground truth (see ``data.has_truth``); like ``complete``.
- ``super_resolve``: the observation is a downsampled image (``degrade=downsample_N``); loss on ``A(f)`` against it
  (:meth:`inr_recover.fit.Trainer.loss`), no data consistency (``y`` is not on the output grid). ``train_factor``
  (zero-shot) trains the model as a ``train_factor`` problem on a coarser grid and queries it on the full one
  (:func:`inr_recover.grid.refine_coords`; README, "Super-resolution").

Losses (``task.loss``, each method's from its recipe under ``protocol=official``, README "Protocols"):

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

from dataclasses import dataclass
from typing import Literal

import torch

from inr_recover.errors import UserError
from inr_recover.schema import Positive
from inr_recover.select import RULES

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
    downsampled: bool = False  # true: the observation is a downsampled image (super_resolve), not entries of the grid
    train_factor: int | None = None  # super_resolve: train at this factor, query at the degradation's (zero-shot)
    range: tuple | None = (0.0, 1.0)  # the interval the loss sees the data on (module doc)
    shape: Literal[SHAPES] | None = None  # sdf | occupancy: the field of a 3-D shape (inr_recover/shapes.py), scored on a grid
    batch_size: int | None = None  # the default batch_size (the top-level key's): shapes draw 10000 points per step
    # loss and range are None for a method without a training loop under protocol=official (no recipe)

    def __post_init__(self):
        if self.loss is not None and self.loss not in LOSSES:
            raise UserError(f"task.loss='{self.loss}' is not one of {', '.join(LOSSES)}")
        if self.train_factor is not None and not (self.downsampled and isinstance(self.train_factor, int) and self.train_factor >= 1):
            raise UserError(f"task.train_factor={self.train_factor!r}: a positive integer, with task=super_resolve only")
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
        import numpy as np

        return np.where(known, observed, prediction)
