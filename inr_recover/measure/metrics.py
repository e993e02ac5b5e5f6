"""Quality metrics on [0, 1] data, computed the way the INR-recovery papers do.

- ``psnr``: over the whole tensor, peak 1: ``10 log10(1 / MSE)``.
- ``psnr_band``: mean over bands (and frames) of per-band PSNR.
- ``ssim``: scikit-image ``structural_similarity`` with its defaults (7x7 uniform window, K1=0.01, K2=0.03,
  ``data_range=1``) on every 2-D band/frame slice, averaged (as the CHOIR code).
- ``lpips``: the lpips package, AlexNet backbone, inputs scaled to [-1, 1]; 3 channels as is, 1 channel repeated,
  more than 3: bands ``[0, C//2, C-1]`` as R, G, B (the CHOIR code's triplet); averaged over frames.
  Needs torchvision's ImageNet AlexNet weights; without them LPIPS is ``None`` with a warning.
- ``sam``: mean spectral angle in degrees over pixels (spectral data, more than 3 channels).

The reconstruction is clipped to [0, 1] before every metric.

Point data (S-INR's Table 4, :func:`point_scores`, on the points the observation does not hold, unclipped as the
official ``test_swi.py``): ``nrmse``, per channel the RMSE over the range (max - min) of the truth, averaged over
channels; ``r2``, per channel ``1 - sum (y - f)^2 / sum (y - mean y)^2``, averaged (``sklearn.metrics.r2_score``'s
uniform average; a constant channel scores 1 if fitted exactly, else 0, as its ``force_finite``). Both are unchanged
by an affine rescaling of a channel, so they are the same in the data's units and in the normalised ones.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
_LPIPS = {}


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def psnr_band(truth: np.ndarray, recon: np.ndarray) -> float:
    """Mean per-band PSNR over the last axis (frames folded into bands) of (T, H, W, C) arrays."""
    t = np.moveaxis(truth, -1, 0).reshape(truth.shape[-1], -1, *truth.shape[1:3])
    r = np.moveaxis(recon, -1, 0).reshape(t.shape)
    vals = [psnr(r[c, f], t[c, f]) for c in range(t.shape[0]) for f in range(t.shape[1])]
    return float(np.mean(vals))


def ssim(truth: np.ndarray, recon: np.ndarray) -> float:
    """Mean SSIM over every 2-D slice of (T, H, W, C) arrays (scikit-image defaults, data_range=1)."""
    from skimage.metrics import structural_similarity

    T, H, W, C = truth.shape
    if min(H, W) < 7:
        return float("nan")
    vals = [
        structural_similarity(truth[f, :, :, c], recon[f, :, :, c], data_range=1.0) for f in range(T) for c in range(C)
    ]
    return float(np.mean(vals))


def sam(truth: np.ndarray, recon: np.ndarray) -> float:
    """Mean spectral angle (degrees) between per-pixel spectra (last axis); pixels with a zero spectrum are skipped."""
    t = truth.reshape(-1, truth.shape[-1]).astype(np.float64)
    r = recon.reshape(-1, recon.shape[-1]).astype(np.float64)
    nt, nr = np.linalg.norm(t, axis=1), np.linalg.norm(r, axis=1)
    ok = (nt > 0) & (nr > 0)
    if not ok.any():
        return float("nan")
    cos = np.clip((t[ok] * r[ok]).sum(1) / (nt[ok] * nr[ok]), -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean())


def alexnet_weights_present() -> bool:
    import torch

    return os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", ALEXNET_FILE))


def lpips_model(random_backbone: bool = False):
    """The LPIPS AlexNet model, or None (with a warning) when its ImageNet weights are not on this machine.

    ``random_backbone=True`` uses the package's random AlexNet (``pnet_rand``): for testing the plumbing only,
    never for a reported number.
    """
    if random_backbone in _LPIPS:
        return _LPIPS[random_backbone]
    model = None
    if not random_backbone and not alexnet_weights_present():
        import torch

        path = os.path.join(torch.hub.get_dir(), "checkpoints", ALEXNET_FILE)
        warnings.warn(
            f"LPIPS skipped (recorded as null): AlexNet ImageNet weights not found at {path}; "
            "run once with internet access, or copy the file there"
        )
    else:
        try:
            import lpips

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=random_backbone, verbose=False).eval()
        except Exception as e:  # a broken install must not kill a finished run
            warnings.warn(f"LPIPS skipped (recorded as null): {e}")
    _LPIPS[random_backbone] = model
    return model


def lpips_distance(truth: np.ndarray, recon: np.ndarray, model) -> float | None:
    """Mean LPIPS over frames of (T, H, W, C) arrays in [0, 1] (channel mapping in the module doc)."""
    if model is None:
        return None
    import torch

    C = truth.shape[-1]
    idx = [0, 0, 0] if C == 1 else ([0, 1, 2] if C == 3 else [0, C // 2, C - 1])
    vals = []
    with torch.no_grad():
        for f in range(truth.shape[0]):
            a = torch.from_numpy(np.ascontiguousarray(truth[f][..., idx])).permute(2, 0, 1)[None].float() * 2 - 1
            b = torch.from_numpy(np.ascontiguousarray(recon[f][..., idx])).permute(2, 0, 1)[None].float() * 2 - 1
            vals.append(float(model(a, b).item()))
    return float(np.mean(vals))


def nrmse(truth: np.ndarray, recon: np.ndarray) -> float:
    """Mean over channels (last axis) of ``RMSE_c / (max_c - min_c)`` of the truth ``(N, C)``."""
    t, r = np.asarray(truth, np.float64), np.asarray(recon, np.float64)
    rmse = np.sqrt(np.mean((r - t) ** 2, 0))
    span = t.max(0) - t.min(0)
    return float(np.mean(np.where(span > 0, rmse / np.where(span > 0, span, 1.0), np.nan)))


def r2(truth: np.ndarray, recon: np.ndarray) -> float:
    """Mean over channels of the coefficient of determination ``1 - SS_res / SS_tot`` of ``(N, C)`` arrays."""
    t, r = np.asarray(truth, np.float64), np.asarray(recon, np.float64)
    res, tot = ((t - r) ** 2).sum(0), ((t - t.mean(0)) ** 2).sum(0)
    return float(np.mean(np.where(tot > 0, 1.0 - res / np.where(tot > 0, tot, 1.0), (res == 0).astype(float))))


def point_scores(truth: np.ndarray, recon: np.ndarray) -> dict:
    """NRMSE and R-squared of point data ``(N, C)`` (module doc)."""
    if truth.shape[0] == 0:
        return {"nrmse": None, "r2": None}
    return {"nrmse": nrmse(truth, recon), "r2": r2(truth, recon)}


def _lpips(truth: np.ndarray, recon: np.ndarray, lpips_net) -> float | None:
    return lpips_distance(truth, recon, lpips_model() if lpips_net == "auto" else lpips_net)


@dataclass(frozen=True)
class Metric:
    """A metric a run records: how the summary prints it and, for the metrics of a grid (``metrics.names``), how it
    is computed."""

    header: str
    format: str  # the number's format in tables
    better: Callable  # max or min: which value is best
    grid: Callable | None = None  # f(truth, recon, lpips_net) on (T, H, W, C) arrays clipped to [0, 1]; None: the
    # task's evaluation computes it (point data: :func:`point_scores`; shapes: inr_recover.tasks.shapes.metrics)
    column: bool = True  # a column of the summary's table (False: records.csv only, or not at all: ``recorded``)
    recorded: bool = True  # a column of the summary's records.csv


# Every metric a run records, in the summary's column order; :data:`GRID` (``metrics.names``) those of a grid.
METRICS = {
    "psnr": Metric("PSNR", ".2f", max, lambda truth, recon, _: psnr(truth, recon)),
    "psnr_band": Metric("PSNR per band", ".2f", max, lambda truth, recon, _: psnr_band(truth, recon), False, False),
    "ssim": Metric("SSIM", ".4f", max, lambda truth, recon, _: ssim(truth, recon)),
    "lpips": Metric("LPIPS", ".4f", min, _lpips),
    "nrmse": Metric("NRMSE", ".4f", min),
    "r2": Metric("R²", ".4f", max),
    "iou": Metric("IoU", ".4f", max),
    "chamfer": Metric("Chamfer", ".3e", min),
    "fscore": Metric("F-score", ".4f", max),  # at 1% of the shape's longest side
    "fscore_fine": Metric("F-score 0.5%", ".4f", max, column=False),
    "normal_consistency": Metric("normal consistency", ".4f", max),
    "sam": Metric(
        "SAM", ".2f", min, lambda truth, recon, _: sam(truth, recon) if truth.shape[-1] > 3 else None, column=False
    ),
}
GRID = {name: m for name, m in METRICS.items() if m.grid is not None}


def compute(truth: np.ndarray, recon: np.ndarray, names=tuple(GRID), lpips_net="auto") -> dict:
    """The metrics ``names`` (of :data:`GRID`) between (T, H, W, C) arrays; ``lpips_net='auto'`` loads the real
    model if possible."""
    unknown = [n for n in names if n not in GRID]
    if unknown:
        raise ValueError(f"unknown metric '{unknown[0]}' (known: {', '.join(GRID)})")
    recon = np.clip(recon, 0.0, 1.0)
    return {name: GRID[name].grid(truth, recon, lpips_net) for name in names}
