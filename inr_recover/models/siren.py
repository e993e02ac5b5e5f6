"""SIREN (Sitzmann et al., NeurIPS 2020): ``h_{l+1} = sin(w0 (W_l h_l + b_l))``, linear output.

Init (paper Sec. 3.2 / official code): first layer U(-1/in, 1/in), hidden U(+-sqrt(6/in)/w0), last layer
U(+-sqrt(6/in)/w0); w0 = 30. The paper writes ``sin(w0 W x + b)``; the official code (and this module by
default) computes ``sin(w0 (W x + b))``, i.e. the bias is scaled by w0 too. ``depth`` counts hidden sine layers
after the first, so the network has ``depth + 1`` sine layers and one linear output layer.

Options for the SIREN that FreSh (Kania et al., ICLR 2025; gmum/FreSh ``src/models.py``) trains:
``first_omega0`` (the first layer's w0, FreSh's searched ``first_omega_0``; hidden layers keep ``omega0``),
``omega_on_bias=False`` (``sin(w0 W x + b)``, FreSh's ``boost_bias: False``) and ``omega_last=True`` (the output
layer computes ``w0 W h + b`` with W initialised U(+-sqrt(6/in)/w0), FreSh's ``apply_omega_when_linear: True``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.measure.domain import Domain
from inr_recover.models.base import INR
from inr_recover.models.layers import SineLayer, output_activation


class SIREN(INR):
    def __init__(self, in_features: int, out_features: int, domain: Domain, width: int = 256, depth: int = 3,
                 omega0: float = 30.0, first_omega0: float | None = None, omega_on_bias: bool = True,
                 omega_last: bool = False, out_activation: str = "none"):
        super().__init__()
        first = omega0 if first_omega0 is None else first_omega0
        self.first = SineLayer(in_features, width, first, is_first=True, omega_on_bias=omega_on_bias)
        self.layers = nn.ModuleList(SineLayer(width, width, omega0, omega_on_bias=omega_on_bias) for _ in range(depth))
        self.last = nn.Linear(width, out_features)
        with torch.no_grad():
            bound = math.sqrt(6.0 / width) / omega0
            self.last.weight.uniform_(-bound, bound)
        self.last_scale = float(omega0) if omega_last else 1.0
        self.out = output_activation(out_activation)

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.first(coords)
        for layer in self.layers:
            h = layer(h)
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.last(self.last_scale * h))
