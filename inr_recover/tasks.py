"""Tasks: which entries drive the loss, which loss, and how the output is formed.

- ``complete``: loss on the observed entries; data consistency: observed entries are kept in the output
  (``x = M * y + (1 - M) * f``).
- ``restore``: loss on the entries not known to be missing; no data consistency (the observed entries are noisy).
- ``fit``: no degradation; loss on every entry (representation quality).
- ``recover``: a real observation without ground truth (see ``data.has_truth``); like ``complete``.

Losses are reduced as ``sum(w * rho(f - y)) / numel`` (the CHOIR code's masked-mean convention, which
also fixes the scale that gradient clipping sees).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from inr_recover.errors import UserError

LOSSES = ("l1", "l2", "huber")


@dataclass
class Task:
    name: str
    loss: str = "l1"
    data_consistency: bool = True
    huber_delta: float = 0.1
    allows_degradation: bool = True
    select: str = "final"  # what `select=auto` means for this task (inr_recover/select.py)
    patience: int | None = None  # the default select.patience (early stopping; None: never), measured per task
    min_iterations: int = 0  # the default select.min_iterations
    needs_truth: bool = True  # false: the data file is the observation itself, nothing to score against (recover)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise UserError(f"task.loss='{self.loss}' is not one of {', '.join(LOSSES)}")

    def penalty(self, residual: torch.Tensor) -> torch.Tensor:
        if self.loss == "l1":
            return residual.abs()
        if self.loss == "l2":
            return residual.square()
        return torch.nn.functional.huber_loss(residual, torch.zeros_like(residual), reduction="none", delta=self.huber_delta)

    def loss_fn(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The data term on the model output: ``sum(w * rho(pred - target)) / numel`` (module doc)."""
        return (weight * self.penalty(pred - target)).sum() / pred.numel()

    def output(self, prediction, observed, known):
        """Form the reconstruction from the model's prediction (numpy or torch arrays)."""
        if not self.data_consistency:
            return prediction
        if isinstance(prediction, torch.Tensor):
            return torch.where(known, observed, prediction)
        import numpy as np

        return np.where(known, observed, prediction)
