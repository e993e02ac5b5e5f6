"""How a finished fit is judged: where the model is queried for the reconstruction, the headline metrics against the
truth, the fit to what was observed, the figure, the run's extra products and its one-line report.

A task picks its evaluation (:meth:`inr_recover.tasks.Task.evaluation`): :class:`GridEvaluation` (entries of a grid:
PSNR, SSIM, ...), :class:`PointEvaluation` (scattered points: NRMSE and R-squared on the unobserved points, S-INR's
Table 4 protocol), :class:`ShapeEvaluation` (a 3-D field queried on a dense grid: IoU, Chamfer distance, F-score of the
extracted mesh). Only this module and the oracle diagnostic see the truth; ``fit`` never does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from inr_recover import metrics as M, shapes
from inr_recover.data import Signal
from inr_recover.grid import predict
from inr_recover.observation import Observation
from inr_recover.outputs import save_figure, save_gif, save_map, save_mask, save_slices, save_views


@dataclass
class Query:
    """Where the model is queried for the reconstruction when not where it trained: ``coords`` on ``grid``; ``record``
    goes into ``results.json`` under its ``key`` (zero-shot super-resolution) when not None."""
    coords: torch.Tensor
    grid: tuple
    key: str | None = None
    record: dict | None = None
    render: object | None = None  # (model, coords, chunk) -> outputs: how the model is seen there (rays: rendered)

    def predict(self, model, chunk: int | None) -> torch.Tensor:
        """The model's output at :attr:`coords`, ``chunk`` rows per forward pass, through :attr:`render` when set."""
        return (self.render or predict)(model, self.coords, chunk)


class Oracle:
    """The diagnostic PSNR of the reconstruction against the truth at each evaluation point: the fit's ``on_eval``,
    whose return value the fit ignores, so it never steers training or selection. ``evaluation`` None (no truth on the
    training grid: zero-shot, shapes, recover): no curve."""

    def __init__(self, evaluation: "GridEvaluation | None"):
        self.evaluation = evaluation if evaluation is not None and evaluation.truth is not None else None
        self.curve = {"iteration": [], "psnr": []}  # saved in checkpoints (the fit's ``extra``)

    def __call__(self, iteration: int, prediction: np.ndarray) -> None:
        if self.evaluation is not None:
            psnr = self.evaluation.oracle_psnr(prediction)
            self.curve["iteration"].append(iteration)  # after the PSNR: a Ctrl-C inside it leaves no iteration unpaired
            self.curve["psnr"].append(psnr)

    def record(self, history: dict, headline: dict) -> dict | None:
        """The best PSNR over the evaluation points, when and how long it took (the fit's ``history``: its seconds at
        that iteration), and the gap to the headline."""
        if not self.curve["psnr"]:
            return None
        k = int(np.argmax(self.curve["psnr"]))
        iteration = self.curve["iteration"][k]
        return {"note": "diagnostic only: best PSNR against the truth over eval points; never a headline",
                "psnr_peak": self.curve["psnr"][k], "iteration": iteration,
                "seconds_to_peak": history["seconds"][history["iteration"].index(iteration)],
                "gap_db": self.curve["psnr"][k] - headline.get("psnr", float("nan"))}


def fmt(value, places: int) -> str:
    return "n/a" if value is None else f"{value:.{places}f}"


