"""LRTFR (inr_recover/models/tensor/lrtfr.py): the Tucker formula with the official ranks and init (YisiLuo/LRTFR
be8e625, restated here independently), low-rank completion, the sparse term on impulses."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import LOWRANK_BAR, complete_lowrank, make_optim, model_options, psnr, sine_mlp

from inr_recover.data.builtin import synthetic
from inr_recover.engine.fit import fit
from inr_recover.engine.select import Final
from inr_recover.measure.degrade import degrade
from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.base import build_model
from inr_recover.models.tensor.common import index_coords, mode_index
from inr_recover.models.tensor.lrtfr import LRTFR
from inr_recover.tasks.entries import Recovery


def test_lrtfr_is_the_tucker_product_and_continuous():
    torch.manual_seed(0)
    m = LRTFR(2, 4, Domain.on_grid((6, 5)), down=2, width=16)
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


def test_lrtfr_is_the_tucker_product_of_factor_inrs_with_official_ranks_and_init():
    torch.manual_seed(0)
    m = build_model(model_options("lrtfr", "model.down=4", "model.down_channel=4"), 2, 9, Domain.on_grid((12, 10)))
    assert m.ranks == [3, 2, 2]  # int(n / 4): official r_1 = int(n_1 / down)
    bound = 1 / math.sqrt(3)  # official stdv = 1 / sqrt(centre.size(0))
    assert m.core.abs().max() <= bound
    for f in m.factors:  # two sine layers, both U(-1/in, 1/in) (is_first=True), width n_2, w0 2
        assert len(f.net) == 3 and f.net[0].linear.out_features == 10 and float(f.net[0].omega) == 2.0
        assert f.net[1].linear.weight.abs().max() <= 1 / 10
    U, V, Wc = (sine_mlp(f.net, np.arange(1, n + 1)) for f, n in zip(m.factors, (12, 10, 9)))
    direct = np.einsum("abc,ia,jb,kc->ijk", m.core.detach().double().numpy(), U, V, Wc)
    np.testing.assert_allclose(m.render().detach().numpy(), direct, rtol=1e-4, atol=1e-5)


def test_lrtfr_completes_lowrank_tensor():
    torch.manual_seed(0)
    assert complete_lowrank(LRTFR(2, 8, Domain.on_grid((24, 24))), 1e-3, 500) > LOWRANK_BAR


def test_wrong_rank_cannot_reach_the_bar():
    torch.manual_seed(0)
    assert complete_lowrank(LRTFR(2, 8, Domain.on_grid((24, 24)), down=24, down_channel=8), 1e-3, 500) < LOWRANK_BAR - 8


@pytest.mark.slow
def test_sparse_term_removes_impulse_noise():
    """Blind 10% salt-and-pepper, squared loss (LRTFR's Frobenius data term): S absorbs the impulses.
    (Measured at 300 iterations: 24.1 dB without S, 31.2 dB with S; 24.8 and 31.3 at 500. Under task.loss=l1 S changes
    nothing: the L1 gradient of X + soft(Y - X) - Y equals that of X - Y.)"""
    from inr_recover.measure.degrade import SaltPepper

    s = synthetic("s", shape=[24, 24, 8], kind="lowrank", rank=3)
    obs = degrade(s.values, [SaltPepper(rate=0.1, known=False)], seed=0)
    optim = make_optim(
        "optim.lr=1e-3", "optim.iterations=300", "optim.weight_decay=0", "optim.grad_clip=null", "scheduler.eta_min=0"
    )
    task = Recovery("restore", loss="l2", data_consistency=False)
    out = {}
    for sp in (None, 0.05):
        torch.manual_seed(0)
        m = LRTFR(2, 8, Domain.on_grid((24, 24)), down=4, down_channel=4, sparse=sp)
        r = fit(m, obs, task, optim, Final(task, obs, 0), eval_every=300)
        out[sp] = psnr(r.prediction, s.values)
    assert out[0.05] > out[None] + 4 and out[0.05] > 29
