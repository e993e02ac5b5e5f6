"""FINER (Liu et al., CVPR 2024) and FINER++ (Zhu et al., 2024): variable-periodic activations.

With ``z = W h + b`` and ``a = |z| + 1`` detached (no gradient through the period):

- ``activation=sine`` (FINER, Eq. 6): ``sin(w0 a z)``; SIREN init (first layer U(+-1/in), others
  U(+-sqrt(6/in)/w0)), linear output.
- ``activation=gauss`` (FINER++ Gauss): ``exp(-(s * sin(wf a z))^2)`` (official ``gauss_finer_activation``;
  the FINER++ paper, Eq. 5, writes the Gaussian's scale as s0 / wf, i.e. ``s = s0 / wf``).
- ``activation=wavelet`` (FINER++ wavelet): ``exp(i w0 u - |s0 u|^2)`` with ``u = sin(wf a z)``; hidden and
  output layers complex with width ``int(width / sqrt(2))``, real part out (as WIRE). For complex ``z`` the
  factor ``a`` acts on the real and imaginary parts separately (official code).

The first-layer bias is U(-k, k), ``k = first_bias_scale`` (FINER Sec. 4.2: larger k opens higher frequencies);
``null`` keeps PyTorch's U(+-1/sqrt(in)). ``init=sine`` uses SIREN's bounds with ``init_omega`` (FINER++ code:
w0 for sine, wf for gauss, wf * w0 for wavelet); ``init=pytorch`` keeps PyTorch's default. Each layer is
re-initialised as soon as it is built, weights then (first layer) bias, the order of the official ``FinerLayer``,
``GFLayer`` and ``WFLayer`` constructors: one seed draws the official initial network.
"""
from __future__ import annotations

import math

import torch

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.layers import CoordMLP, finer_sin, gabor, gauss, siren_uniform_, uniform_bias_

ACTIVATIONS = ("sine", "gauss", "wavelet")


class FINER(CoordMLP):
    def __init__(self, in_features: int, out_features: int, domain: Domain, width: int = 256, depth: int = 3,
                 activation: str = "sine", omega0: float = 30.0, omega_f: float = 1.0, scale: float = 30.0,
                 sigma0: float = 10.0, first_bias_scale: float | None = None, init: str = "sine",
                 init_omega: float | None = None, out_activation: str = "none"):
        if activation not in ACTIVATIONS:
            raise UserError(f"model.activation='{activation}' is not one of {', '.join(ACTIVATIONS)}")
        if init not in ("sine", "pytorch"):
            raise UserError(f"model.init='{init}' is not one of sine, pytorch")
        wavelet = activation == "wavelet"
        w = (
            float(init_omega)
            if init_omega is not None
            else {"sine": omega0, "gauss": omega_f, "wavelet": omega_f * omega0}[activation]
        )

        def init_layer(linear, is_first):  # the official FinerLayer/GFLayer/WFLayer: weights, then the first bias
            if init == "sine":
                siren_uniform_(linear, is_first, w)
            if is_first:
                uniform_bias_(linear, first_bias_scale)

        super().__init__(
            in_features,
            out_features,
            int(width / math.sqrt(2)) if wavelet else width,
            depth,
            complex_hidden=wavelet,
            out_activation=out_activation,
            init_layer=init_layer,
        )
        self.activation = activation
        self.omega0, self.omega_f, self.scale, self.sigma0 = float(omega0), float(omega_f), float(scale), float(sigma0)

    def act(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "sine":
            return finer_sin(z, self.omega0)
        u = finer_sin(z, self.omega_f)
        if self.activation == "gauss":
            return gauss(u, self.scale)
        return gabor(u, self.omega0, self.sigma0)
