"""S-INR (Li et al., superpixel-informed implicit neural representation for multi-dimensional data).

The grid is cut into K generalized superpixels (:mod:`inr_recover.models.superpixels`, from the observation in
:meth:`SINR.setup`). Superpixel ``k`` owns an exclusive attention MLP on ``u = (x + 1) / 2`` (the official code's
[0, 1] coordinates)::

    h_0 = SE_k^0(sin(w_first (W_k^0 u + b_k^0)))
    h_l = SE_k^l(sin(w_hidden (W_k^l h_{l-1} + b_k^l)))          l = 1 .. depth
    a   = SE_k^out(W_k^out h_depth + b_k^out)                    r coefficients
    y   = D a                                                    D: (C, r) dictionary shared by all superpixels

with ``r = atoms_per_channel * C`` (paper Sec. 3.1: r a multiple of the output dimension s, 5 s for RGB, 4 s for point
data, {2, 3, 4} s for HSI; default 5 for C <= 3, else 4) unless ``atoms`` fixes it (the official scripts: 120),
and squeeze-excitation gates ``SE_k(h) = h * sigmoid(B_k relu(A_k mean_{S_k}(h)))`` with a bottleneck of
``ch // (ch // se_reduction)`` units (official ``SE_Block(ch, int(ch / 4))`` passes ch / 4 as the *reduction*:
35 -> 4, 120 -> 4, 3 -> 3), the mean taken over the
superpixel's coordinates (the official code evaluates a whole superpixel at once). :meth:`SINR.forward` (training)
takes it over the superpixel's coordinates in the batch (all of them in full-batch training);
:meth:`SINR.predict` always over the whole superpixel (:meth:`SINR.superpixel_gates`). Init per
network as the official ``Inr_block_se``: SIREN first/hidden bounds, output bound sqrt(6/width)/omega_out_init
(official: 150), PyTorch defaults for biases, SE layers and D.

Overlap (official ``expand_pixels``): network ``k`` also covers a ring of ``overlap`` grid points around its
superpixel (:func:`~inr_recover.models.superpixels.overlap_members`); a coordinate's output is the mean of the
networks covering it, and each network's SE statistics run over its extended set.

Point data (S-INR's generalized superpixels on scattered points, paper Sec. 2.1): the superpixels come from the
points' coordinates (:func:`~inr_recover.models.superpixels.superpixels` with ``positions``), without overlap rings
(the official point scripts have none), and a coordinate belongs to its nearest point's superpixel.

All K networks run in one batched pass over the (coordinate, covering superpixel) pairs, grouped by
superpixel into a zero-padded ``(K', n_max, .)`` tensor (K' = superpixels present in the batch) and each layer is one
``torch.bmm`` with the stacked weights ``(K', in, out)``; padded rows are excluded from the SE means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.measure.geometry import Scattered
from inr_recover.measure.grid import grid_coords, grid_index
from inr_recover.models.base import INR
from inr_recover.models.layers import output_activation
from inr_recover.models.superpixels import overlap_members, superpixels


def dictionary_size(channels: int, atoms: int | None = None, per_channel: int | None = None) -> int:
    """Dictionary size r: ``atoms`` if given, else ``per_channel * channels`` (default 5 for C <= 3, else 4)."""
    if atoms is not None:
        return int(atoms)
    return int(per_channel if per_channel is not None else (5 if channels <= 3 else 4)) * channels


@dataclass
class Layout:
    """The (coordinate, covering superpixel) pairs of a batch grouped by superpixel, on the device: pair ``i`` is row
    ``sorted_rows[i]`` of the batch in slot ``slot[i]`` (superpixel ``ids[slot[i]]``) at position ``pos[i]`` of its
    zero-padded ``(K', longest, .)`` block; ``counts`` pairs per slot, ``cover`` superpixels per row."""

    sorted_rows: torch.Tensor
    ids: torch.Tensor
    counts: torch.Tensor
    slot: torch.Tensor
    pos: torch.Tensor
    cover: torch.Tensor
    longest: int

    @classmethod
    def of(cls, nearest: np.ndarray, ptr: np.ndarray, members: np.ndarray, device) -> "Layout":
        """From each row's nearest sample and the CSR lists of the superpixels covering each sample."""
        start, count = ptr[nearest], ptr[nearest + 1] - ptr[nearest]
        rows = np.repeat(np.arange(nearest.shape[0]), count)
        offset = np.arange(rows.size) - (np.cumsum(count) - count)[rows]
        ids, inv = np.unique(members[start[rows] + offset], return_inverse=True)
        order = np.argsort(inv, kind="stable")
        counts = np.bincount(inv, minlength=ids.size)
        slot = inv[order]
        pos = np.arange(rows.size) - (np.cumsum(counts) - counts)[slot]
        dev = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long, device=device)  # noqa: E731
        return cls(dev(rows[order]), dev(ids), dev(counts), dev(slot), dev(pos),
                   dev(np.bincount(rows, minlength=nearest.shape[0])), int(counts.max(initial=0)))


