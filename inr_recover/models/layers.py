"""Pieces the methods share: sine layers with SIREN initialisation, output activations, the activation
functions of the peer methods and :class:`CoordMLP`, the MLP skeleton they share."""
from __future__ import annotations

import math

import torch
from torch import nn

from inr_recover.errors import UserError
from inr_recover.models.base import INR


def siren_uniform_(linear: nn.Linear, is_first: bool, omega: float) -> None:
    """SIREN init (Sitzmann et al. 2020, Sec. 3.2): first layer U(-1/in, 1/in); hidden U(+-sqrt(6/in)/omega)."""
    fan_in = linear.in_features
    bound = 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / omega
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)


class SineLayer(nn.Module):
    """``y = a * sin(omega * (W x + b))`` (SIREN's code form, bias inside the frequency), or with
    ``omega_on_bias=False`` ``y = a * sin(omega W x + b)`` (SIREN paper, Eq. 1; FreSh's ``boost_bias: False``).

    ``omega`` is a scalar (SIREN) or a per-neuron vector (CHOIR's PSC); ``amplitude`` multiplies each neuron
    (a tensor or a callable returning one, evaluated per call so learnable exponents train).
    Hidden-layer init uses the mean frequency in place of SIREN's omega_0 (the CHOIR code's choice).
    """

    def __init__(self, in_features: int, out_features: int, omega, is_first: bool = False, omega_on_bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        omega = torch.as_tensor(omega, dtype=torch.float32)
        if omega.ndim not in (0, 1) or (omega.ndim == 1 and omega.numel() != out_features):
            raise ValueError(f"omega must be a scalar or have {out_features} entries")
        self.register_buffer("omega", omega)
        self.omega_on_bias = bool(omega_on_bias)
        siren_uniform_(self.linear, is_first, float(omega.mean()))

    def forward(self, x: torch.Tensor, amplitude: torch.Tensor | None = None) -> torch.Tensor:
        if self.omega_on_bias:
            y = torch.sin(self.omega * self.linear(x))
        else:
            y = torch.sin(self.omega * (x @ self.linear.weight.T) + self.linear.bias)
        return y if amplitude is None else amplitude * y


OUTPUT_ACTIVATIONS = {"sigmoid": torch.sigmoid, "none": lambda x: x, "identity": lambda x: x}


def output_activation(name: str):
    try:
        return OUTPUT_ACTIVATIONS[name]
    except KeyError:
        raise UserError(f"output activation '{name}' is not one of {', '.join(OUTPUT_ACTIVATIONS)}") from None


def uniform_bias_(linear: nn.Linear, k: float | None) -> None:
    """First-layer bias U(-k, k) (FINER's frequency-set knob); ``None`` keeps PyTorch's U(+-1/sqrt(in))."""
    if k is not None:
        with torch.no_grad():
            linear.bias.uniform_(-float(k), float(k))


def finer_scale(z: torch.Tensor) -> torch.Tensor:
    """FINER's variable-period factor ``|z| + 1``, detached (Liu et al., CVPR 2024, Eq. 6; no gradient flows
    through it in the official code). For complex ``z`` the factor acts on the real and imaginary parts
    separately: ``(|Re z| + 1) Re z + i (|Im z| + 1) Im z`` (FINER++'s wavelet code), returned as that product."""
    with torch.no_grad():
        if z.is_complex():
            a = torch.complex(z.real.abs() + 1, z.imag.abs() + 1)
        else:
            a = z.abs() + 1
    if z.is_complex():
        return torch.complex(a.real * z.real, a.imag * z.imag)
    return a * z


def finer_sin(z: torch.Tensor, omega: float) -> torch.Tensor:
    """FINER activation ``sin(omega (|z| + 1) z)`` with ``|z| + 1`` detached (complex ``z``: see
    :func:`finer_scale`)."""
    return torch.sin(omega * finer_scale(z))


def gauss(z: torch.Tensor, scale: float) -> torch.Tensor:
    """Gaussian activation ``exp(-(s z)^2)`` (Ramasinghe & Lucey, ECCV 2022)."""
    return torch.exp(-((scale * z) ** 2))


def gabor(z: torch.Tensor, omega: float, scale: float) -> torch.Tensor:
    """WIRE's complex Gabor wavelet ``exp(i omega z - |s z|^2)`` (Saragadam et al., CVPR 2023, Eq. 5)."""
    return torch.exp(1j * omega * z - (scale * z).abs().square())


class CoordMLP(INR):
    """``h_1 = act(W_0 enc(x) + b_0)``, ``h_{l+1} = act(W_l h_l + b_l)`` (``depth`` hidden layers),
    ``y = out(W h + b)``.

    The shared skeleton of the activation-defined INRs (PEMLP, Gauss, WIRE, FINER/FINER++). Subclasses define
    :meth:`act` and optionally :meth:`encode`. With ``complex_hidden`` the hidden and output layers are complex
    (WIRE): the first layer maps the real input, and :meth:`head` returns the real part of the output.
    Initialisation is PyTorch's default, then ``init_layer(linear, is_first)`` (a subclass's re-initialisation)
    on each layer as soon as it is built, first to last: the official codes' per-layer constructors, so one seed
    draws the same initial network on both sides.
    """

    def __init__(
        self,
        in_dim: int,
        out_features: int,
        width: int,
        depth: int,
        complex_hidden: bool = False,
        out_activation: str = "none",
        init_layer=None,
    ):
        super().__init__()
        if width < 1 or depth < 0:
            raise UserError(f"model.width must be >= 1 and model.depth >= 0, got width={width}, depth={depth}")
        dtype = torch.cfloat if complex_hidden else None

        def built(linear: nn.Linear, is_first: bool = False) -> nn.Linear:
            if init_layer is not None:
                init_layer(linear, is_first)
            return linear

        self.first = built(nn.Linear(in_dim, width), True)
        self.layers = nn.ModuleList(built(nn.Linear(width, width, dtype=dtype)) for _ in range(depth))
        self.last = built(nn.Linear(width, out_features, dtype=dtype))
        self.out = output_activation(out_activation)

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        return coords

    def act(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def features(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.act(self.first(self.encode(coords)))
        for layer in self.layers:
            h = self.act(layer(h))
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        y = self.last(h)
        return self.out(y.real if y.is_complex() else y)
