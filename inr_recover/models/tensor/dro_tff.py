"""DRO-TFF: deep rank-one tensor functional factorisation (AAAI 2025). No public code; from the paper::

    X = psi( ... psi( psi((A o B) x_3 H_1) x_3 H_2 ) ... ) x_3 H_k,     A = f_A(i), B = f_B(j), H_k = f_H(k)

``A (H x R)`` and ``B (W x R)`` come from factor INRs; ``(A o B)`` is the ``H x W x R`` tensor whose r-th
slice is the rank-one matrix ``a_r b_r^T``; ``H_1 .. H_{k-1}`` are learnable ``R x R`` mode-3 transforms,
``psi`` = LeakyReLU between them, and the last transform ``H_k (C x R)`` is an INR of the channel index.
Choices this implementation makes (the paper leaves them open or we could not verify them):

- factor INRs are the shared LRTFR :class:`~inr_recover.models.tensor.common.FactorNet` (two sine layers,
  w0 = 2, index input); ``width`` defaults to the second grid size as in LRTFR;
- ``H_1 .. H_{k-1}`` are bias-free linear maps with PyTorch's default init; LeakyReLU slope ``slope``;
- with a 3-axis grid (H, W, T; ``layout=nd`` video) the rank-one slices are ``a_r o b_r o t_r`` from three
  factor INRs and the transforms act on the last (rank) mode, mapping to the C channels;
- TV over the coordinate modes and spatial-spectral TV for denoising, sparse term for mixed noise: the
  shared :class:`~inr_recover.models.tensor.common.GridTensorModel` terms.
"""
from __future__ import annotations

import torch
from torch import nn

from inr_recover.errors import UserError
from inr_recover.models.tensor.common import FactorNet, GridTensorModel, mode_index


class DROTFF(GridTensorModel):
    def __init__(self, in_features: int, out_features: int, grid: tuple, rank: int = 64, depth: int = 3,
                 width: int | None = None, omega: float = 2.0, slope: float = 0.01, tv_weight: float = 0.0,
                 sstv_weight: float = 0.0, sparse: float | None = None):
        super().__init__(in_features, out_features, grid, tv_weight, sstv_weight, sparse)
        if rank < 1 or depth < 1:
            raise UserError(f"DRO-TFF needs rank >= 1 and depth >= 1 (number of mode-3 transforms), got {rank}, {depth}")
        width = int(width) if width else self.grid[1]
        self.factors = nn.ModuleList(FactorNet(rank, width, omega) for _ in self.grid)
        self.transforms = nn.ModuleList(nn.Linear(rank, rank, bias=False) for _ in range(depth - 1))
        self.spectral = FactorNet(rank, width, omega)  # H_k = f_H(k), (C x R)
        self.act = nn.LeakyReLU(slope)

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """``psi(... psi(z x H_1) ...) x H_k`` along the last (rank) mode of ``z``."""
        for h in self.transforms:
            z = self.act(h(z))
        return z @ self.spectral(mode_index(self.channels, z.device)).T

    def render(self) -> torch.Tensor:
        rank = self.spectral.net[-1].out_features
        z = torch.ones([1] * len(self.grid) + [rank], device=self.spectral.net[-1].weight.device)
        for m, (net, n) in enumerate(zip(self.factors, self.grid)):
            shape = [1] * len(self.grid) + [rank]
            shape[m] = n
            z = z * net(mode_index(n, z.device)).reshape(shape)  # rank-one slices a_r o b_r (o t_r)
        return self.transform(z)

    def points(self, index: torch.Tensor) -> torch.Tensor:
        z = self.factors[0](index[:, 0])
        for m in range(1, len(self.grid)):
            z = z * self.factors[m](index[:, m])
        return self.transform(z)
