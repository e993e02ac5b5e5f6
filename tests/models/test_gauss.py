"""Gauss (inr_recover/models/gauss.py): the Gaussian activation network and its initialisation."""
from __future__ import annotations

import math

import torch
from conftest import random_coords

from inr_recover.measure.domain import Domain
from inr_recover.models.base import build_model, model_config


def test_gauss_formula_and_default_init():
    torch.manual_seed(0)
    m = build_model(model_config("gauss", {"width": 64, "depth": 1}), 2, 3, Domain.on_grid((8, 8)))
    assert m.layers[0].weight.abs().max() <= 1 / math.sqrt(64)  # PyTorch default U(+-1/sqrt(in))
    x = random_coords()

    def g(z):
        return torch.exp(-((30.0 * z) ** 2))

    h = g(m.layers[0](g(m.first(x))))
    torch.testing.assert_close(m.features(x), h)
