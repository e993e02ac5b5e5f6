"""FreSh (inr_recover/models/fresh.py): spectra, the fill of missing entries, and the frequency it picks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import random_coords

from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.measure.observation import Observation
from inr_recover.models.base import build_model, model_config
from inr_recover.models.fresh import fill_missing, spectrum, wasserstein


def _official_spectrum(y):
    """gmum/FreSh spectum_utils.get_spectrum (2-D), restated: |fftn| summed over channels, times get_2d_fft_mask,
    rows flipped, the sums of the diagonals -(n-1)..(n-1), DC dropped."""
    n, h = y.shape[0], y.shape[0] // 2
    mask = torch.triu(torch.ones(n, n)) + torch.diag(torch.cat([torch.ones(h), torch.zeros(n - 1 - h)]), diagonal=-1)
    mask = mask.flip(1)
    mask[1 + h:, 0] = 0
    mask[0, 1 + h:] = 0
    a = torch.flip(torch.fft.fftn(y, dim=(0, 1)).abs().sum(-1) * mask, dims=[0])
    return torch.stack([torch.diag(a, k).sum() for k in range(-n + 1, n)])[1:]


def test_spectrum_is_the_official_one_on_square_grids():
    for n in (7, 8):
        y = torch.randn(n, n, 3, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
        torch.testing.assert_close(spectrum(y, 2 * n - 2), _official_spectrum(y), atol=1e-4, rtol=1e-5)
    # the mixed-sign frequency (1, -2) of a 16 x 16 grid sits in shell i + j = 1 + 14 = 15 (not its L1 radius 3)
    i, j = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    s = spectrum(torch.cos(2 * math.pi * (i - 2 * j) / 16)[..., None], 16)
    assert s[14] > 0 and float(s[torch.arange(16) != 14].abs().max()) < 1e-6 * float(s[14])


def test_spectrum_and_wasserstein():
    n = torch.arange(32.0)
    y = torch.cos(2 * math.pi * 3 * n / 32)[:, None, None].expand(32, 32, 2)  # all energy at |k| = (3, 0)
    s = spectrum(y.contiguous(), 8)
    assert s.shape == (8,) and s[2] > 0 and bool((s[torch.arange(8) != 2] < 1e-6 * s[2]).all())

    def e(i):
        return torch.eye(5, dtype=torch.float64)[i]

    assert wasserstein(e(0), e(3)) == pytest.approx(3.0) and wasserstein(e(1), e(1)) == 0.0


def test_fill_uses_only_observed_entries():
    rng = np.random.default_rng(0)
    v = rng.random((16, 16, 2)).astype(np.float32)
    known = rng.random(v.shape) < 0.4
    a = fill_missing(np.where(known, v, 0.0).astype(np.float32), known)
    b = fill_missing(np.where(known, v, 123.0).astype(np.float32), known)  # garbage where not observed
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[known], v[known])


def _fresh_choice(kind: str) -> float:
    grid = (48, 48)
    c = grid_coords(grid).reshape(*grid, 2).numpy()
    f = 1.0 if kind == "smooth" else 12.0
    v = (0.5 + 0.5 * np.sin(f * np.pi * c[..., 0]) * np.cos(f * np.pi * c[..., 1]))[..., None].astype(np.float32)
    known = np.random.default_rng(1).random(v.shape) < 0.5
    obs = Observation(np.where(known, v, 0.0).astype(np.float32), known)
    torch.manual_seed(0)
    m = build_model(
        model_config("fresh", {"backbone_options": {"width": 32, "depth": 1}, "inits": 2, "bins": 16}),
        2,
        1,
        Domain.on_grid(grid),
    )
    m.setup(obs, grid_coords(grid))
    assert set(m.distances) == set(float(w) for w in range(10, 201, 10)) and m.chosen in m.distances
    assert m.backbone.first.omega == m.chosen
    return m.chosen


def test_fresh_picks_lower_w0_for_smooth_than_for_high_frequency_observation():
    smooth, rough = _fresh_choice("smooth"), _fresh_choice("rough")
    assert smooth < rough and smooth <= 20 and rough >= 40


def test_fresh_search_does_not_change_the_seeded_init():
    obs = Observation(np.random.default_rng(0).random((8, 8, 1)).astype(np.float32), np.ones((8, 8, 1), bool))
    cfg = model_config(
        "fresh", {"backbone_options": {"width": 8, "depth": 1}, "inits": 2, "candidates": [30.0], "bins": 4}
    )

    def searched(c):
        torch.manual_seed(0)
        m = build_model(c, 2, 1, Domain.on_grid((8, 8)))
        m.setup(obs, grid_coords((8, 8)))
        return m

    a, b, c = (searched(c) for c in (cfg, dict(cfg, inits=5), dict(cfg, candidates=[10.0, 30.0, 50.0])))
    alone = searched(dict(cfg, candidates=[c.chosen]))  # the w0 the three-way search chose, searched alone
    x = random_coords(5)
    # how many networks were scored does not move the trained model's init (the search runs on a forked RNG)
    torch.testing.assert_close(a(x), b(x))
    assert alone.chosen == c.chosen
    torch.testing.assert_close(c(x), alone(x))


def test_fresh_backbones_finer_and_rff():
    obs = Observation(np.random.default_rng(0).random((10, 10, 2)).astype(np.float32), np.ones((10, 10, 2), bool))
    for backbone, param, vals in [("finer", "first_bias_scale", [0.0, 1.5]), ("pemlp", "sigma", [1.0, 8.0])]:
        m = build_model(
            model_config(
                "fresh",
                {
                    "backbone": backbone,
                    "backbone_options": {"width": 8, "depth": 1},
                    "inits": 1,
                    "candidates": vals,
                    "bins": 4,
                },
            ),
            2,
            2,
            Domain.on_grid((10, 10)),
        )
        m.setup(obs, grid_coords((10, 10)))
        assert m.param == param and m.chosen in vals
        assert m(random_coords(3)).shape == (3, 2)


# ---- FreSh (gmum/FreSh: src/models.py Siren with configs/siren_base.yaml) -----------------------------------------


def _fresh_after_setup(backbone, candidates, **options):
    obs = Observation(np.random.default_rng(0).random((12, 12, 2)).astype(np.float32), np.ones((12, 12, 2), bool))
    cfg = model_config(
        "fresh", {"backbone": backbone, "candidates": candidates, "inits": 1, "bins": 4, "backbone_options": options}
    )
    m = build_model(cfg, 2, 2, Domain.on_grid((12, 12)))
    m.setup(obs, grid_coords((12, 12)))
    return m


def test_fresh_siren_searches_only_the_first_omega_and_keeps_the_bias_outside():
    m = _fresh_after_setup("siren", [60.0], width=16, depth=2)
    b = m.backbone
    assert m.param == "first_omega0" and m.chosen == 60.0
    assert float(b.first.omega) == 60.0 and [float(l.omega) for l in b.layers] == [30.0, 30.0]  # hidden stays 30
    # official SineLayer(boost_bias=False): sin(linear(omega x)) = sin(omega W x + b); last layer with
    # apply_omega_when_linear: linear(omega x) = omega W h + b, W ~ U(+-sqrt(6/in)/omega)
    assert b.last.weight.abs().max() <= math.sqrt(6 / 16) / 30
    b = b.double()
    x = random_coords().double()

    def lin(layer, h, w):
        return (w * h) @ layer.weight.T + layer.bias

    h = torch.sin(lin(b.first.linear, x, 60.0))
    for layer in b.layers:
        h = torch.sin(lin(layer.linear, h, 30.0))
    torch.testing.assert_close(b(x), lin(b.last, h, 30.0), atol=1e-10, rtol=0)


def test_fresh_rff_backbone_is_fourier_features_mlp():
    """FourierFeaturesMLP: GaussianEncoding(encoded_size=width/2) then 3 x (Linear, ReLU) then Linear."""
    m = _fresh_after_setup("pemlp", [4.0], width=16)
    b = m.backbone
    assert b.encoding == "rff" and b.B.shape == (8, 2) and b.first.in_features == 16 and len(b.layers) == 2
