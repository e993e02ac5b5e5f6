"""How the field of a 3-D shape is judged: queried at the cell centres of a ``data.resolution^3`` grid of the cube,
scored there and on the mesh extracted from it (IoU, Chamfer distance, F-score, normal consistency), never on the
training points; its figure is the middle slice of the true and the reconstructed field."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inr_recover.run.outputs import save_mask, save_open_figure
from inr_recover.tasks.base import Evaluation, fmt
from inr_recover.tasks.shapes import mesh as shapes
from inr_recover.tasks.shapes.labels import Label


class ShapeEvaluation(Evaluation):
    """The field of a 3-D shape (``task=sdf|occupancy``), trained at sampled points and queried at the cell centres of
    a ``data.resolution^3`` grid of the cube (:func:`inr_recover.tasks.shapes.mesh.cell_centres`); scored on that grid
    and the mesh extracted from it, never on the training points."""

    def observed(self, prediction: np.ndarray, holdout: np.ndarray | None) -> dict:
        """The fit to the training points' labels: distances (RMSE) or inside/outside (accuracy)."""
        return self.task.label.fit(prediction, self.obs.values)

    def save_observation(self, out_dir: Path) -> None:
        """``mask.npz``: the training pool's entries (all known)."""
        save_mask(out_dir, self.signal, self.obs)

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
        r, label = self.signal.resolution, self.task.label
        centres = shapes.cell_centres(r).reshape(r, r, r, 3)[:, :, r // 2].reshape(-1, 3)
        truth = label.truth(self.signal.mesh, centres).reshape(r, r)
        title = "reconstruction" + (
            f"\nIoU {m['iou']:.4f}" + (f", Chamfer {m['chamfer']:.3g}" if m.get("chamfer") is not None else "")
            if m
            else ""
        )
        save_slices(path, truth, recon[:, :, r // 2, 0], label, title)

    def report(self, results: dict) -> str:
        m = results["metrics"]
        return (
            f"IoU {fmt(m['iou'], 4)} | Chamfer {'n/a' if m['chamfer'] is None else format(m['chamfer'], '.3g')} | "
            f"F-score {fmt(m['fscore'], 4)} ({m['resolution']}^3 grid)"
        )


def save_slices(path, truth: np.ndarray, recon: np.ndarray, label: Label, title: str) -> Path:
    """A 3-D field's middle slice, one row: the true field, the reconstruction (each with its zero level: the surface,
    or the occupancy logit's 0) and the absolute error of the SDF (for occupancy: where inside/outside disagree)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    lim = float(np.abs(truth).max()) or 1.0
    for ax, (name, img) in zip(axes, (("ground truth " + label.name, truth), (title, recon))):
        im = ax.imshow(img.T, origin="lower", cmap="RdBu", vmin=-lim, vmax=lim, extent=(-1, 1, -1, 1))
        ax.contour(
            np.linspace(-1, 1, img.shape[0]),
            np.linspace(-1, 1, img.shape[1]),
            img.T,
            levels=[0],
            colors="k",
            linewidths=0.8,
        )
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    error, error_title = label.error(recon, truth)
    im = axes[2].imshow(error.T, origin="lower", cmap="magma", extent=(-1, 1, -1, 1))
    axes[2].set_title(error_title, fontsize=10)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    return save_open_figure(fig, path)
