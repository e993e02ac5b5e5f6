"""FreSh (Kania et al., ICLR 2025): pick a backbone's frequency hyper-parameter before training.

For each candidate value the *untrained* backbone is evaluated on the grid ``inits`` times (fresh inits), and
the spectrum of its output is compared to the spectrum of the data with the 1-D Wasserstein distance over the
first ``bins`` frequency bins (DC dropped, each spectrum normalised to a distribution). The candidate with the
lowest mean distance is kept and a fresh backbone with it is trained by the shared loop.

Spectrum (:func:`spectrum`, official ``spectum_utils.get_spectrum`` cropped to ``bins``): ``|DFT|`` over the grid
axes, summed over channels and over shells. On a 2-D grid the shells are the official ones: the anti-diagonals
``i + j`` of the raw (unshifted) DFT indices over its non-redundant mask, so for a 64 x 64 grid mixed-sign
frequencies such as ``(1, -2)`` land in shell 63 (not the L1 radius 3). The official code takes square images
(``resize_to_square``): a 2-D grid is compared on a square of side ``min(H, W, 2 * bins + 1)`` over the same
domain (area average; the cap at ``2 * bins + 1`` is ours: it keeps the first ``bins`` shells and makes the
search cheap). 1-D and 3-D grids use shells of L1 radius ``|k_1| + ... + |k_d|`` of the signed frequencies
(ours: the official 3-D mask is not implemented).

Honesty: the data spectrum comes from the *observation* handed to :meth:`setup`; missing entries are filled
by normalised convolution of the observed entries (:func:`fill_missing`) so that the mask's own spectrum does
not dominate. (The paper fits fully observed signals and has no such step.)
"""
from __future__ import annotations

import inspect
import logging
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.measure.grid import grid_coords
from inr_recover.models.base import INR, build_model, model_config

log = logging.getLogger(__name__)

# backbone -> (parameter, official search grid, options that make our backbone the network FreSh trains).
# Grids: configs/siren_best_omega.yaml, finer_best_bias.yaml, relu_best_sigma.yaml. Networks (src/models.py):
# - Siren with siren_base.yaml: only the first layer's w0 is searched (hidden layers keep 30), sin(w0 W x + b)
#   (boost_bias: False), output layer w0 W h + b (apply_omega_when_linear: True);
# - Finer: FINER with the first-layer bias range k searched (w0 30 everywhere), as our `finer`;
# - FourierFeaturesMLP: [cos 2 pi B x, sin 2 pi B x] with width/2 frequencies, then 3 ReLU layers (our first layer
#   + depth 2) and a linear output.
SEARCH = {
    "siren": ("first_omega0", [float(w) for w in range(10, 201, 10)], {"omega_on_bias": False, "omega_last": True}),
    "finer": ("first_bias_scale", [round(0.1 * i, 1) for i in range(31)], {}),
    "pemlp": ("sigma", [float(s) for s in range(1, 21)], {"encoding": "rff", "depth": 2}),
}
SEARCH["finer_gauss"] = SEARCH["finer_wavelet"] = SEARCH["finer"]  # FINER++: the same first-layer bias knob (ours)


def spectrum(y: torch.Tensor, bins: int) -> torch.Tensor:
    """``(*grid, C)`` -> ``(bins,)``: |DFT| summed over channels and over shells 1..bins (shell 0, the DC, dropped).

    Square 2-D grid of side n (official ``spectum_utils.py:27-36, 52-66``): raw index ``(i, j)`` is in shell
    ``i + j`` where ``i + j <= n - 1``, or ``i + j = n`` with ``1 <= i <= n // 2``, except ``i = 0, j > n // 2`` and
    ``j = 0, i > n // 2``; other entries are dropped. Other grids: shell ``sum_a min(k_a, n_a - k_a)`` (L1 radius)."""
    axes = tuple(range(y.ndim - 1))
    mag = torch.fft.fftn(y.float(), dim=axes).abs().sum(-1)
    k = [torch.arange(n, device=y.device).reshape([-1 if i == a else 1 for i in range(len(axes))])
         for a, n in enumerate(y.shape[:-1])]
    if len(axes) == 2 and y.shape[0] == y.shape[1]:
        n, (i, j), h = y.shape[0], k, y.shape[0] // 2
        shell = i + j
        keep = ((shell <= n - 1) | ((shell == n) & (i >= 1) & (i <= h))) & ~((i == 0) & (j > h)) & ~((j == 0) & (i > h))
        shell = torch.where(keep, shell, 0)
    else:
        shell = sum(torch.minimum(ka, n - ka) for ka, n in zip(k, y.shape[:-1]))
    shell = torch.broadcast_to(shell, mag.shape).reshape(-1)
    keep = (shell >= 1) & (shell <= bins)
    return torch.bincount(shell[keep] - 1, weights=mag.reshape(-1)[keep].double(), minlength=bins)


def wasserstein(u: torch.Tensor, v: torch.Tensor) -> float:
    """W1 between the distributions with weights ``u`` and ``v`` on the bins 0, 1, ..., n-1 (unit spacing)."""
    cu, cv = torch.cumsum(u / u.sum(), 0), torch.cumsum(v / v.sum(), 0)
    return float((cu - cv).abs().sum())


