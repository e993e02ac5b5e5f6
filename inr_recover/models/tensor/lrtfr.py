"""LRTFR (Luo, Zhao, Li, Ng, Meng, TPAMI 2023): low-rank tensor function representation.

Tucker form (the paper's low-rank tensor function factorisation; official ``Network.forward``)::

    X = G x_1 f_1(i_1) x_2 f_2(i_2) ... x_d f_d(i_d) x_{d+1} f_c(k)

one :class:`~inr_recover.models.tensor.common.FactorNet` per mode (the grid axes, then the channel mode: two
sine layers of width ``n_2``, w0 2, U(-1/in, 1/in) weights in both) and a learnable core ``G`` of shape
``(r_1, ..., r_d, r_c)`` with ``r_m = max(1, int(n_m / down))`` (``down_channel`` for the channel mode). With
3 grid axes (``layout=nd`` video, grid (H, W, T)) the tensor is 4th order ``(H, W, T, C)`` with a 4-D core (an
extension: the official code is 3rd order). Core init U(+-1/sqrt(r_1)) as the official code.
Denoising terms (official ``Demo_HSI_denoising.py``): TV of ``X`` over H and W (summed, weight ``phi``) and the
sparse term ``S``, shared in :class:`~inr_recover.models.tensor.common.GridTensorModel` (``**terms``: ``tv_weight``,
``sstv_weight``, ``sparse``, ``reg_reduction``, ``reg_keeps_observed``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.tensor.common import FactorNet, GridTensorModel, mode_index, mode_product


def mode_ranks(sizes, down: float, down_channel: float) -> list[int]:
    """``r_m = max(1, floor(n_m / down))`` for the coordinate modes, ``down_channel`` for the last mode."""
    if down < 1 or down_channel < 1:
        raise UserError(f"model.down and model.down_channel must be >= 1, got {down} and {down_channel}")
    *coord, c = sizes
    return [max(1, int(n / down)) for n in coord] + [max(1, int(c / down_channel))]


class LRTFR(GridTensorModel):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        domain: Domain,
        down: float = 2.0,
        down_channel: float = 1.0,
        width: int | None = None,
        omega: float = 2.0,
        **terms,
    ):
        super().__init__(in_features, out_features, domain, **terms)
        sizes = [*self.grid, self.channels]
        self.ranks = mode_ranks(sizes, down, down_channel)
        width = int(width) if width else self.grid[1]  # official: mid_channel = n_2
        self.factors = nn.ModuleList(FactorNet(r, width, omega) for r in self.ranks)
        bound = 1.0 / math.sqrt(self.ranks[0])
        self.core = nn.Parameter(torch.empty(self.ranks).uniform_(-bound, bound))

    def render(self) -> torch.Tensor:
        x = self.core
        for m, (net, n) in enumerate(zip(self.factors, [*self.grid, self.channels])):
            x = mode_product(x, net(mode_index(n, x.device)), m)
        return x

    def points(self, index: torch.Tensor) -> torch.Tensor:
        """``X(i) = G x_c f_c x_1 f_1(i_1) ... x_d f_d(i_d)`` per point (rows of the mode factors)."""
        g = mode_product(self.core, self.factors[-1](mode_index(self.channels, index.device)), len(self.grid))
        out = self.factors[0](index[:, 0]) @ g.reshape(g.shape[0], -1)  # (N, r_2 * ... * C)
        for m in range(1, len(self.grid)):
            f = self.factors[m](index[:, m])
            out = torch.einsum("nr,nrk->nk", f, out.reshape(out.shape[0], f.shape[1], -1))
        return out
