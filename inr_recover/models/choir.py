"""CHOIR (ECCV 2026; arXiv 2606.26763): Coordinated Harmonic Superposition + Perceptual Spectrum Calibration.

- PSC layer (paper Eq. for F_l): ``F_l(h)_i = (w~ / w_i)^(alpha/2) sin(w_i (W_l h + b_l)_i)`` with per-neuron
  frequencies ``w_i`` log-uniformly spaced in ``[pi, gamma * pi * min(H, W) / 2]`` (deterministic ``logspace``,
  as the official code), ``w~`` their geometric mean (fixed), ``alpha = exp(log_alpha)`` learnable, init 2.0.
  The upper end is ``gamma`` times the grid's Nyquist frequency. Scattered points (a one-axis grid of N points,
  point data; not in the paper) take ``sqrt(N)`` for ``min(H, W)``: the side of a square grid of as many samples.
- CHS: ``h_{l+1} = h_l + beta_l F_l(h_l)``, scalar ``beta_l`` learnable and 0 at init (ReZero), so every
  residual block is the identity at init.
- Ablation switches: ``psc=false`` uses one frequency ``omega0`` for all neurons and unit amplitudes;
  ``chs=false`` composes the layers (``h_{l+1} = F_l(h_l)``). With both off the network is exactly a SIREN
  (:mod:`inr_recover.models.siren`: same layers, same init, SIREN's last-layer init and, with the default
  ``out_activation=auto``, SIREN's linear output): the "Sine" row of the paper's Table 4 ablation, "the
  sinusoidal activation baseline" (Sec. 4.4). ``auto`` is CHOIR's sigmoid whenever a switch is on.
"""
from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from inr_recover.measure.domain import Domain
from inr_recover.models.base import INR
from inr_recover.models.layers import SineLayer, output_activation

FIRST_LAYERS = ("sine", "linear")


def psc_frequencies(width: int, domain: Domain, gamma: float) -> torch.Tensor:
    """Log-uniform per-neuron frequencies in ``[pi, gamma * pi * min(D1, D2) / 2]`` (spatial dims only; ``sqrt(N)``
    for ``min(D1, D2)`` on N scattered points or a one-axis grid: :attr:`Domain.side`)."""
    lo = math.pi
    hi = gamma * math.pi * domain.side / 2.0
    if hi < lo:
        warnings.warn(
            f"CHOIR: gamma*pi*min(H,W)/2 = {hi:.3g} < pi for grid "
            f"{list(domain.grid or (domain.extent or domain.samples,))}; "
            "using the single frequency pi"
        )
        hi = lo
    return torch.logspace(math.log10(lo), math.log10(hi), width, dtype=torch.float32)


class CHOIR(INR):
    @classmethod
    def ends_in_sigmoid(cls, cfg: dict) -> bool:
        """``out_activation=auto`` is the sigmoid unless ``chs`` and ``psc`` are both off (:meth:`__init__`)."""
        out = cfg.get("out_activation", "auto")
        return out == "sigmoid" or (out == "auto" and (cfg.get("chs", True) or cfg.get("psc", True)))

    def __init__(
        self,
        in_features: int,
        out_features: int,
        domain: Domain,
        width: int = 128,
        depth: int = 8,
        gamma: float = 0.125,
        alpha_init: float = 2.0,
        learn_alpha: bool = True,
        chs: bool = True,
        psc: bool = True,
        omega0: float = 30.0,
        first_layer: str = "sine",
        out_activation: str = "auto",
    ):
        super().__init__()
        if first_layer not in FIRST_LAYERS:
            raise ValueError(f"first_layer must be one of {FIRST_LAYERS}")
        if width < 1 or depth < 0:
            raise ValueError("CHOIR needs width >= 1 and depth >= 0")
        self.chs, self.psc = chs, psc
        omega = psc_frequencies(width, domain, gamma) if psc else torch.tensor(float(omega0))
        if first_layer == "sine":
            self.first = SineLayer(in_features, width, omega, is_first=True)
        else:  # the paper's text: h_0 = W0 v + b0
            self.first = nn.Linear(in_features, width)
        self.layers = nn.ModuleList(SineLayer(width, width, omega) for _ in range(depth))
        if psc:
            log_alpha = torch.full((depth + 1,), math.log(alpha_init))
            self.log_alpha = nn.Parameter(log_alpha) if learn_alpha else nn.Buffer(log_alpha)
            self.register_buffer("log_ratio", torch.log(omega / torch.exp(torch.log(omega).mean())))  # log(w_i / w~)
        if chs:
            self.beta = nn.Parameter(torch.zeros(depth))
        self.last = nn.Linear(width, out_features)
        # CHOIR code: U(+-sqrt(6/width)); SIREN's last layer (both switches off): U(+-sqrt(6/width)/omega0)
        bound = math.sqrt(6.0 / width) / (1.0 if (psc or chs) else omega0)
        with torch.no_grad():
            self.last.weight.uniform_(-bound, bound)
        if out_activation == "auto":
            out_activation = "sigmoid" if (psc or chs) else "none"
        self.out = output_activation(out_activation)

    def amplitude(self, l: int) -> torch.Tensor | None:
        """PSC power law ``(w~ / w_i)^(alpha_l / 2)`` for layer ``l`` (0 = first), or None without PSC."""
        if not self.psc:
            return None
        return torch.exp(-0.5 * torch.exp(self.log_alpha[l]) * self.log_ratio)

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.first(coords, self.amplitude(0)) if isinstance(self.first, SineLayer) else self.first(coords)
        for l, layer in enumerate(self.layers):
            f = layer(h, self.amplitude(l + 1))
            h = h + self.beta[l] * f if self.chs else f
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.last(h))
