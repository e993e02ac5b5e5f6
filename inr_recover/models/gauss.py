"""Gaussian-activated INR (Ramasinghe & Lucey, ECCV 2022): ``h_{l+1} = exp(-(s (W_l h_l + b_l))^2)``, linear output.

Initialisation is PyTorch's default (as the official WIRE/FINER++ benchmark code); s = 30 for fitting.
"""
from __future__ import annotations

import torch

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.layers import CoordMLP, gauss


class Gauss(CoordMLP):
    def __init__(self, in_features: int, out_features: int, domain: Domain, width: int = 256, depth: int = 3,
                 scale: float = 30.0, out_activation: str = "none"):
        if scale <= 0:
            raise UserError(f"model.scale must be > 0, got {scale}")
        super().__init__(in_features, out_features, width, depth, out_activation=out_activation)
        self.scale = float(scale)

    def act(self, z: torch.Tensor) -> torch.Tensor:
        return gauss(z, self.scale)
