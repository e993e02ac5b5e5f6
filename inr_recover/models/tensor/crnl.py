"""CRNL (Luo, Zhao, Meng, "Revisiting nonlocal self-similarity from continuous representation", TPAMI 2024;
official code YisiLuo/CRNL, ``demo_CRNL_inpainting.py``, ``demo_CRNL_denoising.py``, ``utils_patch.py``).

Groups (official ``add_pad``, ``patch_assign_key``, ``search_KNN_4D``): the image is padded by repeating its last
rows/columns until ``(n - p) % (p - 1) == 0`` on both axes (when one axis needs it, the other is padded too, by
``p - 1`` if it was already aligned: ``add_pad``'s rule); reference ("key") patches of ``p x p`` pixels sit on the
stride ``p - 1`` lattice (neighbouring keys share one row/column). Each key's group is the key itself followed by
its ``neighbors`` nearest patches among *all* stride-1 patches (squared Euclidean distance over ``p x p x bands``;
the key is among them, at distance 0) of an initial estimate. The group tensor ``(G, p, p, B, K+1)`` is represented
by the coupled low-rank function factorisation::

    Z_g = C_g x_1 f_1(u) x_2 f_2(v) x_3 f_3(b) x_4 f_4(m)

with factor functions shared by all groups (:class:`~inr_recover.models.tensor.common.FactorNet`: two sine layers
of width ``20 p``, w0 ``omega``, index input) and a core ``C_g`` per group, ranks ``r = int(size / down)`` per mode
(official HSI inpainting ``down = [1, 1, 3, 5]``).

Objective (official): the data term is on the group tensor, ``||M_g * (Z - X_g)||_F`` with ``X_g``, ``M_g`` the
observed values and the known mask gathered at the group's patches, plus ``tv_weight`` TV (and ``sstv_weight`` SSTV)
of the padded image. :meth:`CRNL.regularization` returns that whole objective and :meth:`CRNL.training_forward`
hands the task's loss a zero residual (the target itself), so ``task.loss`` does not apply to CRNL: ``group_loss``
does (``fro`` official; ``l2``/``l1``: per-entry means over the group tensor, for the runner's mean losses). The
image is only each group's *reference* patch tiled back (the later patch wins on the shared row/column: official
``patch_recover_4D_new``), cropped to the grid.

Initial estimate. The official code groups patches of a precomputed TCTV (inpainting) or LRTDTV (denoising)
result that does not ship. Here :meth:`CRNL.setup` computes it from the observation alone: observed entries kept,
missing ones filled by normalised box filtering of the observed entries (the window grows until every entry is
filled). With a 3-axis grid (H, W, T) the time axis is folded into the band mode (``T * C`` bands), as the official
video setting stacks frames as bands. Off-grid points interpolate the grid multilinearly (the base class's
:meth:`points`): the groups are defined on the grid.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.models.tensor.common import FactorNet, GridTensorModel, mode_index

GROUP_LOSSES = ("fro", "l2", "l1")
INITS = ("uniform", "kaiming")


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


def pad_index(n: int, m: int, p: int) -> torch.Tensor:
    """Source row of each padded row (official ``add_pad``): rows ``0..n-1``, then the last ``res`` rows again,
    ``res = p - 1 - (n - p) % (p - 1)``, applied to both axes unless both ``(n - p)`` and ``(m - p)`` are multiples
    of ``p - 1`` (``m``: the other axis)."""
    if (n - p) % (p - 1) == 0 and (m - p) % (p - 1) == 0:
        return torch.arange(n)
    res = p - 1 - (n - p) % (p - 1)
    return torch.cat([torch.arange(n), torch.arange(n - res, n)])


def patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """All stride-1 ``p x p`` patches of ``x (H, W, B)`` as rows ``(T, B * p * p)``, row-major over positions
    (official ``patch_assign``: index ``i * (W - p + 1) + j``)."""
    return F.unfold(x.permute(2, 0, 1)[None], p)[0].T


def knn(keys: torch.Tensor, pool: torch.Tensor, k: int, chunk: int = 256) -> torch.Tensor:
    """Indices ``(L, k)`` of the ``k`` rows of ``pool`` nearest to each row of ``keys`` (squared Euclidean distance,
    nearest first; official ``search_KNN_4D``): ``torch.cdist`` in float64, ``chunk`` keys at a time, so only distances
    equal to float32 rounding (the official sums in float32) can order differently."""
    pool = pool.double()
    out = [
        torch.cdist(keys[s : s + chunk].double(), pool).topk(k, largest=False).indices
        for s in range(0, len(keys), chunk)
    ]
    return torch.cat(out)


def tiling(n: int, p: int, keys: int) -> torch.Tensor:
    """``(2, n)``: the key patch (along one axis) each padded row comes from, and the row's offset in it: patch
    ``min(row // (p - 1), keys - 1)``, so the row two neighbouring keys share comes from the later one."""
    pos = torch.arange(n)
    g = torch.clamp(pos // (p - 1), max=keys - 1)
    return torch.stack([g, pos - g * (p - 1)])


def crnl_ranks(sizes, down) -> list[int]:
    """``r_m = int(n_m / down_m)`` (official ``r_1 = int(n_1 / down_2[0])``), at least 1."""
    if len(down) != 4 or min(down) <= 0:
        raise UserError(
            f"CRNL: model.down needs 4 positive divisors (patch rows, patch cols, bands, members), got {list(down)}"
        )
    return [max(1, int(n / d)) for n, d in zip(sizes, down)]


class CRNL(GridTensorModel):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        domain: Domain,
        patch: int = 6,
        neighbors: int = 20,
        down=(1, 1, 3, 5),
        ranks=None,
        width: int | None = None,
        omega: float = 12.0,
        init: str = "uniform",
        group_loss: str = "fro",
        tv_weight: float = 1e-5,
        sstv_weight: float = 0.0,
        reg_reduction: str = "sum",
    ):
        super().__init__(
            in_features, out_features, domain, tv_weight=tv_weight, sstv_weight=sstv_weight, reg_reduction=reg_reduction
        )
        if len(self.grid) > 3:
            raise UserError(f"CRNL takes a 2- or 3-axis grid, got {list(self.grid)}")
        if group_loss not in GROUP_LOSSES:
            raise UserError(f"CRNL: model.group_loss='{group_loss}' is not one of {', '.join(GROUP_LOSSES)}")
        if init not in INITS:
            raise UserError(f"CRNL: model.init='{init}' is not one of {', '.join(INITS)}")
        h, w = self.grid[:2]
        if patch < 2 or neighbors < 0:
            raise UserError(f"CRNL: model.patch must be >= 2 and model.neighbors >= 0, got {patch}, {neighbors}")
        p = self.patch = min(int(patch), h, w)
        self.bands = self.channels * (self.grid[2] if len(self.grid) == 3 else 1)
        self.register_buffer("rows", pad_index(h, w, p), persistent=False)
        self.register_buffer("cols", pad_index(w, h, p), persistent=False)
        hp, wp = len(self.rows), len(self.cols)
        self.lattice = ((hp - p) // (p - 1) + 1, (wp - p) // (p - 1) + 1)  # (l_1, l_2) key patches per axis
        self.groups = self.lattice[0] * self.lattice[1]
        self.neighbors = min(int(neighbors), (hp - p + 1) * (wp - p + 1))
        sizes = [p, p, self.bands, self.neighbors + 1]
        if ranks is None:
            self.ranks = crnl_ranks(sizes, down)
        elif len(ranks) != 4 or min(ranks) < 1:
            raise UserError(f"CRNL: model.ranks must be 4 positive ranks or null, got {list(ranks)}")
        else:
            self.ranks = [min(int(r), n) for r, n in zip(ranks, sizes)]
        width = int(width) if width else 20 * p  # official mid_channel = 20 * n_2 (n_2 = p)
        self.factors = nn.ModuleList(
            FactorNet(r, width, omega, layers=2, init="first" if init == "uniform" else "kaiming") for r in self.ranks
        )
        self.cores = nn.Parameter(torch.empty(self.groups, *self.ranks))
        if init == "uniform":  # official inpainting: stdv = 0.1 / sqrt(centre.size(0)), centre.size(0) = L
            bound = 0.1 / math.sqrt(self.groups)
            nn.init.uniform_(self.cores, -bound, bound)
        else:  # official denoising: kaiming_normal_(centre, a=math.sqrt(L * L))
            nn.init.kaiming_normal_(self.cores, a=float(self.groups))
        self.group_loss = group_loss
        # each padded pixel's key patch and offset in it (official patch_recover_4D_new: the later patch wins)
        self.register_buffer("tile_r", tiling(hp, p, self.lattice[0]), persistent=False)
        self.register_buffer("tile_c", tiling(wp, p, self.lattice[1]), persistent=False)
        # stride-1 index of every key patch; group members and data are set by setup()
        i, j = (torch.arange(n) * (p - 1) for n in self.lattice)
        self.register_buffer("keys", (i[:, None] * (wp - p + 1) + j[None, :]).reshape(-1), persistent=False)
        self.register_buffer("members", self.keys[:, None].repeat(1, self.neighbors + 1), persistent=False)
        self.register_buffer("group_values", torch.zeros(0), persistent=False)
        self.register_buffer("group_known", torch.zeros(0), persistent=False)
        self.listed = False  # setup(): group data as a list of known entries (True) or dense (False)

    # --- groups -------------------------------------------------------------------------------------------
    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """``(H, W, ...)`` -> ``(H_p, W_p, B)`` (official ``add_pad``; time folded into the bands)."""
        return x.reshape(x.shape[0], x.shape[1], -1)[self.rows][:, self.cols]

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """The group tensor ``(G, p, p, B, K+1)`` of the padded ``x (H_p, W_p, B)`` at ``self.members``."""
        p = self.patch
        rows = patches(x, p)[self.members]  # (G, K+1, B * p * p), unfold order (B, p, p)
        return rows.reshape(*self.members.shape, self.bands, p, p).permute(0, 3, 4, 2, 1)

    def setup(self, observation, coords: torch.Tensor) -> None:
        """Group the patches of the initial estimate (module doc); gather the observation at the groups: as the
        list of known entries when fewer than half are known (completion), else as dense values and mask."""
        h, w = self.grid[:2]
        values = torch.from_numpy(observation.values).to(coords.device).reshape(h, w, -1)
        known = torch.from_numpy(observation.known).to(coords.device).reshape(h, w, -1)
        est = self.padded(fill_missing(values, known))
        pool = patches(est, self.patch)
        near = knn(pool[self.keys], pool, self.neighbors)
        self.members = torch.cat([self.keys[:, None], near], 1)
        mask = self.gather(self.padded(known.to(values.dtype))).reshape(-1, self.neighbors + 1)
        vals = self.gather(self.padded(values)).reshape(-1, self.neighbors + 1)
        self.listed = bool(mask.mean() < 0.5)
        if self.listed:
            self.group_known = mask.nonzero().T.contiguous()  # (2, n): row of (G, p, p, B), member
            self.group_values = vals[self.group_known[0], self.group_known[1]]
        else:
            self.group_known, self.group_values = mask.contiguous(), (vals * mask).contiguous()

    # --- the tensor ---------------------------------------------------------------------------------------
    def factorised(self, members: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(C x_1 f_1 x_2 f_2 x_3 f_3, f_4)``: ``(G, p, p, B, r_4)`` and the member factor ``(K+1, r_4)`` (its
        first ``members`` rows), so that ``Z = C x_1 f_1 x_2 f_2 x_3 f_3 x_4 f_4`` is their product on the last axis."""
        dev = self.cores.device
        u, v, b = (net(mode_index(n, dev)) for net, n in zip(self.factors, (self.patch, self.patch, self.bands)))
        y = self.factors[3](mode_index(self.neighbors + 1 if members is None else members, dev))
        return torch.einsum("gabcd,ua,vb,kc->guvkd", self.cores, u, v, b), y

    def render_groups(self) -> torch.Tensor:
        """The group tensor ``Z``, ``(G, p, p, B, K+1)``."""
        t, y = self.factorised()
        return t @ y.T

    def tile(self, z0: torch.Tensor) -> torch.Tensor:
        """Reference patches ``(G, p, p, B)`` -> the padded image ``(H_p, W_p, B)``."""
        l1, l2 = self.lattice
        z0 = z0.reshape(l1, l2, *z0.shape[1:])
        (gr, ur), (gc, uc) = self.tile_r, self.tile_c
        return z0[gr[:, None], gc[None, :], ur[:, None], uc[None, :]]

    def render(self) -> torch.Tensor:
        h, w = self.grid[:2]
        t, y = self.factorised(members=1)
        return self.tile((t @ y.T)[..., 0])[:h, :w].reshape(*self.grid, self.channels)

    # --- objective ----------------------------------------------------------------------------------------
    def training_forward(self, coords: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.group_values.numel() == 0:
            raise RuntimeError("call setup() before training CRNL (its data term is on the observation's groups)")
        return target  # zero residual: the data term is the group tensor's, in regularization()

    def regularization(self):
        t, y = self.factorised()
        t2 = t.reshape(-1, t.shape[-1])  # (G p p B, r_4)
        if self.listed:
            rows, members = self.group_known
            r = (t2[rows] * y[members]).sum(-1) - self.group_values
        else:
            r = (t2 @ y.T) * self.group_known - self.group_values
        if self.group_loss == "fro":
            data = torch.linalg.vector_norm(r)
        else:  # per-entry mean over the whole group tensor, as the runner's task losses
            data = (r.square() if self.group_loss == "l2" else r.abs()).sum() / (t2.shape[0] * y.shape[0])
        return data + self.smoothness(self.tile(t @ y[0]))
