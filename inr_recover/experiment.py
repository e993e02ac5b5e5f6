"""The pipeline, once: load -> degrade -> build the model -> fit -> evaluate -> write -> report.

Data flows one way. ``fit`` gets the :class:`Observation` only; the clean signal stays here and is used by
the evaluation (headline metrics of the selected reconstruction, and the oracle diagnostic curve). Each stage is a
method of :class:`Experiment`; :func:`run` calls them in order.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from inr_recover import __version__, degrade as degradation, metrics as M
from inr_recover.checkpoint import Checkpoint
from inr_recover.config import instantiate
from inr_recover.data import Signal
from inr_recover.data.io import write_array
from inr_recover.errors import UserError
from inr_recover.files import save_arrays, write_json
from inr_recover.fit import FitResult, fit, solve
from inr_recover.models.base import INR, Solver, build_model
from inr_recover.observation import Observation
from inr_recover.optim import Optim
from inr_recover.outputs import save_curves, save_figure, save_mask, write_native
from inr_recover.runtime import peak_memory_mb

log = logging.getLogger("inr_recover")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name} but CUDA is not available here; use device=cpu or device=auto")
    return torch.device(name)


def versions() -> dict:
    import hydra
    import skimage

    return {"inr_recover": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "hydra": hydra.__version__, "scikit-image": skimage.__version__}


def _container(cfg):
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def fingerprint(cfg) -> str:
    """Hash of the resolved config minus what cannot change the numbers (progress bar, checkpointing, device)."""
    c = {k: v for k, v in _container(cfg).items() if k not in ("progress", "checkpoint", "device")}
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _finished(out_dir: Path, config_sha: str) -> dict | None:
    """The results of a complete earlier run of this same config in ``out_dir`` (relaunched sweep), else None."""
    path = out_dir / "results.json"
    if not path.is_file():
        return None
    prev = json.loads(path.read_text())
    if prev.get("status") != "complete":
        return None
    if prev.get("config_sha") != config_sha:
        raise UserError(f"{out_dir} holds complete results of a different configuration; use a new hydra.run.dir / "
                        "hydra.sweep.dir, or checkpoint.resume=false to overwrite them")
    return prev


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters()) if isinstance(model, INR) else 0


class Oracle:
    """The diagnostic PSNR of the reconstruction against the truth at each evaluation point: the fit's ``on_eval``,
    whose return value the fit ignores, so it never steers training or selection."""

    def __init__(self, truth: np.ndarray | None, signal: Signal, task, obs: Observation):
        self.truth, self.signal, self.task, self.obs = truth, signal, task, obs
        self.curve = {"iteration": [], "psnr": []}  # saved in checkpoints (the fit's ``extra``)

    def __call__(self, iteration: int, prediction: np.ndarray) -> None:
        if self.truth is not None:
            recon = self.task.output(prediction, self.obs.values, self.obs.known)
            self.curve["iteration"].append(iteration)
            self.curve["psnr"].append(M.psnr(self.truth, np.clip(self.signal.frames_view(recon), 0, 1)))

    def record(self, seconds: list, headline: dict) -> dict | None:
        """The best PSNR over the evaluation points, when and how long it took, and the gap to the headline."""
        if not self.curve["psnr"]:
            return None
        k = int(np.argmax(self.curve["psnr"]))
        return {"note": "diagnostic only: best PSNR against the truth over eval points; never a headline",
                "psnr_peak": self.curve["psnr"][k], "iteration": self.curve["iteration"][k], "seconds_to_peak": seconds[k],
                "gap_db": self.curve["psnr"][k] - headline.get("psnr", float("nan"))}


class Experiment:
    """One run's stages, each keeping what the next one needs (:func:`run` calls them in order)."""

    def __init__(self, cfg: DictConfig, device: torch.device, out_dir: Path | None = None, config_sha: str | None = None):
        """``out_dir`` and ``config_sha`` (the checkpoint's key) are needed from :meth:`fit` on."""
        self.cfg, self.device, self.out_dir, self.config_sha = cfg, device, out_dir, config_sha
        self.task = instantiate(cfg.task)

    def load(self) -> Signal:
        """The data as a normalised signal. A task that scores nothing against a truth (recover) reads the file as
        the observation itself."""
        self.signal = instantiate(self.cfg.data, **({} if self.task.needs_truth else {"has_truth": False}))
        if not self.signal.has_truth and self.task.needs_truth:
            raise UserError("data.has_truth=false needs task=recover (there is no ground truth to score against)")
        self.truth = self.signal.frames_view(self.signal.values) if self.signal.has_truth else None
        return self.signal

    def degrade(self) -> Observation:
        """The configured operators and the observation they make (min-max over its observed entries when the
        data has no ground truth: entries a mask file flags may hold any value)."""
        cfg, signal, task = self.cfg, self.signal, self.task
        self.ops = degradation.build_ops(cfg.degrade.ops, signal)
        if not task.allows_degradation and self.ops:
            raise UserError(f"task={task.name} measures representation quality and takes degrade=none (got degrade={cfg.degrade.name})")
        obs = degradation.degrade(signal.values, self.ops, seed=int(cfg.degrade.seed), missing=signal.missing)
        if not signal.has_truth:
            obs = Observation(values=signal.renormalize(obs.values, obs.known), known=obs.known)
        log.info("data %s: grid %s x %d channels, observed %.2f%% (degrade=%s, task=%s)", signal.name,
                 "x".join(map(str, signal.grid)), signal.channels, 100 * obs.observed_fraction, cfg.degrade.name, task.name)
        self.obs = obs
        return obs

    def build(self) -> INR | Solver:
        torch.manual_seed(int(self.cfg.seed))  # model init does not depend on how much randomness loading used
        self.model = build_model(self.cfg.model, len(self.obs.grid), self.obs.channels, self.obs.grid)
        log.info("model %s: %d parameters, device %s", self.cfg.model.name, n_params(self.model), self.device)
        return self.model

    def checkpoint(self) -> Checkpoint | None:
        """``checkpoint.pt`` in the run directory with ``checkpoint.resume`` (resumed if present), else none."""
        path = self.out_dir / "checkpoint.pt"
        if not self.cfg.checkpoint.resume:
            path.unlink(missing_ok=True)
            return None
        if path.is_file():
            log.info("resuming from %s", path.resolve())
        return Checkpoint(path, int(self.cfg.checkpoint.every), self.config_sha, self.oracle.curve)

    def fit(self) -> FitResult:
        """Train with the configured optimiser, schedule and selection rule; the reconstruction is the task's output
        of the selected prediction."""
        cfg, obs, task = self.cfg, self.obs, self.task
        self.oracle = Oracle(self.truth, self.signal, task, obs)
        if isinstance(self.model, Solver):
            self.result = solve(self.model, obs)
            self.recon = task.output(self.result.prediction, obs.values, obs.known).astype(np.float32)
            return self.result
        selector = instantiate(cfg.select)(task=task, obs=obs, seed=int(cfg.seed))
        self.result = fit(self.model, obs, task, Optim.from_config(cfg), selector, device=self.device, seed=int(cfg.seed),
                          eval_every=int(cfg.eval_every), batch_size=cfg.batch_size, eval_chunk=cfg.eval_chunk,
                          progress=None if cfg.progress == "auto" else bool(cfg.progress), on_eval=self.oracle,
                          checkpoint=self.checkpoint())
        self.recon = task.output(self.result.prediction, obs.values, obs.known).astype(np.float32)
        return self.result

    def observed(self) -> dict:
        """How closely the prediction fits the observed entries it trained on, and those held out (if any)."""
        obs, result = self.obs, self.result
        train = obs.known if result.holdout is None else obs.known & ~result.holdout
        rec = {"fraction": obs.observed_fraction, "psnr_fit": M.psnr(np.clip(result.prediction[train], 0, 1), obs.values[train])}
        if result.holdout is not None:
            rec["psnr_holdout"] = M.psnr(np.clip(result.prediction[result.holdout], 0, 1), obs.values[result.holdout])
        return rec

    def evaluate(self) -> dict:
        """``results.json``'s content: the headline metrics of the reconstruction against the truth, and the record
        of every part of the run."""
        cfg, result, device = self.cfg, self.result, self.device
        observed = self.observed()
        headline = {}
        if self.truth is not None:
            headline = M.compute(self.truth, self.signal.frames_view(self.recon), names=tuple(cfg.metrics.names))
        results = {
            "status": "interrupted" if result.interrupted else "complete",
            "metrics": headline,
            "selection": result.selection,
            "observed": observed,
            "model": {"name": cfg.model.name, "params": n_params(self.model), **self.model.report()},  # after setup: S-INR sizes itself
            "data": self.signal.record(),
            "degrade": degradation.record(cfg.degrade.name, int(cfg.degrade.seed), self.ops),
            "task": self.task.name,
            "iterations": result.iterations,
            "train_seconds": result.train_seconds,
            "seconds_to_selected": result.seconds_to_selected,  # time to quality: training seconds to the headline's iteration
            "it_per_s": result.iterations / result.train_seconds if result.train_seconds > 0 else None,
            "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
            "seed": int(cfg.seed),
            "peak_memory_mb": peak_memory_mb(device),
            "config_sha": self.config_sha,
            "versions": versions(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        oracle = self.oracle.record(result.history["seconds"], headline)
        if oracle is not None:
            results["oracle"] = oracle
        return results

    def curves(self) -> dict:
        """The logger's columns: the history's recorded columns, then the oracle PSNR diagnostic."""
        curves = {k: v for k, v in self.result.history.items() if v}
        if self.oracle.curve["psnr"]:
            curves["oracle_psnr"] = self.oracle.curve["psnr"]
        return curves

    def write(self, results: dict) -> None:
        """The run's files (README, "What a run writes"); a recover run's repaired data is named in ``results``."""
        cfg, out_dir, signal, obs, result = self.cfg, self.out_dir, self.signal, self.obs, self.result
        save_arrays(out_dir / "reconstruction.npz", reconstruction=self.recon, prediction=result.prediction,
                    observed=obs.values, known=obs.known, holdout=result.holdout, norm=np.array([signal.lo, signal.hi]))
        save_mask(out_dir, signal, obs)  # mask.npz (+ observed.npz if noisy): degrade=from_file input
        if cfg.save.mat:
            write_array(out_dir / "reconstruction.mat", signal.to_raw(self.recon), key=signal.key or "reconstruction")
        if not signal.has_truth:  # the product of a recover run: the repaired data, as the input was stored
            results["output"] = str(write_native(out_dir, signal, self.recon))
        logger = instantiate(cfg.logger)
        if logger is not None:
            logger.write(out_dir, self.curves())
        if cfg.save.figures:
            self.figures(results["metrics"])

    def figures(self, m: dict) -> None:
        """``figure.png`` (truth / observed / reconstruction / error, middle frame) and ``curves.png``."""
        signal, obs, truth, hist = self.signal, self.obs, self.truth, self.result.history
        f = len(signal.frames_view(self.recon)) // 2
        obs_frame = signal.frames_view(np.where(obs.known, obs.values, 0.0))[f]
        rec_frame = signal.frames_view(self.recon)[f]
        title = "reconstruction" + (f"\nPSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}" if m else "")
        panels = ([("ground truth", truth[f])] if truth is not None else []) + [
            (f"observed ({100 * obs.observed_fraction:.1f}% known)", obs_frame), (title, rec_frame)]
        err = np.sqrt(np.mean((truth[f] - np.clip(rec_frame, 0, 1)) ** 2, -1)) if truth is not None else None
        save_figure(self.out_dir / "figure.png", panels, err, signal.rgb_bands)
        if hist["iteration"]:
            save_curves(self.out_dir / "curves.png", hist, self.oracle.curve)


def run(cfg: DictConfig, out_dir: str | os.PathLike) -> dict:
    """Run one experiment described by a composed config; write everything under ``out_dir``; return results.

    With ``checkpoint.resume`` (default) a run whose ``out_dir`` already holds complete results of the same
    config returns them untouched, and an interrupted one continues from ``out_dir/checkpoint.pt``."""
    t_start, started = time.perf_counter(), time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_sha = fingerprint(cfg)
    if cfg.checkpoint.resume and (prev := _finished(out_dir, config_sha)) is not None:
        log.info("complete results of this config already in %s: skipped", out_dir.resolve())
        return prev
    seed_everything(int(cfg.seed), bool(cfg.deterministic))
    exp = Experiment(cfg, resolve_device(str(cfg.device)), out_dir, config_sha)
    exp.load()
    exp.degrade()
    exp.build()
    result = exp.fit()
    results = exp.evaluate()
    exp.write(results)
    results["wall_seconds"] = time.perf_counter() - t_start
    results["process"] = process_record(started)
    write_json(out_dir / "results.json", results)  # last: its presence means the run finished
    if not result.interrupted:
        (out_dir / "checkpoint.pt").unlink(missing_ok=True)
    report(results, out_dir)
    return results


def process_record(started: float) -> dict:
    """Where and when this job ran (which GPU a launcher gave it: CUDA_VISIBLE_DEVICES as set by Ray/SLURM)."""
    return {"host": platform.node(), "pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "started_unix": started, "finished_unix": time.time()}


def report(results: dict, out_dir: Path) -> None:
    m = results["metrics"]
    fmt = lambda v, p: "n/a" if v is None else f"{v:.{p}f}"  # noqa: E731
    if m:
        log.info("%s | PSNR %s dB | SSIM %s | LPIPS %s%s | selection=%s @ %d | %d it in %.1f s",
                 results["status"], fmt(m.get("psnr"), 2), fmt(m.get("ssim"), 4), fmt(m.get("lpips"), 4),
                 f" | SAM {fmt(m.get('sam'), 2)}" if m.get("sam") is not None else "",
                 results["selection"]["method"], results["selection"]["iteration"], results["iterations"], results["train_seconds"])
    else:
        log.info("%s | no ground truth; PSNR on observed entries %.2f dB | %d it", results["status"],
                 results["observed"]["psnr_fit"], results["iterations"])
    if results.get("output"):
        log.info("repaired data (the input's format, key, axis order and units): %s", results["output"])
    log.info("outputs: %s", out_dir.resolve())
