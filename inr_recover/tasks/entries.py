"""The tasks on a signal's own entries, on a grid or at scattered points
(``conf/task/complete|restore|fit|recover.yaml``:
:class:`Recovery`), and how they are scored: :class:`GridEvaluation` (entries of a grid: PSNR, SSIM, ...) and
:class:`PointEvaluation` (scattered points: NRMSE and R-squared on the unobserved points, S-INR's Table 4 protocol).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inr_recover.data import Signal
from inr_recover.measure import metrics as M
from inr_recover.measure.geometry import Operated
from inr_recover.measure.observation import Observation
from inr_recover.run.outputs import save_figure, save_map, save_mask
from inr_recover.tasks.base import Evaluation, Task, fmt


@dataclass
class Recovery(Task):
    """``task=complete|restore|fit|recover`` (:mod:`inr_recover.tasks.base`'s module doc): the signal's own entries,
    scored on the grid, or on the points of scattered data."""

    def evaluation(self, signal, obs: Observation, forward=None) -> GridEvaluation:
        return (PointEvaluation if signal.scattered else GridEvaluation)(self, signal, obs, forward)


class GridEvaluation(Evaluation):
    """A signal on a grid, scored entry by entry against the truth (``metrics.names``: PSNR, SSIM, LPIPS, SAM)."""

    def __init__(self, task, signal: Signal, obs: Observation, forward=None):
        super().__init__(task, signal, obs, forward)
        self.truth = signal.frames_view(signal.values) if signal.has_truth else None

    def score(self, recon: np.ndarray, names: tuple, seed: int) -> dict:
        """The headline metrics of the reconstruction against the truth (``names``: ``cfg.metrics.names``)."""
        return M.compute(self.truth, self.signal.frames_view(recon), names=tuple(names))

    def save_observation(self, out_dir: Path) -> None:
        """``mask.npz`` (+ ``observed.npz`` if noisy), a ``degrade=from_file`` input, when the observation is entries
        of the grid."""
        if not isinstance(self.obs.geometry, Operated) and self.forward is None:
            save_mask(out_dir, self.signal, self.obs)

    def figure(self, path: Path, recon: np.ndarray, m: dict) -> None:
        """Truth / observed / reconstruction / error at the middle frame; the low-resolution input drawn at full size
        when the observation is downsampled."""
        signal, obs, truth = self.signal, self.obs, self.truth
        f = len(signal.frames_view(recon)) // 2
        shown, label = np.where(obs.known, obs.values, 0.0), f"observed ({100 * obs.observed_fraction:.1f}% known)"
        if self.forward is not None:
            shown = self.forward.spread(shown)
            label = f"low-resolution input (x{self.forward.factor}, {self.forward.kernel})"
        rec_frame = signal.frames_view(recon)[f]
        title = "reconstruction" + (f"\nPSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}" if m else "")
        panels = ([("ground truth", truth[f])] if truth is not None else []) + [
            (label, signal.frames_view(shown)[f]),
            (title, rec_frame),
        ]
        err = np.sqrt(np.mean((truth[f] - np.clip(rec_frame, 0, 1)) ** 2, -1)) if truth is not None else None
        save_figure(path, panels, err, signal.rgb_bands)

    def report(self, results: dict) -> str:
        """The headline part of the run's last log line."""
        m = results["metrics"]
        if not m:
            return f"no ground truth; PSNR on observed entries {results['observed']['psnr_fit']:.2f} dB"
        return f"PSNR {fmt(m.get('psnr'), 2)} dB | SSIM {fmt(m.get('ssim'), 4)} | LPIPS {fmt(m.get('lpips'), 4)}" + (
            f" | SAM {fmt(m.get('sam'), 2)}" if m.get("sam") is not None else ""
        )


class PointEvaluation(GridEvaluation):
    """Scattered points (point data), scored on the points the observation does not hold."""

    def score(self, recon: np.ndarray, names: tuple, seed: int) -> dict:
        """NRMSE and R-squared over the unobserved points (S-INR's Table 4 protocol)."""
        test = ~self.obs.known.any(-1)
        return M.point_scores(self.signal.values[test], recon[test])

    def figure(self, path: Path, recon: np.ndarray, m: dict) -> None:
        """Truth, observed points, reconstruction and absolute error of the first channel (at the first time step with
        ``time: coordinate``) on a longitude-latitude map."""
        signal, obs = self.signal, self.obs
        at = (
            np.ones(signal.values.shape[0], bool)
            if signal.time_index is None
            else signal.time_index == signal.time_index.min()
        )
        title = "reconstruction" + (
            f"\nNRMSE {m['nrmse']:.4f}, R² {m['r2']:.4f} (unobserved points)" if m.get("nrmse") is not None else ""
        )
        panels = [
            ("ground truth", signal.values[at, 0], None),
            (f"observed ({100 * obs.observed_fraction:.1f}% of points)", signal.values[at, 0], obs.known[at, 0]),
            (title, recon[at, 0], None),
        ]
        error = np.abs(recon[at, 0] - signal.values[at, 0])
        save_map(path, signal.lon[at], signal.lat[at], panels, error, signal.channel_names[0])

    def report(self, results: dict) -> str:
        m = results["metrics"]
        return f"NRMSE {fmt(m['nrmse'], 4)} | R² {fmt(m['r2'], 4)} (unobserved points)"