def fill_missing(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Missing entries take a Gaussian-weighted mean of the observed entries of their channel (normalised
    convolution, width ``1 / sqrt(observed fraction)`` samples, about the mean gap); observed entries are kept."""
    out = values.astype(np.float64)
    for c in range(values.shape[-1]):
        k = known[..., c]
        if k.all() or not k.any():
            continue
        sigma = 1.0 / np.sqrt(k.mean())
        num = ndimage.gaussian_filter(np.where(k, out[..., c], 0.0), sigma, mode="nearest")
        den = ndimage.gaussian_filter(k.astype(np.float64), sigma, mode="nearest")
        out[..., c] = np.where(k, out[..., c], num / np.maximum(den, 1e-12))
    return out.astype(np.float32)


def search_grid(grid: tuple, bins: int) -> tuple:
    """The grid FreSh compares spectra on: 2-D, a square of side ``min(H, W, 2 * bins + 1)`` (official
    ``resize_to_square``, the cap ours); 1-D and 3-D, each axis capped at ``2 * bins + 1`` samples."""
    if len(grid) == 2:
        return (min(*grid, 2 * bins + 1),) * 2
    return tuple(min(n, 2 * bins + 1) for n in grid) if len(grid) <= 3 else tuple(grid)


class FreSh(INR):
    needs_grid = needs_entries = True  # the spectrum of the observation on its grid
    def __init__(self, in_features: int, out_features: int, domain: Domain, backbone: str = "siren",
                 backbone_options: dict | None = None, param: str | None = None, candidates: list | None = None,
                 bins: int = 64, inits: int = 10):
        super().__init__()
        default_param, default_candidates, _ = SEARCH.get(backbone, (None, None, {}))
        param = param or default_param
        if param is None:
            raise UserError(
                f"FreSh has no default search for backbone '{backbone}'; set model.param and model.candidates"
            )
        if candidates is None:
            if param != default_param:
                raise UserError(f"set model.candidates: the values of {param} to search")
            candidates = default_candidates
        if not candidates or bins < 1 or inits < 1:
            raise UserError("FreSh needs at least one candidate, model.bins >= 1 and model.inits >= 1")
        self.spec = self.backbone_config(backbone, backbone_options)
        self.spec.pop("name", None)
        if param not in self.spec:
            raise UserError(
                f"backbone '{backbone}' has no option '{param}' for FreSh to choose (options: "
                f"{', '.join(k for k in self.spec if k != '_target_')})"
            )
        if backbone == "pemlp" and "n_features" not in (backbone_options or {}):
            self.spec["n_features"] = self.spec["width"] // 2  # FreSh: encoded_size = hidden_features // 2
        self.dims = (in_features, out_features, domain)
        self.backbone_name = backbone
        self.param, self.candidates = param, list(candidates)
        self.bins, self.inits = int(bins), int(inits)
        self.backbone = self._build(self.spec[param])
        self.chosen = None  # set by setup: the selected value, its candidates' distances and the search time
        self.distances: dict = {}
        self.search_seconds = 0.0

    @staticmethod
    def backbone_config(backbone: str, options: dict | None) -> dict:
        """The backbone's config: ``conf/model/<backbone>.yaml`` with FreSh's network options (:data:`SEARCH`), then
        ``model.backbone_options``."""
        if backbone == "fresh":
            raise UserError("model.backbone=fresh is not a backbone; pick siren, finer or pemlp")
        return model_config(backbone, {**SEARCH.get(backbone, (None, None, {}))[2], **(options or {})})

    @classmethod
    def backbone_node(cls, cfg: dict) -> tuple[str, dict]:
        """Where the backbone's options are set and its config, checked before any work
        (:mod:`inr_recover.config.validate`)."""
        default = inspect.signature(cls).parameters["backbone"].default
        return "model.backbone_options", cls.backbone_config(cfg.get("backbone", default), cfg.get("backbone_options"))

    def _build(self, value) -> INR:
        return build_model({**self.spec, self.param: value}, *self.dims)

    def distances_for(self, values: np.ndarray, known: np.ndarray, device) -> dict:
        """Mean Wasserstein distance of each candidate's untrained output spectrum to the observed spectrum."""
        grid = values.shape[:-1]
        small = search_grid(grid, self.bins)
        data = torch.from_numpy(fill_missing(values, known)).to(device)
        if small != tuple(grid):  # area-average down to the search grid (F.interpolate: 1 to 3 grid axes)
            data = F.interpolate(data.movedim(-1, 0)[None], size=small, mode="area")[0].movedim(0, -1)
        target = spectrum(data, self.bins)
        if float(target.sum()) == 0.0:
            raise UserError("FreSh: the observed data is constant, its spectrum cannot guide the choice")
        coords = grid_coords(small, device)
        out = {}
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for v in self.candidates:
                d = []
                for _ in range(self.inits):
                    net = self._build(v).to(device).eval()
                    d.append(wasserstein(target, spectrum(net(coords).reshape(*small, -1), self.bins)))
                out[v] = float(np.mean(d))
        return out

    def setup(self, observation, coords: torch.Tensor) -> None:
        t0 = time.perf_counter()
        self.distances = self.distances_for(observation.values, observation.known, coords.device)
        self.search_seconds = time.perf_counter() - t0
        self.chosen = min(self.distances, key=self.distances.get)
        log.info(
            "FreSh: %s=%s (mean Wasserstein %.4g; candidates %s)",
            self.param,
            self.chosen,
            self.distances[self.chosen],
            ", ".join(f"{k}:{v:.3g}" for k, v in self.distances.items()),
        )
        self.backbone = self._build(self.chosen).to(coords.device)

    def report(self) -> dict:
        if self.chosen is None:
            return {}
        return {
            "fresh": {
                "backbone": self.backbone_name,
                "param": self.param,
                "chosen": self.chosen,
                "seconds": self.search_seconds,
                "distances": {str(k): v for k, v in self.distances.items()},
            }
        }

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        return self.backbone.features(coords)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.backbone.head(h)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.backbone(coords)
