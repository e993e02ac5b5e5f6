"""FINER and FINER++ (inr_recover/models/finer.py): activations and initialisation against direct evaluations."""
from __future__ import annotations

import math

import torch

from inr_recover.models.base import build_model, model_config

from conftest import random_coords


def test_finer_activation_and_init():
    torch.manual_seed(0)
    m = build_model(model_config("finer", {"width": 64, "depth": 0, "first_bias_scale": 2.0}), 2, 3, (8, 8))
    W, b = m.first.weight, m.first.bias
    assert W.abs().max() <= 1 / 2 and b.abs().max() <= 2.0 and b.abs().max() > 1.0  # U(+-1/in), U(-k, k)
    assert m.last.weight.abs().max() <= math.sqrt(6 / 64) / 30
    x = random_coords(40).requires_grad_(False)
    z = (x @ W.T + b).detach().requires_grad_(True)
    h = torch.sin(30.0 * (z.abs() + 1) * z)
    torch.testing.assert_close(m.act(z), h, atol=1e-4, rtol=0)  # arguments reach ~200 rad: float32 rounding
    torch.testing.assert_close(m.features(x), h.detach(), atol=1e-4, rtol=0)
    # |z| + 1 is detached: d/dz = w0 (|z| + 1) cos(w0 (|z| + 1) z), no sign(z) z term
    (g,) = torch.autograd.grad(m.act(z).sum(), z)
    torch.testing.assert_close(g, 30.0 * (z.abs() + 1).detach() * torch.cos(30.0 * (z.abs() + 1) * z).detach(), atol=1e-2, rtol=1e-3)


def test_finer_default_bias_is_pytorch_and_k_is_exposed():
    torch.manual_seed(0)
    m = build_model(model_config("finer", {"width": 512}), 2, 1, (8, 8))
    assert m.first.bias.abs().max() <= 1 / math.sqrt(2)
    m = build_model(model_config("finer", {"width": 512, "first_bias_scale": 10.0}), 2, 1, (8, 8))
    assert 9.0 < m.first.bias.abs().max() <= 10.0


def test_finer_gauss_formula():
    torch.manual_seed(0)
    m = build_model(model_config("finer_gauss", {"width": 32, "depth": 1}), 2, 3, (8, 8))
    x = random_coords()
    z1 = x @ m.first.weight.T + m.first.bias
    gf = lambda z: torch.exp(-((30.0 / 2.5 * torch.sin(2.5 * (z.abs() + 1) * z)) ** 2))
    h = gf(m.layers[0](gf(z1)))
    torch.testing.assert_close(m.features(x), h, atol=1e-4, rtol=0)
    assert m.first.weight.abs().max() <= 1 / 2 and m.layers[0].weight.abs().max() <= math.sqrt(6 / 32) / 2.5


def test_finer_wavelet_formula():
    torch.manual_seed(0)
    m = build_model(model_config("finer_wavelet", {"width": 32, "depth": 1}), 2, 1, (8, 8))
    w0, wf, s0 = 4.0, 5.0, 2.0
    gab = lambda u: torch.exp(1j * w0 * u - (s0 * u).abs() ** 2)
    x = random_coords()
    z1 = x @ m.first.weight.T + m.first.bias  # real
    h1 = gab(torch.sin(wf * (z1.abs() + 1) * z1))
    z2 = m.layers[0](h1)  # complex: the factor acts on Re and Im separately
    u = torch.sin(wf * torch.complex((z2.real.abs() + 1) * z2.real, (z2.imag.abs() + 1) * z2.imag))
    torch.testing.assert_close(m.features(x), gab(u))
    assert m.first.weight.abs().max() <= 1 / 2 and m.layers[0].weight.real.abs().max() <= math.sqrt(6 / 22) / (wf * w0)
