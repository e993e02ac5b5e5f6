"""The sample grid as coordinates: every method maps coordinates in [-1, 1] to values.

A tensor shaped ``(*grid, C)`` is flattened in 'ij' (C) order to ``(prod(grid), C)`` rows; row ``i`` is the value at
``grid_coords(grid)[i]``.
"""
from __future__ import annotations

import numpy as np
import torch


class OnGrid:
    """Values shaped ``(*grid, C)`` on the sample grid (a :class:`~inr_recover.data.Signal`, an
    :class:`~inr_recover.measure.observation.Observation`)."""

    values: np.ndarray

    @property
    def grid(self) -> tuple:
        return tuple(self.values.shape[:-1])

    @property
    def channels(self) -> int:
        return int(self.values.shape[-1])


def grid_coords(grid: tuple, device=None) -> torch.Tensor:
    """Coordinates of every grid point, ``(prod(grid), len(grid))``, each axis linearly in [-1, 1] ('ij' order)."""
    axes = [torch.linspace(-1.0, 1.0, n, device=device) if n > 1 else torch.zeros(1, device=device) for n in grid]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(grid))


def refine_coords(grid: tuple, factor: int, device=None) -> torch.Tensor:
    """Coordinates of ``grid`` refined ``factor`` times along its first two axes (H, W), 'ij' order.

    Sample ``x`` of an axis of ``n`` samples (spacing ``s = 2 / (n - 1)``, :func:`grid_coords`) becomes ``factor``
    samples at the centres of ``factor`` equal parts of its cell, ``x + s (2k + 1 - factor) / (2 factor)`` for
    ``k = 0 .. factor-1``: their mean is ``x``, so a block of the refined grid averages back onto the sample it
    refines (area downsampling). The refined axis spans ``[-1 - e, 1 + e]``, ``e = s (factor - 1) / (2 factor)``
    (the outer half-cells reach past the coarse grid's end samples). Other axes are as in :func:`grid_coords`."""
    axes = []
    for k, n in enumerate(grid):
        base = torch.linspace(-1.0, 1.0, n, device=device) if n > 1 else torch.zeros(1, device=device)
        if k < 2:
            step = 2.0 / (n - 1) if n > 1 else 2.0
            offsets = step * (2 * torch.arange(factor, device=device) + 1 - factor) / (2 * factor)
            base = (base[:, None] + offsets[None, :]).reshape(-1)
        axes.append(base)
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(grid))


def grid_index(coords: torch.Tensor, grid: tuple) -> torch.Tensor:
    """Flat ('ij' order) index of the grid point nearest to each coordinate ``(N, d)`` in [-1, 1].

    Inverse of :func:`grid_coords`: axis ``k`` maps ``x`` to ``round((x + 1) / 2 * (n_k - 1))``, clamped to the
    grid, so mini-batches and off-grid queries find their sample (S-INR's superpixel, I-INR's noise).
    """
    if coords.shape[-1] != len(grid):
        raise ValueError(f"coordinates have {coords.shape[-1]} dimensions, the grid {grid} has {len(grid)}")
    flat = torch.zeros(coords.shape[0], dtype=torch.long, device=coords.device)
    for k, n in enumerate(grid):
        i = torch.round((coords[:, k] + 1.0) * 0.5 * (n - 1)).long().clamp_(0, n - 1)
        flat = flat * n + i
    return flat


def rows(values: np.ndarray, device=None) -> torch.Tensor:
    """``(*grid, C)`` array -> ``(prod(grid), C)`` tensor on ``device``, row ``i`` at ``grid_coords(grid)[i]``."""
    return torch.from_numpy(values.reshape(-1, values.shape[-1])).to(device)


@torch.no_grad()
def predict(model, coords: torch.Tensor, chunk: int | None) -> torch.Tensor:
    """Inference over all coordinates in chunks of ``chunk``, so memory does not grow with the output size."""
    was_training = model.training
    model.eval()
    if not chunk or coords.shape[0] <= chunk:
        out = model.predict(coords)
    else:
        out = torch.cat([model.predict(coords[i : i + chunk]) for i in range(0, coords.shape[0], chunk)])
    model.train(was_training)
    return out