def _uniform(shape, bound) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class SINR(INR):
    needs_entries = True  # superpixels from the observation on its grid (or its points)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        domain: Domain,
        pixels_per_superpixel: int = 2500,
        alpha: float = 5.0,
        seg_channels: int = 3,
        knn: int = 3,
        connected: bool = False,
        min_size_fraction: float = 0.25,
        overlap: int = 2,
        width: int = 35,
        depth: int = 3,
        atoms: int | None = None,
        atoms_per_channel: int | None = None,
        omega_first: float = 150.0,
        omega_hidden: float = 30.0,
        omega_out_init: float = 150.0,
        se_reduction: int = 4,
        kmeans_seed: int = 0,
        out_activation: str = "none",
        superpixels: int | None = None,
    ):
        super().__init__()
        atoms = dictionary_size(out_features, atoms, atoms_per_channel)
        if width < 1 or depth < 0 or atoms < 1 or se_reduction < 1:
            raise UserError("S-INR needs model.width >= 1, model.depth >= 0, model.atoms >= 1, model.se_reduction >= 1")
        self.grid = domain.grid  # None: scattered points (set by setup)
        self.seg = dict(
            pixels_per_superpixel=pixels_per_superpixel,
            alpha=alpha,
            n_channels=seg_channels,
            knn=knn,
            connected=bool(connected),
            min_size_fraction=min_size_fraction,
            seed=kmeans_seed,
            n_superpixels=superpixels,
        )
        self.points, self._tree = None, None  # point data: the points' coordinates and their k-d tree (setup)
        self.overlap = int(overlap)
        self.d, self.width, self.depth, self.atoms = in_features, width, depth, atoms
        self.omega_first, self.omega_hidden, self.se_reduction = omega_first, omega_hidden, se_reduction
        self.omega_out_init = omega_out_init
        self.dictionary = nn.Linear(atoms, out_features, bias=False)
        self.out = output_activation(out_activation)
        # Before setup the whole grid is one superpixel (a well-defined single-network S-INR); setup re-segments.
        n = domain.samples
        self.register_buffer("labels", torch.zeros(n, dtype=torch.long))
        self.register_buffer("member_ptr", torch.arange(n + 1))  # CSR: superpixels covering each grid point
        self.register_buffer("members", torch.zeros(n, dtype=torch.long))
        self._build(1, torch.device("cpu"))
        self._host = None  # (member_ptr, members) on the host: host_members()
        self._train = (None, None, None)  # setup's coordinates, their sample_index() and layout()

    def _build(self, k: int, device) -> None:
        """K independent networks, initialised as K official ``Inr_block_se`` modules, stacked along dim 0."""
        d, c, r = self.d, self.width, self.atoms
        with torch.device(device):
            self.w_in, self.b_in = _uniform((k, d, c), 1.0 / d), _uniform((k, c), 1.0 / math.sqrt(d))
            self.w_hid = _uniform((self.depth, k, c, c), math.sqrt(6.0 / c) / self.omega_hidden)
            self.b_hid = _uniform((self.depth, k, c), 1.0 / math.sqrt(c))
            self.w_out = _uniform((k, c, r), math.sqrt(6.0 / c) / self.omega_out_init)
            self.b_out = _uniform((k, r), 1.0 / math.sqrt(c))
            chans = [c] * (self.depth + 1) + [r]  # SE after the first, every hidden and the output layer
            squeezed = [ch // max(1, ch // self.se_reduction) for ch in chans]
            self.se_down = nn.ParameterList(
                _uniform((k, ch, sq), 1.0 / math.sqrt(ch)) for ch, sq in zip(chans, squeezed)
            )
            self.se_up = nn.ParameterList(_uniform((k, sq, ch), 1.0 / math.sqrt(sq)) for ch, sq in zip(chans, squeezed))
        self.n_superpixels = k

    def setup(self, observation, coords: torch.Tensor) -> None:
        scattered = isinstance(observation.geometry, Scattered)
        host = observation.coordinates()  # the coordinates of ``coords`` on the host (row i is row i)
        positions = ((host.numpy().astype(np.float64) + 1.0) * 0.5) if scattered else None
        labels = superpixels(observation.values, observation.known, **self.seg, positions=positions)
        device = coords.device
        if scattered:
            self.points, self._tree = coords.detach().clone(), cKDTree(positions)
        self.labels = torch.as_tensor(labels.reshape(-1), dtype=torch.long, device=device)
        ptr, members = overlap_members(labels, 0 if scattered else self.overlap)
        self.member_ptr = torch.as_tensor(ptr, dtype=torch.long, device=device)
        self.members = torch.as_tensor(members, dtype=torch.long, device=device)
        self._host = (np.asarray(ptr, np.int64), np.asarray(members, np.int64))
        nearest = self._tree.query(positions)[1] if scattered else grid_index(host, self.grid).numpy()
        self._train = (coords, torch.as_tensor(nearest, device=device), Layout.of(nearest, *self._host, device))
        self._build(int(labels.max()) + 1, device)

    def sample_index(self, coords: torch.Tensor) -> torch.Tensor:
        """Index of each coordinate's nearest sample: a grid point, or one of the points (point data: a k-d tree
        query on the host, made once for the training coordinates of :meth:`setup`)."""
        if coords is self._train[0]:
            return self._train[1]
        if self._tree is None:
            return grid_index(coords, self.grid)
        _, idx = self._tree.query((coords.detach().cpu().numpy().astype(np.float64) + 1.0) * 0.5)
        return torch.as_tensor(idx, dtype=torch.long, device=coords.device)

    def superpixel_of(self, coords: torch.Tensor) -> torch.Tensor:
        """Superpixel id of each coordinate (its nearest sample's label)."""
        return self.labels[self.sample_index(coords)]

    def layout(self, coords: torch.Tensor) -> "Layout":
        """The (coordinate, covering superpixel) pairs of ``coords``, grouped by superpixel (:class:`Layout`): the own
        superpixel of each coordinate's nearest sample and the neighbours whose overlap ring contains it. Computed on
        the host from the nearest samples (one device-to-host copy of ``coords``' indices; their sizes decide the
        shapes of the batched pass), and kept for the training coordinates of :meth:`setup`: a full-batch step reads
        nothing back from the device."""
        if coords is self._train[0]:
            return self._train[2]
        return Layout.of(self.sample_index(coords).cpu().numpy(), *self.host_members(), coords.device)

    def host_members(self) -> tuple[np.ndarray, np.ndarray]:
        """``member_ptr`` and ``members`` on the host (set by :meth:`setup`; read once from the buffers after a
        ``load_state_dict`` without one)."""
        if self._host is None or self._host[0].shape[0] != self.member_ptr.shape[0]:
            self._host = (self.member_ptr.cpu().numpy(), self.members.cpu().numpy())
        return self._host

    def _gate(self, mean: torch.Tensor, i: int, ids: torch.Tensor) -> torch.Tensor:
        """SE gate ``sigmoid(B relu(A mean))`` of superpixels ``ids`` from their means ``(K', 1, ch)``."""
        return torch.sigmoid(torch.bmm(torch.relu(torch.bmm(mean, self.se_down[i][ids])), self.se_up[i][ids]))

    def _run(self, coords: torch.Tensor, gates: list | None = None, stop: int | None = None):
        """Batched pass over all superpixels present in ``coords``.

        SE gates come from the means over ``coords`` (``gates=None``) or from ``gates[i]`` (``(K, 1, ch)``, one per
        superpixel). With ``stop=i`` returns ``(sums, ids, counts)`` of the activations entering SE gate ``i``.
        """
        at = self.layout(coords)
        ids, counts, slot, pos = at.ids, at.counts, at.slot, at.pos
        u = torch.zeros(ids.numel(), at.longest, self.d, device=coords.device, dtype=coords.dtype)
        u[slot, pos] = (coords[at.sorted_rows] + 1.0) * 0.5
        valid = torch.zeros(u.shape[:2] + (1,), device=coords.device, dtype=coords.dtype)
        valid[slot, pos] = 1.0
        cnt = counts.to(coords.dtype).view(-1, 1, 1)

        stages = [lambda _: torch.sin(self.omega_first * (torch.bmm(u, self.w_in[ids]) + self.b_in[ids, None]))]
        stages += [
            lambda h, l=l: torch.sin(self.omega_hidden * (torch.bmm(h, self.w_hid[l, ids]) + self.b_hid[l, ids, None]))
            for l in range(self.depth)
        ]
        stages += [lambda h: torch.bmm(h, self.w_out[ids]) + self.b_out[ids, None]]
        h = None
        for i, stage in enumerate(stages):
            h = stage(h)
            if stop == i:
                return (h * valid).sum(1), ids, counts
            h = h * (self._gate((h * valid).sum(1, keepdim=True) / cnt, i, ids) if gates is None else gates[i][ids])
        y = self.dictionary(h)
        out = torch.zeros(coords.shape[0], y.shape[-1], device=coords.device, dtype=y.dtype)
        out.index_add_(0, at.sorted_rows, y[slot, pos])  # average over the superpixels covering each coordinate
        return self.out(out / at.cover.to(y.dtype)[:, None])

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self._run(coords)

    def loss_groups(self, coords: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The superpixels: ``task.loss=group_fro`` is the official ``sum_j ||M_j (f_j - y_j)||_2``."""
        return self.superpixel_of(coords), self.n_superpixels

    @torch.no_grad()
    def superpixel_gates(self, chunk: int = 65536) -> list:
        """SE gates of every superpixel from the means over its whole region, computed gate by gate over the
        full grid in chunks (memory bounded), cached until a parameter changes."""
        key = tuple((id(p), p._version) for p in self.parameters())
        if getattr(self, "_gates_key", None) == key:
            return self._gates
        coords = (self.points if self.points is not None else grid_coords(self.grid, self.labels.device)).to(
            self.w_in.dtype
        )
        all_ids = torch.arange(self.n_superpixels, device=coords.device)
        gates = []
        for i in range(self.depth + 2):
            sums, cnt = None, torch.zeros(self.n_superpixels, device=coords.device, dtype=coords.dtype)
            for j in range(0, coords.shape[0], chunk):
                s, ids, counts = self._run(coords[j : j + chunk], gates, stop=i)
                sums = s.new_zeros(self.n_superpixels, s.shape[-1]) if sums is None else sums
                sums[ids] += s
                cnt[ids] += counts
            gates.append(self._gate((sums / cnt.clamp(min=1)[:, None])[:, None], i, all_ids))
        self._gates_key, self._gates = key, gates
        return gates

    def predict(self, coords: torch.Tensor) -> torch.Tensor:
        """Whole-superpixel SE statistics: exact for any subset or chunk of the grid, and for off-grid queries."""
        return self._run(coords, self.superpixel_gates())
