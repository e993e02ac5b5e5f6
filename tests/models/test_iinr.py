"""I-INR (inr_recover/models/iinr.py): noising, inference steps, unobserved entries, backbones."""
from __future__ import annotations

import pytest
import torch
from conftest import random_coords, random_observation

from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.iinr import IINR


def test_iinr_noising_formula():
    m = IINR(2, 3, Domain.on_grid((8, 8)), backbone="siren", backbone_overrides={"width": 8, "depth": 1}, eps=0.1)
    y, z, n = torch.rand(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    t = torch.rand(5, 1)
    torch.testing.assert_close(m.noised(y, z, n, t), (1 - t) * y + t * z + 0.1 * t * n)
    torch.testing.assert_close(m.noised(y, z, n, torch.zeros(5, 1)), y)
    torch.testing.assert_close(m.noised(y, z, n, torch.ones(5, 1)), z + 0.1 * n)


def test_iinr_inference_steps_and_identity_at_init():
    torch.manual_seed(0)
    grid = (9, 8)
    m = IINR(2, 3, Domain.on_grid(grid), backbone="choir", backbone_overrides={"width": 8, "depth": 2}, steps=2)
    x = grid_coords(grid)
    torch.testing.assert_close(m.predict(x), m.backbone(x))  # FuseNet's zero last layer: gate 1 at init
    with torch.no_grad():
        for p in m.fuse.parameters():
            p.normal_(0, 0.5)
    h, z = m.backbone.features(x), m.z
    f1 = m.refine(h, z, x, torch.ones(1, 1))
    g_half = 0.5 * f1 + 0.5 * z
    g0 = m.refine(h, g_half, x, torch.full((1, 1), 0.5))
    torch.testing.assert_close(m.predict(x), g0)
    assert not torch.allclose(g0, m.backbone(x))
    torch.testing.assert_close(torch.cat([m.predict(x[:30]), m.predict(x[30:])]), m.predict(x))  # chunk-independent
    again = IINR(2, 3, Domain.on_grid(grid), backbone="choir", backbone_overrides={"width": 8, "depth": 2}, steps=2)
    assert torch.equal(again.z, m.z)  # seeded inference noise


def test_iinr_unobserved_entries_take_the_backbone_estimate():
    torch.manual_seed(0)
    grid = (6, 5)
    m = IINR(2, 2, Domain.on_grid(grid), backbone="siren", backbone_overrides={"width": 8, "depth": 1})
    x = grid_coords(grid)
    obs = random_observation(grid, 2, rate=0.5)
    m.setup(obs, x)
    y = torch.from_numpy(obs.values.reshape(-1, 2))
    scrambled = torch.where(m.known, y, torch.rand_like(y) * 100)  # values at missing entries must not matter
    torch.manual_seed(1)
    a = m.training_forward(x, y)
    torch.manual_seed(1)
    b = m.training_forward(x, scrambled)
    with torch.no_grad():
        for p in m.fuse.parameters():
            p.normal_(0, 0.5)
    torch.manual_seed(1)
    c = m.training_forward(x, y)
    torch.manual_seed(1)
    d = m.training_forward(x, scrambled)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(c, d)


def test_iinr_unknown_backbone_is_one_line_error():
    from inr_recover.errors import UserError

    with pytest.raises(UserError, match="model.backbone='nope' is not one of") as e:
        IINR(2, 3, Domain.on_grid((8, 8)), backbone="nope")
    assert "\n" not in str(e.value) and "iinr" not in str(e.value).split("one of")[1]
    with pytest.raises(UserError, match="needs a backbone with features/head; 'sinr'"):
        IINR(2, 3, Domain.on_grid((8, 8)), backbone="sinr")
    assert IINR(2, 3, Domain.on_grid((8, 8)), backbone="scone", backbone_overrides={"width": 8}).predict(
        torch.zeros(4, 2)
    ).shape == (4, 3)


# ---- I-INR (seed paper summary: f = FuseNet(concat(f, b)) * b) -----------------------------------------------------


def test_iinr_fuse_sees_feedback_and_backbone_features_and_multiplies_them():
    torch.manual_seed(0)
    m = IINR(2, 3, Domain.on_grid((8, 8)), backbone="siren", backbone_overrides={"width": 12, "depth": 1})
    x, g, t = random_coords(10), torch.randn(10, 3), torch.full((10, 1), 0.5)
    h = m.backbone.features(x)
    torch.testing.assert_close(m.refine(h, g, x, t), m.backbone(x))  # identity at init (last layer 0, bias 1)
    torch.nn.init.normal_(m.fuse[-1].weight)
    e = m.feedback(torch.cat([g, x, t], -1))
    V1, V2 = m.fuse[0], m.fuse[2]
    fused = torch.relu(torch.cat([e, h], -1) @ V1.weight.T + V1.bias) @ V2.weight.T + V2.bias
    assert V1.in_features == 30 + 12
    torch.testing.assert_close(m.refine(h, g, x, t), m.backbone.last(fused * h))
