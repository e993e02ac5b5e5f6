"""The model's input domain (inr_recover/measure/domain.py): a grid or scattered points, and the side CHOIR's
frequencies are set against."""

import math

import numpy as np
import pytest

from inr_recover.measure.degrade import degrade
from inr_recover.measure.domain import Domain
from inr_recover.models.choir import psc_frequencies


def test_a_grid_domain_and_its_side():
    d = Domain.on_grid([12, 20, 5])
    assert (d.dim, d.samples, d.grid, d.side) == (3, 1200, (12, 20, 5), 12.0)  # min(H, W): the time axis is not spatial
    assert Domain.on_grid((49,)).side == 7.0  # a one-axis grid: sqrt(N)


def test_the_domain_of_an_observation():
    """A grid observation's domain is its grid; scattered points (point data, a shape's training points) have none:
    their dimension is the coordinates', their side sqrt(N)."""
    values = np.random.default_rng(0).random((10, 8, 3)).astype(np.float32)
    assert Domain.of(degrade(values, [], seed=0)) == Domain(2, 80, (10, 8))
    coords = np.random.default_rng(1).uniform(-1, 1, (400, 3)).astype(np.float32)
    points = Domain.of(degrade(values.reshape(80, 3)[:, :1].repeat(5, 0), [], seed=0, coords=coords))
    assert (points.dim, points.samples, points.grid, points.side) == (3, 400, None, 20.0)


@pytest.mark.parametrize("domain, side", [(Domain.on_grid((64, 300)), 64), (Domain(3, 10000), 100)])
def test_choir_frequencies_reach_gamma_times_the_sides_nyquist(domain, side):
    assert psc_frequencies(8, domain, 1.0)[-1].item() == pytest.approx(math.pi * side / 2)
