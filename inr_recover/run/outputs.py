"""Run outputs: figures, training curves, the exact observation, the repaired data in the input's format."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inr_recover.data.io import write_array
from inr_recover.run.files import atomic_path, save_arrays


def save_open_figure(fig, path) -> Path:
    """Lay out, write (atomically, PNG at 110 dpi) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def rgb_mapping(reference: np.ndarray, bands=None):
    """Pick display bands and per-band stretch limits from ``reference`` (H, W, C) so that every panel of a
    figure shares them: 3 channels as is, 1 grey, more: false colour from ``bands`` (default spread over the
    spectrum) stretched between the reference's 2nd and 98th percentiles."""
    C = reference.shape[-1]
    if C == 1:
        return [0, 0, 0], None
    if C == 3 and bands is None:
        return [0, 1, 2], None
    idx = list(bands) if bands is not None else [round(0.7 * (C - 1)), round(0.4 * (C - 1)), round(0.1 * (C - 1))]
    idx = [min(max(int(i), 0), C - 1) for i in idx]
    limits = [tuple(np.percentile(reference[..., i], [2, 98])) for i in idx]
    return idx, limits


def to_rgb(frame: np.ndarray, mapping) -> np.ndarray:
    idx, limits = mapping
    rgb = frame[..., idx].astype(np.float64)
    if limits is not None:
        for i, (lo, hi) in enumerate(limits):
            rgb[..., i] = (rgb[..., i] - lo) / (hi - lo) if hi > lo else 0.0
    return np.clip(rgb, 0, 1)


def save_figure(path, panels: list[tuple[str, np.ndarray]], error: np.ndarray | None, bands=None) -> Path:
    """One row: each (title, (H, W, C) frame) as RGB with the first panel's colour mapping, then the
    per-pixel error map (RMSE over channels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mapping = rgb_mapping(panels[0][1], bands)
    n = len(panels) + (error is not None)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4.4))
    axes = np.atleast_1d(axes)
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(to_rgb(img, mapping))
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    if error is not None:
        im = axes[-1].imshow(error, cmap="magma")
        axes[-1].set_title("error (RMSE over channels)", fontsize=10)
        axes[-1].axis("off")
        fig.colorbar(im, ax=axes[-1], fraction=0.046, pad=0.04)
    return save_open_figure(fig, path)


def save_map(path, lon: np.ndarray, lat: np.ndarray, panels: list, error: np.ndarray, label: str) -> Path:
    """Point data on a longitude-latitude map, one row: each (title, values ``(N,)``, shown ``(N,)`` bool or None for
    all) as coloured points on a common colour scale, then the absolute error; ``label`` names the channel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lon = np.asarray(lon, np.float64)
    east = np.where(lon > 180.0, lon - 360.0, lon)  # -180..180: the narrower span keeps a region in one piece
    lon = east if np.ptp(east) < np.ptp(lon) else lon
    lo, hi = float(np.min(panels[0][1])), float(np.max(panels[0][1]))
    n = len(panels) + 1
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.4))
    size = max(1.0, 4000.0 / len(lon))
    for ax, (title, values, shown) in zip(axes, panels):
        keep = np.ones(len(lon), bool) if shown is None else shown
        if shown is not None:
            ax.scatter(lon, lat, s=size, c="0.85", linewidths=0)
        im = ax.scatter(lon[keep], lat[keep], s=size, c=values[keep], cmap="viridis", vmin=lo, vmax=hi, linewidths=0)
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=axes[len(panels) - 1], fraction=0.046, pad=0.04, label=f"{label} (normalised)")
    im = axes[-1].scatter(lon, lat, s=size, c=error, cmap="magma", linewidths=0)
    axes[-1].set_title("absolute error", fontsize=10)
    fig.colorbar(im, ax=axes[-1], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.set_aspect("equal")
    return save_open_figure(fig, path)


def save_curves(path, history: dict, oracle: dict | None) -> Path:
    """Training loss, holdout error (if any) and the oracle PSNR diagnostic against iterations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    its = history.get("iteration", [])
    panels = [("training loss", its, history.get("loss", []), "log")]
    if history.get("holdout"):
        panels.append(("holdout error (observed entries kept out)", its, history["holdout"], "log"))
    if oracle and oracle.get("psnr"):
        panels.append(("PSNR vs truth (oracle diagnostic)", oracle["iteration"], oracle["psnr"], "linear"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5))
    for ax, (title, x, y, scale) in zip(np.atleast_1d(axes), panels):
        ax.plot(x, y, marker=".")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration")
        if scale == "log" and len(y) and min(y) > 0:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    return save_open_figure(fig, path)


def save_mask(out_dir, signal, obs) -> None:
    """The run's exact observation in the input's own axis order, as ``degrade=from_file`` reads it:
    ``mask.npz`` (key ``mask``, bool, True = observed) and, when the degradation changed the observed values
    (noise), ``observed.npz`` (key ``observed``: float64 in the data's units, NaN where missing)."""
    known = obs.known
    save_arrays(Path(out_dir) / "mask.npz", mask=signal.to_own_axes(known))
    if not np.array_equal(obs.values[known], signal.values[known]):
        observed = np.where(known, obs.values.astype(np.float64) * (signal.hi - signal.lo) + signal.lo, np.nan)
        save_arrays(Path(out_dir) / "observed.npz", observed=signal.to_own_axes(observed))


NATIVE_EXT = {".jpg": ".png", ".jpeg": ".png", ".bmp": ".png", ".hdf5": ".h5"}  # lossless where the input was lossy


def write_native(out_dir, signal, values) -> Path:
    """Write ``values`` ((*grid, C) normalised) as the input was stored: same format (a lossy or v7.3 input
    gets the nearest lossless or v5 equivalent), same array name, axis order, units and dtype."""
    ext = Path(signal.path).suffix.lower() if signal.path else ".npy"
    ext = NATIVE_EXT.get(ext, ext)
    key = signal.key or "reconstruction"
    if ext == ".mat":
        key = key.split("/")[-1]  # a v7.3 dataset path; MATLAB v5 names are flat
    return write_array(Path(out_dir) / f"reconstruction{ext}", signal.to_raw(values), key=key)
