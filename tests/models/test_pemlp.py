"""PE-MLP and random Fourier features (inr_recover/models/pemlp.py): the encodings against direct evaluations."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import random_coords

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.base import build_model, model_config


def test_pemlp_positional_encoding():
    m = build_model(model_config("pemlp", {"width": 16, "depth": 1, "n_freqs": 4}), 2, 3, Domain.on_grid((8, 8)))
    x = random_coords(10)
    parts = [x] + [torch.sin(2.0**k * x) for k in range(4)] + [torch.cos(2.0**k * x) for k in range(4)]
    torch.testing.assert_close(m.encode(x), torch.cat(parts, -1))
    assert m.first.in_features == 2 * (2 * 4 + 1)
    h = torch.relu(m.layers[0](torch.relu(m.first(torch.cat(parts, -1)))))
    torch.testing.assert_close(m.features(x), h)


def test_pemlp_random_fourier_features():
    torch.manual_seed(0)
    m = build_model(
        model_config("pemlp", {"width": 16, "encoding": "rff", "n_features": 4096, "sigma": 6.0}),
        2,
        3,
        Domain.on_grid((8, 8)),
    )
    assert m.B.shape == (4096, 2) and abs(float(m.B.std()) - 6.0) < 0.3
    x = random_coords(10)
    v = 2 * math.pi * x @ m.B.T
    torch.testing.assert_close(m.encode(x), torch.cat([torch.cos(v), torch.sin(v)], -1))


@pytest.mark.parametrize("init,gain", [("torch", 1.0), ("kaiming_relu", math.sqrt(6))])
def test_pemlp_initialisations_draw_their_uniform_bounds(init, gain):
    """torch: U(+-1/sqrt(fan_in)) (PyTorch's default); kaiming_relu: U(+-sqrt(6/fan_in)) on every layer's weights
    (BACON's FCBlock, FINER's SDF runs): the largest |w| of a 512-wide layer is within 1% of its bound."""
    torch.manual_seed(0)
    m = build_model(model_config("pemlp", {"width": 512, "depth": 1, "init": init}), 3, 1, Domain.on_grid((8, 8)))
    for layer in (m.first, m.layers[0], m.last):
        bound = gain / math.sqrt(layer.in_features)
        assert 0.99 * bound < float(layer.weight.abs().max()) <= bound


def test_an_unknown_pemlp_init_is_refused():
    with pytest.raises(UserError, match="model.init='xavier' is not one of torch, kaiming_relu"):
        build_model(model_config("pemlp", {"init": "xavier"}), 3, 1, Domain.on_grid((8, 8)))
