"""Pieces the low-rank tensor-function baselines (LRTFR, DRO-TFF, CRNL) share.

Tensor layout: a model represents the tensor ``X`` of shape ``(*grid, C)``. The grid axes (H, W for images
and cubes; H, W, T for ``layout=nd`` videos) are the coordinate modes, the last mode is the channel/band
mode. Factor functions are evaluated at *index* coordinates ``1..n`` of their mode, as in the official
LRTFR, CRNL and DRO-TFF code (``U_input = 1..n_1``); the runner's coordinates in [-1, 1] map to them affinely,
so fractional indices (off-grid points) are defined too.

- :class:`FactorNet`: a factor function ``f: R -> R^r``: sine layers then a linear layer to the rank (two
  sine layers in LRTFR and CRNL, one in DRO-TFF), with the initialisation of the official code it follows.
- :func:`tv_l1`, :func:`sstv_l1`: anisotropic total variation over the coordinate modes and its
  spatial-spectral form, reduced by sum (the official code's ``torch.norm(., 1)``, paired with its Frobenius
  data term) or by mean (paired with the runner's per-entry mean losses).
- :func:`soft_threshold` and :class:`GridTensorModel`'s sparse term ``S = soft(Y - X, lambda)``, the
  closed-form minimiser of ``||Y - X - S||_F^2 + 2 lambda ||S||_1`` over ``S`` (block update under no_grad).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.base import INR
from inr_recover.models.layers import SineLayer

REDUCTIONS = ("sum", "mean")
FACTOR_INITS = ("first", "torch", "kaiming")


def soft_threshold(x: torch.Tensor, lam: float) -> torch.Tensor:
    """``sign(x) * max(|x| - lam, 0)``: the proximal map of ``lam * ||.||_1``."""
    return torch.sign(x) * torch.clamp(x.abs() - lam, min=0.0)


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    return x.abs().sum() if reduction == "sum" else x.abs().mean()


def tv_l1(x: torch.Tensor, axes, reduction: str = "mean") -> torch.Tensor:
    """Anisotropic TV ``sum_a ||D_a X||_1`` over ``axes`` (forward differences), each term summed (official
    ``torch.norm(X[1:] - X[:-1], 1)``) or averaged over its entries (``reduction="mean"``)."""
    return sum(_reduce(torch.diff(x, dim=a), reduction) for a in axes)


def sstv_l1(x: torch.Tensor, axes, reduction: str = "mean", channel_axis: int = -1) -> torch.Tensor:
    """Spatial-spectral TV ``sum_a ||D_a (D_c X)_{c >= 1}||_1``: differences along the channel mode, then along
    ``axes``. As the official CRNL and DRO-TFF code (``dz[1:, :, 1:] - dz[:-1, :, 1:]``), the first spectral
    difference (bands 0 -> 1) is left out, so fewer than 3 channels give 0."""
    if x.shape[channel_axis] < 3:
        return x.new_zeros(())
    dz = torch.diff(x, dim=channel_axis)
    dz = dz.narrow(channel_axis, 1, dz.shape[channel_axis] - 1)
    return tv_l1(dz, axes, reduction)


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
    """Factor function of one mode: ``index -> [sin(w0 (W_l h + b_l))] x layers -> linear -> R^rank``.

    ``init`` of the sine layers' weights (biases keep PyTorch's default U(+-1/sqrt(in)) in every case):

    - ``first``: U(-1/in, 1/in) in every sine layer (SIREN's first-layer rule, ``is_first=True`` in all of
      them), the official LRTFR code and CRNL's inpainting demo;
    - ``torch``: PyTorch's ``nn.Linear`` default, the official DRO-TFF ``SineLayer`` (no re-initialisation);
    - ``kaiming``: ``kaiming_normal_(a=sqrt(10))``, CRNL's denoising demo.

    Returns ``(N, rank)`` for indices ``(N,)``.
    """

    def __init__(self, rank: int, width: int, omega: float, layers: int = 2, init: str = "first"):
        super().__init__()
        if init not in FACTOR_INITS:
            raise UserError(f"factor init '{init}' is not one of {', '.join(FACTOR_INITS)}")
        if layers < 1 or width < 1 or rank < 1:
            raise UserError(f"a factor function needs >= 1 sine layer, width and rank, got {layers}, {width}, {rank}")
        sines = [SineLayer(1 if i == 0 else width, width, omega, is_first=True) for i in range(layers)]
        for s in sines:
            if init == "torch":
                s.linear.reset_parameters()
            elif init == "kaiming":
                nn.init.kaiming_normal_(s.linear.weight, a=math.sqrt(10))
        self.net = nn.Sequential(*sines, nn.Linear(width, rank))

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.net(index.reshape(-1, 1))


def mode_index(n: int, device) -> torch.Tensor:
    """The index coordinates ``1..n`` of a whole mode."""
    return torch.arange(1, n + 1, dtype=torch.float32, device=device)


class GridTensorModel(INR):
    """A tensor ``(*grid, C)`` rendered whole by :meth:`render`; ``forward`` gathers the requested grid points.

    Shared regularisation through the runner's hooks: ``tv_weight * tv_l1`` and ``sstv_weight * sstv_l1``
    of the rendered tensor over the coordinate modes (:meth:`regularization`), reduced by ``reg_reduction``;
    with ``reg_keeps_observed`` they see the observed entries in place of the model's (the official DRO-TFF
    inpainting demo writes ``X_Out[mask == 1] = X[mask == 1]`` before its TV terms). With ``sparse`` = lambda,
    the sparse-noise term ``S`` (a buffer the size of the data): :meth:`training_forward` sets
    ``S = soft(Y - X, lambda)`` at the batch's points under no_grad and returns ``X + S`` for the loss;
    :meth:`predict` returns ``X`` alone.
    """

    needs_grid = needs_entries = True  # factors per grid mode; S and the TV terms on the observed entries

    def __init__(self, in_features: int, out_features: int, domain: Domain, tv_weight: float = 0.0,
                 sstv_weight: float = 0.0, sparse: float | None = None, reg_reduction: str = "mean",
                 reg_keeps_observed: bool = False):
        super().__init__()
        self.grid = domain.grid
        if len(self.grid) != in_features:
            raise UserError(
                f"{type(self).__name__}: grid {list(self.grid)} has {len(self.grid)} axes but coordinates have "
                f"{in_features}"
            )
        if len(self.grid) < 2 or min(self.grid) < 2:
            raise UserError(
                f"{type(self).__name__} needs a grid of at least 2 axes of size >= 2, got {list(self.grid)}"
            )
        self.channels = int(out_features)
        if tv_weight < 0 or sstv_weight < 0:
            raise UserError("model.tv_weight and model.sstv_weight must be >= 0")
        if sparse is not None and sparse < 0:
            raise UserError(f"model.sparse (soft-threshold lambda) must be >= 0 or null, got {sparse}")
        if reg_reduction not in REDUCTIONS:
            raise UserError(f"model.reg_reduction='{reg_reduction}' is not one of {', '.join(REDUCTIONS)}")
        self.tv_weight, self.sstv_weight, self.sparse = float(tv_weight), float(sstv_weight), sparse
        self.reg_reduction, self.reg_keeps_observed = reg_reduction, bool(reg_keeps_observed)
        self.register_buffer("S", torch.zeros(0), persistent=False)
        self.register_buffer("observed", torch.zeros(0), persistent=False)
        self.register_buffer("known", torch.zeros(0, dtype=torch.bool), persistent=False)
        self._rendered = None
        self._train = (None, None, False)  # setup's coordinates, their flat index and whether it is the whole grid

    # --- subclasses -------------------------------------------------------------------------------------
    def render(self) -> torch.Tensor:
        """The whole tensor ``(*grid, C)``."""
        raise NotImplementedError

    def points(self, index: torch.Tensor) -> torch.Tensor:
        """Values ``(N, C)`` at fractional 1-based index coordinates ``(N, d)`` (off-grid evaluation). Default:
        multilinear interpolation of :meth:`render`; continuous models evaluate their factor functions."""
        return grid_interpolate(self.render(), index)

    # --- INR interface ----------------------------------------------------------------------------------
    def flat_index(self, coords: torch.Tensor, checked: bool = True) -> torch.Tensor | None:
        """Row-major flat grid index of each coordinate (the nearest grid point), or None when some coordinate is off
        the grid (``checked``: a read of the answer back from the device)."""
        idx = index_coords(coords, self.grid) - 1.0
        r = idx.round()
        top = torch.as_tensor(self.grid, device=r.device) - 1
        if checked and ((idx - r).abs().max() > 1e-3 or (r < 0).any() or (r > top).any()):
            return None
        flat = torch.zeros(coords.shape[0], dtype=torch.long, device=coords.device)
        for a, n in enumerate(self.grid):
            flat = flat * n + r[:, a].long()
        return flat

    def lookup(self, coords: torch.Tensor) -> tuple[torch.Tensor | None, bool]:
        """(:meth:`flat_index` of ``coords``, whether it is the whole grid in order): decided on the device for any
        coordinates (reading the answer back), and once on the host for the training coordinates of :meth:`setup`,
        so that a training step reads nothing back: a training batch is setup's coordinates or rows of them (a
        mini-batch), on the grid when they are."""
        if coords is self._train[0]:
            return self._train[1:]
        if self.training and self._train[1] is not None:
            return self.flat_index(coords, checked=False), False
        flat = self.flat_index(coords)
        whole = flat is not None and flat.numel() == math.prod(self.grid)
        return flat, whole and torch.equal(flat, torch.arange(flat.numel(), device=flat.device))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        flat, whole = self.lookup(coords)
        if flat is None:
            return self.points(index_coords(coords, self.grid))
        full = self.render()
        if self.training:
            self._rendered = full  # reused by regularization() in the same iteration
        full = full.reshape(-1, self.channels)
        return full if whole else full[flat]

    def setup(self, observation, coords: torch.Tensor) -> None:
        flat, whole = self.lookup(observation.coordinates())  # the same rows as ``coords``, on the host
        self._train = (coords, None if flat is None else flat.to(coords.device), whole)
        if self.sparse is not None:
            self.S = torch.zeros(math.prod(self.grid), self.channels, device=coords.device)
        if self.reg_keeps_observed:
            self.observed = torch.from_numpy(observation.values).to(coords.device).reshape(*self.grid, self.channels)
            self.known = torch.from_numpy(observation.known).to(coords.device).reshape(*self.grid, self.channels)

    def training_forward(self, coords: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = self(coords)
        if self.sparse is None:
            return pred
        if self.S.numel() == 0:
            raise RuntimeError("call setup() before training with a sparse term")
        flat = self.lookup(coords)[0]
        with torch.no_grad():
            s = soft_threshold(target - pred, float(self.sparse))
            self.S[flat] = s
        return pred + s

    def smoothness(self, x: torch.Tensor) -> torch.Tensor | float:
        """``tv_weight * TV(x) + sstv_weight * SSTV(x)`` over the coordinate modes of ``x (*grid, C)``."""
        axes = range(x.dim() - 1)
        reg = 0.0
        if self.tv_weight:
            reg = reg + self.tv_weight * tv_l1(x, axes, self.reg_reduction)
        if self.sstv_weight:
            reg = reg + self.sstv_weight * sstv_l1(x, axes, self.reg_reduction)
        return reg

    def regularization(self):
        full, self._rendered = self._rendered, None
        if self.tv_weight == 0 and self.sstv_weight == 0:
            return 0.0
        if full is None:
            full = self.render()
        if self.reg_keeps_observed:
            if self.known.numel() == 0:
                raise RuntimeError("call setup() before training with reg_keeps_observed")
            full = torch.where(self.known, self.observed, full)
        return self.smoothness(full)
