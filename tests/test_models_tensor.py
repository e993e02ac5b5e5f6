"""Low-rank tensor-function baselines (LRTFR, DRO-TFF, CRNL) and their shared pieces."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from inr_recover.data.builtin import synthetic
from inr_recover.degrade import RandomMissing, degrade
from inr_recover.errors import UserError
from inr_recover.fit import fit, grid_coords
from inr_recover.models.tensor.common import (
    FactorNet, index_coords, mode_index, mode_product, soft_threshold, sstv_l1, tv_l1,
)
from inr_recover.models.tensor.crnl import CRNL, fill_missing
from inr_recover.models.tensor.dro_tff import DROTFF
from inr_recover.models.tensor.lrtfr import LRTFR
from inr_recover.observation import Observation
from inr_recover.tasks import Task

SMALL = dict(width=16)
MODELS = {
    "lrtfr": lambda d, c, g, **kw: LRTFR(d, c, g, **SMALL, **kw),
    "dro_tff": lambda d, c, g, **kw: DROTFF(d, c, g, rank_fraction=0.75, channel_width=16, **SMALL, **kw),
    "crnl": lambda d, c, g, **kw: CRNL(d, c, g, patch=4, neighbors=3, ranks=(2, 2, 3, 2), **SMALL, **kw),
}


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def full_observation(values):
    return Observation(values=values.astype(np.float32), known=np.ones(values.shape, dtype=bool))


# --- shared pieces, against direct evaluations ---------------------------------------------------------

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
    sh = [abs(dc[i + 1, j, k] - dc[i, j, k]) for i in range(3) for j in range(5) for k in range(1, 2)]  # official: dz[..., 1:]
    sw = [abs(dc[i, j + 1, k] - dc[i, j, k]) for i in range(4) for j in range(4) for k in range(1, 2)]
    sstv = np.mean(sh) + np.mean(sw)
    t = torch.from_numpy(x)
    assert float(tv_l1(t, (0, 1))) == pytest.approx(tv, rel=1e-6)
    assert float(sstv_l1(t, (0, 1))) == pytest.approx(sstv, rel=1e-6)
    assert float(tv_l1(torch.ones(4, 5, 3), (0, 1))) == 0.0


def test_mode_product_and_index_coords():
    g = torch.randn(2, 3, 4)
    m = torch.randn(5, 3)
    np.testing.assert_allclose(mode_product(g, m, 1).numpy(), torch.einsum("arc,nr->anc", g, m).numpy(), rtol=1e-5, atol=1e-6)
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


# --- model formulas -----------------------------------------------------------------------------------

def test_lrtfr_is_the_tucker_product_and_continuous():
    torch.manual_seed(0)
    m = LRTFR(2, 4, (6, 5), down=2, width=16)
    assert m.ranks == [3, 2, 4] and tuple(m.core.shape) == (3, 2, 4)
    U, V, W = (f(mode_index(n, "cpu")) for f, n in zip(m.factors, (6, 5, 4)))
    direct = torch.einsum("abc,ia,jb,kc->ijk", m.core, U, V, W)
    out = m(grid_coords((6, 5))).reshape(6, 5, 4)
    np.testing.assert_allclose(out.detach().numpy(), direct.detach().numpy(), rtol=1e-4, atol=1e-5)
    # off-grid: the per-point path evaluates the same factor functions at fractional indices
    c = torch.tensor([[0.1, -0.33], [-1.0, 1.0]])
    i = index_coords(c, (6, 5))
    pt = torch.einsum("abc,na,nb,kc->nk", m.core, m.factors[0](i[:, 0]), m.factors[1](i[:, 1]), W)
    np.testing.assert_allclose(m(c).detach().numpy(), pt.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m(c)[1].detach().numpy(), direct[0, -1].detach().numpy(), rtol=1e-4, atol=1e-5)


def test_fill_missing_keeps_observed_and_fills_holes():
    v = torch.zeros(5, 5, 1)
    k = torch.zeros(5, 5, 1, dtype=torch.bool)
    v[0, 0], k[0, 0] = 0.8, True
    v[4, 4], k[4, 4] = 0.2, True
    est = fill_missing(v, k)
    assert est[0, 0, 0] == pytest.approx(0.8) and est[4, 4, 0] == pytest.approx(0.2)
    assert est[1, 1, 0] == pytest.approx(0.8) and est[3, 3, 0] == pytest.approx(0.2)  # nearest observed in a 3x3 window
    assert est[2, 2, 0] == pytest.approx(0.5)  # 7x7 window sees both
    assert torch.isfinite(est).all()


# --- shared hooks --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lrtfr", "dro_tff"])  # CRNL: its own objective (tests/test_faithful_tensor.py)
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
        LRTFR(2, 3, (8, 8), down=0.5)
    with pytest.raises(UserError, match="patch"):
        CRNL(2, 3, (8, 8), patch=0)
    with pytest.raises(UserError, match="sparse"):
        DROTFF(2, 3, (8, 8), sparse=-1.0)
    assert CRNL(2, 3, (6, 7)).patch == 6  # the patch is capped at the grid


@pytest.mark.parametrize("grid", [(5, 4), (4, 5, 3)])
def test_crnl_off_grid_is_multilinear_interpolation(grid):
    torch.manual_seed(0)
    m = CRNL(len(grid), 2, grid, patch=3, neighbors=2, ranks=(2, 2, 2, 2), width=8)
    x = m.render().detach()
    # halfway between grid points (1, 2[, 0]) and (2, 2[, 0]) along axis 0, and a third of the way along axis 1
    i = torch.tensor([[2.5, 3.0] + [1.0] * (len(grid) - 2), [2.0, 3 + 1 / 3] + [1.0] * (len(grid) - 2)])
    c = (i - 1) / (torch.tensor(grid, dtype=torch.float32) - 1) * 2 - 1
    z = (0,) * (len(grid) - 2)
    expected = torch.stack([(x[(1, 2, *z)] + x[(2, 2, *z)]) / 2, x[(1, 2, *z)] * 2 / 3 + x[(1, 3, *z)] / 3])
    np.testing.assert_allclose(m(c).detach().numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)


# --- completion of a low-rank tensor --------------------------------------------------------------------

def complete(model, lr, iterations, observed=0.4, shape=(24, 24, 8)):
    s = synthetic("s", shape=list(shape), kind="lowrank", rank=3)
    obs = degrade(s.values, [RandomMissing(rate=observed)], seed=0)
    optim = dict(lr=lr, iterations=iterations, weight_decay=0.0, grad_clip=None, schedule="cosine")
    r = fit(model, obs, Task("complete", loss="l2"), optim, {"method": "final"}, eval_every=iterations)
    missing = ~obs.known
    return psnr(r.prediction[missing], s.values[missing])  # on the entries the model never saw


BAR = 38.0  # dB on the missing entries; LRTFR reaches 43-46 over seeds 0-2; a rank-one factorisation 18 (test below)


def test_lrtfr_completes_lowrank_tensor():
    torch.manual_seed(0)
    assert complete(LRTFR(2, 8, (24, 24)), 1e-3, 500) > BAR


def test_wrong_rank_cannot_reach_the_bar():
    torch.manual_seed(0)
    assert complete(LRTFR(2, 8, (24, 24), down=24, down_channel=8), 1e-3, 500) < BAR - 8


def test_dro_tff_completes_lowrank_tensor():
    """The official architecture (one sine layer, PyTorch init, R = 0.7 H) reaches 28.4 dB here, well short of the
    Tucker models: its rank-one slices fit this Tucker-rank-3 tensor less well; the bar is its own."""
    torch.manual_seed(0)
    assert complete(DROTFF(2, 8, (24, 24)), 2e-3, 500) > 26.0


@pytest.mark.slow
def test_crnl_completes_lowrank_tensor():
    torch.manual_seed(0)
    # full ranks on the band and member modes: the HSI rule down=[1, 1, 3, 5] gives int(8 / 3) = 2 bands, below this
    # tensor's rank 3 (26.6 dB, the box-filled start's level); measured 52.3 dB
    assert complete(CRNL(2, 8, (24, 24), neighbors=5, down=(1, 1, 1, 1)), 1e-3, 1000) > BAR


# --- CLI ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lrtfr", pytest.param("dro_tff", marks=pytest.mark.slow), pytest.param("crnl", marks=pytest.mark.slow)])
def test_cli_two_iterations(name, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "inr_recover.cli", f"model={name}", "data=synthetic", "data.kind=lowrank",
           "data.shape=[16,16,4]", "degrade=random_0.3", "optim.iterations=2", "eval_every=1", "metrics=fast",
           "save.figures=false", "progress=false", f"hydra.run.dir={out}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((out / "results.json").read_text())
    assert r["model"]["name"] == name and r["iterations"] == 2 and r["metrics"]["psnr"] > 0
    assert np.load(out / "reconstruction.npz")["reconstruction"].shape == (16, 16, 4)


@pytest.mark.slow
def test_sparse_term_removes_impulse_noise():
    """Blind 10% salt-and-pepper, squared loss (LRTFR's Frobenius data term): S absorbs the impulses.
    (Measured: 24.8 dB without S, 31.3 dB with S. Under task.loss=l1 S changes nothing: the L1 gradient
    of X + soft(Y - X) - Y equals that of X - Y.)"""
    from inr_recover.degrade import SaltPepper

    s = synthetic("s", shape=[24, 24, 8], kind="lowrank", rank=3)
    obs = degrade(s.values, [SaltPepper(rate=0.1, known=False)], seed=0)
    optim = dict(lr=1e-3, iterations=500, weight_decay=0.0, grad_clip=None, schedule="cosine")
    out = {}
    for sp in (None, 0.05):
        torch.manual_seed(0)
        m = LRTFR(2, 8, (24, 24), down=4, down_channel=4, sparse=sp)
        r = fit(m, obs, Task("restore", loss="l2", data_consistency=False), optim, {"method": "final"}, eval_every=500)
        out[sp] = psnr(r.prediction, s.values)
    assert out[0.05] > out[None] + 4 and out[0.05] > 29
