"""CHOIR (inr_recover/models/choir.py): PSC frequencies and amplitudes, CHS residual blocks, the ablation to SIREN."""
import math

import pytest
import torch
from conftest import random_coords

from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.base import CONFIG_ONLY, model_config
from inr_recover.models.choir import CHOIR, psc_frequencies
from inr_recover.models.siren import SIREN


def test_frequencies_log_uniform_in_range():
    w = psc_frequencies(128, Domain.on_grid((256, 256)), 0.125)
    assert w[0].item() == pytest.approx(math.pi)
    assert w[-1].item() == pytest.approx(0.125 * math.pi * 256 / 2)
    ratios = w[1:] / w[:-1]
    assert torch.allclose(ratios, ratios[0].expand_as(ratios), rtol=1e-4)  # evenly spaced in log
    assert psc_frequencies(8, Domain.on_grid((64, 300)), 1.0)[-1].item() == pytest.approx(math.pi * 64 / 2)  # min(H, W)


def test_amplitudes_power_law_at_init():
    m = CHOIR(2, 3, Domain.on_grid((64, 64)), width=16, depth=2, alpha_init=2.0)
    w = m.first.omega
    geo = torch.exp(torch.log(w).mean())
    expected = (geo / w) ** (2.0 / 2)
    for layer in range(3):
        torch.testing.assert_close(m.amplitude(layer), expected)
    assert torch.exp(m.log_alpha).tolist() == pytest.approx([2.0] * 3)


def test_residual_blocks_are_identity_at_init():
    torch.manual_seed(0)
    m = CHOIR(2, 5, Domain.on_grid((32, 32)), width=32, depth=4)
    x = grid_coords((8, 8))
    assert torch.all(m.beta == 0)
    h0 = m.first(x, m.amplitude(0))
    torch.testing.assert_close(m.features(x), h0)
    torch.testing.assert_close(m(x), torch.sigmoid(m.last(h0)))


def test_paper_variant_linear_at_init():
    torch.manual_seed(0)
    m = CHOIR(2, 3, Domain.on_grid((32, 32)), width=32, depth=4, first_layer="linear", out_activation="none")
    x = grid_coords((8, 8))
    y = m(x)
    # affine in the coordinates: f(a) + f(b) - f(c) = f(a + b - c)
    a, b, c = x[:10], x[10:20], x[20:30]
    torch.testing.assert_close(y[:10] + y[10:20] - y[20:30], m(a + b - c), atol=1e-5, rtol=1e-5)


def test_first_layer_formula_matches_direct_evaluation():
    torch.manual_seed(0)
    m = CHOIR(2, 3, Domain.on_grid((64, 64)), width=16, depth=1)
    x = torch.rand(7, 2) * 2 - 1
    W, b, w = m.first.linear.weight, m.first.linear.bias, m.first.omega
    direct = (torch.exp(torch.log(w).mean()) / w) ** 1.0 * torch.sin(w * (x @ W.T + b))
    torch.testing.assert_close(m.first(x, m.amplitude(0)), direct)
    assert W.abs().max() <= 1 / 2  # SIREN first-layer init U(-1/in, 1/in)
    hid = m.layers[0].linear.weight
    assert hid.abs().max() <= math.sqrt(6 / 16) / w.mean()


def test_switches_change_the_network():
    x = torch.rand(20, 2) * 2 - 1
    outs = {}
    for chs in (True, False):
        for psc in (True, False):
            torch.manual_seed(0)
            m = CHOIR(2, 3, Domain.on_grid((64, 64)), width=16, depth=2, chs=chs, psc=psc)
            outs[chs, psc] = m(x)
            assert hasattr(m, "beta") == chs and hasattr(m, "log_alpha") == psc
    assert not torch.allclose(outs[True, True], outs[False, True])
    assert not torch.allclose(outs[True, True], outs[True, False])


def test_gradients_reach_beta_and_alpha():
    m = CHOIR(2, 3, Domain.on_grid((32, 32)), width=16, depth=2)
    m(torch.rand(30, 2)).sum().backward()
    assert m.beta.grad is not None and m.beta.grad.abs().sum() > 0
    assert m.log_alpha.grad is not None and m.log_alpha.grad.abs().sum() > 0


# ---- CHOIR ablation: both switches off is SIREN (paper Table 4 "Sine") ---------------------------------------------


def test_choir_ablation_output_equals_siren_for_identical_weights():
    cfg = {k: v for k, v in model_config("choir", {"chs": False, "psc": False, "width": 24, "depth": 3}).items()
           if k not in ("_target_", *CONFIG_ONLY)}
    torch.manual_seed(3)
    a = CHOIR(2, 4, Domain.on_grid((32, 32)), **cfg)
    torch.manual_seed(3)
    b = SIREN(2, 4, Domain.on_grid((32, 32)), width=24, depth=3, omega0=30.0)
    x = random_coords(50)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert not hasattr(a, "beta") and not hasattr(a, "log_alpha")
    assert (a(x) < 0).any()  # linear output, not a sigmoid
    torch.manual_seed(3)
    c = CHOIR(2, 4, Domain.on_grid((32, 32)), **{**cfg, "chs": True})
    assert (c(x) > 0).all() and (c(x) < 1).all()  # CHOIR itself keeps its sigmoid
