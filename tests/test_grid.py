"""Coordinates of the grid and inference over it (inr_recover/measure/grid.py)."""
import warnings

import pytest
import torch
from conftest import CONF, compose_config

from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords, grid_index, predict, refine_coords
from inr_recover.models.base import Solver, build_model, model_class


def test_grid_coords_cover_minus_one_to_one():
    c = grid_coords((3, 5))
    assert c.shape == (15, 2)
    assert c[0].tolist() == [-1, -1] and c[-1].tolist() == [1, 1] and c[1].tolist() == [-1, -0.5]


def test_grid_index_inverts_grid_coords():
    for grid in ((5, 7), (4, 3, 6), (1, 5)):
        c = grid_coords(grid)
        assert torch.equal(grid_index(c, grid), torch.arange(c.shape[0]))
        assert torch.equal(grid_index(c + 0.2 / max(grid), grid), torch.arange(c.shape[0]))  # nearest point


@pytest.mark.parametrize("name", [p.stem for p in sorted((CONF / "model").glob("*.yaml"))])
def test_chunked_predict_equals_one_pass(name):
    """``predict`` in chunks of 10 over 63 points (the last chunk partial) gives the one-pass output, row for row, up
    to float32 round-off of the matrix products (measured at most 7e-5 of the largest output, WIRE), and leaves the
    model in the mode it found it in."""
    if issubclass(model_class(compose_config(f"model={name}").model), Solver):
        pytest.skip(f"model={name} has no network to evaluate (a Solver)")
    grid = (7, 9)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CHOIR warns that a 7x9 grid is too small for its frequency range
        model = build_model(compose_config(f"model={name}").model, 2, 3, Domain.on_grid(grid))
    coords = grid_coords(grid)
    whole, chunked = predict(model, coords, None), predict(model, coords, 10)
    assert model.training and chunked.shape == whole.shape == (63, 3)
    scale = float(whole.abs().max())
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-4 * scale)
    assert not torch.equal(whole[:10], whole[10:20])  # the rows differ: a repeated or misplaced chunk would show


def test_refined_coordinates_average_back_onto_the_coarse_grid():
    """``refine_coords(grid, f)``: f sub-pixel centres per sample along H and W, whose f x f block mean is the sample
    (area downsampling of the refined grid's coordinates gives the coarse grid's); the outer ones reach past +-1."""
    grid, f = (4, 6, 3), 2
    fine = refine_coords(grid, f).reshape(8, 12, 3, 3)
    assert torch.allclose(fine.reshape(4, 2, 6, 2, 3, 3).mean((1, 3)), grid_coords(grid).reshape(4, 6, 3, 3), atol=1e-6)
    step_h = 2.0 / 3
    assert fine[0, 0, 0, 0].item() == pytest.approx(-1 - step_h / 4)
    assert fine[1, 0, 0, 0].item() == pytest.approx(-1 + step_h / 4)
    assert torch.equal(fine[0, 0, :, 2], torch.linspace(-1, 1, 3))  # a third axis is not refined
    assert torch.equal(refine_coords((5, 7), 1), grid_coords((5, 7)))
