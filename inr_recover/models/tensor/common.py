"""Pieces the low-rank tensor-function baselines (LRTFR, DRO-TFF, CRNL) share.

Tensor layout: a model represents the tensor ``X`` of shape ``(*grid, C)``. The grid axes (H, W for images
and cubes; H, W, T for ``layout=nd`` videos) are the coordinate modes, the last mode is the channel/band
mode. Factor functions are evaluated at *index* coordinates ``1..n`` of their mode, as in the official
LRTFR code (``U_input = 1..n_1``); the runner's coordinates in [-1, 1] map to them affinely, so fractional
indices (off-grid points) are defined too.

- :class:`FactorNet`: a factor function ``f: R -> R^r`` (LRTFR, Luo et al. TPAMI 2023, and the
  official ``U_net``): two sine layers then a linear layer to the rank.
- :func:`tv_l1`, :func:`sstv_l1`: anisotropic total variation over the coordinate modes and its
  spatial-spectral form (differences along the channel mode, then along each coordinate mode).
- :func:`soft_threshold` and :class:`GridTensorModel`'s sparse term ``S = soft(Y - X, lambda)``, the
  closed-form minimiser of ``||Y - X - S||_F^2 + 2 lambda ||S||_1`` over ``S`` (block update under no_grad).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.errors import UserError
from inr_recover.models.base import INR
from inr_recover.models.layers import SineLayer


def soft_threshold(x: torch.Tensor, lam: float) -> torch.Tensor:
    """``sign(x) * max(|x| - lam, 0)``: the proximal map of ``lam * ||.||_1``."""
    return torch.sign(x) * torch.clamp(x.abs() - lam, min=0.0)


def tv_l1(x: torch.Tensor, axes) -> torch.Tensor:
    """Anisotropic TV ``sum_a mean |D_a X|`` over ``axes`` (forward differences). Mean, not sum: the runner's
    data term is a per-entry mean, so the weight does not scale with the data size."""
    return sum(torch.diff(x, dim=a).abs().mean() for a in axes)


def sstv_l1(x: torch.Tensor, axes, channel_axis: int = -1) -> torch.Tensor:
    """Spatial-spectral TV ``sum_a mean |D_a D_c X|``: differences along the channel mode, then along ``axes``
    (Aggarwal & Majumdar 2016's SSTV form)."""
    return tv_l1(torch.diff(x, dim=channel_axis), axes)


def index_coords(coords: torch.Tensor, grid) -> torch.Tensor:
    """Runner coordinates in [-1, 1] -> 1-based index coordinates ``1..n`` per axis (``grid_coords``' inverse)."""
    n = torch.as_tensor(grid, dtype=coords.dtype, device=coords.device)
    return (coords + 1.0) * 0.5 * (n - 1.0) + 1.0


def grid_interpolate(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Multilinear interpolation of ``x (*grid, C)`` (2 or 3 grid axes) at 1-based index coordinates ``(N, d)``."""
    grid = x.shape[:-1]
    n = torch.as_tensor(grid, dtype=index.dtype, device=index.device)
    c = (index - 1.0) / (n - 1.0) * 2.0 - 1.0  # back to [-1, 1]; grid_sample wants the last axis first
    vol = torch.movedim(x, -1, 0)[None]  # (1, C, *grid)
    loc = c.flip(-1).reshape(1, *([1] * (len(grid) - 1)), -1, len(grid))
    out = torch.nn.functional.grid_sample(vol, loc, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(x.shape[-1], -1).T


def mode_product(x: torch.Tensor, mat: torch.Tensor, mode: int) -> torch.Tensor:
    """Tucker mode product ``X x_mode M`` with ``M`` of shape ``(n, r)`` acting on a mode of size ``r``."""
    return torch.movedim(torch.tensordot(x, mat, dims=([mode], [1])), -1, mode)


class FactorNet(nn.Module):
    """Factor function of one mode: ``index -> sin(w0 (W2 sin(w0 (W1 i + b1)) + b2)) -> linear -> R^rank``.

    As the official LRTFR code: both sine layers use the first-layer SIREN init U(-1/in, 1/in) (``is_first``
    in both), w0 = 2, and the input is the 1-based index. Returns ``(N, rank)`` for indices ``(N,)``.
    """

    def __init__(self, rank: int, width: int, omega: float):
        super().__init__()
        self.net = nn.Sequential(
            SineLayer(1, width, omega, is_first=True), SineLayer(width, width, omega, is_first=True), nn.Linear(width, rank)
        )

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.net(index.reshape(-1, 1))


def mode_index(n: int, device) -> torch.Tensor:
    """The index coordinates ``1..n`` of a whole mode."""
    return torch.arange(1, n + 1, dtype=torch.float32, device=device)


class GridTensorModel(INR):
    """A tensor ``(*grid, C)`` rendered whole by :meth:`render`; ``forward`` gathers the requested grid points.

    Shared regularisation through the runner's hooks: ``tv_weight * tv_l1`` and ``sstv_weight * sstv_l1``
    of the rendered tensor (:meth:`regularization`) and, with ``sparse`` = lambda, the sparse-noise term
    ``S`` (a buffer the size of the data): :meth:`training_forward` sets ``S = soft(Y - X, lambda)`` at the
    batch's points under no_grad and returns ``X + S`` for the loss; :meth:`predict` returns ``X`` alone.
    """

    def __init__(self, in_features: int, out_features: int, grid: tuple, tv_weight: float = 0.0,
                 sstv_weight: float = 0.0, sparse: float | None = None):
        super().__init__()
        self.grid = tuple(int(g) for g in grid)
        if len(self.grid) != in_features:
            raise UserError(f"{type(self).__name__}: grid {list(self.grid)} has {len(self.grid)} axes but coordinates have {in_features}")
        if len(self.grid) < 2 or min(self.grid) < 2:
            raise UserError(f"{type(self).__name__} needs a grid of at least 2 axes of size >= 2, got {list(self.grid)}")
        self.channels = int(out_features)
        if tv_weight < 0 or sstv_weight < 0:
            raise UserError("model.tv_weight and model.sstv_weight must be >= 0")
        if sstv_weight > 0 and self.channels < 2:
            raise UserError("model.sstv_weight needs at least 2 channels (spectral differences); set it to 0")
        if sparse is not None and sparse < 0:
            raise UserError(f"model.sparse (soft-threshold lambda) must be >= 0 or null, got {sparse}")
        self.tv_weight, self.sstv_weight, self.sparse = float(tv_weight), float(sstv_weight), sparse
        self.register_buffer("S", torch.zeros(0), persistent=False)
        self._rendered = None

    # --- subclasses -------------------------------------------------------------------------------------
    def render(self) -> torch.Tensor:
        """The whole tensor ``(*grid, C)``."""
        raise NotImplementedError

    def points(self, index: torch.Tensor) -> torch.Tensor:
        """Values ``(N, C)`` at fractional 1-based index coordinates ``(N, d)`` (off-grid evaluation). Default:
        multilinear interpolation of :meth:`render`; continuous models evaluate their factor functions."""
        return grid_interpolate(self.render(), index)

    # --- INR interface ----------------------------------------------------------------------------------
    def flat_index(self, coords: torch.Tensor) -> torch.Tensor | None:
        """Row-major flat grid index of each coordinate, or None when some coordinate is off the grid."""
        idx = index_coords(coords, self.grid) - 1.0
        r = idx.round()
        if (idx - r).abs().max() > 1e-3 or (r < 0).any() or (r > torch.as_tensor(self.grid, device=r.device) - 1).any():
            return None
        flat = torch.zeros(coords.shape[0], dtype=torch.long, device=coords.device)
        for a, n in enumerate(self.grid):
            flat = flat * n + r[:, a].long()
        return flat

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        flat = self.flat_index(coords)
        if flat is None:
            return self.points(index_coords(coords, self.grid))
        full = self.render()
        if self.training:
            self._rendered = full  # reused by regularization() in the same iteration
        full = full.reshape(-1, self.channels)
        if flat.numel() == full.shape[0] and torch.equal(flat, torch.arange(flat.numel(), device=flat.device)):
            return full
        return full[flat]

    def setup(self, observation, coords: torch.Tensor) -> None:
        if self.sparse is not None:
            self.S = torch.zeros(math.prod(self.grid), self.channels, device=coords.device)

    def training_forward(self, coords: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = self(coords)
        if self.sparse is None:
            return pred
        if self.S.numel() == 0:
            raise RuntimeError("call setup() before training with a sparse term")
        flat = self.flat_index(coords)
        with torch.no_grad():
            s = soft_threshold(target - pred, float(self.sparse))
            self.S[flat] = s
        return pred + s

    def regularization(self):
        full, self._rendered = self._rendered, None
        if self.tv_weight == 0 and self.sstv_weight == 0:
            return 0.0
        if full is None:
            full = self.render()
        axes = range(len(self.grid))
        reg = 0.0
        if self.tv_weight:
            reg = reg + self.tv_weight * tv_l1(full, axes)
        if self.sstv_weight:
            reg = reg + self.sstv_weight * sstv_l1(full, axes)
        return reg
