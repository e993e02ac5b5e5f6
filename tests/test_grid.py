"""Coordinates of the grid (inr_recover/grid.py)."""
import torch

from inr_recover.grid import grid_coords, grid_index


def test_grid_coords_cover_minus_one_to_one():
    c = grid_coords((3, 5))
    assert c.shape == (15, 2)
    assert c[0].tolist() == [-1, -1] and c[-1].tolist() == [1, 1] and c[1].tolist() == [-1, -0.5]


def test_grid_index_inverts_grid_coords():
    for grid in ((5, 7), (4, 3, 6), (1, 5)):
        c = grid_coords(grid)
        assert torch.equal(grid_index(c, grid), torch.arange(c.shape[0]))
        assert torch.equal(grid_index(c + 0.2 / max(grid), grid), torch.arange(c.shape[0]))  # nearest point
