"""SCONE (inr_recover/models/scone.py): the formula and the mask range at init."""
from __future__ import annotations

import math

import torch

from inr_recover.measure.domain import Domain
from inr_recover.models.scone import SCONE


def test_scone_formula_and_mask_range_at_init():
    torch.manual_seed(0)
    m = SCONE(2, 3, Domain.on_grid((32, 32)), width=24, omegas=(90.0, 60.0, 30.0, 10.0), omega0=30.0)
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    m = m.double()
    h = x
    for l, omega in enumerate((90.0, 60.0, 30.0, 10.0)):
        B, c = m.bases[l].weight, m.bases[l].bias
        W, d = m.masks[l].weight, m.masks[l].bias
        mask = torch.sin(30.0 * (h @ W.T + d)) ** 2
        assert mask.min() >= 0 and mask.max() <= 1
        h = torch.sin(omega * (x @ B.T + c)) * mask
        # init bounds of the official code: default Linear for bases, SIREN (weight and bias) for the masks
        assert B.abs().max() <= 1 / math.sqrt(2) and c.abs().max() <= 1 / math.sqrt(2)
        bound = 1 / 2 if l == 0 else math.sqrt(6 / 24) / 30
        assert W.abs().max() <= bound and d.abs().max() <= bound and W.abs().max() > 0.8 * bound
    torch.testing.assert_close(m.features(x), h)
    torch.testing.assert_close(m(x), h @ m.last.weight.T + m.last.bias)
    s = SCONE(2, 3, Domain.on_grid((8, 8)), width=8, mask="sigmoid").double()
    torch.testing.assert_close(
        s.mask_fn(torch.tensor([0.0, 1.0], dtype=torch.float64)),
        torch.sigmoid(torch.tensor([0.0, 1.0], dtype=torch.float64)),
    )
