"""How the field of a 3-D shape is judged: queried on the grids of its convention (``metrics.shape``:
:mod:`inr_recover.tasks.shapes.metrics`), scored there and on the mesh extracted from it (IoU, Chamfer distance,
F-scores, normal consistency), never on the training points; its products are the mesh in the frame and in the input's
units, its figure the middle slice of the true and the reconstructed field."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from inr_recover.run.outputs import save_mask, save_open_figure
from inr_recover.tasks.base import Evaluation, fmt
from inr_recover.tasks.shapes.labels import Label
from inr_recover.tasks.shapes.metrics import CONVENTIONS, grid_points
from inr_recover.tasks.shapes.render import save_renders


class ShapeEvaluation(Evaluation):
    """The field of a 3-D shape (``task=sdf|occupancy``), trained at sampled points and queried on the grids of its
    convention (``metrics.shape``, :mod:`inr_recover.tasks.shapes.metrics`); scored there and on the mesh extracted
    from it, never on the training points."""

    @property
    def convention(self):
        return CONVENTIONS[self.signal.convention]

    def volumes(self, recon: np.ndarray) -> dict:
        return self.convention.split(recon.reshape(-1), self.signal)

    def observed(self, prediction: np.ndarray, holdout: np.ndarray | None) -> dict:
        """The fit to the training points' labels: distances (RMSE) or inside/outside (accuracy)."""
        return self.task.label.fit(prediction, self.obs.values)

    def save_observation(self, out_dir: Path) -> None:
        """``mask.npz``: the training pool's entries (all known)."""
        save_mask(out_dir, self.signal, self.obs)

    def score(self, recon: np.ndarray, names: tuple, seed: int) -> dict:
        return self.convention.score(self.volumes(recon), self.signal, seed)

    def products(self, out_dir: Path, recon: np.ndarray, save) -> dict:
        """``reconstruction.<ext>``: the surface extracted at the field's zero level in the shape's frame, with vertex
        normals from the field's gradient, and ``reconstruction_input_frame.<ext>`` the same in the input file's own
        units (MeshLab, Blender), in each format of ``save.mesh``; ``results.json`` names the first in ``mesh`` and
        ``mesh_input_frame``, all in ``mesh_files``."""
        mesh = self.convention.surface(self.volumes(recon), self.signal)
        if mesh is None or not save.mesh:
            return {}
        back = replace(mesh, vertices=self.signal.frame.inverse(mesh.vertices))  # a scale and a shift: same normals
        files = {"reconstruction": [], "reconstruction_input_frame": []}
        for name, m in (("reconstruction", mesh), ("reconstruction_input_frame", back)):
            t = m.trimesh()
            for ext in save.mesh:
                t.export(out_dir / f"{name}.{ext}")
                files[name].append(str(out_dir / f"{name}.{ext}"))
        return {"mesh": files["reconstruction"][0], "mesh_input_frame": files["reconstruction_input_frame"][0],
                "mesh_files": files["reconstruction"] + files["reconstruction_input_frame"]}

    def figure(self, path: Path, recon: np.ndarray, m: dict) -> None:
        """The middle slice (z = 0) of the true field, of the reconstruction, and the error; beside it ``render.png``,
        the reconstructed and the true surface shaded from three viewpoints (:mod:`~.render`)."""
        volume, label = self.volumes(recon)["mesh"], self.task.label
        n = volume.shape[0]
        axis = self.convention.grids(self.signal)["mesh"]
        centres = grid_points(axis).reshape(n, n, n, 3)[:, :, n // 2].reshape(-1, 3)
        truth = label.truth(self.signal.mesh, centres).reshape(n, n)
        title = "reconstruction" + (
            f"\nIoU {m['iou']:.4f}" + (f", Chamfer {m['chamfer']:.3g}" if m.get("chamfer") is not None else "")
            if m
            else ""
        )
        save_slices(path, truth, volume[:, :, n // 2], label, title, self.signal.frame.half)
        mesh = self.convention.surface(self.volumes(recon), self.signal)
        if mesh is not None and len(mesh.faces):
            save_renders(path.with_name("render.png"), {"reconstruction": mesh, "truth": self.signal.mesh})

    def report(self, results: dict) -> str:
        m = results["metrics"]
        return (
            f"IoU {fmt(m['iou'], 4)} | Chamfer {'n/a' if m['chamfer'] is None else format(m['chamfer'], '.3g')} | "
            f"F-score {fmt(m['fscore'], 4)} (metrics.shape={m['convention']}, grids {m['grids']})"
        )


def save_slices(path, truth: np.ndarray, recon: np.ndarray, label: Label, title: str, half: float = 1.0) -> Path:
    """A 3-D field's middle slice, one row: the true field, the reconstruction (each with its zero level: the surface,
    or the occupancy logit's 0) and the absolute error of the SDF (for occupancy: where inside/outside disagree)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    lim = float(np.abs(truth).max()) or 1.0
    box = (-half, half, -half, half)
    for ax, (name, img) in zip(axes, (("ground truth " + label.name, truth), (title, recon))):
        im = ax.imshow(img.T, origin="lower", cmap="RdBu", vmin=-lim, vmax=lim, extent=box)
        ax.contour(
            np.linspace(-half, half, img.shape[0]),
            np.linspace(-half, half, img.shape[1]),
            img.T,
            levels=[0],
            colors="k",
            linewidths=0.8,
        )
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    error, error_title = label.error(recon, truth)
    im = axes[2].imshow(error.T, origin="lower", cmap="magma", extent=box)
    axes[2].set_title(error_title, fontsize=10)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    return save_open_figure(fig, path)
