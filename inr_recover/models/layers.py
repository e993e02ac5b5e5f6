"""Pieces the methods share: sine layers with SIREN initialisation and output activations."""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.errors import UserError


def siren_uniform_(linear: nn.Linear, is_first: bool, omega: float) -> None:
    """SIREN init (Sitzmann et al. 2020, Sec. 3.2): first layer U(-1/in, 1/in); hidden U(+-sqrt(6/in)/omega)."""
    fan_in = linear.in_features
    bound = 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / omega
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)


class SineLayer(nn.Module):
    """``y = a * sin(omega * (W x + b))`` (SIREN's code form, bias inside the frequency).

    ``omega`` is a scalar (SIREN) or a per-neuron vector (CHOIR's PSC); ``amplitude`` multiplies each neuron
    (a tensor or a callable returning one, evaluated per call so learnable exponents train).
    Hidden-layer init uses the mean frequency in place of SIREN's omega_0 (the CHOIR code's choice).
    """

    def __init__(self, in_features: int, out_features: int, omega, is_first: bool = False):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        omega = torch.as_tensor(omega, dtype=torch.float32)
        if omega.ndim not in (0, 1) or (omega.ndim == 1 and omega.numel() != out_features):
            raise ValueError(f"omega must be a scalar or have {out_features} entries")
        self.register_buffer("omega", omega)
        siren_uniform_(self.linear, is_first, float(omega.mean()))

    def forward(self, x: torch.Tensor, amplitude: torch.Tensor | None = None) -> torch.Tensor:
        y = torch.sin(self.omega * self.linear(x))
        return y if amplitude is None else amplitude * y


OUTPUT_ACTIVATIONS = {"sigmoid": torch.sigmoid, "none": lambda x: x, "identity": lambda x: x}


def output_activation(name: str):
    try:
        return OUTPUT_ACTIVATIONS[name]
    except KeyError:
        raise UserError(f"output activation '{name}' is not one of {', '.join(OUTPUT_ACTIVATIONS)}") from None


def grid_index(coords: torch.Tensor, grid: tuple) -> torch.Tensor:
    """Flat ('ij' order) index of the grid point nearest to each coordinate ``(N, d)`` in [-1, 1].

    Inverse of :func:`inr_recover.fit.grid_coords`: axis ``k`` maps ``x`` to ``round((x + 1) / 2 * (n_k - 1))``,
    clamped to the grid, so mini-batches and off-grid queries find their sample (S-INR's superpixel, I-INR's noise).
    """
    if coords.shape[-1] != len(grid):
        raise ValueError(f"coordinates have {coords.shape[-1]} dimensions, the grid {grid} has {len(grid)}")
    flat = torch.zeros(coords.shape[0], dtype=torch.long, device=coords.device)
    for k, n in enumerate(grid):
        i = torch.round((coords[:, k] + 1.0) * 0.5 * (n - 1)).long().clamp_(0, n - 1)
        flat = flat * n + i
    return flat
