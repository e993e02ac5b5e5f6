"""CRNL (Luo, Zhao, Meng, "Revisiting nonlocal self-similarity from continuous representation", 2024).

Nonlocal groups: overlapping ``p x p`` spatial patches on a ``stride`` lattice (the last row/column of
patches is added so every pixel is covered); each patch is a reference, its group the ``K`` nearest patches
(Euclidean distance, the reference itself first) of an initial estimate. The groups form a 5-D tensor
``(G, p, p, C, K)`` represented by the coupled low-rank function factorisation of the paper::

    Z_g = C_g x_1 f_1(u) x_2 f_2(v) x_3 f_3(k) x_4 f_4(m)

with factor functions shared by all groups (:class:`~inr_recover.models.tensor.common.FactorNet` on the index
coordinate within the patch, the band index and the member index) and a core ``C_g`` per group. The tensor is
the average of all group members put back at their patch positions.

Initial estimate. The official code groups patches of a precomputed TCTV/LRTDTV result that does not ship.
Here :meth:`CRNL.setup` computes it from the observation alone: observed entries kept, missing ones filled
by normalised box filtering of the observed entries (the window grows until every entry is filled). With a
3-axis grid (H, W, T) the time axis is folded into the channel mode (``T * C`` bands) for grouping and
factorisation; the output is unfolded back to ``(H, W, T, C)``. Before :meth:`CRNL.setup` a group is its
reference's spatially nearest patches. Off-grid points interpolate the grid multilinearly
(the base class's :meth:`points`): the grouping is defined on the grid.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from inr_recover.errors import UserError
from inr_recover.models.tensor.common import FactorNet, GridTensorModel, mode_index, mode_product


def fill_missing(values: torch.Tensor, known: torch.Tensor, window: int = 3) -> torch.Tensor:
    """``(H, W, B)``: observed entries kept, missing ones the mean of observed entries in a ``window``-square
    neighbourhood of the same band (normalised box filter), the window growing (3, 7, 15, ...) until all are filled."""
    v = (values * known).permute(2, 0, 1)[:, None]  # (B, 1, H, W)
    m = known.to(values.dtype).permute(2, 0, 1)[:, None]
    est = torch.zeros_like(v)
    filled = torch.zeros_like(m, dtype=torch.bool)
    while not filled.all():
        if window > 2 * max(values.shape[:2]) + 1:  # a band with no observed entry at all
            est = torch.where(filled, est, v.sum() / m.sum().clamp(min=1))
            break
        num = F.avg_pool2d(v, window, 1, window // 2, count_include_pad=False)
        den = F.avg_pool2d(m, window, 1, window // 2, count_include_pad=False)
        new = (den > 0) & ~filled
        est = torch.where(new, num / den.clamp(min=1e-12), est)
        filled = filled | new
        window = 2 * window + 1
    est = est[:, 0].permute(1, 2, 0)
    return torch.where(known, values, est)


def patch_starts(n: int, p: int, stride: int) -> list[int]:
    starts = list(range(0, n - p + 1, stride))
    return starts if starts[-1] == n - p else starts + [n - p]


class CRNL(GridTensorModel):
    def __init__(self, in_features: int, out_features: int, grid: tuple, patch: int = 8, stride: int = 4,
                 neighbors: int = 10, ranks=(4, 4, 8, 4), width: int | None = None, omega: float = 2.0,
                 tv_weight: float = 0.0, sstv_weight: float = 0.0, sparse: float | None = None):
        super().__init__(in_features, out_features, grid, tv_weight, sstv_weight, sparse)
        if len(self.grid) > 3:
            raise UserError(f"CRNL takes a 2- or 3-axis grid, got {list(self.grid)}")
        h, w = self.grid[:2]
        if patch < 1 or stride < 1:
            raise UserError(f"CRNL: model.patch and model.stride must be >= 1, got {patch}, {stride}")
        self.patch, self.bands = min(int(patch), h, w), self.channels * (self.grid[2] if len(self.grid) == 3 else 1)
        self.positions = [(y, x) for y in patch_starts(h, self.patch, stride) for x in patch_starts(w, self.patch, stride)]
        self.neighbors = min(int(neighbors), len(self.positions))
        if self.neighbors < 1 or len(ranks) != 4 or min(ranks) < 1:
            raise UserError(f"CRNL: model.neighbors must be >= 1 and model.ranks 4 positive ranks, got {neighbors}, {list(ranks)}")
        sizes = [self.patch, self.patch, self.bands, self.neighbors]
        self.ranks = [min(int(r), n) for r, n in zip(ranks, sizes)]
        width = int(width) if width else self.grid[1]  # as LRTFR: mid_channel = n_2
        self.factors = nn.ModuleList(FactorNet(r, width, omega) for r in self.ranks)
        bound = 1.0 / self.ranks[0] ** 0.5
        self.cores = nn.Parameter(torch.empty(len(self.positions), *self.ranks).uniform_(-bound, bound))
        ys, xs = (torch.tensor([pos[a] for pos in self.positions]) for a in (0, 1))
        off = torch.arange(self.patch)
        self.register_buffer("rows", (ys[:, None] + off)[:, :, None], persistent=False)  # (P, p, 1)
        self.register_buffer("cols", (xs[:, None] + off)[:, None, :], persistent=False)  # (P, 1, p)
        # (G, K, p, p) flat pixel indices of each group's members; until setup() sees the observation, a group
        # is its reference's spatially nearest patches
        self.register_buffer("pixels", self.group(torch.stack([ys, xs], 1).float()))

    def group(self, feats: torch.Tensor) -> torch.Tensor:
        """K nearest patches of each reference patch (the reference first) by Euclidean distance of ``feats``."""
        dist = torch.cdist(feats, feats)
        dist.fill_diagonal_(-1.0)
        members = dist.topk(self.neighbors, largest=False).indices  # (G, K)
        return (self.rows * self.grid[1] + self.cols)[members]

    def setup(self, observation, coords: torch.Tensor) -> None:
        super().setup(observation, coords)
        h, w = self.grid[:2]
        values = torch.from_numpy(observation.values).to(coords.device).reshape(h, w, -1)
        known = torch.from_numpy(observation.known).to(coords.device).reshape(h, w, -1)
        est = fill_missing(values, known)
        self.pixels = self.group(est[self.rows, self.cols].reshape(len(self.positions), -1))

    def render(self) -> torch.Tensor:
        z = self.cores
        for m, (net, n) in enumerate(zip(self.factors, [self.patch, self.patch, self.bands, self.neighbors])):
            z = mode_product(z, net(mode_index(n, z.device)), m + 1)  # (G, p, p, B, K)
        vals = z.permute(0, 4, 1, 2, 3).reshape(-1, self.bands)  # rows ordered as pixels (G, K, p, p)
        h, w = self.grid[:2]
        idx = self.pixels.reshape(-1)
        total = torch.zeros(h * w, self.bands, device=z.device, dtype=z.dtype).index_add(0, idx, vals)
        count = torch.bincount(idx, minlength=h * w).clamp(min=1).to(z.dtype)
        return (total / count[:, None]).reshape(*self.grid, self.channels)
