"""How a radiance field is judged: its renderings of the test views only, per view and their mean, beside two
renderings that learn nothing of the scene; its products are the rendered test views as a GIF and a figure."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inr_recover.measure import metrics as M
from inr_recover.measure.observation import Observation
from inr_recover.run.files import atomic_path
from inr_recover.run.outputs import save_open_figure
from inr_recover.tasks.base import Evaluation, fmt


class ViewEvaluation(Evaluation):
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

    def products(self, out_dir: Path, recon: np.ndarray, save) -> dict:
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

def save_views(path, truth: np.ndarray, recon: np.ndarray, psnr: list | None, shown: int = 3) -> Path:
    """``shown`` test views spread over the split, one column each: the truth, the rendering (with its PSNR) and the
    per-pixel error (RMSE over channels), for ``(T, H, W, 3)`` views."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.unique(np.linspace(0, len(recon) - 1, min(shown, len(recon))).round().astype(int))
    fig, axes = plt.subplots(3, len(picks), figsize=(3.2 * len(picks), 9.6), squeeze=False)
    for col, v in enumerate(picks):
        rendered = np.clip(recon[v], 0, 1)
        label = f"rendered, test view {v}" + (f"\nPSNR {psnr[v]:.2f} dB" if psnr else "")
        for row, (title, img) in enumerate(((f"ground truth, test view {v}", truth[v]), (label, rendered))):
            axes[row, col].imshow(img)
            axes[row, col].set_title(title, fontsize=9)
        axes[2, col].imshow(np.sqrt(np.mean((truth[v] - rendered) ** 2, -1)), cmap="magma", vmin=0, vmax=0.5)
        axes[2, col].set_title("error (RMSE over channels, 0 to 0.5)", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    return save_open_figure(fig, path)


def save_gif(path, frames: np.ndarray, most: int = 50, seconds: float = 5.0) -> Path:
    """An animated GIF of ``(T, H, W, 3)`` frames in [0, 1] (at most ``most`` of them, evenly spaced), looping over
    ``seconds``."""
    from PIL import Image

    keep = np.unique(np.linspace(0, len(frames) - 1, min(most, len(frames))).round().astype(int))
    images = [Image.fromarray((np.clip(frames[k], 0, 1) * 255).round().astype(np.uint8)) for k in keep]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=max(20, int(1000 * seconds / len(images))))
    return Path(path)
