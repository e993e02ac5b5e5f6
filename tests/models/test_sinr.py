"""S-INR (inr_recover/models/sinr.py): the batched superpixel networks equal a loop over superpixels (with their
overlap rings), the initialisation."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import extended_superpixel, random_observation

from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.base import CONFIG_ONLY, model_config
from inr_recover.models.sinr import SINR


def direct_superpixel_net(m: SINR, k: int, u: torch.Tensor) -> torch.Tensor:
    """Network ``k`` written out layer by layer for its own coordinates ``u`` (in [0, 1]), SE over all rows."""

    def se(h, i):
        z = torch.relu(h.mean(0) @ m.se_down[i][k])
        return h * torch.sigmoid(z @ m.se_up[i][k])

    h = se(torch.sin(m.omega_first * (u @ m.w_in[k] + m.b_in[k])), 0)
    for l in range(m.depth):
        h = se(torch.sin(m.omega_hidden * (h @ m.w_hid[l, k] + m.b_hid[l, k])), l + 1)
    a = se(h @ m.w_out[k] + m.b_out[k], m.depth + 1)
    return a @ m.dictionary.weight.T


@pytest.mark.parametrize("overlap", [0, 2])
def test_batched_superpixel_networks_equal_a_loop_over_superpixels(overlap):
    """Each network evaluated alone on its (extended) superpixel, outputs averaged where rings overlap."""
    torch.manual_seed(0)
    grid = (14, 12)
    m = SINR(2, 4, Domain.on_grid(grid), pixels_per_superpixel=25, width=6, depth=2, atoms=5, overlap=overlap).double()
    coords = grid_coords(grid).double()
    m.setup(random_observation(grid, 4), coords)
    m.double()
    assert m.n_superpixels > 3 and m.w_in.shape[0] == m.n_superpixels
    labels = m.labels.reshape(grid).numpy()
    total, cover = (
        torch.zeros(coords.shape[0], 4, dtype=torch.float64),
        torch.zeros(coords.shape[0], 1, dtype=torch.float64),
    )
    for k in range(m.n_superpixels):
        sel = torch.from_numpy(extended_superpixel(labels, k, overlap).reshape(-1))
        total[sel] += direct_superpixel_net(m, k, (coords[sel] + 1) / 2)
        cover[sel] += 1
    expected = total / cover
    assert (cover > 1).any() == (overlap > 0)
    perm = torch.randperm(coords.shape[0])
    torch.testing.assert_close(m(coords[perm]), expected[perm])  # row order does not matter
    # chunked / subset prediction uses whole-superpixel statistics: identical to the full-grid pass
    full = m.predict(coords)
    torch.testing.assert_close(full, expected)
    torch.testing.assert_close(torch.cat([m.predict(coords[i : i + 17]) for i in range(0, coords.shape[0], 17)]), full)


def test_sinr_init_bounds_per_network():
    m = SINR(2, 3, Domain.on_grid((8, 8)), width=35, depth=3, atoms=120)
    m._build(40, "cpu")
    assert m.w_in.shape == (40, 2, 35) and m.w_in.abs().max() <= 0.5
    assert m.w_hid.abs().max() <= math.sqrt(6 / 35) / 30 and m.w_out.abs().max() <= math.sqrt(6 / 35) / 150
    assert m.se_down[0].shape == (40, 35, 4) and m.se_down[-1].shape == (
        40,
        120,
        4,
    )  # official SE_Block(ch, int(ch / 4))
    assert not torch.allclose(m.w_in[0], m.w_in[1])  # independent networks


# ---- S-INR (paper Sec. 3.1; jiayili11/S-INR master models.py Inr_block_se) ------------------------------------------


@pytest.mark.parametrize("channels, atoms, se_out", [(3, 15, 5), (31, 124, 4)])
def test_sinr_dictionary_is_a_multiple_of_the_channels(channels, atoms, se_out):
    m = SINR(
        2,
        channels,
        Domain.on_grid((8, 8)),
        **{k: v for k, v in model_config("sinr").items() if k not in ("_target_", *CONFIG_ONLY)},
    )
    assert m.atoms == atoms and m.dictionary.weight.shape == (channels, atoms)  # 5 C for RGB, 4 C for HSI
    # official SE_Block(ch, int(ch / 4)): bottleneck ch // int(ch / 4)
    assert (
        m.se_down[0].shape[-1] == 35 // int(35 / 4) == 4
        and m.se_down[-1].shape[-1] == atoms // int(atoms / 4) == se_out
    )
    assert (
        SINR(2, 31, Domain.on_grid((8, 8)), atoms=120).se_down[-1].shape[-1] == 120 // 30 == 4
    )  # the official scripts' r = 120
