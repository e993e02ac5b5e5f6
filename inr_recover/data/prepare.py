"""Turn a raw array into a normalised signal on a grid: axis order, crop, resize, layout, min-max.

A :class:`GridSignal` (a :class:`~inr_recover.data.signal.Signal`) holds values of shape ``(*grid, C)`` in [0, 1]
plus everything needed to map a reconstruction back to the input's own axis order, shape, units and dtype
(:meth:`GridSignal.to_raw`).
Layouts: ``flatten`` (the papers' convention: 2-D coordinates in, all bands x frames out) and ``nd``
(video keeps a time coordinate: grid (H, W, T), channels C).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from inr_recover.config.schema import NonNegativeInt, PositiveInt
from inr_recover.data.signal import Signal
from inr_recover.errors import UserError

CANONICAL = "HWCT"
LAYOUTS = ("flatten", "nd")
NORMALIZE = ("minmax", "none")


@dataclass
class GridSignal(Signal):
    values: np.ndarray  # float32 (*grid, C), in [0, 1] after normalisation
    name: str
    axes: str  # axis letters of the array as read (e.g. "HWC", "CHW", "HWCT")
    canonical_shape: tuple  # shape in canonical H, W, C[, T] order after crop/resize
    layout: str = "flatten"
    lo: float = 0.0  # raw = lo + values * (hi - lo)
    hi: float = 1.0
    raw_dtype: str = "float32"
    key: str | None = None
    path: str | None = None
    rgb_bands: tuple | None = None  # bands shown as R, G, B in figures
    missing: np.ndarray | None = None  # bool (*grid, C): entries the input itself lacks (NaN / sentinel)
    has_truth: bool = True
    meta: dict = field(default_factory=dict)
    normalize: str = "minmax"
    source_shape: tuple | None = None  # shape of the array as read, before crop/bands/frames/resize
    selection: dict = field(default_factory=dict)  # crop/bands/frames/resize as applied by prepare()

    def record(self) -> dict:
        """The data as the run used it (``results.json`` ``data``)."""
        return {"name": self.name, "grid": list(self.grid), "channels": self.channels, "layout": self.layout,
                "path": self.path, "key": self.key}

    def frames_view(self, values: np.ndarray) -> np.ndarray:
        """Return ``values`` (shaped like ``self.values``) as (T, H, W, C) images; T = 1 without time."""
        canon = self.to_canonical(values)
        if canon.ndim == 3:
            return canon[None]
        return np.moveaxis(canon, 3, 0)

    def to_canonical(self, values: np.ndarray) -> np.ndarray:
        """(*grid, C) -> canonical (H, W, C[, T])."""
        shape = self.canonical_shape
        if len(shape) == 4 and self.layout == "nd":  # grid (H, W, T), channels C
            return np.moveaxis(values, 2, 3)
        return values.reshape(shape)

    @property
    def own_shape(self) -> tuple:
        """Shape of the data in the input's own axis order after crop/bands/frames/resize (the shape
        :meth:`to_raw` returns)."""
        canon = dict(zip(CANONICAL, self.canonical_shape))
        return tuple(canon[a] for a in self.axes)

    def to_own_axes(self, values: np.ndarray) -> np.ndarray:
        """(*grid, C) -> the input's own axis order (any dtype; no change of units)."""
        canon = self.to_canonical(values)
        present = [a for a in CANONICAL if a in self.axes]
        if "C" not in self.axes:
            canon = canon[:, :, 0] if canon.ndim == 3 else canon[:, :, 0, :]
        return canon.transpose([present.index(a) for a in self.axes])

    def from_own_axes(self, arr: np.ndarray, what: str) -> np.ndarray:
        """Inverse of :meth:`to_own_axes` for an array laid out like the input (a mask, an observed tensor).

        Accepted shapes, in the input's own axis order ``self.axes``: :attr:`own_shape` (the data as this run
        uses it, e.g. a mask saved by a run), :attr:`source_shape` (the whole input array; crop/bands/frames are
        applied as to the data), or either of them reduced to its H and W axes (broadcast over bands and
        frames: a per-pixel mask). Returns ``(*grid, C)``; ``what`` names the array in errors.
        """
        arr = np.asarray(arr)
        spatial = "".join(a for a in self.axes if a in "HW")
        forms = [(self.own_shape, self.axes, False), (self.source_shape, self.axes, True)]
        forms += [
            (tuple(s for s, a in zip(shape, self.axes) if a in "HW"), spatial, whole) for shape, _, whole in forms
        ]
        for shape, axes, whole in forms:
            if arr.shape != shape:
                continue
            canon, _ = _canonicalize(arr, axes)
            if whole:
                if self.selection.get("resize") is not None:
                    raise UserError(
                        f"{what} has the shape of the whole input {shape} but data.resize is set; "
                        f"give it at the resized shape {self.own_shape} or drop data.resize"
                    )
                sel = {k: v for k, v in self.selection.items() if k != "resize"}
                canon = _select(canon, self.name, axes, **(sel if axes == self.axes else {"crop": sel.get("crop")}))
            canon = canon.reshape(
                canon.shape + (1,) * (len(self.canonical_shape) - canon.ndim)
            )  # (H, W, 1) -> (H, W, 1, 1)
            return np.ascontiguousarray(_to_grid(np.broadcast_to(canon, self.canonical_shape), self.layout))
        whole = f" or {self.source_shape} (the whole input)" if self.source_shape != self.own_shape else ""
        raise UserError(
            f"{what} has shape {arr.shape}; expected {self.own_shape} (the data in its own axis order "
            f"{self.axes}){whole}, or its {spatial} axes alone"
        )

    def renormalize(self, observed: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Min-max over the ``known`` entries of ``observed`` only (a real observation whose mask file flags
        entries that hold arbitrary values): update ``lo``/``hi`` and ``values``; return ``observed`` rescaled
        (0 where not known). A no-op with ``normalize=none`` or when the range does not change."""
        if self.normalize != "minmax":
            return observed
        raw = observed.astype(np.float64) * (self.hi - self.lo) + self.lo
        lo, hi = float(raw[known].min()), float(raw[known].max())
        if hi <= lo:
            raise UserError(f"{self.name}: the observed entries are constant ({lo}); nothing to recover")
        if (lo, hi) == (self.lo, self.hi):
            return observed
        rescale = lambda v: ((v.astype(np.float64) * (self.hi - self.lo) + self.lo - lo) / (hi - lo)).astype(np.float32)  # noqa: E731
        self.values = np.where(known, rescale(self.values), 0.0).astype(np.float32)
        out = np.where(known, rescale(observed), 0.0).astype(np.float32)
        self.lo, self.hi = lo, hi
        return out

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        """Invert layout, axis order and normalisation: the input's own axis order, units and dtype."""
        raw = self.to_own_axes(values).astype(np.float64) * (self.hi - self.lo) + self.lo
        dtype = np.dtype(self.raw_dtype)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            raw = np.clip(np.rint(raw), info.min, info.max)
        elif dtype == np.bool_:
            raw = raw > 0.5
        return raw.astype(dtype)


def auto_axes(ndim: int) -> str:
    try:
        return {2: "HW", 3: "HWC", 4: "HWCT"}[ndim]
    except KeyError:
        raise UserError(
            f"cannot guess the axis order of a {ndim}-D array; set data.axes (letters from {CANONICAL})"
        ) from None


def _canonicalize(arr: np.ndarray, axes: str) -> tuple[np.ndarray, str]:
    axes = (axes or "auto").upper()
    if axes == "AUTO":
        axes = auto_axes(arr.ndim)
    if (
        len(axes) != arr.ndim
        or len(set(axes)) != len(axes)
        or set(axes) - set(CANONICAL)
        or not {"H", "W"} <= set(axes)
    ):
        raise UserError(
            f"data.axes='{axes}' does not describe an array of shape {arr.shape}: "
            f"give one letter per axis from {CANONICAL} (H and W required), e.g. data.axes=HWC"
        )
    present = [a for a in CANONICAL if a in axes]
    canon = arr.transpose([axes.index(a) for a in present])
    if "C" not in axes:
        canon = np.expand_dims(canon, 2)
    return canon, axes


def _select(canon: np.ndarray, name: str, axes: str, crop=None, bands=None, frames=None) -> np.ndarray:
    """Spatial crop ([top, left, height, width]) and band/frame ranges ([start, stop)) of a canonical array."""
    if crop is not None:
        if len(crop) != 4:
            raise UserError(f"data.crop must be [top, left, height, width], got {list(crop)}")
        top, left, h, w = (int(v) for v in crop)
        H, W = canon.shape[:2]
        if top < 0 or left < 0 or h <= 0 or w <= 0 or top + h > H or left + w > W:
            raise UserError(
                f"{name}: crop [top={top}, left={left}, height={h}, width={w}] does not fit in the {H}x{W} data"
            )
        canon = canon[top : top + h, left : left + w]
    canon = canon[:, :, _range(bands, canon.shape[2], "data.bands")]
    if canon.ndim == 4:
        canon = canon[..., _range(frames, canon.shape[3], "data.frames")]
    elif frames is not None:
        raise UserError(f"{name}: data.frames is set but the data has no T axis (axes={axes})")
    return canon


def _to_grid(canon: np.ndarray, layout: str) -> np.ndarray:
    """Canonical (H, W, C[, T]) -> (*grid, C): ``nd`` keeps T as a grid axis, ``flatten`` folds it into channels."""
    if canon.ndim == 4 and layout == "nd":
        return np.moveaxis(canon, 3, 2)  # (H, W, T, C)
    return canon.reshape(*canon.shape[:2], -1)


def _range(spec, size: int, what: str) -> slice:
    if spec is None:
        return slice(None)
    start, stop = int(spec[0]), int(spec[1])
    if not 0 <= start < stop <= size:
        raise UserError(f"{what}=[{start}, {stop}] is outside the data's {size} entries along that axis")
    return slice(start, stop)


def _check_array(arr: np.ndarray, name: str, layout: str, normalize: str) -> None:
    if arr.size == 0:
        raise UserError(f"{name}: the array is empty (shape {arr.shape})")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise UserError(f"{name}: the array has non-numeric dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise UserError(f"{name}: complex data is not supported; pass its magnitude or real part")
    if layout not in LAYOUTS:
        raise UserError(f"data.layout='{layout}' is not one of {', '.join(LAYOUTS)}")
    if normalize not in NORMALIZE:
        raise UserError(f"data.normalize='{normalize}' is not one of {', '.join(NORMALIZE)}")


def _missing(canon: np.ndarray, name: str, missing_value: float | None, has_truth: bool) -> np.ndarray:
    """The entries that are NaN/Inf or equal ``missing_value``: refused when the data is a ground truth."""
    missing = ~np.isfinite(canon)
    if missing_value is not None:
        missing |= canon == float(missing_value)
    if missing.any() and has_truth:
        raise UserError(
            f"{name}: {int(missing.sum())} entries are NaN/Inf"
            + (f" or equal to missing_value={missing_value}" if missing_value is not None else "")
            + "; if this file is a real observation with holes, set data.has_truth=false (or task=recover)"
        )
    if missing.all():
        raise UserError(f"{name}: every entry is missing")
    return missing


def _resize(canon: np.ndarray, missing: np.ndarray, name: str, resize) -> tuple[np.ndarray, np.ndarray]:
    """Spatial resize to ``[H, W]`` with anti-aliasing (bilinear, skimage)."""
    if resize is None:
        return canon, missing
    if missing.any():
        raise UserError(f"{name}: cannot resize data with missing entries; drop data.resize")
    if len(resize) != 2:
        raise UserError(f"data.resize must be [height, width], got {list(resize)}")
    from skimage.transform import resize as sk_resize

    out_shape = (int(resize[0]), int(resize[1]), *canon.shape[2:])
    if min(out_shape[:2]) <= 0:
        raise UserError(f"data.resize must be positive, got {list(resize)}")
    if out_shape == canon.shape:
        return canon, missing
    canon = sk_resize(canon, out_shape, order=1, anti_aliasing=True, preserve_range=True)
    return canon, np.zeros(canon.shape, dtype=bool)


def _normalized(canon: np.ndarray, missing: np.ndarray, name: str, normalize: str) -> tuple[np.ndarray, float, float]:
    """``(x - lo) / (hi - lo)`` over the present entries (min-max), or the data as it is (``none``, checked in [0, 1]);
    missing entries become 0."""
    valid = canon[~missing]
    if normalize == "minmax":
        lo, hi = float(valid.min()), float(valid.max())
        if hi <= lo:
            raise UserError(f"{name}: the data is constant ({lo}); nothing to recover")
    else:
        lo, hi = 0.0, 1.0
        if valid.min() < 0 or valid.max() > 1:
            raise UserError(
                f"{name}: data.normalize=none needs values in [0, 1], found [{valid.min():.4g}, {valid.max():.4g}]"
            )
    return np.where(missing, 0.0, (canon - lo) / (hi - lo)).astype(np.float32), lo, hi


def prepare(
    arr: np.ndarray,
    *,
    name: str,
    axes: str = "auto",
    crop: list[int] | None = None,
    bands: list[NonNegativeInt] | None = None,
    frames: list[NonNegativeInt] | None = None,
    resize: list[PositiveInt] | None = None,
    layout: Literal[LAYOUTS] = "flatten",
    normalize: Literal[NORMALIZE] = "minmax",
    rgb_bands: list[NonNegativeInt] | None = None,
    key: str | None = None,
    path: str | None = None,
    missing_value: float | None = None,
    has_truth: bool = True,
) -> GridSignal:
    """Validate, reorder, crop ([top, left, height, width]), select bands/frames ([start, stop]),
    resize spatially with anti-aliasing ([H, W]) and min-max normalise to [0, 1]."""
    arr = np.asarray(arr)
    _check_array(arr, name, layout, normalize)
    canon, axes = _canonicalize(arr, axes)
    canon = _select(canon.astype(np.float64), name, axes, crop, bands, frames)
    missing = _missing(canon, name, missing_value, has_truth)
    canon, missing = _resize(canon, missing, name, resize)
    norm, lo, hi = _normalized(canon, missing, name, normalize)
    values, missing = _to_grid(norm, layout), _to_grid(missing, layout)
    return GridSignal(
        values=np.ascontiguousarray(values),
        name=name,
        axes=axes,
        canonical_shape=tuple(norm.shape),
        layout=layout,
        lo=lo,
        hi=hi,
        raw_dtype=arr.dtype.name,
        key=key,
        path=path,
        rgb_bands=tuple(rgb_bands) if rgb_bands is not None else None,
        missing=np.ascontiguousarray(missing) if missing.any() else None,
        has_truth=has_truth,
        normalize=normalize,
        source_shape=tuple(arr.shape),
        selection={"crop": crop, "bands": bands, "frames": frames, "resize": resize},
    )
