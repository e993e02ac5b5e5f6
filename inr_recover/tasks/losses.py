"""The data terms a task trains with (``task.loss``), one class each in :data:`LOSSES`; each method's from its recipe
under ``protocol=official`` (docs/protocols.md "Protocols"). A loss is called as ``loss(f, y, w, groups)`` on the
measured output ``f``, the targets ``y`` and the loss weights ``w`` (the mask of the entries the loss may see), and
gives :meth:`Loss.penalty`, the per-entry penalty of a residual that ``select.error=penalty`` averages.

- ``l1``, ``l2``, ``huber``: ``sum(w * rho(f - y)) / numel``, the masked mean over all entries (CHOIR's
  ``L1Loss(f M, y M)``; SIREN's ``mean(M (f - y)^2)``, which FINER/FINER++/SCONE/FreSh's MSE equals with a mask).
- ``fro``: ``||w (f - y)||_2``, the Frobenius norm, neither squared nor averaged (LRTFR, DRO-TFF, CRNL:
  ``torch.norm(X_Out * mask - X * mask, 2)``).
- ``group_fro``: ``sum_j ||w_j (f_j - y_j)||_2`` over the model's loss groups (:meth:`INR.loss_groups`; S-INR: its
  superpixels, ``sinr_completion.py``); one group (``fro``) for a model without groups.
- ``bce``: binary cross-entropy of the output as a logit against 0/1 labels, ``sum(w * BCE(f, y)) / numel``
  (``task=occupancy``).
- ``sse``: ``sum(w * (f - y)^2)``, the weighted sum of squared errors, not averaged (BACON's ``overfit_sdf``, which
  FINER++'s SDF runs train with: the fine half's sum plus the coarse half's times its weight, liuzhen0212/FINER
  sdf/bacon/loss_functions.py:122-143).

The scale sets what gradient clipping (``optim.grad_clip``, a bound on the parameters' gradient norm) and weight
decay see: a mean loss's gradient is ``1 / numel`` of the summed one, while ``fro``'s gradient with respect to the
output is the unit vector ``w (f - y) / ||w (f - y)||`` whatever the size; Adam's step itself is invariant to a
constant factor on the loss (up to its eps), not to clipping or weight decay, which is why each recipe keeps its
own loss, clipping and decay together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Loss:
    """``sum(w * penalty(f - y)) / numel`` (module doc); ``delta``: Huber's (``task.huber_delta``), unused by the
    others."""

    delta: float = 0.1

    def penalty(self, residual: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(
        self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, groups: torch.Tensor | None = None
    ) -> torch.Tensor:
        return (weight * self.penalty(pred - target)).sum() / pred.numel()


class L1(Loss):
    def penalty(self, residual):
        """``|r|``."""
        return residual.abs()


class L2(Loss):
    def penalty(self, residual):
        """``r^2``."""
        return residual.square()


class Huber(Loss):
    def penalty(self, residual):
        """Huber's ``r^2 / 2`` within ``delta``, ``delta (|r| - delta / 2)`` beyond."""
        return torch.nn.functional.huber_loss(residual, torch.zeros_like(residual), reduction="none", delta=self.delta)


class Fro(L2):
    """``||w (f - y)||_2``; its penalty is ``r^2``, monotone in the sum of squares."""

    def __call__(self, pred, target, weight, groups=None):
        return torch.linalg.vector_norm(weight * (pred - target))


class GroupFro(L2):
    """``sum_j ||w_j (f_j - y_j)||_2`` over ``groups`` (``(ids, count)``: one id per row, ids below ``count``; None:
    one group, :class:`Fro`); penalty ``r^2``. Nothing is read back from the device: the group count is the model's."""

    def __call__(self, pred, target, weight, groups=None):
        if groups is None:
            return torch.linalg.vector_norm(weight * (pred - target))
        ids, count = groups
        sq = torch.zeros(count, dtype=pred.dtype, device=pred.device)
        sq = sq.index_add(0, ids, (weight * (pred - target)).square().sum(-1))
        hit = sq > 0  # groups with a zero residual have a zero (sub)gradient: sqrt is kept away from 0
        return torch.where(hit, torch.where(hit, sq, 1.0).sqrt(), 0.0).sum()


class BCE(Huber):
    """``sum(w * BCE(f, y)) / numel`` with ``f`` a logit and ``y`` 0/1; its :meth:`penalty` (``select.error=penalty``)
    is Huber's of the logit's residual, a residual alone not giving the cross-entropy."""

    def __call__(self, pred, target, weight, groups=None):
        bce = torch.nn.functional.binary_cross_entropy_with_logits(pred, target, reduction="none")
        return (weight * bce).sum() / pred.numel()


class SSE(L2):
    """``sum(w (f - y)^2)``; its penalty is ``r^2``."""

    def __call__(self, pred, target, weight, groups=None):
        return (weight * self.penalty(pred - target)).sum()


LOSSES = {"l1": L1, "l2": L2, "huber": Huber, "fro": Fro, "group_fro": GroupFro, "bce": BCE, "sse": SSE}
