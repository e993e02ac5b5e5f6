"""Shared pieces of the tensor-function baselines (inr_recover/models/tensor/common.py) and the hooks every one of
them implements (sparse term, TV, 3-D and 4-D shapes, bad options, recipes), against the official code's formulas
restated here independently (issue 11).

Official code read: YisiLuo/LRTFR be8e625 (Demo_Image_inpainting.py, Demo_HSI_denoising.py), YisiLuo/CRNL 35349f7
(demo_CRNL_inpainting.py, demo_CRNL_denoising.py, utils_patch.py), Xbow-Git/DRO-TFF de297a0 (model/drotff.py,
Demo_Image_inpainting.py, Demo_Mixed_noise_removal.py). tools/official/{lrtfr,crnl,dro_tff}.py --check compares
the forward passes with the official classes themselves.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import full_observation, model_options

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.base import build_model
from inr_recover.models.tensor.common import (
    FactorNet,
    index_coords,
    mode_index,
    mode_product,
    soft_threshold,
    sstv_l1,
    tv_l1,
)
from inr_recover.models.tensor.crnl import CRNL
from inr_recover.models.tensor.dro_tff import DROTFF
from inr_recover.models.tensor.lrtfr import LRTFR

SMALL = dict(width=16)
MODELS = {
    "lrtfr": lambda d, c, g, **kw: LRTFR(d, c, Domain.on_grid(g), **SMALL, **kw),
    "dro_tff": lambda d, c, g, **kw: DROTFF(
        d, c, Domain.on_grid(g), rank_fraction=0.75, channel_width=16, **SMALL, **kw
    ),
    "crnl": lambda d, c, g, **kw: CRNL(
        d, c, Domain.on_grid(g), patch=4, neighbors=3, ranks=(2, 2, 3, 2), **SMALL, **kw
    ),
}


def test_soft_threshold_values():
    x = torch.tensor([-2.0, -0.3, 0.0, 0.1, 0.5, 3.0])
    np.testing.assert_allclose(soft_threshold(x, 0.4).numpy(), [-1.6, 0.0, 0.0, 0.0, 0.1, 2.6], atol=1e-7)
    # the closed-form minimiser of 0.5 (y - s)^2 + lam |s| over s, checked on a fine grid
    s = torch.linspace(-4, 4, 80001)
    for y in (-2.0, -0.3, 0.1, 0.5, 3.0):
        best = s[torch.argmin(0.5 * (y - s) ** 2 + 0.4 * s.abs())]
        assert float(soft_threshold(torch.tensor(y), 0.4)) == pytest.approx(float(best), abs=2e-4)


def test_tv_and_sstv_match_loops():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 3)).astype(np.float32)
    tv, sstv = 0.0, 0.0
    dh = [abs(x[i + 1, j, k] - x[i, j, k]) for i in range(3) for j in range(5) for k in range(3)]
    dw = [abs(x[i, j + 1, k] - x[i, j, k]) for i in range(4) for j in range(4) for k in range(3)]
    tv = np.mean(dh) + np.mean(dw)
    dc = np.diff(x, axis=2)
    sh = [
        abs(dc[i + 1, j, k] - dc[i, j, k]) for i in range(3) for j in range(5) for k in range(1, 2)
    ]  # official: dz[..., 1:]
    sw = [abs(dc[i, j + 1, k] - dc[i, j, k]) for i in range(4) for j in range(4) for k in range(1, 2)]
    sstv = np.mean(sh) + np.mean(sw)
    t = torch.from_numpy(x)
    assert float(tv_l1(t, (0, 1))) == pytest.approx(tv, rel=1e-6)
    assert float(sstv_l1(t, (0, 1))) == pytest.approx(sstv, rel=1e-6)
    assert float(tv_l1(torch.ones(4, 5, 3), (0, 1))) == 0.0


def test_tv_and_sstv_official_sums_on_a_known_tensor():
    """Official: gamma * torch.norm(X[1:] - X[:-1], 1) + ... and 10 gamma * torch.norm(dz[1:, :, 1:] - dz[:-1, :, 1:],
    1) + ..., dz = X[:, :, 1:] - X[:, :, :-1]. On X[i, j, k] = i^2 + 3 j + k^3 every difference has a closed form."""
    H, W, K = 4, 5, 4
    i, j, k = np.meshgrid(np.arange(H), np.arange(W), np.arange(K), indexing="ij")
    x = torch.from_numpy((i**2 + 3 * j + k**3).astype(np.float64))
    tv_h = sum((2 * a + 1) * W * K for a in range(H - 1))  # |(i+1)^2 - i^2| = 2i + 1
    tv_w = 3 * H * (W - 1) * K
    assert float(tv_l1(x, (0, 1), "sum")) == tv_h + tv_w
    # dz = (k+1)^3 - k^3 = 3k^2 + 3k + 1 depends on k only: its spatial differences vanish
    assert float(sstv_l1(x, (0, 1), "sum")) == 0.0
    y = x + torch.from_numpy((i * k**2).astype(np.float64))  # dz gains i (2k + 1); D_h dz = 2k + 1, for k >= 1 only
    expected = sum((2 * kk + 1) * (H - 1) * W for kk in range(1, K - 1))
    assert float(sstv_l1(y, (0, 1), "sum")) == expected
    assert float(tv_l1(x, (0, 1), "mean")) == pytest.approx(tv_h / ((H - 1) * W * K) + tv_w / (H * (W - 1) * K))
    assert float(sstv_l1(torch.ones(3, 3, 2), (0, 1))) == 0.0  # fewer than 3 channels: nothing to difference


def test_mode_product_and_index_coords():
    g = torch.randn(2, 3, 4)
    m = torch.randn(5, 3)
    np.testing.assert_allclose(
        mode_product(g, m, 1).numpy(), torch.einsum("arc,nr->anc", g, m).numpy(), rtol=1e-5, atol=1e-6
    )
    idx = index_coords(grid_coords((4, 6, 3)), (4, 6, 3))
    expected = torch.tensor(list(itertools.product(range(1, 5), range(1, 7), range(1, 4))), dtype=torch.float32)
    np.testing.assert_allclose(idx.numpy(), expected.numpy(), atol=1e-5)


def test_factor_net_is_two_sine_layers_and_linear():
    torch.manual_seed(0)
    f = FactorNet(rank=3, width=8, omega=2.0)
    i = mode_index(5, "cpu")
    l1, l2, l3 = f.net[0].linear, f.net[1].linear, f.net[2]
    h = torch.sin(2.0 * (i[:, None] @ l1.weight.T + l1.bias))
    h = torch.sin(2.0 * (h @ l2.weight.T + l2.bias))
    np.testing.assert_allclose(f(i).detach().numpy(), (h @ l3.weight.T + l3.bias).detach().numpy(), atol=1e-6)
    # official init: both sine layers U(-1/in, 1/in)
    assert l1.weight.abs().max() <= 1.0 and l2.weight.abs().max() <= 1.0 / 8


def test_factor_net_inits():
    torch.manual_seed(0)
    first, default, kaiming = (FactorNet(3, 400, 2.0, layers=2, init=i) for i in ("first", "torch", "kaiming"))
    w = lambda f: f.net[1].linear.weight.abs()  # noqa: E731
    assert w(first).max() <= 1 / 400 and w(first).max() > 0.9 / 400  # U(-1/in, 1/in) (official LRTFR, CRNL)
    assert w(default).max() <= 1 / 20 and w(default).max() > 0.9 / 20  # nn.Linear default U(+-1/sqrt(in)) (DRO-TFF)
    std = float(kaiming.net[1].linear.weight.detach().std())  # kaiming_normal_(a=sqrt(10)): sqrt(2 / 11) / sqrt(in)
    assert std == pytest.approx(math.sqrt(2 / 11) / 20, rel=0.02)
    with pytest.raises(UserError, match="init"):
        FactorNet(3, 8, 2.0, init="siren")


@pytest.mark.parametrize("name", ["lrtfr", "dro_tff"])  # CRNL: its own objective (test_crnl.py)
def test_sparse_term_and_tv_hooks(name):
    torch.manual_seed(0)
    grid, c = (8, 8), 3
    m = MODELS[name](2, c, grid, tv_weight=0.5, sstv_weight=0.25, sparse=0.1)
    y = np.random.default_rng(0).random((*grid, c)).astype(np.float32)
    coords = grid_coords(grid)
    m.setup(full_observation(y), coords)
    target = torch.from_numpy(y.reshape(-1, c))
    sub = torch.tensor([5, 0, 63, 17])
    out = m.training_forward(coords[sub], target[sub])
    pred = m(coords[sub]).detach()
    s = soft_threshold(target[sub] - pred, 0.1)
    np.testing.assert_allclose(out.detach().numpy(), (pred + s).numpy(), atol=1e-6)
    np.testing.assert_allclose(m.S[sub].numpy(), s.numpy(), atol=1e-6)
    assert (m.S.abs().sum(1) > 0).sum() <= 4  # only the batch's points were updated
    full = m.render()
    expected = 0.5 * tv_l1(full, (0, 1)) + 0.25 * sstv_l1(full, (0, 1))
    assert float(m.regularization().detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    m.eval()
    np.testing.assert_allclose(m.predict(coords[sub]).detach().numpy(), pred.numpy(), atol=1e-6)  # no S at inference


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("grid,c", [((9, 8), 5), ((8, 9, 4), 3)])
def test_shapes_3d_and_4d(name, grid, c):
    """3-D data (H, W, C) and 4-D nd-layout video (grid H, W, T; C channels)."""
    torch.manual_seed(0)
    m = MODELS[name](len(grid), c, grid)
    coords = grid_coords(grid)
    m.setup(full_observation(np.random.default_rng(0).random((*grid, c))), coords)
    assert m.render().shape == (*grid, c)
    out = m(coords)
    assert out.shape == (int(np.prod(grid)), c) and torch.isfinite(out).all()
    np.testing.assert_allclose(m(coords[7:12]).detach().numpy(), out[7:12].detach().numpy(), atol=1e-6)


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="down"):
        LRTFR(2, 3, Domain.on_grid((8, 8)), down=0.5)
    with pytest.raises(UserError, match="patch"):
        CRNL(2, 3, Domain.on_grid((8, 8)), patch=0)
    with pytest.raises(UserError, match="sparse"):
        DROTFF(2, 3, Domain.on_grid((8, 8)), sparse=-1.0)
    assert CRNL(2, 3, Domain.on_grid((6, 7))).patch == 6  # the patch is capped at the grid


@pytest.mark.parametrize("name", ["lrtfr", "crnl", "dro_tff"])
@pytest.mark.parametrize("task", ["complete", "restore"])
def test_recipe_blocks_build(name, task):
    """Every recipe names the keys the protocol reads, and the model builds with its task's options."""
    cfg = model_options(name)
    recipe = cfg["recipe"][task]
    assert set(recipe) == {"loss", "lr", "weight_decay", "grad_clip", "scheduler", "range", "iterations", "model"}
    cfg.update(recipe["model"])
    m = build_model(cfg, 2, 31, Domain.on_grid((16, 16)))
    assert m.render().shape == (16, 16, 31)
    if name == "dro_tff":
        assert m.rank == int(16 * (0.7 if task == "complete" else 0.3))
