"""Classical (non-neural) baselines, ``model=interp``, ``model=halrtc`` (completion) and ``model=bicubic``
(super-resolution): no training loop (:class:`~inr_recover.models.base.Solver`).

- :func:`interpolate`: per band (and frame), the observed entries of the 2-D image interpolated over the grid
  (scipy's Delaunay-based linear / Clough-Tocher cubic, or nearest neighbour), the rest of the plane outside the
  observed points' convex hull filled by the nearest observed entry.
- :func:`halrtc`: HaLRTC, "high accuracy low rank tensor completion" (Liu, Musialski, Wonka, Ye, "Tensor
  completion for estimating missing values in visual data", TPAMI 35(1), 2013, Sec. 4.3, Algorithm 4): ADMM on
  ``min sum_i alpha_i ||M_i(i)||_*  s.t.  X = M_i,  X_Omega = T_Omega`` (``M_i(i)`` the mode-i unfolding), with
  the update order, initialisation and ``rho`` growth (x1.05 per iteration) of the authors' ``HaLRTC.m``.

Both take ``values`` and ``known`` of the same shape ``(*grid, C)`` (grid H, W or H, W, T) and return the
completed tensor with the observed entries unchanged.

- :func:`bicubic_upsample`: a low-resolution observation upsampled to the grid by bicubic interpolation.
"""
from __future__ import annotations

import numpy as np
import torch

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.measure.geometry import Operated
from inr_recover.models.base import Solver

METHODS = ("linear", "cubic", "nearest")


def _check(values: np.ndarray, known: np.ndarray, min_dim: int) -> tuple[np.ndarray, np.ndarray]:
    values, known = np.asarray(values, dtype=np.float64), np.asarray(known)
    if values.shape != known.shape:
        raise UserError(f"values {values.shape} and known {known.shape} differ in shape")
    if known.dtype != np.bool_:
        raise UserError("the known-entries mask must be boolean")
    if values.ndim < min_dim:
        raise UserError(f"expected a tensor of at least {min_dim} axes (*grid, C), got shape {values.shape}")
    if not known.any():
        raise UserError("no observed entry: nothing to complete from")
    return values, known


