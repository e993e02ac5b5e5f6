"""WIRE (Saragadam et al., CVPR 2023): complex Gabor wavelet INR.

``h_1 = psi(W_0 x + b_0)`` (real W_0), ``h_{l+1} = psi(W_l h_l + b_l)`` (complex W_l), ``y = Re(W h + b)``, with
``psi(z) = exp(i w0 z - |s0 z|^2)`` (paper Eq. 5). Hidden width is ``int(width / sqrt(2))`` so that the complex
network has about as many real parameters as a real one of ``width`` (official code). PyTorch default init.
"""
from __future__ import annotations

import math

import torch

from inr_recover.measure.domain import Domain
from inr_recover.models.layers import CoordMLP, gabor


class WIRE(CoordMLP):
    def __init__(self, in_features: int, out_features: int, domain: Domain, width: int = 256, depth: int = 3,
                 omega0: float = 20.0, sigma0: float = 10.0, out_activation: str = "none"):
        super().__init__(in_features, out_features, int(width / math.sqrt(2)), depth, complex_hidden=True,
                         out_activation=out_activation)
        self.omega0, self.sigma0 = float(omega0), float(sigma0)

    def act(self, z: torch.Tensor) -> torch.Tensor:
        return gabor(z, self.omega0, self.sigma0)
