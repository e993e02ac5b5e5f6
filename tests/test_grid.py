"""Coordinates of the grid (inr_recover/grid.py)."""
import pytest
import torch

from inr_recover.grid import grid_coords, grid_index, refine_coords


def test_grid_coords_cover_minus_one_to_one():
    c = grid_coords((3, 5))
    assert c.shape == (15, 2)
    assert c[0].tolist() == [-1, -1] and c[-1].tolist() == [1, 1] and c[1].tolist() == [-1, -0.5]


def test_grid_index_inverts_grid_coords():
    for grid in ((5, 7), (4, 3, 6), (1, 5)):
        c = grid_coords(grid)
        assert torch.equal(grid_index(c, grid), torch.arange(c.shape[0]))
        assert torch.equal(grid_index(c + 0.2 / max(grid), grid), torch.arange(c.shape[0]))  # nearest point


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
