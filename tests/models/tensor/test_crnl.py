"""CRNL (inr_recover/models/tensor/crnl.py): groups and aggregation, the hole filling, off-grid interpolation,
low-rank completion."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inr_recover.models.tensor.crnl import CRNL, fill_missing

from conftest import LOWRANK_BAR, complete_lowrank


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


@pytest.mark.slow
def test_crnl_completes_lowrank_tensor():
    torch.manual_seed(0)
    # full ranks on the band and member modes: the HSI rule down=[1, 1, 3, 5] gives int(8 / 3) = 2 bands, below this
    # tensor's rank 3 (26.6 dB, the box-filled start's level); measured 52.3 dB
    assert complete_lowrank(CRNL(2, 8, (24, 24), neighbors=5, down=(1, 1, 1, 1)), 1e-3, 1000) > LOWRANK_BAR
