"""SIREN (Sitzmann et al., NeurIPS 2020): ``h_{l+1} = sin(w0 (W_l h_l + b_l))``, linear output.

Init (paper Sec. 3.2 / official code): first layer U(-1/in, 1/in), hidden U(+-sqrt(6/in)/w0), last layer
U(+-sqrt(6/in)/w0); w0 = 30. The paper writes ``sin(w0 W x + b)``; the official code (and this module)
computes ``sin(w0 (W x + b))``, i.e. the bias is scaled by w0 too. ``depth`` counts hidden sine layers after
the first, so the network has ``depth + 1`` sine layers and one linear output layer.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.models.base import INR
from inr_recover.models.layers import SineLayer, output_activation


class SIREN(INR):
    def __init__(self, in_features: int, out_features: int, grid: tuple, width: int = 256, depth: int = 3,
                 omega0: float = 30.0, out_activation: str = "none"):
        super().__init__()
        self.first = SineLayer(in_features, width, omega0, is_first=True)
        self.layers = nn.ModuleList(SineLayer(width, width, omega0) for _ in range(depth))
        self.last = nn.Linear(width, out_features)
        with torch.no_grad():
            bound = math.sqrt(6.0 / width) / omega0
            self.last.weight.uniform_(-bound, bound)
        self.out = output_activation(out_activation)

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.first(coords)
        for layer in self.layers:
            h = layer(h)
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.last(h))
