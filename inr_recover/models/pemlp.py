"""PEMLP: a ReLU MLP on a Fourier encoding of the coordinates.

- ``encoding=pe`` (NeRF positional encoding, Mildenhall et al. 2020, Eq. 4, as in the FINER/FINER++ code):
  ``gamma(x) = [x, sin(2^k x), cos(2^k x)]`` for k = 0..L-1 (no pi factor, as the official benchmark code).
- ``encoding=rff`` (Gaussian random Fourier features, Tancik et al., NeurIPS 2020, Sec. 5):
  ``gamma(x) = [cos(2 pi B x), sin(2 pi B x)]`` with B (m x d) ~ N(0, sigma^2), fixed after init.

``init``: ``torch`` (PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, the image benchmarks') or
``kaiming_relu`` (``kaiming_uniform_(nonlinearity='relu')``: ``U(-sqrt(6/fan_in), sqrt(6/fan_in))`` on every layer's
weights, the biases PyTorch's: BACON's ReLU ``FCBlock``, which FINER's SDF runs use).
"""
from __future__ import annotations

import math

import torch

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.layers import CoordMLP


def kaiming_relu(linear: torch.nn.Linear, is_first: bool) -> None:
    torch.nn.init.kaiming_uniform_(linear.weight, nonlinearity="relu")


INITS = {"torch": None, "kaiming_relu": kaiming_relu}


class PEMLP(CoordMLP):
    def __init__(self, in_features: int, out_features: int, domain: Domain, width: int = 256, depth: int = 3,
                 encoding: str = "pe", n_freqs: int = 10, n_features: int = 256, sigma: float = 10.0,
                 out_activation: str = "none", init: str = "torch"):
        if init not in INITS:
            raise UserError(f"model.init='{init}' is not one of {', '.join(INITS)}")
        if encoding == "pe":
            if n_freqs < 1:
                raise UserError(f"model.n_freqs must be >= 1, got {n_freqs}")
            enc_dim = in_features * (2 * n_freqs + 1)
        elif encoding == "rff":
            if n_features < 1 or sigma <= 0:
                raise UserError(f"model.n_features must be >= 1 and model.sigma > 0, got {n_features}, {sigma}")
            enc_dim = 2 * n_features
        else:
            raise UserError(f"model.encoding='{encoding}' is not one of pe, rff")
        super().__init__(enc_dim, out_features, width, depth, out_activation=out_activation, init_layer=INITS[init])
        self.encoding = encoding
        self.register_buffer("freqs", 2.0 ** torch.arange(n_freqs, dtype=torch.float32))
        self.register_buffer("B", torch.randn(n_features if encoding == "rff" else 0, in_features) * sigma)

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        if self.encoding == "rff":
            v = 2 * math.pi * coords @ self.B.T
            return torch.cat([torch.cos(v), torch.sin(v)], dim=-1)
        v = (coords[..., None, :] * self.freqs[:, None]).flatten(-2)  # (N, L*d): 2^k x, k-major
        return torch.cat([coords, torch.sin(v), torch.cos(v)], dim=-1)

    def act(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)