class GridEvaluation:
    """A signal on a grid, scored entry by entry against the truth (``metrics.names``: PSNR, SSIM, LPIPS, SAM)."""

    def __init__(self, task, signal: Signal, obs: Observation, forward=None):
        """``forward``: the degradation's forward operator (the one that made ``y`` from the truth), or None."""
        self.task, self.signal, self.obs, self.forward = task, signal, obs, forward
        self.truth = signal.frames_view(signal.values) if signal.has_truth else None

    def oracle_psnr(self, prediction: np.ndarray) -> float:
        """The PSNR of the task's output of ``prediction`` against the truth (the oracle diagnostic)."""
        recon = self.task.output(prediction, self.obs.values, self.obs.known)
        return M.psnr(self.truth, np.clip(self.signal.frames_view(recon), 0, 1))

    def observed(self, prediction: np.ndarray, holdout: np.ndarray | None) -> dict:
        """How closely the prediction fits the observed entries it trained on, and those held out (if any)."""
        obs = self.obs
        train = obs.known if holdout is None else obs.known & ~holdout
        fitted = obs.observe(prediction)  # A(f): on the observed entries' own grid
        rec = {"fraction": obs.observed_fraction, "psnr_fit": M.psnr(np.clip(fitted[train], 0, 1), obs.values[train])}
        if holdout is not None:
            rec["psnr_holdout"] = M.psnr(np.clip(fitted[holdout], 0, 1), obs.values[holdout])
        return rec

    def score(self, recon: np.ndarray, names: tuple, seed: int) -> dict:
        """The headline metrics of the reconstruction against the truth (``names``: ``cfg.metrics.names``)."""
        return M.compute(self.truth, self.signal.frames_view(recon), names=tuple(names))

    def save_observation(self, out_dir: Path) -> None:
        """``mask.npz`` (+ ``observed.npz`` if noisy), a ``degrade=from_file`` input, when the observation is entries
        of the grid."""
        if self.obs.operator is None and self.forward is None:
            save_mask(out_dir, self.signal, self.obs)

    def products(self, out_dir: Path, recon: np.ndarray) -> dict:
        """Files beyond the arrays that the run writes, named in ``results.json``: none on a grid."""
        return {}

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
        panels = ([("ground truth", truth[f])] if truth is not None else []) + [(label, signal.frames_view(shown)[f]),
                                                                                (title, rec_frame)]
        err = np.sqrt(np.mean((truth[f] - np.clip(rec_frame, 0, 1)) ** 2, -1)) if truth is not None else None
        save_figure(path, panels, err, signal.rgb_bands)

    def report(self, results: dict) -> str:
        """The headline part of the run's last log line."""
        m = results["metrics"]
        if not m:
            return f"no ground truth; PSNR on observed entries {results['observed']['psnr_fit']:.2f} dB"
        return (f"PSNR {fmt(m.get('psnr'), 2)} dB | SSIM {fmt(m.get('ssim'), 4)} | LPIPS {fmt(m.get('lpips'), 4)}"
                + (f" | SAM {fmt(m.get('sam'), 2)}" if m.get("sam") is not None else ""))


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
        at = np.ones(signal.values.shape[0], bool) if signal.time_index is None else signal.time_index == signal.time_index.min()
        title = "reconstruction" + (f"\nNRMSE {m['nrmse']:.4f}, R² {m['r2']:.4f} (unobserved points)"
                                    if m.get("nrmse") is not None else "")
        panels = [("ground truth", signal.values[at, 0], None), (f"observed ({100 * obs.observed_fraction:.1f}% of points)",
                  signal.values[at, 0], obs.known[at, 0]), (title, recon[at, 0], None)]
        error = np.abs(recon[at, 0] - signal.values[at, 0])
        save_map(path, signal.lon[at], signal.lat[at], panels, error, signal.channel_names[0])

    def report(self, results: dict) -> str:
        m = results["metrics"]
        return f"NRMSE {fmt(m['nrmse'], 4)} | R² {fmt(m['r2'], 4)} (unobserved points)"


