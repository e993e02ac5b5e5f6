"""CRNL (inr_recover/models/tensor/crnl.py): padding, patch groups, tiling and objective of the official code
(YisiLuo/CRNL 35349f7: demo_CRNL_inpainting.py, demo_CRNL_denoising.py, utils_patch.py; restated here
independently), the hole filling, off-grid interpolation, low-rank completion."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import LOWRANK_BAR, complete_lowrank, masked_observation

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.tensor.crnl import CRNL, fill_missing, pad_index


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
    m = CRNL(len(grid), 2, Domain.on_grid(grid), patch=3, neighbors=2, ranks=(2, 2, 2, 2), width=8)
    x = m.render().detach()
    # halfway between grid points (1, 2[, 0]) and (2, 2[, 0]) along axis 0, and a third of the way along axis 1
    i = torch.tensor([[2.5, 3.0] + [1.0] * (len(grid) - 2), [2.0, 3 + 1 / 3] + [1.0] * (len(grid) - 2)])
    c = (i - 1) / (torch.tensor(grid, dtype=torch.float32) - 1) * 2 - 1
    z = (0,) * (len(grid) - 2)
    expected = torch.stack([(x[(1, 2, *z)] + x[(2, 2, *z)]) / 2, x[(1, 2, *z)] * 2 / 3 + x[(1, 3, *z)] / 3])
    np.testing.assert_allclose(m(c).detach().numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)


def test_crnl_padding_lattice_and_ranks_follow_the_official_rules():
    m = CRNL(2, 31, Domain.on_grid((128, 128)))
    # add_pad: (128 - 6) % 5 = 2, so 5 - 2 = 3 rows/cols repeated from the end; keys every p - 1 = 5
    assert pad_index(128, 128, 6).tolist() == list(range(128)) + [125, 126, 127]
    assert m.lattice == (26, 26) and m.groups == 676 and m.neighbors == 20
    assert m.ranks == [6, 6, 10, 4]  # [p, p, int(31 / 3), int(21 / 5)]
    assert m.factors[0].net[0].linear.out_features == 120  # mid_channel = 20 p
    assert tuple(m.cores.shape) == (676, 6, 6, 10, 4) and m.cores.abs().max() <= 0.1 / math.sqrt(676)
    assert float(m.factors[0].net[0].omega) == 12.0
    # add_pad's rule: an aligned axis is padded too (by p - 1) when the other is not
    assert len(pad_index(126, 128, 6)) == 131 and len(pad_index(126, 126, 6)) == 126
    d = CRNL(2, 31, Domain.on_grid((128, 128)), ranks=(6, 6, 5, 20), width=600, init="kaiming", omega=2.0)
    assert d.ranks == [6, 6, 5, 20] and d.factors[3].net[1].linear.in_features == 600


def brute_knn(img, p, keys, k):
    """Official search_KNN_4D by loops: for each key patch, the k smallest sum((key - patch)^2) over all stride-1
    patches."""
    H, W, _ = img.shape
    pos = [(a, b) for a in range(H - p + 1) for b in range(W - p + 1)]
    out = []
    for a, b in keys:
        key = img[a : a + p, b : b + p]
        d = [((key - img[y : y + p, x : x + p]) ** 2).sum() for (y, x) in pos]
        out.append([pos[t] for t in np.argsort(d, kind="stable")[:k]])
    return out


def test_crnl_groups_are_the_brute_force_knn_of_all_stride1_patches():
    rng = np.random.default_rng(0)
    H, W, Cn, p, K = 12, 10, 3, 4, 5
    vals = rng.random((H, W, Cn))
    m = CRNL(2, Cn, Domain.on_grid((H, W)), patch=p, neighbors=K, ranks=(2, 2, 2, 2), width=8)
    m.setup(masked_observation(vals, np.ones(vals.shape, bool)), grid_coords((H, W)))
    rows, cols = pad_index(H, W, p).numpy(), pad_index(W, H, p).numpy()
    img = vals[rows][:, cols]
    Wp = img.shape[1]
    keys = [(a * (p - 1), b * (p - 1)) for a in range(m.lattice[0]) for b in range(m.lattice[1])]
    expected = brute_knn(img, p, keys, K)
    got = [[(int(t) // (Wp - p + 1), int(t) % (Wp - p + 1)) for t in row] for row in m.members.numpy()]
    assert [g[0] for g in got] == keys  # member 0: the key itself
    assert [g[1:] for g in got] == expected
    assert all(g[1] == g[0] for g in got)  # the key is its own nearest stride-1 patch (distance 0), as in the official


def test_crnl_image_is_only_the_reference_patches_tiled_back():
    """patch_recover_4D_new: member 0 of each group laid out (l1 p, l2 p), then rows/cols p-1, 2p-1, ... removed."""
    torch.manual_seed(0)
    H, W, p = 13, 9, 4
    m = CRNL(2, 2, Domain.on_grid((H, W)), patch=p, neighbors=3, ranks=(2, 2, 2, 2), width=8)
    z = m.render_groups().detach().numpy()
    l1, l2 = m.lattice
    big = z[..., 0].reshape(l1, l2, p, p, 2).transpose(0, 2, 1, 3, 4).reshape(l1 * p, l2 * p, 2)
    big = np.delete(big, [q * p + p - 1 for q in range(l1 - 1)], axis=0)
    big = np.delete(big, [q * p + p - 1 for q in range(l2 - 1)], axis=1)
    np.testing.assert_allclose(m.render().detach().numpy(), big[:H, :W], rtol=1e-5, atol=1e-7)
    z2 = z.copy()
    z2[..., 1:] = 0  # the other members do not enter the image
    assert np.array_equal(m.tile(torch.from_numpy(z2[..., 0])).numpy(), m.tile(torch.from_numpy(z[..., 0])).numpy())


@pytest.mark.parametrize("observed", [0.2, 0.9])  # listed known entries / dense mask
def test_crnl_objective_is_the_group_tensor_loss_plus_tv(observed):
    """loss = torch.norm(Z * mask_new - X_new * mask_new, 2) + gamma (||D_h img||_1 + ||D_w img||_1); the task's loss
    sees a zero residual."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    H, W, Cn, p, K = 10, 11, 3, 4, 3
    vals, known = rng.random((H, W, Cn)), rng.random((H, W, Cn)) < observed
    m = CRNL(2, Cn, Domain.on_grid((H, W)), patch=p, neighbors=K, ranks=(2, 2, 2, 2), width=8, tv_weight=0.01)
    obs = masked_observation(vals, known)
    m.setup(obs, grid_coords((H, W)))
    assert m.listed == (observed < 0.5)
    y = torch.rand(H * W, Cn)
    assert m.training_forward(grid_coords((H, W)), y) is y
    z = m.render_groups().detach().numpy()
    rows, cols = pad_index(H, W, p).numpy(), pad_index(W, H, p).numpy()
    pv, pk = obs.values[rows][:, cols], known[rows][:, cols]
    Wp = pv.shape[1]
    data = 0.0
    for g, members in enumerate(m.members.numpy()):
        for q, t in enumerate(members):
            a, b = divmod(int(t), Wp - p + 1)
            r = (z[g, :, :, :, q] - pv[a : a + p, b : b + p]) * pk[a : a + p, b : b + p]
            data += (r.astype(np.float64) ** 2).sum()
    img = m.tile(torch.from_numpy(z[..., 0])).numpy().astype(np.float64)
    tv = np.abs(img[1:] - img[:-1]).sum() + np.abs(img[:, 1:] - img[:, :-1]).sum()
    assert float(m.regularization()) == pytest.approx(math.sqrt(data) + 0.01 * tv, rel=1e-5)


def test_crnl_rejects_bad_options():
    with pytest.raises(UserError, match="group_loss"):
        CRNL(2, 3, Domain.on_grid((8, 8)), group_loss="huber")
    with pytest.raises(UserError, match="down"):
        CRNL(2, 3, Domain.on_grid((8, 8)), down=(1, 1, 3))
    with pytest.raises(RuntimeError, match="setup"):
        CRNL(2, 3, Domain.on_grid((8, 8))).training_forward(grid_coords((8, 8)), torch.zeros(64, 3))


@pytest.mark.slow
def test_crnl_completes_lowrank_tensor():
    torch.manual_seed(0)
    # full ranks on the band and member modes: the HSI rule down=[1, 1, 3, 5] gives int(8 / 3) = 2 bands, below this
    # tensor's rank 3 (26.6 dB, the box-filled start's level); measured 42.8 dB at 300 iterations (52.3 at 1000)
    assert (
        complete_lowrank(CRNL(2, 8, Domain.on_grid((24, 24)), neighbors=5, down=(1, 1, 1, 1)), 1e-3, 300) > LOWRANK_BAR
    )