def _fill_plane(vals: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    """Complete the bands ``vals (H, W, k)`` that share the observed set ``mask (H, W)``."""
    from scipy.interpolate import CloughTocher2DInterpolator, LinearNDInterpolator, NearestNDInterpolator
    from scipy.spatial import Delaunay, QhullError

    out = vals.copy()
    missing = ~mask
    if not missing.any():
        return out
    pts, xi = np.argwhere(mask).astype(np.float64), np.argwhere(missing).astype(np.float64)
    obs = vals[mask]  # (n, k)
    if len(pts) == 0:  # a band with nothing observed: the mean of the observed entries elsewhere is set by the caller
        return out
    est = np.full((len(xi), vals.shape[-1]), np.nan)
    if method != "nearest" and len(pts) >= 3:
        try:
            tri = Delaunay(pts)
        except QhullError:  # all observed points on a line: no triangle to interpolate in
            tri = None
        if tri is not None:
            cls = LinearNDInterpolator if method == "linear" else CloughTocher2DInterpolator
            est = cls(tri, obs)(xi)
    outside = np.isnan(est).any(-1)
    if outside.any():
        est[outside] = NearestNDInterpolator(pts, obs)(xi[outside])
    out[missing] = est
    return out


def interpolate(values, known, method: str = "linear") -> np.ndarray:
    """Per band (frames of an ``(H, W, T, C)`` tensor are bands too), interpolate the observed entries over the
    ``H x W`` plane: ``linear`` (barycentric on the Delaunay triangulation of the observed pixels; scipy's
    ``griddata`` rule), ``cubic`` (Clough-Tocher) or ``nearest``; outside the observed points' convex hull, the
    nearest observed entry. Bands that share their observed pixels (tube masks) share one triangulation. A band
    with no observed entry takes the mean of all observed entries. Returns float64, observed entries unchanged."""
    if method not in METHODS:
        raise UserError(f"interpolation method '{method}' is not one of {', '.join(METHODS)}")
    values, known = _check(values, known, 3)
    shape = values.shape
    v = values.reshape(shape[0], shape[1], -1)
    k = known.reshape(v.shape)
    out = np.where(k, v, values[known].mean())
    groups: dict[bytes, list[int]] = {}
    for b in range(v.shape[-1]):
        if k[..., b].any():
            groups.setdefault(np.packbits(k[..., b]).tobytes(), []).append(b)
    for bands in groups.values():
        out[..., bands] = _fill_plane(v[..., bands], k[..., bands[0]], method)
    return out.reshape(shape)


def unfold(x: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-``mode`` unfolding ``X_(mode)``: that mode's fibres as columns, shape ``(n_mode, prod(others))``."""
    return torch.movedim(x, mode, 0).reshape(x.shape[mode], -1)


def fold(m: torch.Tensor, mode: int, shape) -> torch.Tensor:
    """Inverse of :func:`unfold`."""
    rest = [n for i, n in enumerate(shape) if i != mode]
    return torch.movedim(m.reshape(shape[mode], *rest), 0, mode)


def svt(m: torch.Tensor, tau: float) -> torch.Tensor:
    """Singular value thresholding ``U max(S - tau, 0) V^T``: the proximal map of ``tau ||.||_*``."""
    u, s, vh = torch.linalg.svd(m, full_matrices=False)
    return (u * torch.clamp(s - tau, min=0.0)) @ vh


def halrtc(values, known, alpha=None, rho: float = 1e-2, growth: float = 1.05, iterations: int = 500,
           tol: float = 1e-5) -> np.ndarray:
    """HaLRTC (Liu et al. TPAMI 2013, Algorithm 4) as the authors' ``HaLRTC.m``, every mode of ``(*grid, C)``:

    ``M_i = fold_i(svt(unfold_i(X - Y_i / rho), alpha_i / rho))``;
    ``X = (sum_i Y_i + rho sum_i M_i) / (n rho)`` with ``X_Omega = T_Omega``; ``Y_i += rho (M_i - X)``;
    ``rho *= growth`` at the start of each iteration; stop when ``||X_k - X_{k-1}||_F / ||T||_F < tol``, counted
    (unlike ``HaLRTC.m``) only once some singular value has survived its threshold: while ``alpha_i / rho`` exceeds
    them all, the missing entries stay at 0 and the authors' test stops at iteration 2.

    ``X`` starts at the observed tensor with the missing entries at the mean of the observed ones, ``M_i = X``,
    ``Y_i = 0``. ``alpha`` (mode weights) defaults to ``1/n`` each. The problem solved is the constrained one, so
    the starting ``rho`` sets the speed, not the answer (CAVE cloth 128x128x31, 10% random: 1e-3 and 1e-2 reach the
    same nuclear-norm objective and PSNR, 1e-2 about 7x faster). Returns float64."""
    values, known = _check(values, known, 2)
    if rho <= 0 or growth < 1 or iterations < 1 or tol < 0:
        raise UserError(
            f"halrtc: need rho > 0, growth >= 1, iterations >= 1, tol >= 0; got {rho}, {growth}, {iterations}, {tol}"
        )
    n = values.ndim
    alpha = np.full(n, 1.0 / n) if alpha is None else np.asarray(alpha, dtype=np.float64)
    if alpha.shape != (n,) or (alpha < 0).any() or alpha.sum() <= 0:
        raise UserError(f"halrtc: alpha needs {n} non-negative weights (one per mode), got {alpha.tolist()}")
    t = torch.from_numpy(values)
    omega = torch.from_numpy(known)
    x = torch.where(omega, t, t[omega].mean())
    m = [x.clone() for _ in range(n)]
    y = [torch.zeros_like(x) for _ in range(n)]
    norm_t = float(torch.linalg.vector_norm(torch.where(omega, t, 0.0))) or 1.0
    started = False  # some singular value has survived its threshold
    for _ in range(iterations):
        rho *= growth
        for i in range(n):
            m[i] = fold(svt(unfold(x - y[i] / rho, i), float(alpha[i]) / rho), i, x.shape)
        started = started or any(bool(mi.any()) for mi in m)
        last = x
        x = torch.where(omega, t, (sum(y) + rho * sum(m)) / (n * rho))
        for i in range(n):
            y[i] = y[i] + rho * (m[i] - x)
        if started and float(torch.linalg.vector_norm(x - last)) / norm_t < tol:
            break
    return x.numpy()


class Interp(Solver):
    """``model=interp``: per-band interpolation of the observed entries (:func:`interpolate`)."""

    needs_grid = needs_entries = True

    def __init__(self, in_features: int, out_features: int, domain: Domain, method: str = "linear"):
        super().__init__(in_features, out_features, domain)
        if method not in METHODS:
            raise UserError(f"model.method='{method}' is not one of {', '.join(METHODS)}")
        if len(self.grid) < 2:
            raise UserError("model=interp interpolates over an H x W grid; this data has a 1-D grid")
        self.method = method

    def solve(self, observation) -> np.ndarray:
        return interpolate(observation.values, observation.known, self.method)


class HaLRTC(Solver):
    """``model=halrtc``: HaLRTC low-rank tensor completion over every mode of ``(*grid, C)`` (:func:`halrtc`)."""

    needs_grid = needs_entries = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        domain: Domain,
        rho: float = 1e-2,
        growth: float = 1.05,
        iterations: int = 500,
        tol: float = 1e-5,
        alpha: list | None = None,
    ):
        super().__init__(in_features, out_features, domain)
        self.options = dict(rho=rho, growth=growth, iterations=iterations, tol=tol, alpha=alpha)

    def solve(self, observation) -> np.ndarray:
        return halrtc(observation.values, observation.known, **self.options)


def bicubic_upsample(values: np.ndarray, factor: int) -> np.ndarray:
    """``(h, w, ...)`` -> ``(factor h, factor w, ...)`` by bicubic interpolation, Keys' kernel with ``a = -0.5`` (PIL's
    ``BICUBIC``, MATLAB's ``imresize``; ``torch.nn.functional.interpolate`` with ``antialias=True``), pixel centres
    aligned (``align_corners=False``)."""
    h, w = values.shape[:2]
    planes = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).reshape(h, w, -1).permute(2, 0, 1)[None]
    up = torch.nn.functional.interpolate(
        planes, size=(factor * h, factor * w), mode="bicubic", antialias=True, align_corners=False
    )
    return up[0].permute(1, 2, 0).reshape(factor * h, factor * w, *values.shape[2:]).numpy()


class Bicubic(Solver):
    """``model=bicubic``: the super-resolution baseline, bicubic upsampling of the low-resolution observation to the
    grid by the degradation's factor (:func:`bicubic_upsample`), whatever kernel downsampled it."""

    needs_grid = True

    def solve(self, observation) -> np.ndarray:
        if not isinstance(observation.geometry, Operated):
            raise UserError(
                "model=bicubic upsamples a downsampled observation: use task=super_resolve degrade=downsample_N"
            )
        return bicubic_upsample(observation.values, observation.geometry.operator.factor)