class ShapeEvaluation(GridEvaluation):
    """The field of a 3-D shape (``task=sdf|occupancy``), trained at sampled points and queried at the cell centres of
    a ``data.resolution^3`` grid of the cube (:func:`inr_recover.shapes.cell_centres`); scored on that grid and the
    mesh extracted from it, never on the training points."""

    def observed(self, prediction: np.ndarray, holdout: np.ndarray | None) -> dict:
        """The fit to the training points' labels: distances (RMSE) or inside/outside (accuracy)."""
        y = self.obs.values
        if self.task.shape == "sdf":
            return {"fraction": 1.0, "rmse_fit": float(np.sqrt(np.mean((prediction - y) ** 2)))}
        return {"fraction": 1.0, "accuracy_fit": float(np.mean((prediction >= 0) == (y >= 0.5)))}

    def score(self, recon: np.ndarray, names: tuple, seed: int) -> dict:
        return shapes.score(recon[..., 0], self.signal, seed=seed)

    def products(self, out_dir: Path, recon: np.ndarray) -> dict:
        """``reconstruction.ply``: the surface extracted at the field's zero level (MeshLab, Blender)."""
        mesh = shapes.extract(recon[..., 0])
        if mesh is None:
            return {}
        mesh.trimesh().export(out_dir / "reconstruction.ply")
        return {"mesh": str(out_dir / "reconstruction.ply")}

    def figure(self, path: Path, recon: np.ndarray, m: dict) -> None:
        """The middle slice (z = 0) of the true field, of the reconstruction, and the error."""
        r, label, mesh = self.signal.resolution, self.task.shape, self.signal.mesh
        centres = shapes.cell_centres(r).reshape(r, r, r, 3)[:, :, r // 2].reshape(-1, 3)
        truth = (mesh.sdf(centres) if label == "sdf" else mesh.inside(centres) - 0.5).reshape(r, r)
        title = "reconstruction" + (f"\nIoU {m['iou']:.4f}" + (f", Chamfer {m['chamfer']:.3g}" if m.get("chamfer") is not None
                                                                else "") if m else "")
        save_slices(path, truth, recon[:, :, r // 2, 0], label, title)

    def report(self, results: dict) -> str:
        m = results["metrics"]
        return (f"IoU {fmt(m['iou'], 4)} | Chamfer {'n/a' if m['chamfer'] is None else format(m['chamfer'], '.3g')} | "
                f"F-score {fmt(m['fscore'], 4)} ({m['resolution']}^3 grid)")


class ViewEvaluation(GridEvaluation):
    """Views rendered from a radiance field (``task=view_synthesis``), scored on the test views only: each metric the
    mean over the test views of its value on each view (as NeRF and the CHOIR paper's Table 1 report), the per-view
    values beside it. The training views are the observation (:meth:`observed`: the fit to them)."""

    def __init__(self, task, signal, obs: Observation, forward=None):
        super().__init__(task, signal, obs, forward)
        self.truth = signal.test

    def score(self, recon: np.ndarray, names: tuple, seed: int) -> dict:
        per = [M.compute(self.truth[v:v + 1], recon[v:v + 1], names=tuple(names)) for v in range(len(recon))]
        means = {n: None if any(p[n] is None for p in per) else float(np.mean([p[n] for p in per])) for n in names}
        return {**means, "test_views": len(recon), "per_view": {n: [p[n] for p in per] for n in names},
                "baselines": self.baselines()}

    def baselines(self) -> dict:
        """The mean test-view PSNR of two renderings that learn nothing of the scene: the background alone, and the
        mean training view."""
        constant = {"background": np.full_like(self.truth[0], self.signal.background),
                    "mean_training_view": self.obs.values.mean(0)}
        return {k: float(np.mean([M.psnr(t, v) for t in self.truth])) for k, v in constant.items()}

    def save_observation(self, out_dir: Path) -> None:
        """Nothing: the training views are the data's (``results.json`` ``data.train_views`` names them)."""

    def products(self, out_dir: Path, recon: np.ndarray) -> dict:
        """``test_views.gif``: the rendered test views in order (the Blender test split circles the scene)."""
        return {"video": str(save_gif(out_dir / "test_views.gif", recon))}

    def figure(self, path: Path, recon: np.ndarray, m: dict) -> None:
        """Three test views: the truth, the rendering (with its PSNR) and the error."""
        psnr = (m or {}).get("per_view", {}).get("psnr")
        save_views(path, self.truth, recon, psnr)

    def report(self, results: dict) -> str:
        m = results["metrics"]
        return (f"test views ({m['test_views']}): PSNR {fmt(m.get('psnr'), 2)} dB | SSIM {fmt(m.get('ssim'), 4)} | "
                f"LPIPS {fmt(m.get('lpips'), 4)} (background alone: {m['baselines']['background']:.2f} dB)")
