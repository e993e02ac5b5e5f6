"""FINER and FINER++ (inr_recover/models/finer.py): activations and initialisation against direct evaluations."""
from __future__ import annotations

import math

import torch
from conftest import random_coords

from inr_recover.measure.domain import Domain
from inr_recover.models.base import build_model, model_config


def test_finer_activation_and_init():
    torch.manual_seed(0)
    m = build_model(
        model_config("finer", {"width": 64, "depth": 0, "first_bias_scale": 2.0}), 2, 3, Domain.on_grid((8, 8))
    )
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
    torch.testing.assert_close(
        g, 30.0 * (z.abs() + 1).detach() * torch.cos(30.0 * (z.abs() + 1) * z).detach(), atol=1e-2, rtol=1e-3
    )


def test_finer_default_bias_is_pytorch_and_k_is_exposed():
    torch.manual_seed(0)
    m = build_model(model_config("finer", {"width": 512}), 2, 1, Domain.on_grid((8, 8)))
    assert m.first.bias.abs().max() <= 1 / math.sqrt(2)
    m = build_model(model_config("finer", {"width": 512, "first_bias_scale": 10.0}), 2, 1, Domain.on_grid((8, 8)))
    assert 9.0 < m.first.bias.abs().max() <= 10.0


def test_finer_wavelet_formula():
    torch.manual_seed(0)
    m = build_model(model_config("finer_wavelet", {"width": 32, "depth": 1}), 2, 1, Domain.on_grid((8, 8)))
    w0, wf, s0 = 4.0, 5.0, 2.0

    def gab(u):
        return torch.exp(1j * w0 * u - (s0 * u).abs() ** 2)

    x = random_coords()
    z1 = x @ m.first.weight.T + m.first.bias  # real
    h1 = gab(torch.sin(wf * (z1.abs() + 1) * z1))
    z2 = m.layers[0](h1)  # complex: the factor acts on Re and Im separately
    u = torch.sin(wf * torch.complex((z2.real.abs() + 1) * z2.real, (z2.imag.abs() + 1) * z2.imag))
    torch.testing.assert_close(m.features(x), gab(u))
    assert m.first.weight.abs().max() <= 1 / 2 and m.layers[0].weight.real.abs().max() <= math.sqrt(6 / 22) / (wf * w0)


# ---- FINER++ (liuzhen0212/FINERplusplus HEAD: models.py GF/WF, run.sh) -----------------------------------------


def test_finer_gauss_is_official_gf_with_run_sh_settings():
    """GFLayer.forward = exp(-(scale sin(omega (|z|+1) z))^2), run.sh --scale 3 --omega 10 --fbs 1, sine init with
    omega."""
    torch.manual_seed(0)
    m = build_model(model_config("finer_gauss", {"depth": 1}), 2, 3, Domain.on_grid((8, 8)))
    W1, b1 = m.first.weight, m.first.bias
    assert W1.abs().max() <= 1 / 2  # first layer U(+-1/in)
    assert b1.abs().max() <= 1.0 and b1.abs().max() > 0.95  # fbs 1: U(-1, 1) over 256 neurons
    assert m.layers[0].weight.abs().max() <= math.sqrt(6 / 256) / 10 < m.layers[0].weight.abs().max() * 1.05
    assert m.last.weight.abs().max() <= math.sqrt(6 / 256) / 10
    assert m.layers[0].bias.abs().max() <= 1 / math.sqrt(256)  # hidden bias: PyTorch default

    def gf(z):
        return torch.exp(-((3.0 * torch.sin(10.0 * (z.abs() + 1) * z)) ** 2))

    x = random_coords().double()
    m = m.double()
    h = gf(gf(x @ W1.double().T + b1.double()) @ m.layers[0].weight.T + m.layers[0].bias)
    torch.testing.assert_close(m.features(x), h, atol=1e-9, rtol=0)
    # not the linear network of the first commit: the activation changes the output
    assert (m.features(x) - (x @ W1.double().T + b1.double()) @ m.layers[0].weight.T).abs().max() > 0.1


def test_finer_wavelet_first_layer_bias_is_fbs_1():
    torch.manual_seed(0)
    m = build_model(model_config("finer_wavelet"), 2, 3, Domain.on_grid((8, 8)))
    b = m.first.bias
    assert b.dtype == torch.float32 and m.first.out_features == int(256 / math.sqrt(2)) == 181
    assert b.abs().max() <= 1.0 and b.abs().max() > 0.95  # run.sh --fbs 1: U(-1, 1), not PyTorch's U(+-1/sqrt(2))
    assert m.layers[0].weight.real.abs().max() <= math.sqrt(6 / 181) / (5.0 * 4.0)  # sine init with omega * omega_w


def test_a_seed_draws_the_official_initial_network():
    """FINER ``models.Finer`` and FINER++ ``GF``/``WF`` build each layer and re-initialise it at once (weights, then
    the first layer's bias U(-k, k)), so under one seed our network must equal theirs, draw for draw."""

    def official(fan, omega, k, hidden_dtype):
        torch.manual_seed(0)
        params = []
        for i, (fan_in, fan_out) in enumerate(zip(fan[:-1], fan[1:])):
            linear = torch.nn.Linear(fan_in, fan_out, dtype=torch.float32 if i == 0 else hidden_dtype)
            bound = 1 / fan_in if i == 0 else math.sqrt(6 / fan_in) / omega
            with torch.no_grad():
                linear.weight.uniform_(-bound, bound)
                if i == 0 and k is not None:
                    linear.bias.uniform_(-k, k)
            params += [linear.weight, linear.bias]
        return params

    for name, k, omega, width, dtype in [
        ("finer", None, 30.0, 32, torch.float32),
        ("finer", 1.0, 30.0, 32, torch.float32),
        ("finer_gauss", 1.0, 10.0, 32, torch.float32),
        ("finer_wavelet", 1.0, 20.0, 22, torch.cfloat),
    ]:
        torch.manual_seed(0)
        m = build_model(
            model_config(name, {"width": 32, "depth": 2, "first_bias_scale": k}), 2, 3, Domain.on_grid((8, 8))
        )
        expected = official([2, width, width, width, 3], omega, k, dtype)
        assert len(list(m.parameters())) == len(expected)
        for ours, theirs in zip(m.parameters(), expected):
            assert torch.equal(ours, theirs), name
