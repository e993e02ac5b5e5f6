"""SCONE (Li, Liu, Huang, Wong, AAAI 2024, arXiv 2312.17018): spatially collaged Fourier bases.

Layer ``l`` (``l = 0 .. L-1``) multiplies a Fourier basis of the *raw* coordinates ``x`` by a mask computed
from the previous hidden state (``h_0 = x``)::

    b_l = sin(omega_l (B_l x + c_l))                 basis, one frequency omega_l per layer
    m_l = sin^2(w0 (W_l h_l + d_l))   in [0, 1]      mask (official code); or sigmoid(W_l h_l + d_l)
    h_{l+1} = b_l * m_l

and a linear output ``y = A h_L + a``. Init as the official code (jasonli0707/scone, ``models/scone.py``):
bases with PyTorch's default ``nn.Linear`` init (U(+-1/sqrt(in)) for weight and bias); mask layers with SIREN's
init on weight *and* bias (first U(+-1/in), hidden U(+-sqrt(6/in)/w0)); the output layer the same hidden bound.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.measure.domain import Domain
from inr_recover.models.base import INR
from inr_recover.models.layers import output_activation

MASKS = ("sin2", "sigmoid")


def _siren_init_(linear: nn.Linear, bound: float) -> None:
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)
        linear.bias.uniform_(-bound, bound)


class SCONE(INR):
    def __init__(self, in_features: int, out_features: int, domain: Domain, width: int = 250,
                 omegas=(90.0, 60.0, 30.0, 10.0), omega0: float = 30.0, mask: str = "sin2",
                 out_activation: str = "none"):
        super().__init__()
        omegas = [float(w) for w in omegas]
        if not omegas:
            raise ValueError("SCONE needs at least one basis frequency in omegas")
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}")
        self.omegas, self.omega0, self.mask = omegas, float(omega0), mask
        self.bases = nn.ModuleList(nn.Linear(in_features, width) for _ in omegas)  # PyTorch default init
        self.masks = nn.ModuleList(nn.Linear(in_features if l == 0 else width, width) for l in range(len(omegas)))
        hidden_bound = math.sqrt(6.0 / width) / omega0
        for l, m in enumerate(self.masks):
            _siren_init_(m, 1.0 / in_features if l == 0 else hidden_bound)
        self.last = nn.Linear(width, out_features)
        _siren_init_(self.last, hidden_bound)
        self.out = output_activation(out_activation)

    def mask_fn(self, z: torch.Tensor) -> torch.Tensor:
        """The mask activation applied to ``W h + d``: ``sin^2(w0 z)`` or ``sigmoid(z)``, both in [0, 1]."""
        return torch.sin(self.omega0 * z).square() if self.mask == "sin2" else torch.sigmoid(z)

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        h = coords
        for omega, basis, mask in zip(self.omegas, self.bases, self.masks):
            h = torch.sin(omega * basis(coords)) * self.mask_fn(mask(h))
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.last(h))
