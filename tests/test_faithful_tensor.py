"""LRTFR, CRNL and DRO-TFF against the official code's formulas, restated here independently (issue 11).

Official code read: YisiLuo/LRTFR be8e625 (Demo_Image_inpainting.py, Demo_HSI_denoising.py), YisiLuo/CRNL 35349f7
(demo_CRNL_inpainting.py, demo_CRNL_denoising.py, utils_patch.py), Xbow-Git/DRO-TFF de297a0 (model/drotff.py,
Demo_Image_inpainting.py, Demo_Mixed_noise_removal.py). tools/official/{lrtfr,crnl,dro_tff}.py --check compares
the forward passes with the official classes themselves.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import CONF
from inr_recover.errors import UserError
from inr_recover.grid import grid_coords
from inr_recover.models.base import build_model
from inr_recover.models.tensor.common import FactorNet, sstv_l1, tv_l1
from inr_recover.models.tensor.crnl import CRNL, pad_index
from inr_recover.models.tensor.dro_tff import DROTFF
from inr_recover.observation import Observation


def leaky(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def sine_mlp(net, i):
    """``[sin(w0 (W h + b))]* -> linear`` evaluated by hand on indices ``i`` (numpy)."""
    h = np.asarray(i, dtype=np.float64)[:, None]
    for layer in net[:-1]:
        w, b = layer.linear.weight.detach().double().numpy(), layer.linear.bias.detach().double().numpy()
        h = np.sin(float(layer.omega) * (h @ w.T + b))
    return h @ net[-1].weight.detach().double().numpy().T + net[-1].bias.detach().double().numpy()


def observation(values, known):
    return Observation(values=np.where(known, values, 0).astype(np.float32), known=known)


def model_config(name, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="config", overrides=[f"model={name}", *overrides]).model, resolve=True)


# --- shared pieces ---------------------------------------------------------------------------------------------

def test_tv_and_sstv_official_sums_on_a_known_tensor():
    """Official: gamma * torch.norm(X[1:] - X[:-1], 1) + ... and 10 gamma * torch.norm(dz[1:, :, 1:] - dz[:-1, :, 1:], 1)
    + ..., dz = X[:, :, 1:] - X[:, :, :-1]. On X[i, j, k] = i^2 + 3 j + k^3 every difference has a closed form."""
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


# --- LRTFR -----------------------------------------------------------------------------------------------------

def test_lrtfr_is_the_tucker_product_of_factor_inrs_with_official_ranks_and_init():
    torch.manual_seed(0)
    m = build_model(model_config("lrtfr", "model.down=4", "model.down_channel=4"), 2, 9, (12, 10))
    assert m.ranks == [3, 2, 2]  # int(n / 4): official r_1 = int(n_1 / down)
    bound = 1 / math.sqrt(3)  # official stdv = 1 / sqrt(centre.size(0))
    assert m.core.abs().max() <= bound
    for f in m.factors:  # two sine layers, both U(-1/in, 1/in) (is_first=True), width n_2, w0 2
        assert len(f.net) == 3 and f.net[0].linear.out_features == 10 and float(f.net[0].omega) == 2.0
        assert f.net[1].linear.weight.abs().max() <= 1 / 10
    U, V, Wc = (sine_mlp(f.net, np.arange(1, n + 1)) for f, n in zip(m.factors, (12, 10, 9)))
    direct = np.einsum("abc,ia,jb,kc->ijk", m.core.detach().double().numpy(), U, V, Wc)
    np.testing.assert_allclose(m.render().detach().numpy(), direct, rtol=1e-4, atol=1e-5)


# --- DRO-TFF ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fraction,H", [(0.7, 20), (0.3, 20), (0.7, 7)])
def test_dro_tff_rank_rule_and_factor_shapes(fraction, H):
    m = DROTFF(2, 5, (H, 9), rank_fraction=fraction)
    R = int(H * fraction)  # official r = int(X.shape[0] * beta)
    assert m.rank == R
    for f in m.factors:  # A_net, B_net: SineLayer(1, 300) + Linear(300, r)
        assert [type(x).__name__ for x in f.net] == ["SineLayer", "Linear"]
        assert tuple(f.net[0].linear.weight.shape) == (300, 1) and tuple(f.net[1].weight.shape) == (R, 300)
    assert tuple(m.spectral.net[0].linear.weight.shape) == (100, 1) and tuple(m.spectral.net[1].weight.shape) == (R, 100)
    assert len(m.transforms) == 3 and all(t.bias is None and tuple(t.weight.shape) == (R, R) for t in m.transforms)


def test_dro_tff_forward_is_the_official_formula():
    """Official forward: net((A^T[:, :, None] @ B^T[:, None, :]).permute(1, 2, 0)) @ H^T, net = 3 x (Linear(r, r, no
    bias), LeakyReLU()), A, B, H one-sine-layer INRs of the 1-based index."""
    torch.manual_seed(0)
    m = DROTFF(2, 4, (6, 5), rank_fraction=0.5, width=16, channel_width=8)
    A, B, Hk = (sine_mlp(f.net, np.arange(1, n + 1)) for f, n in ((m.factors[0], 6), (m.factors[1], 5), (m.spectral, 4)))
    z = A[:, None, :] * B[None, :, :]
    for t in m.transforms:
        z = leaky(z @ t.weight.detach().double().numpy().T)
    np.testing.assert_allclose(m.render().detach().numpy(), z @ Hk.T, rtol=1e-4, atol=1e-6)
    c = torch.tensor([[0.3, -0.2]])  # off the grid: the same factor functions at fractional indices
    i = (c + 1) / 2 * (torch.tensor([6.0, 5.0]) - 1) + 1
    zi = sine_mlp(m.factors[0].net, i[:, 0]) * sine_mlp(m.factors[1].net, i[:, 1])
    for t in m.transforms:
        zi = leaky(zi @ t.weight.detach().double().numpy().T)
    np.testing.assert_allclose(m(c).detach().numpy(), zi @ Hk.T, rtol=1e-4, atol=1e-6)


def test_dro_tff_video_is_the_official_video_model():
    """DRO_TFF_video: A, B INRs, then Linear(r, r, no bias), LeakyReLU, Linear(r, n_3, no bias): no channel INR."""
    torch.manual_seed(0)
    m = DROTFF(3, 2, (6, 5, 3), rank_fraction=0.5, width=16)
    assert len(m.transforms) == 1 and isinstance(m.spectral, torch.nn.Linear) and m.spectral.bias is None
    A, B = (sine_mlp(f.net, np.arange(1, n + 1)) for f, n in zip(m.factors, (6, 5)))
    z = leaky((A[:, None, :] * B[None, :, :]) @ m.transforms[0].weight.detach().double().numpy().T)
    out = z @ m.spectral.weight.detach().double().numpy().T  # (H, W, T * C)
    np.testing.assert_allclose(m.render().detach().numpy(), out.reshape(6, 5, 3, 2), rtol=1e-4, atol=1e-6)


def test_dro_tff_regulariser_is_the_official_inpainting_penalty():
    """Demo_Image_inpainting.py: X_Out[mask == 1] = X[mask == 1], then gamma TV (H, W) + 10 gamma SSTV, summed."""
    torch.manual_seed(0)
    g = 4e-5
    m = DROTFF(2, 5, (8, 7), tv_weight=g, sstv_weight=10 * g, reg_reduction="sum", reg_keeps_observed=True)
    rng = np.random.default_rng(0)
    y, known = rng.random((8, 7, 5)), rng.random((8, 7, 5)) < 0.3
    m.setup(observation(y, known), grid_coords((8, 7)))
    X = np.where(known, np.where(known, y, 0).astype(np.float32), m.render().detach().numpy()).astype(np.float64)
    dz = X[:, :, 1:] - X[:, :, :-1]
    official = (g * np.abs(X[1:] - X[:-1]).sum() + g * np.abs(X[:, 1:] - X[:, :-1]).sum()
                + 10 * g * np.abs(dz[1:, :, 1:] - dz[:-1, :, 1:]).sum() + 10 * g * np.abs(dz[:, 1:, 1:] - dz[:, :-1, 1:]).sum())
    assert float(m.regularization()) == pytest.approx(official, rel=1e-5)


# --- CRNL ------------------------------------------------------------------------------------------------------

def test_crnl_padding_lattice_and_ranks_follow_the_official_rules():
    m = CRNL(2, 31, (128, 128))
    # add_pad: (128 - 6) % 5 = 2, so 5 - 2 = 3 rows/cols repeated from the end; keys every p - 1 = 5
    assert pad_index(128, 128, 6).tolist() == list(range(128)) + [125, 126, 127]
    assert m.lattice == (26, 26) and m.groups == 676 and m.neighbors == 20
    assert m.ranks == [6, 6, 10, 4]  # [p, p, int(31 / 3), int(21 / 5)]
    assert m.factors[0].net[0].linear.out_features == 120  # mid_channel = 20 p
    assert tuple(m.cores.shape) == (676, 6, 6, 10, 4) and m.cores.abs().max() <= 0.1 / math.sqrt(676)
    assert float(m.factors[0].net[0].omega) == 12.0
    # add_pad's rule: an aligned axis is padded too (by p - 1) when the other is not
    assert len(pad_index(126, 128, 6)) == 131 and len(pad_index(126, 126, 6)) == 126
    d = CRNL(2, 31, (128, 128), ranks=(6, 6, 5, 20), width=600, init="kaiming", omega=2.0)
    assert d.ranks == [6, 6, 5, 20] and d.factors[3].net[1].linear.in_features == 600


def brute_knn(img, p, keys, k):
    """Official search_KNN_4D by loops: for each key patch, the k smallest sum((key - patch)^2) over all stride-1 patches."""
    H, W, _ = img.shape
    pos = [(a, b) for a in range(H - p + 1) for b in range(W - p + 1)]
    out = []
    for (a, b) in keys:
        key = img[a:a + p, b:b + p]
        d = [((key - img[y:y + p, x:x + p]) ** 2).sum() for (y, x) in pos]
        out.append([pos[t] for t in np.argsort(d, kind="stable")[:k]])
    return out


def test_crnl_groups_are_the_brute_force_knn_of_all_stride1_patches():
    rng = np.random.default_rng(0)
    H, W, Cn, p, K = 12, 10, 3, 4, 5
    vals = rng.random((H, W, Cn))
    m = CRNL(2, Cn, (H, W), patch=p, neighbors=K, ranks=(2, 2, 2, 2), width=8)
    m.setup(observation(vals, np.ones(vals.shape, bool)), grid_coords((H, W)))
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
    m = CRNL(2, 2, (H, W), patch=p, neighbors=3, ranks=(2, 2, 2, 2), width=8)
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
    m = CRNL(2, Cn, (H, W), patch=p, neighbors=K, ranks=(2, 2, 2, 2), width=8, tv_weight=0.01)
    obs = observation(vals, known)
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
            r = (z[g, :, :, :, q] - pv[a:a + p, b:b + p]) * pk[a:a + p, b:b + p]
            data += (r.astype(np.float64) ** 2).sum()
    img = m.tile(torch.from_numpy(z[..., 0])).numpy().astype(np.float64)
    tv = np.abs(img[1:] - img[:-1]).sum() + np.abs(img[:, 1:] - img[:, :-1]).sum()
    assert float(m.regularization()) == pytest.approx(math.sqrt(data) + 0.01 * tv, rel=1e-5)


def test_crnl_rejects_bad_options():
    with pytest.raises(UserError, match="group_loss"):
        CRNL(2, 3, (8, 8), group_loss="huber")
    with pytest.raises(UserError, match="down"):
        CRNL(2, 3, (8, 8), down=(1, 1, 3))
    with pytest.raises(RuntimeError, match="setup"):
        CRNL(2, 3, (8, 8)).training_forward(grid_coords((8, 8)), torch.zeros(64, 3))


# --- configs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lrtfr", "crnl", "dro_tff"])
@pytest.mark.parametrize("task", ["complete", "restore"])
def test_recipe_blocks_build(name, task):
    """Every recipe names the keys the protocol reads, and the model builds with its task's options."""
    cfg = model_config(name)
    recipe = cfg["recipe"][task]
    assert set(recipe) == {"loss", "lr", "weight_decay", "grad_clip", "scheduler", "range", "iterations", "model"}
    cfg.update(recipe["model"])
    m = build_model(cfg, 2, 31, (16, 16))
    assert m.render().shape == (16, 16, 31)
    if name == "dro_tff":
        assert m.rank == int(16 * (0.7 if task == "complete" else 0.3))
