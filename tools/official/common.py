"""Shared parts of the official-code drivers (``tools/official/<method>.py``).

A driver imports the model classes of the user's checkout of a method's official repository (``--repo``) and
trains them with that repository's recipe on the observation an inr-recover run saved (``--obs``: its
``.hydra/config.yaml``, ``mask.npz`` and, for noisy degradations, ``observed.npz``). The clean tensor comes from
inr-recover's own data loader with the run's config, so both sides score against the same truth with the same
metric (PSNR on [0, 1] of the clipped reconstruction, ``inr_recover.measure.metrics``), and the reconstruction follows
the run's task (``complete`` keeps the observed entries, ``restore`` does not). No official code lives here.

The official image scripts fit fully observed images; the drivers put their loss on the observed entries only,
with SIREN's inpainting convention (``vsitzmann/siren`` ``loss_functions.image_mse``): the elementwise loss times the
mask, averaged over all entries. (S-INR's and CHOIR's scripts have their own masked losses; those drivers use them.)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INR_RECOVER_SHARED_DATA", str(ROOT.parent / "shared" / "data"))


def parse_args(doc: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--repo", required=True, help="your checkout of the method's official repository")
    p.add_argument("--obs", required=True, help="an inr-recover run directory (mask.npz, .hydra/config.yaml)")
    p.add_argument("--iterations", type=int, required=True, help="training iterations (the schedule spans them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--commit", default=None, help="the official commit, recorded as repo_commit when the checkout has "
                                                  "no .git (files extracted rather than checked out)")
    return p.parse_args()


def import_repo(repo: str) -> Path:
    """Put the official checkout first on ``sys.path``. Without CUDA, ``.cuda()`` becomes a no-op: the SIREN and
    S-INR code calls it unconditionally (the drivers run on the CPU)."""
    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda self, *a, **k: self
        torch.nn.Module.cuda = lambda self, *a, **k: self
    path = Path(repo).resolve()
    if not path.is_dir():
        sys.exit(
            f"--repo {repo}: no such directory (check out the official repository there, see tools/official/README.md)"
        )
    sys.path.insert(0, str(path))
    return path


class Run:
    """The observation of an inr-recover run directory, and the bookkeeping of one official-side run."""

    def __init__(self, args: argparse.Namespace):
        from omegaconf import OmegaConf

        from inr_recover.config import instantiate
        from inr_recover.measure.degrade import FromFile, degrade

        self.args, obs = args, Path(args.obs)
        cfg = OmegaConf.load(obs / ".hydra" / "config.yaml")
        self.signal = instantiate(cfg.data)
        observed = obs / "observed.npz"
        op = FromFile(mask_path=str(obs / "mask.npz"), observed_path=str(observed) if observed.is_file() else None)
        op.bind(self.signal)
        self.obs = degrade(self.signal.values, [op], seed=int(cfg.degrade.seed), missing=self.signal.missing)
        self.task = instantiate(cfg.task)
        if len(self.obs.grid) != 2:
            sys.exit("the drivers take 2-D data (H, W, C)")
        self.shape = self.obs.values.shape  # (H, W, C)
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        self.t0 = None

    def flat(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a).reshape(-1, self.shape[-1]).astype(np.float32))

    @property
    def values(self) -> torch.Tensor:
        """Observed values (0 where missing), ``(H*W, C)`` in [0, 1]."""
        return self.flat(self.obs.values)

    @property
    def mask(self) -> torch.Tensor:
        """1 on the entries the loss may see, ``(H*W, C)``."""
        return self.flat(self.obs.known.astype(np.float32))

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def finish(self, prediction: np.ndarray | torch.Tensor, recipe: dict, official_iterations, notes: str = "") -> dict:
        """Score the final iterate ``prediction`` (``(H*W, C)`` on [0, 1]) under the run's task; write ``--out``."""
        from inr_recover.measure import metrics as M

        seconds = time.perf_counter() - self.t0
        pred = torch.as_tensor(prediction).detach().cpu().numpy().reshape(self.shape).astype(np.float32)
        recon = self.task.output(pred, self.obs.values, self.obs.known)
        psnr = M.compute(self.signal.frames_view(self.signal.values), self.signal.frames_view(recon), names=("psnr",))[
            "psnr"
        ]
        a = self.args
        result = {
            "driver": Path(sys.argv[0]).name,
            "psnr": psnr,
            "task": self.task.name,
            "obs": str(Path(a.obs).resolve()),
            "grid": list(self.obs.grid),
            "channels": self.shape[-1],
            "observed_fraction": self.obs.observed_fraction,
            "iterations": a.iterations,
            "official_iterations": official_iterations,
            "seed": a.seed,
            "recipe": recipe,
            "notes": notes,
            "repo": str(Path(a.repo).resolve()),
            "repo_commit": repo_commit(a.repo) or a.commit,
            "train_seconds": seconds,
            "machine": machine(),
            "command": " ".join(["python", *sys.argv]),
        }
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"{result['driver']}: final-iterate PSNR {psnr:.3f} dB ({a.iterations} iterations, {seconds:.0f} s) -> "
            f"{a.out}"
        )
        return result


def machine() -> str:
    return f"{platform.node()} {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def repo_commit(repo: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except OSError:
        return None


def grid_ij(h: int, w: int) -> torch.Tensor:
    """``(H*W, 2)`` coordinates ``(row, col)`` on ``linspace(-1, 1)`` (the FINER/FINER++/SCONE/SIREN scripts' grid)."""
    return torch.stack(torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij"), -1).reshape(
        -1, 2
    )


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean(mask * (pred - target)^2)`` over all entries (SIREN ``image_mse`` with a mask)."""
    return (mask * (pred - target) ** 2).mean()


def exp_decay(iterations: int):
    """The FINER/FINER++/WIRE schedule: lr factor ``0.1 ** min(t / T, 1)`` (``LambdaLR``, stepped every iteration)."""
    return lambda t: 0.1 ** min(t / iterations, 1)


def fit_full_batch(
    model,
    coords: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    iterations: int,
    optimizer,
    scheduler=None,
    loss_fn=masked_mse,
    clip: float | None = None,
) -> None:
    """The official scripts' loop: full batch, ``zero_grad, backward, [clip], step, [scheduler.step]`` per iteration."""
    for _ in range(iterations):
        loss = loss_fn(model(coords), target, mask)
        optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


@torch.no_grad()
def predict(model, coords: torch.Tensor) -> torch.Tensor:
    return model(coords)


def train_image_recipe(run: Run, model, lr: float, official_iterations: int, source: str, notes: str = "") -> dict:
    """FINER / FINER++ ``train_image.py``: targets in [-1, 1] (``zero_mean``), full batch, MSE, Adam(lr) with
    ``LambdaLR(0.1 ** min(t / T, 1))``, no weight decay, no clipping; prediction mapped back by ``x / 2 + 0.5``."""
    coords, target, mask = grid_ij(*run.shape[:2]), run.values * 2 - 1, run.mask
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, exp_decay(run.args.iterations))
    run.start()
    fit_full_batch(model, coords, target, mask, run.args.iterations, opt, sched)
    recipe = {
        "source": source,
        "loss": "mean(mask * (f - y)^2) over all entries",
        "optimizer": "Adam(0.9, 0.999)",
        "lr": lr,
        "schedule": "LambdaLR 0.1**min(t/T, 1), T = iterations",
        "weight_decay": 0,
        "grad_clip": None,
        "range": "[-1, 1]",
        "batch": "full",
    }
    return run.finish(predict(model, coords) / 2 + 0.5, recipe, official_iterations, notes)
