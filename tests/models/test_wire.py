"""WIRE (inr_recover/models/wire.py): the complex Gabor wavelet network against a direct evaluation."""
from __future__ import annotations

import math

import torch
from conftest import random_coords

from inr_recover.measure.domain import Domain
from inr_recover.models.base import build_model, model_config


def test_wire_complex_gabor():
    torch.manual_seed(0)
    m = build_model(model_config("wire", {"width": 64, "depth": 1}), 2, 3, Domain.on_grid((8, 8)))
    assert m.first.weight.dtype == torch.float32 and m.layers[0].weight.dtype == torch.complex64
    assert m.first.out_features == int(64 / math.sqrt(2)) == 45
    x = random_coords()
    z = (x @ m.first.weight.T + m.first.bias).double()
    h1 = torch.exp(-((10.0 * z) ** 2)) * torch.complex(torch.cos(20.0 * z), torch.sin(20.0 * z))
    z2 = h1 @ m.layers[0].weight.T.to(torch.complex128) + m.layers[0].bias.to(torch.complex128)
    h2 = torch.exp(-(10.0 * z2.abs()) ** 2) * torch.exp(1j * 20.0 * z2)  # exp(i w0 z - |s0 z|^2) for complex z
    torch.testing.assert_close(m.features(x).to(torch.complex128), h2, atol=1e-5, rtol=1e-4)
    y = (h2 @ m.last.weight.T.to(torch.complex128) + m.last.bias.to(torch.complex128)).real
    torch.testing.assert_close(m(x).double(), y, atol=1e-5, rtol=1e-4)
