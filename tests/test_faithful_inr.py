"""The peers as their official code builds them (issue 11): each formula at init against the official formula
restated here independently, with the defaults of ``conf/model/*.yaml``."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inr_recover.grid import grid_coords
from inr_recover.models.base import build_model, model_config
from inr_recover.models.choir import CHOIR
from inr_recover.models.iinr import IINR
from inr_recover.models.siren import SIREN
from inr_recover.models.sinr import SINR
from inr_recover.observation import Observation


def x_in(n=40, d=2, seed=1):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- FINER++ (liuzhen0212/FINERplusplus HEAD: models.py GF/WF, run.sh) -----------------------------------------


def test_finer_gauss_is_official_gf_with_run_sh_settings():
    """GFLayer.forward = exp(-(scale sin(omega (|z|+1) z))^2), run.sh --scale 3 --omega 10 --fbs 1, sine init with omega."""
    torch.manual_seed(0)
    m = build_model(model_config("finer_gauss", {"depth": 1}), 2, 3, (8, 8))
    W1, b1 = m.first.weight, m.first.bias
    assert W1.abs().max() <= 1 / 2  # first layer U(+-1/in)
    assert b1.abs().max() <= 1.0 and b1.abs().max() > 0.95  # fbs 1: U(-1, 1) over 256 neurons
    assert m.layers[0].weight.abs().max() <= math.sqrt(6 / 256) / 10 < m.layers[0].weight.abs().max() * 1.05
    assert m.last.weight.abs().max() <= math.sqrt(6 / 256) / 10
    assert m.layers[0].bias.abs().max() <= 1 / math.sqrt(256)  # hidden bias: PyTorch default
    gf = lambda z: torch.exp(-((3.0 * torch.sin(10.0 * (z.abs() + 1) * z)) ** 2))
    x = x_in().double()
    m = m.double()
    h = gf(gf(x @ W1.double().T + b1.double()) @ m.layers[0].weight.T + m.layers[0].bias)
    torch.testing.assert_close(m.features(x), h, atol=1e-9, rtol=0)
    # not the linear network of the first commit: the activation changes the output
    assert (m.features(x) - (x @ W1.double().T + b1.double()) @ m.layers[0].weight.T).abs().max() > 0.1


def test_finer_wavelet_first_layer_bias_is_fbs_1():
    torch.manual_seed(0)
    m = build_model(model_config("finer_wavelet"), 2, 3, (8, 8))
    b = m.first.bias
    assert b.dtype == torch.float32 and m.first.out_features == int(256 / math.sqrt(2)) == 181
    assert b.abs().max() <= 1.0 and b.abs().max() > 0.95  # run.sh --fbs 1: U(-1, 1), not PyTorch's U(+-1/sqrt(2))
    assert m.layers[0].weight.real.abs().max() <= math.sqrt(6 / 181) / (5.0 * 4.0)  # sine init with omega * omega_w


# ---- FreSh (gmum/FreSh: src/models.py Siren with configs/siren_base.yaml) -----------------------------------------


def _fresh_after_setup(backbone, candidates, **options):
    obs = Observation(np.random.default_rng(0).random((12, 12, 2)).astype(np.float32), np.ones((12, 12, 2), bool))
    cfg = model_config("fresh", {"backbone": backbone, "candidates": candidates, "inits": 1, "bins": 4,
                                  "backbone_options": options})
    m = build_model(cfg, 2, 2, (12, 12))
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
    x = x_in().double()
    lin = lambda layer, h, w: (w * h) @ layer.weight.T + layer.bias
    h = torch.sin(lin(b.first.linear, x, 60.0))
    for layer in b.layers:
        h = torch.sin(lin(layer.linear, h, 30.0))
    torch.testing.assert_close(b(x), lin(b.last, h, 30.0), atol=1e-10, rtol=0)


def test_fresh_rff_backbone_is_fourier_features_mlp():
    """FourierFeaturesMLP: GaussianEncoding(encoded_size=width/2) then 3 x (Linear, ReLU) then Linear."""
    m = _fresh_after_setup("pemlp", [4.0], width=16)
    b = m.backbone
    assert b.encoding == "rff" and b.B.shape == (8, 2) and b.first.in_features == 16 and len(b.layers) == 2


# ---- S-INR (paper Sec. 3.1; jiayili11/S-INR master models.py Inr_block_se) ------------------------------------------


@pytest.mark.parametrize("channels, atoms, se_out", [(3, 15, 5), (31, 124, 4)])
def test_sinr_dictionary_is_a_multiple_of_the_channels(channels, atoms, se_out):
    m = SINR(2, channels, (8, 8), **{k: v for k, v in model_config("sinr").items() if k not in ("_target_", "name", "lr")})
    assert m.atoms == atoms and m.dictionary.weight.shape == (channels, atoms)  # 5 C for RGB, 4 C for HSI
    # official SE_Block(ch, int(ch / 4)): bottleneck ch // int(ch / 4)
    assert m.se_down[0].shape[-1] == 35 // int(35 / 4) == 4 and m.se_down[-1].shape[-1] == atoms // int(atoms / 4) == se_out
    assert SINR(2, 31, (8, 8), atoms=120).se_down[-1].shape[-1] == 120 // 30 == 4  # the official scripts' r = 120


# ---- I-INR (seed paper summary: f = FuseNet(concat(f, b)) * b) -----------------------------------------------------


def test_iinr_fuse_sees_feedback_and_backbone_features_and_multiplies_them():
    torch.manual_seed(0)
    m = IINR(2, 3, (8, 8), backbone="siren", backbone_overrides={"width": 12, "depth": 1})
    x, g, t = x_in(10), torch.randn(10, 3), torch.full((10, 1), 0.5)
    h = m.backbone.features(x)
    torch.testing.assert_close(m.refine(h, g, x, t), m.backbone(x))  # identity at init (last layer 0, bias 1)
    torch.nn.init.normal_(m.fuse[-1].weight)
    e = m.feedback(torch.cat([g, x, t], -1))
    V1, V2 = m.fuse[0], m.fuse[2]
    fused = torch.relu(torch.cat([e, h], -1) @ V1.weight.T + V1.bias) @ V2.weight.T + V2.bias
    assert V1.in_features == 30 + 12
    torch.testing.assert_close(m.refine(h, g, x, t), m.backbone.last(fused * h))


# ---- CHOIR ablation: both switches off is SIREN (paper Table 4 "Sine") ---------------------------------------------


def test_choir_ablation_output_equals_siren_for_identical_weights():
    cfg = {k: v for k, v in model_config("choir", {"chs": False, "psc": False, "width": 24, "depth": 3}).items()
           if k not in ("_target_", "name", "lr")}
    torch.manual_seed(3)
    a = CHOIR(2, 4, (32, 32), **cfg)
    torch.manual_seed(3)
    b = SIREN(2, 4, (32, 32), width=24, depth=3, omega0=30.0)
    x = x_in(50)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert (a(x) < 0).any()  # linear output, not a sigmoid
    torch.manual_seed(3)
    c = CHOIR(2, 4, (32, 32), **{**cfg, "chs": True})
    assert (c(x) > 0).all() and (c(x) < 1).all()  # CHOIR itself keeps its sigmoid


def test_siren_paper_bias_form():
    torch.manual_seed(0)
    m = SIREN(2, 1, (8, 8), width=8, depth=0, omega_on_bias=False).double()
    x = x_in().double()
    W, b = m.first.linear.weight, m.first.linear.bias
    torch.testing.assert_close(m.features(x), torch.sin(30.0 * x @ W.T + b))
