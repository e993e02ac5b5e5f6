"""Seeded degradation operators and their ordered composition.

Each operator maps ``(values, known, rng) -> (values, known)`` on arrays shaped ``(*grid, C)`` in [0, 1].
An operator that depends on the data (:class:`FromFile` reads files laid out like the input; :class:`Downsample`
needs its grid; :class:`RandomMissing` samples whole points of point data) also has ``bind(signal)``, called by
:func:`build_ops` before use.
A *forward* operator (:class:`Downsample`, with ``forward``) maps the grid to another space: the observation is
``y = A(f)`` and the operator travels with it (its geometry, :class:`~inr_recover.measure.geometry.Operated`), so the
loss compares ``A(model output)`` with ``y``. It comes first in the composition (masks and noise then act on ``y``).
``known`` marks the entries the fitting code is told are observed; an operator with ``known=False`` corrupts
values without telling the model where (blind). Counts are exact: a rate ``r`` of ``N`` items selects
``round(r * N)`` of them. Every operator describes itself for ``results.json`` (:meth:`Operator.record`).

In a ``conf/degrade`` config the operators are the named nodes with a ``_target_`` (:func:`operators`), applied in
the order they are written and addressed by name: ``degrade.impulses.known=true``, ``degrade.noise.sigma=0.1``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np
import torch

from inr_recover.config import instantiate
from inr_recover.config.paths import resolve_path
from inr_recover.config.schema import NonNegative, Rate
from inr_recover.data.io import read_array
from inr_recover.errors import UserError
from inr_recover.measure.geometry import GRID, Operated, Scattered
from inr_recover.measure.observation import Observation


def _count(rate: float, n: int, what: str) -> int:
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"{what} rate must be in [0, 1], got {rate}")
    return int(round(rate * n))


def _keep(shape: tuple, lead: int, rate: float, rng, what: str) -> np.ndarray:
    """Exactly ``round(rate * n)`` of the ``n = prod(shape[:lead])`` units kept (True), each unit broadcast over the
    remaining axes of ``shape``."""
    n = int(np.prod(shape[:lead]))
    keep = np.zeros(n, dtype=bool)
    keep[rng.choice(n, _count(rate, n, what), replace=False)] = True
    return np.broadcast_to(keep.reshape(*shape[:lead], *([1] * (len(shape) - lead))), shape)


def _needs_grid(signal, what: str) -> None:
    if signal.scattered:
        raise UserError(f"{what} needs an H x W grid; data={signal.name} is scattered points (use degrade=random_R)")


class Operator:
    """Base of the operators (dataclasses): ``(values, known, rng) -> (values, known)``."""

    impulses: str | None = None  # "known" or "blind" for an operator that adds impulses (see SaltPepper)

    def record(self) -> dict:
        """The operator as it ran: its class name and parameters."""
        return {"op": type(self).__name__, **{f.name: getattr(self, f.name) for f in fields(self) if f.init}}


@dataclass
class RandomMissing(Operator):
    """Random missing entries: keep exactly ``round(rate * N)`` of the N entries observed (``rate`` = observed
    fraction). On point data (``bind`` to a scattered signal) the N units are the points, each observed in every channel
    (a station reports all its variables; S-INR's point-data protocol samples points)."""

    rate: Rate
    per_point: bool = field(default=False, init=False)

    def bind(self, signal) -> None:
        self.per_point = signal.scattered

    def __call__(self, values, known, rng):
        keep = _keep(values.shape, 1 if self.per_point else values.ndim, self.rate, rng, "random missing")
        return np.where(keep, values, 0.0).astype(np.float32), known & keep

    def record(self) -> dict:
        return {**super().record(), **({"per": "point"} if self.per_point else {})}


@dataclass
class TubeMissing(Operator):
    """Tube missing: keep exactly ``round(rate * H * W)`` spatial pixels, each observed (or missing) in every band and
    frame."""

    rate: Rate

    def bind(self, signal) -> None:
        _needs_grid(signal, "tube missing")

    def __call__(self, values, known, rng):
        keep = _keep(values.shape, 2, self.rate, rng, "tube missing")
        return np.where(keep, values, 0.0).astype(np.float32), known & keep


@dataclass
class Gaussian(Operator):
    """Additive i.i.d. Gaussian noise of std ``sigma`` (on [0, 1] data), clipped to [0, 1] as the CHOIR code does."""

    sigma: NonNegative
    clip: bool = True

    def __call__(self, values, known, rng):
        if self.sigma < 0:
            raise UserError(f"gaussian sigma must be >= 0, got {self.sigma}")
        noisy = values + rng.normal(0.0, self.sigma, values.shape)
        if self.clip:
            noisy = np.clip(noisy, 0.0, 1.0)
        return np.where(known, noisy, 0.0).astype(np.float32), known


@dataclass
class SaltPepper(Operator):
    """Impulse noise on exactly ``round(rate * N)`` entries, half set to 1 (salt) and half to 0 (pepper).

    ``known=False`` (blind, default): the model is not told where the impulses are.
    ``known=True`` (as the official CHOIR Scene 2/3 code): impulse entries are marked missing.
    """

    rate: Rate
    known: bool = False

    @property
    def impulses(self) -> str:
        return "known" if self.known else "blind"

    def __call__(self, values, known, rng):
        n = values.size
        idx = rng.choice(n, _count(self.rate, n, "salt-and-pepper"), replace=False)
        out = values.reshape(-1).copy()
        salt, pepper = idx[: len(idx) // 2], idx[len(idx) // 2 :]
        out[salt], out[pepper] = 1.0, 0.0
        out = out.reshape(values.shape)
        hit = np.zeros(n, dtype=bool)
        hit[idx] = True
        hit = hit.reshape(values.shape)
        if self.known:
            return np.where(hit, 0.0, out).astype(np.float32), known & ~hit
        return np.where(known, out, 0.0).astype(np.float32), known


@dataclass
class Stripes(Operator):
    """Dead lines: exactly ``round(rate * H)`` rows and ``round(rate * W)`` columns removed (set to 0) in every band
    and frame, the same lines in all (the CHOIR Scene 3 code). ``known=True`` marks them missing (a sensor's
    bad-line map); ``known=False`` hides them from the model."""

    rate: Rate
    known: bool = True

    def bind(self, signal) -> None:
        _needs_grid(signal, "stripes")

    def __call__(self, values, known, rng):
        h, w = values.shape[:2]
        rows = rng.choice(h, _count(self.rate, h, "stripes"), replace=False)
        cols = rng.choice(w, _count(self.rate, w, "stripes"), replace=False)
        dead = np.zeros((h, w), dtype=bool)
        dead[rows, :] = True
        dead[:, cols] = True
        dead = np.broadcast_to(dead.reshape(h, w, *([1] * (values.ndim - 2))), values.shape)
        out = np.where(dead, 0.0, values).astype(np.float32)
        return out, (known & ~dead) if self.known else known


@dataclass
class Poisson(Operator):
    """Photon (shot) noise with ``peak`` expected counts at value 1: ``y = Poisson(peak * x) / peak`` (mean ``x``,
    variance ``x / peak``), not clipped (counts have no ceiling). I-INR's Poisson denoising; WIRE's ``utils.measure``
    without its readout noise."""

    peak: float

    def __call__(self, values, known, rng):
        if not self.peak > 0:
            raise UserError(f"poisson peak must be > 0, got {self.peak}")
        noisy = rng.poisson(self.peak * values.astype(np.float64)) / self.peak
        return np.where(known, noisy, 0.0).astype(np.float32), known


KERNELS = ("area", "bicubic")


@dataclass
class Downsample(Operator):
    """Spatial downsampling by an integer ``factor`` over H and W, in every band and frame: a forward operator
    ``y = A(f)`` (module doc). ``area``: the mean of each ``factor x factor`` block (WIRE's super-resolution code,
    ``AvgPool2d``); ``bicubic``: antialiased bicubic resampling, Keys' kernel with ``a = -0.5`` widened by the factor
    (PIL's ``BICUBIC`` and MATLAB's ``imresize``, the SR benchmarks' degradation; ``torch.nn.functional.interpolate``
    with ``antialias=True``). H and W must be multiples of ``factor``."""

    factor: int
    kernel: str = "area"
    grid: tuple | None = field(default=None, init=False, repr=False)  # the grid it downsamples (bind / on)

    def bind(self, signal) -> None:
        _needs_grid(signal, f"downsampling by {self.factor}")
        self.on(signal.grid)

    def on(self, grid: tuple) -> "Downsample":
        """Set the grid it downsamples (checked); returns itself."""
        f = self.factor
        if self.kernel not in KERNELS:
            raise UserError(f"downsampling kernel '{self.kernel}' is not one of {', '.join(KERNELS)}")
        if not isinstance(f, int) or f < 2:
            raise UserError(f"downsampling factor must be an integer >= 2, got {f}")
        if len(grid) < 2 or grid[0] % f or grid[1] % f:
            raise UserError(
                f"downsampling by {f} needs H and W multiples of {f}; the grid is {'x'.join(map(str, grid))} "
                f"(set data.resize or data.crop)"
            )
        self.grid = tuple(grid)
        return self

    @property
    def out_grid(self) -> tuple:
        return (self.grid[0] // self.factor, self.grid[1] // self.factor, *self.grid[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*grid, C)`` -> ``(*out_grid, C)``, differentiable."""
        h, w = x.shape[:2]
        planes = x.reshape(h, w, -1).permute(2, 0, 1)[None]
        if self.kernel == "area":
            out = torch.nn.functional.avg_pool2d(planes, self.factor)
        else:
            out = torch.nn.functional.interpolate(
                planes, size=(h // self.factor, w // self.factor), mode="bicubic", antialias=True, align_corners=False
            )
        return out[0].permute(1, 2, 0).reshape(*self.out_grid[:2], *x.shape[2:])

    def spread(self, y: np.ndarray) -> np.ndarray:
        """``y`` drawn on the grid (figures): each low-resolution pixel repeated over its block."""
        return np.repeat(np.repeat(y, self.factor, 0), self.factor, 1)

    def __call__(self, values, known, rng):
        if not known.all():
            raise UserError(
                "downsampling acts on the whole grid: put it first in the degrade config (before masks and noise), "
                "on data without missing entries"
            )
        y = self.forward(torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))).numpy()
        return y.astype(np.float32), np.ones(y.shape, dtype=bool)


MASK_MEANS = ("observed", "missing")


def read_mask(path: str, key: str | None, signal, means: str = "observed") -> np.ndarray:
    """Read a mask file (any format of :func:`inr_recover.data.io.read_array`) laid out like the input
    (see :meth:`Signal.from_own_axes` for the accepted shapes) and return it as a boolean ``(*grid, C)`` array,
    True where the entry is observed. Boolean, or numbers that are all 0 or 1; ``means`` says what True/1 marks."""
    if means not in MASK_MEANS:
        raise UserError(f"degrade mask_means='{means}' is not one of {', '.join(MASK_MEANS)}")
    p = resolve_path(None, None, path)
    arr, _ = read_array(p, key)
    arr = np.asarray(arr)
    if arr.dtype != np.bool_:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise UserError(f"mask {p}: dtype {arr.dtype} is not boolean or numeric 0/1")
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise UserError(
                f"mask {p}: {int(bad.sum())} entries are neither 0 nor 1 (e.g. {arr[bad].flat[0]!r}); "
                f"a mask must be boolean or 0/1 (1 = {means})"
            )
        arr = arr == 1
    mask = signal.from_own_axes(arr, f"mask {p}")
    return mask if means == "observed" else ~mask


@dataclass
class FromFile(Operator):
    """A mask (and optionally the observed tensor) read from files, e.g. a sensor's bad-pixel map, the mask a
    previous run saved (``mask.npz``), or one another program made.

    ``mask_means``: what True/1 marks in the mask file, ``observed`` (default) or ``missing``. The observed
    tensor, if given, replaces the data's values (in the data's units; mapped with the data's normalisation,
    NaN entries count as missing); without it the observation is the data at the observed entries.
    """

    mask_path: str | None = None
    mask_key: str | None = None
    mask_means: Literal[MASK_MEANS] = "observed"
    observed_path: str | None = None
    observed_key: str | None = None
    _mask: np.ndarray | None = field(default=None, init=False, repr=False)
    _observed: np.ndarray | None = field(default=None, init=False, repr=False)

    def bind(self, signal) -> None:
        """Read the files and map them onto ``signal``'s grid (and units, for the observed tensor)."""
        if not self.mask_path:
            raise UserError(
                "degrade=from_file needs the mask file: set degrade.mask=/path/to/mask (.npz .npy .mat .h5 .tif)"
            )
        self._mask = read_mask(self.mask_path, self.mask_key, signal, self.mask_means)
        if self.observed_path:
            p = resolve_path(None, None, self.observed_path)
            raw, _ = read_array(p, self.observed_key)
            if not np.issubdtype(np.asarray(raw).dtype, np.number) or np.iscomplexobj(raw):
                raise UserError(f"observed tensor {p}: dtype {np.asarray(raw).dtype} is not real numeric")
            raw = signal.from_own_axes(np.asarray(raw, dtype=np.float64), f"observed tensor {p}")
            self._observed = (raw - signal.lo) / (signal.hi - signal.lo)

    def __call__(self, values, known, rng):
        if self._mask is None:
            raise RuntimeError("FromFile used before bind(signal); build operators with degrade.build_ops")
        known = known & self._mask
        if self._observed is not None:
            known &= np.isfinite(self._observed)
            values = self._observed
        return np.where(known, values, 0.0).astype(np.float32), known


def operators(degradation) -> dict:
    """The operators of a ``degrade`` config (a mapping): its nodes with a ``_target_``, by name, in order."""
    return {k: v for k, v in degradation.items() if hasattr(v, "get") and v.get("_target_") is not None}


def build_ops(degradation, signal) -> list:
    """Instantiate the operators of a ``degrade`` config (:func:`operators`) and bind those that read files laid out
    like ``signal``."""
    ops = [instantiate(op) for op in operators(degradation).values()]
    for op in ops:
        if hasattr(op, "bind"):
            op.bind(signal)
    return ops


def degrade(
    values: np.ndarray, ops, seed: int, missing: np.ndarray | None = None, coords: np.ndarray | None = None
) -> Observation:
    """Apply ``ops`` in order with one seeded generator. ``missing`` marks entries the input itself lacks; ``coords``
    are the coordinates of point data (the observation's: :class:`~inr_recover.measure.geometry.Scattered`). A
    forward operator among ``ops`` maps the model's grid onto the observation's
    (:class:`~inr_recover.measure.geometry.Operated`)."""
    rng = np.random.default_rng(seed)
    known = np.ones(values.shape, dtype=bool) if missing is None else ~missing
    out = np.where(known, values, 0.0).astype(np.float32)
    forward = [op for op in ops or [] if hasattr(op, "forward")]
    if len(forward) > 1:
        raise UserError(
            f"the degradation has {len(forward)} forward operators (downsampling); at most one is supported"
        )
    for op in ops or []:
        out, known = op(out, known, rng)
    if not known.any():
        raise UserError("the degradation leaves no observed entry; raise the observed rate")
    return Observation(
        values=np.ascontiguousarray(out, dtype=np.float32),
        known=np.ascontiguousarray(known),
        geometry=Operated(forward[0]) if forward else GRID if coords is None else Scattered(coords),
    )


def record(name: str, seed: int, ops) -> dict:
    """The degradation as it ran (``results.json`` ``degrade``): every operator with its parameters, and whether
    impulses were known to the model or blind."""
    rec = {"name": name, "seed": seed, "ops": [op.record() for op in ops]}
    impulses = [op.impulses for op in ops if op.impulses is not None]
    if impulses:
        rec["impulses"] = "known" if all(i == "known" for i in impulses) else "blind"
    return rec
