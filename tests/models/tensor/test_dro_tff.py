"""DRO-TFF (inr_recover/models/tensor/dro_tff.py): the deep rank-one formula and low-rank completion."""
from __future__ import annotations

import numpy as np
import torch

from inr_recover.grid import grid_coords
from inr_recover.models.tensor.common import mode_index
from inr_recover.models.tensor.dro_tff import DROTFF

from conftest import LOWRANK_BAR, complete_lowrank


def test_dro_tff_is_the_deep_rank_one_formula():
    torch.manual_seed(0)
    m = DROTFF(2, 3, (5, 4), rank=4, depth=3, width=8, slope=0.1)
    A, B = (f(mode_index(n, "cpu")) for f, n in zip(m.factors, (5, 4)))
    Hk = m.spectral(mode_index(3, "cpu"))
    z = torch.einsum("ir,jr->ijr", A, B)  # rank-one slices a_r b_r^T
    for h in m.transforms:
        z = z @ h.weight.T
        z = torch.where(z > 0, z, 0.1 * z)
    direct = z @ Hk.T
    np.testing.assert_allclose(m(grid_coords((5, 4))).reshape(5, 4, 3).detach().numpy(), direct.detach().numpy(), rtol=1e-4, atol=1e-6)
    assert len(m.transforms) == 2


def test_dro_tff_completes_lowrank_tensor():
    torch.manual_seed(0)
    assert complete_lowrank(DROTFF(2, 8, (24, 24)), 2e-3, 500) > LOWRANK_BAR
