"""SIREN (inr_recover/models/siren.py): the paper's and the code's bias forms."""
from __future__ import annotations

import torch
from conftest import random_coords

from inr_recover.measure.domain import Domain
from inr_recover.models.siren import SIREN


def test_siren_paper_bias_form():
    torch.manual_seed(0)
    m = SIREN(2, 1, Domain.on_grid((8, 8)), width=8, depth=0, omega_on_bias=False).double()
    x = random_coords().double()
    W, b = m.first.linear.weight, m.first.linear.bias
    torch.testing.assert_close(m.features(x), torch.sin(30.0 * x @ W.T + b))
