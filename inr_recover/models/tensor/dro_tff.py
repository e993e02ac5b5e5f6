"""DRO-TFF: deep rank-one tensor functional factorisation (Li et al., AAAI 2025; official code Xbow-Git/DRO-TFF,
``model/drotff.py``)::

    X = psi( ... psi( psi((A o B) x_3 H_1) x_3 H_2 ) ... x_3 H_k) x_3 f_H(c),    A = f_A(i), B = f_B(j)

``A (H x R)`` and ``B (W x R)`` come from factor INRs; ``(A o B)`` is the ``H x W x R`` tensor whose r-th slice is
the rank-one matrix ``a_r b_r^T``; ``H_1 .. H_k`` are ``depth`` bias-free ``R x R`` mode-3 transforms, each followed
by ``psi`` = LeakyReLU (official ``create_depth_layer``); the channel factor ``f_H (C x R)`` is an INR of the
channel index. As the official ``DRO_TFF``:

- factor INRs are one sine layer then a linear layer to ``R`` (:class:`~inr_recover.models.tensor.common.FactorNet`
  with ``layers=1``), width 300 for ``f_A``, ``f_B`` and 100 for ``f_H``, PyTorch's default init (``init=torch``),
  w0 ``omega`` (official: 2 for HSI and video, 1 for colour images), input the 1-based index;
- ``R = int(rank_fraction * H)`` (official ``r = int(n_1 * beta)``: 0.7 for inpainting, 0.3 for (mixed) denoising);
- a 3-axis grid (H, W, T; ``layout=nd`` video) is the official ``DRO_TFF_video``: frames (times channels) form
  the third mode, one ``R x R`` transform + LeakyReLU, then a bias-free linear map ``R -> T*C`` (no channel INR,
  ``depth`` unused); off-grid points interpolate the grid (the frame map is discrete).

TV/SSTV (official gamma and 10 gamma, even for inpainting, where the demo applies them to the output with the
observed entries written in: ``reg_keeps_observed``) and the sparse term of the mixed-noise demo are
:class:`~inr_recover.models.tensor.common.GridTensorModel`'s (``**terms``). The mixed-noise demo reaches its TV/SSTV
by ADMM splitting (thresholds 1e-3 = gamma / mu, 1e-2 = 10 gamma / mu); here they are the direct penalties.
"""
from __future__ import annotations

import torch
from torch import nn

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.tensor.common import FactorNet, GridTensorModel, mode_index


def drotff_rank(n1: int, fraction: float) -> int:
    """``R = int(n_1 * beta)`` (official ``Demo_Image_inpainting.py``), at least 1."""
    if not 0 < fraction:
        raise UserError(f"DRO-TFF: model.rank_fraction must be > 0, got {fraction}")
    return max(1, int(n1 * fraction))


class DROTFF(GridTensorModel):
    def __init__(self, in_features: int, out_features: int, domain: Domain, rank_fraction: float = 0.7, depth: int = 3,
                 width: int = 300, channel_width: int = 100, omega: float = 2.0, slope: float = 0.01, **terms):
        super().__init__(in_features, out_features, domain, **terms)
        if len(self.grid) > 3:
            raise UserError(f"DRO-TFF takes a 2- or 3-axis grid, got {list(self.grid)}")
        if depth < 1:
            raise UserError(f"DRO-TFF needs depth >= 1 (number of R x R mode-3 transforms), got {depth}")
        self.rank = drotff_rank(self.grid[0], rank_fraction)
        self.video = len(self.grid) == 3
        self.factors = nn.ModuleList(FactorNet(self.rank, width, omega, layers=1, init="torch") for _ in range(2))
        self.transforms = nn.ModuleList(
            nn.Linear(self.rank, self.rank, bias=False) for _ in range(1 if self.video else depth)
        )
        if self.video:  # official DRO_TFF_video: nn.Linear(r, n_3, bias=False) in place of the channel INR
            self.spectral = nn.Linear(self.rank, self.grid[2] * self.channels, bias=False)
        else:
            self.spectral = FactorNet(self.rank, channel_width, omega, layers=1, init="torch")  # f_H
        self.act = nn.LeakyReLU(slope)

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """``psi(... psi(z x H_1) ... x H_k) x f_H`` along the last (rank) mode of ``z``."""
        for h in self.transforms:
            z = self.act(h(z))
        if self.video:
            return self.spectral(z)
        return z @ self.spectral(mode_index(self.channels, z.device)).T

    def render(self) -> torch.Tensor:
        a, b = (f(mode_index(n, self.transforms[0].weight.device)) for f, n in zip(self.factors, self.grid))
        z = a[:, None, :] * b[None, :, :]  # rank-one slices a_r b_r^T, (H, W, R)
        return self.transform(z).reshape(*self.grid, self.channels)

    def points(self, index: torch.Tensor) -> torch.Tensor:
        if self.video:
            return super().points(index)
        return self.transform(self.factors[0](index[:, 0]) * self.factors[1](index[:, 1]))
