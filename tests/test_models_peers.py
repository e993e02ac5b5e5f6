"""The peer INRs (SIREN, PEMLP, Gauss, WIRE, FINER, FINER++, FreSh): shapes, formulas at init, the CLI, FreSh."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from inr_recover.grid import grid_coords
from inr_recover.models.base import build_model, model_config
from inr_recover.models.fresh import fill_missing, radial_spectrum, wasserstein
from inr_recover.observation import Observation

from conftest import ROOT, SHARED

PEERS = ["siren", "pemlp", "gauss", "wire", "finer", "finer_gauss", "finer_wavelet", "fresh"]
SMALL = {"fresh": {"backbone_options": {"width": 16, "depth": 1}, "inits": 1, "candidates": [10.0, 30.0], "bins": 4}}


def small(name: str, **kw) -> dict:
    base = SMALL.get(name, {"width": 16, "depth": 1})
    return model_config(name, {**base, **kw})


def x_in(n=50, d=2, seed=0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("name", PEERS)
@pytest.mark.parametrize("channels", [1, 3, 31, 191])
def test_shape_and_dtype(name, channels):
    for grid in ((6, 5), (4, 3, 2)):
        torch.manual_seed(0)
        m = build_model(small(name), len(grid), channels, grid)
        x = x_in(7, len(grid))
        y = m.predict(x)
        assert y.shape == (7, channels) and y.dtype == torch.float32 and torch.isfinite(y).all()
        torch.testing.assert_close(m.head(m.features(x)), y)


# ---- formulas at init, against a direct evaluation ------------------------------------------------------------


def test_finer_activation_and_init():
    torch.manual_seed(0)
    m = build_model(model_config("finer", {"width": 64, "depth": 0, "first_bias_scale": 2.0}), 2, 3, (8, 8))
    W, b = m.first.weight, m.first.bias
    assert W.abs().max() <= 1 / 2 and b.abs().max() <= 2.0 and b.abs().max() > 1.0  # U(+-1/in), U(-k, k)
    assert m.last.weight.abs().max() <= math.sqrt(6 / 64) / 30
    x = x_in(40).requires_grad_(False)
    z = (x @ W.T + b).detach().requires_grad_(True)
    h = torch.sin(30.0 * (z.abs() + 1) * z)
    torch.testing.assert_close(m.act(z), h, atol=1e-4, rtol=0)  # arguments reach ~200 rad: float32 rounding
    torch.testing.assert_close(m.features(x), h.detach(), atol=1e-4, rtol=0)
    # |z| + 1 is detached: d/dz = w0 (|z| + 1) cos(w0 (|z| + 1) z), no sign(z) z term
    (g,) = torch.autograd.grad(m.act(z).sum(), z)
    torch.testing.assert_close(g, 30.0 * (z.abs() + 1).detach() * torch.cos(30.0 * (z.abs() + 1) * z).detach(), atol=1e-2, rtol=1e-3)


def test_finer_default_bias_is_pytorch_and_k_is_exposed():
    torch.manual_seed(0)
    m = build_model(model_config("finer", {"width": 512}), 2, 1, (8, 8))
    assert m.first.bias.abs().max() <= 1 / math.sqrt(2)
    m = build_model(model_config("finer", {"width": 512, "first_bias_scale": 10.0}), 2, 1, (8, 8))
    assert 9.0 < m.first.bias.abs().max() <= 10.0


def test_finer_gauss_formula():
    torch.manual_seed(0)
    m = build_model(model_config("finer_gauss", {"width": 32, "depth": 1}), 2, 3, (8, 8))
    x = x_in()
    z1 = x @ m.first.weight.T + m.first.bias
    gf = lambda z: torch.exp(-((30.0 / 2.5 * torch.sin(2.5 * (z.abs() + 1) * z)) ** 2))
    h = gf(m.layers[0](gf(z1)))
    torch.testing.assert_close(m.features(x), h, atol=1e-4, rtol=0)
    assert m.first.weight.abs().max() <= 1 / 2 and m.layers[0].weight.abs().max() <= math.sqrt(6 / 32) / 2.5


def test_wire_complex_gabor():
    torch.manual_seed(0)
    m = build_model(model_config("wire", {"width": 64, "depth": 1}), 2, 3, (8, 8))
    assert m.first.weight.dtype == torch.float32 and m.layers[0].weight.dtype == torch.complex64
    assert m.first.out_features == int(64 / math.sqrt(2)) == 45
    x = x_in()
    z = (x @ m.first.weight.T + m.first.bias).double()
    h1 = torch.exp(-((10.0 * z) ** 2)) * torch.complex(torch.cos(20.0 * z), torch.sin(20.0 * z))
    z2 = h1 @ m.layers[0].weight.T.to(torch.complex128) + m.layers[0].bias.to(torch.complex128)
    h2 = torch.exp(-(10.0 * z2.abs()) ** 2) * torch.exp(1j * 20.0 * z2)  # exp(i w0 z - |s0 z|^2) for complex z
    torch.testing.assert_close(m.features(x).to(torch.complex128), h2, atol=1e-5, rtol=1e-4)
    y = (h2 @ m.last.weight.T.to(torch.complex128) + m.last.bias.to(torch.complex128)).real
    torch.testing.assert_close(m(x).double(), y, atol=1e-5, rtol=1e-4)


def test_finer_wavelet_formula():
    torch.manual_seed(0)
    m = build_model(model_config("finer_wavelet", {"width": 32, "depth": 1}), 2, 1, (8, 8))
    w0, wf, s0 = 4.0, 5.0, 2.0
    gab = lambda u: torch.exp(1j * w0 * u - (s0 * u).abs() ** 2)
    x = x_in()
    z1 = x @ m.first.weight.T + m.first.bias  # real
    h1 = gab(torch.sin(wf * (z1.abs() + 1) * z1))
    z2 = m.layers[0](h1)  # complex: the factor acts on Re and Im separately
    u = torch.sin(wf * torch.complex((z2.real.abs() + 1) * z2.real, (z2.imag.abs() + 1) * z2.imag))
    torch.testing.assert_close(m.features(x), gab(u))
    assert m.first.weight.abs().max() <= 1 / 2 and m.layers[0].weight.real.abs().max() <= math.sqrt(6 / 22) / (wf * w0)


def test_gauss_formula_and_default_init():
    torch.manual_seed(0)
    m = build_model(model_config("gauss", {"width": 64, "depth": 1}), 2, 3, (8, 8))
    assert m.layers[0].weight.abs().max() <= 1 / math.sqrt(64)  # PyTorch default U(+-1/sqrt(in))
    x = x_in()
    g = lambda z: torch.exp(-((30.0 * z) ** 2))
    h = g(m.layers[0](g(m.first(x))))
    torch.testing.assert_close(m.features(x), h)


def test_pemlp_positional_encoding():
    m = build_model(model_config("pemlp", {"width": 16, "depth": 1, "n_freqs": 4}), 2, 3, (8, 8))
    x = x_in(10)
    parts = [x] + [torch.sin(2.0**k * x) for k in range(4)] + [torch.cos(2.0**k * x) for k in range(4)]
    torch.testing.assert_close(m.encode(x), torch.cat(parts, -1))
    assert m.first.in_features == 2 * (2 * 4 + 1)
    h = torch.relu(m.layers[0](torch.relu(m.first(torch.cat(parts, -1)))))
    torch.testing.assert_close(m.features(x), h)


def test_pemlp_random_fourier_features():
    torch.manual_seed(0)
    m = build_model(model_config("pemlp", {"width": 16, "encoding": "rff", "n_features": 4096, "sigma": 6.0}), 2, 3, (8, 8))
    assert m.B.shape == (4096, 2) and abs(float(m.B.std()) - 6.0) < 0.3
    x = x_in(10)
    v = 2 * math.pi * x @ m.B.T
    torch.testing.assert_close(m.encode(x), torch.cat([torch.cos(v), torch.sin(v)], -1))


def test_bad_options_are_user_errors():
    from inr_recover.errors import UserError

    for name, kw in [("pemlp", {"encoding": "nerf"}), ("finer", {"activation": "relu"}), ("gauss", {"scale": 0}),
                     ("fresh", {"backbone": "nope"}), ("fresh", {"backbone": "gauss"}), ("fresh", {"param": "depth"})]:
        with pytest.raises(UserError):
            build_model(model_config(name, kw), 2, 1, (8, 8))


# ---- FreSh ------------------------------------------------------------------------------------------------------


def test_radial_spectrum_and_wasserstein():
    n = torch.arange(32.0)
    y = torch.cos(2 * math.pi * 3 * n / 32)[:, None, None].expand(32, 32, 2)  # all energy at |k| = (3, 0)
    s = radial_spectrum(y.contiguous(), 8)
    assert s.shape == (8,) and s[2] > 0 and bool((s[torch.arange(8) != 2] < 1e-6 * s[2]).all())
    e = lambda i: torch.eye(5, dtype=torch.float64)[i]
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
    m = build_model(model_config("fresh", {"backbone_options": {"width": 32, "depth": 1}, "inits": 2, "bins": 16}), 2, 1, grid)
    m.setup(obs, grid_coords(grid))
    assert set(m.distances) == set(float(w) for w in range(10, 201, 10)) and m.chosen in m.distances
    assert m.backbone.first.omega == m.chosen
    return m.chosen


def test_fresh_picks_lower_w0_for_smooth_than_for_high_frequency_observation():
    smooth, rough = _fresh_choice("smooth"), _fresh_choice("rough")
    assert smooth < rough and smooth <= 20 and rough >= 40


def test_fresh_search_does_not_change_the_seeded_init():
    obs = Observation(np.random.default_rng(0).random((8, 8, 1)).astype(np.float32), np.ones((8, 8, 1), bool))
    cfg = model_config("fresh", {"backbone_options": {"width": 8, "depth": 1}, "inits": 2, "candidates": [30.0], "bins": 4})
    models = []
    for c in (cfg, dict(cfg, inits=5), dict(cfg, candidates=[10.0, 30.0, 50.0])):
        torch.manual_seed(0)
        m = build_model(c, 2, 1, (8, 8))
        m.setup(obs, grid_coords((8, 8)))
        models.append(m)
    a, b, c = models
    x = x_in(5)
    # how many networks were scored does not move the trained model's init (the search runs on a forked RNG)
    torch.testing.assert_close(a(x), b(x))
    if c.chosen == 30.0:
        torch.testing.assert_close(a(x), c(x))


def test_fresh_backbones_finer_and_rff():
    obs = Observation(np.random.default_rng(0).random((10, 10, 2)).astype(np.float32), np.ones((10, 10, 2), bool))
    for backbone, param, vals in [("finer", "first_bias_scale", [0.0, 1.5]), ("pemlp", "sigma", [1.0, 8.0])]:
        m = build_model(model_config("fresh", {"backbone": backbone, "backbone_options": {"width": 8, "depth": 1},
                                                "inits": 1, "candidates": vals, "bins": 4}), 2, 2, (10, 10))
        m.setup(obs, grid_coords((10, 10)))
        assert m.param == param and m.chosen in vals
        assert m(x_in(3)).shape == (3, 2)


# ---- CLI: every peer method fits two iterations (one multirun, one process) --------------------------------------


def _cli(tmp_path, *overrides, multirun=False):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "inr_recover.cli", *(["-m", f"hydra.sweep.dir={out}"] if multirun else [f"hydra.run.dir={out}"]),
           "progress=false", "metrics=fast", "save.figures=false", "logger=none", *overrides]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg",
           "INR_RECOVER_SHARED_DATA": str(SHARED), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def peer_sweep(tmp_path_factory):
    return _cli(tmp_path_factory.mktemp("peers"), f"model={','.join(PEERS)}", "data=synthetic", "data.shape=[12,10,3]",
                "optim.iterations=2", "eval_every=1", multirun=True)


@pytest.mark.parametrize("name", PEERS)
def test_two_iteration_cli_fit(peer_sweep, name):
    (res,) = [p for p in peer_sweep.glob("*/results.json") if p.parent.name.split("_", 1)[1].startswith(f"{name}_synthetic_")]
    r = json.loads(res.read_text())
    assert r["status"] == "complete" and r["iterations"] == 2 and r["model"]["name"] == name
    assert np.isfinite(r["metrics"]["psnr"])
    if name == "fresh":  # the chosen w0 and the search are recorded
        f = r["model"]["fresh"]
        assert f["param"] == "omega0" and f["chosen"] in range(10, 201, 10) and len(f["distances"]) == 20 and f["seconds"] > 0


# ---- a real photograph: 64x64 crop of astronaut, 30% of entries observed -------------------------------------------

# PSNR (dB) measured on the shared 2-core CPU with exactly this command (300 iterations, seed 0, the default
# optimiser: Adam, cosine, L1, grad clip 1; lr 3e-3 except where LR says), minus a margin of about 1.5 dB:
# siren 31.70 (lr 1e-4), pemlp 26.11, gauss 20.55, wire 18.19, finer 19.46, finer_gauss 19.93, finer_wavelet 20.46,
# fresh 28.87 (lr 1e-4, chose w0 = 60). With lr 3e-3, SIREN reaches 19.82 and FreSh's w0 = 60 SIREN diverges (8.1).
PSNR_FLOOR = {"siren": 30.0, "pemlp": 24.5, "gauss": 19.0, "wire": 16.5, "finer": 18.0, "finer_gauss": 18.5,
              "finer_wavelet": 19.0, "fresh": 27.0}
LR = {"siren": 1e-4, "fresh": 1e-4}  # SIREN's official lr; 3e-3 is too large for the larger w0 FreSh picks


@pytest.mark.slow
@pytest.mark.parametrize("name", PEERS)
def test_psnr_floor_on_real_photo(tmp_path, name):
    out = _cli(tmp_path, f"model={name}", "data=astronaut", "data.resize=null", "data.crop=[100,200,64,64]",
               "degrade=random_0.3", "optim.iterations=300", f"optim.lr={LR.get(name, 3e-3)}")
    r = json.loads((out / "results.json").read_text())
    assert r["metrics"]["psnr"] >= PSNR_FLOOR[name], r["metrics"]
