"""The pipeline, once: load -> degrade -> build the model -> fit -> evaluate -> write -> report.

Data flows one way. ``fit`` gets the :class:`Observation` only; the clean signal stays here and is used by
the evaluation (headline metrics of the selected reconstruction, and the oracle diagnostic curve). Each stage is a
method of :class:`Experiment`; :func:`run` calls them in order.

The observation may see the signal through a forward operator (``y = A(f)``, super-resolution) and the signal may
be scattered points (point data): the reconstruction is always the model on the signal's own samples, scored
against the truth there (:meth:`Experiment.score`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from inr_recover import __version__, batched, degrade as degradation, metrics as M, shapes
from inr_recover.checkpoint import Checkpoint
from inr_recover.config import instantiate
from inr_recover.data import Signal
from inr_recover.data.io import write_array
from inr_recover.errors import UserError
from inr_recover.files import atomic_path, save_arrays, write_json
from inr_recover.fit import FitResult, Trainer, solve
from inr_recover.grid import predict, refine_coords
from inr_recover.locks import hold
from inr_recover.models.base import INR, Solver, build_model, check_support, model_class
from inr_recover.observation import Observation
from inr_recover.optim import Optim
from inr_recover.outputs import save_curves, save_figure, save_map, save_mask, save_slices, write_native
from inr_recover.runtime import peak_memory_mb, resolve_device
from inr_recover.validate import nothing_to_recover, validate

log = logging.getLogger("inr_recover")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def versions() -> dict:
    import hydra
    import skimage

    return {"inr_recover": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "hydra": hydra.__version__, "scikit-image": skimage.__version__}


def _container(cfg):
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


AFTER_FIT = ("metrics", "save", "logger")  # keys read only once training has ended


def fingerprint(cfg, ignore: tuple = ()) -> str:
    """Hash of the resolved config minus what cannot change the numbers (progress bar, checkpointing, device, memory
    check, batching with other runs) and minus the keys in ``ignore``."""
    c = {k: v for k, v in _container(cfg).items()
         if k not in ("progress", "checkpoint", "device", "memory_limit", "batch", *ignore)}
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
            psnr = M.psnr(self.truth, np.clip(self.signal.frames_view(recon), 0, 1))
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


class Experiment:
    """One run's stages, each keeping what the next one needs (:func:`run` calls them in order)."""

    def __init__(self, cfg: DictConfig, device: torch.device, out_dir: Path | None = None, config_sha: str | None = None):
        """``out_dir`` and ``config_sha`` (the checkpoint's key) are needed from :meth:`fit` on."""
        self.cfg, self.device, self.out_dir, self.config_sha = cfg, device, out_dir, config_sha
        self.task = instantiate(cfg.task)
        self.started = (time.perf_counter(), time.time())  # the run's wall clock and start time (results.json)
        self.eval_coords = None  # where the model is queried for the reconstruction when not where it trained (zero_shot)
        self.eval_grid = None  # the grid of eval_coords when it is not the signal's (a shape's dense grid)
        self.protocol = instantiate(cfg.protocol, _recursive_=False)

    def load(self) -> Signal:
        """The data as a normalised signal. A task that scores nothing against a truth (recover) reads the file as
        the observation itself."""
        self.signal = instantiate(self.cfg.data, **({} if self.task.needs_truth else {"has_truth": False}))
        self.truth = self.signal.frames_view(self.signal.values) if self.signal.has_truth else None
        return self.signal

    def degrade(self) -> Observation:
        """The configured operators and the observation they make (min-max over its observed entries when the
        data has no ground truth: entries a mask file flags may hold any value)."""
        cfg, signal, task = self.cfg, self.signal, self.task
        self.ops = degradation.build_ops(cfg.degrade.ops, signal)
        obs = degradation.degrade(signal.values, self.ops, seed=int(cfg.degrade.seed), missing=signal.missing,
                                  coords=signal.coords if signal.scattered else None)
        if task.downsampled != (obs.operator is not None):
            raise UserError(f"task={task.name} needs a downsampled observation (degrade=downsample_2, downsample_3, downsample_4)"
                            if task.downsampled else f"degrade={cfg.degrade.name} observes a downsampled image: use task=super_resolve")
        if not signal.has_truth:
            obs = Observation(values=signal.renormalize(obs.values, obs.known), known=obs.known)
        nothing_to_recover(task, obs, signal.name)
        log.info("data %s: grid %s x %d channels, observed %.2f%% (degrade=%s, task=%s)", signal.name,
                 "x".join(map(str, signal.grid)), signal.channels, 100 * obs.observed_fraction, cfg.degrade.name, task.name)
        self.obs = obs
        return obs

    def zero_shot(self) -> None:
        """``task.train_factor`` (zero-shot super-resolution, README "Super-resolution"): a trained model explains
        ``y`` through a downsampling by ``train_factor`` from a grid ``train_factor`` times ``y``'s, and is then
        queried on the signal's grid, that grid refined ``factor / train_factor`` times (:func:`refine_coords`);
        ``train_factor=1`` fits ``y`` on its own grid. A :class:`Solver` has no training: it maps ``y`` at the
        degradation's own factor."""
        self.eval_coords, f, op = None, self.task.train_factor, self.obs.operator
        if f is None or f == op.factor or not issubclass(model_class(self.cfg.model), INR):
            return
        if op.factor % f:
            raise UserError(f"task.train_factor={f} does not divide the degradation's factor {op.factor}")
        train_grid = (op.out_grid[0] * f, op.out_grid[1] * f, *op.out_grid[2:])
        self.obs = replace(self.obs, operator=degradation.Downsample(f, op.kernel).on(train_grid) if f > 1 else None)
        self.eval_coords = refine_coords(train_grid, op.factor // f, self.device)
        log.info("zero-shot: trained at x%d on a %s grid, queried at x%d on %s", f, "x".join(map(str, train_grid)),
                 op.factor, "x".join(map(str, self.signal.grid)))

    def dense_grid(self) -> None:
        """``task=sdf|occupancy``: the model trained at the shape's sampled points is queried, for the reconstruction,
        at the cell centres of a ``data.resolution^3`` grid of the cube (:func:`inr_recover.shapes.cell_centres`)."""
        if self.task.shape is None:
            return
        r = self.signal.resolution
        self.eval_coords = torch.from_numpy(shapes.cell_centres(r).astype(np.float32)).to(self.device)
        self.eval_grid = (r, r, r)

    def build(self) -> INR | Solver:
        torch.manual_seed(int(self.cfg.seed))  # model init does not depend on how much randomness loading used
        check_support(self.cfg.model, self.obs)
        self.model = build_model(self.cfg.model, self.obs.in_features, self.obs.channels, self.obs.grid)
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

    def trainer(self) -> Trainer | None:
        """The oracle diagnostic and, for an INR, its fit ready to run with the configured optimiser, schedule,
        selection rule and checkpoint; None for a Solver (nothing to train)."""
        cfg, obs, task = self.cfg, self.obs, self.task
        self.oracle = Oracle(self.truth if self.eval_coords is None else None, self.signal, task, obs)  # zero-shot: none
        if isinstance(self.model, Solver):
            return None
        selector = instantiate(cfg.select)(task=task, obs=obs, seed=int(cfg.seed))
        return Trainer(self.model, obs, task, Optim.from_config(cfg), selector, device=self.device, seed=int(cfg.seed),
                       eval_every=int(cfg.eval_every), batch_size=cfg.batch_size, eval_chunk=cfg.eval_chunk,
                       on_eval=self.oracle, checkpoint=self.checkpoint(), memory_limit=cfg.memory_limit)

    def fit(self) -> FitResult:
        """Train (:meth:`trainer`), or solve for a Solver; then :meth:`fitted`."""
        trainer = self.trainer()
        return self.fitted(solve(self.model, self.obs) if trainer is None else trainer.run(progress(self.cfg)))

    def fitted(self, result: FitResult) -> FitResult:
        """Keep the fit's result; the reconstruction is the task's output of the selected prediction; both saved at
        once (:meth:`save_fit`)."""
        self.result = result
        self.recon = self.task.output(self.rendered(), self.obs.values, self.obs.known).astype(np.float32)
        self.save_fit()
        return result

    def rendered(self) -> np.ndarray:
        """The selected model on the signal's samples: its prediction where it was queried in training, or (zero-shot)
        the model queried at ``eval_coords``."""
        if self.eval_coords is None:
            return self.result.prediction
        out = predict(self.model, self.eval_coords, self.cfg.eval_chunk)
        return out.reshape(*(self.eval_grid or self.signal.grid), self.signal.channels).cpu().numpy()

    def save_fit(self) -> None:
        """Everything a finished fit made, written before anything that can fail: ``reconstruction.npz`` (the arrays),
        ``mask.npz``, and ``model.pt`` (the selected model's state_dict, None without a training loop, and the fit's
        record) from which :meth:`reuse` picks the fit up again."""
        obs, result, signal = self.obs, self.result, self.signal
        save_arrays(self.out_dir / "reconstruction.npz", reconstruction=self.recon, prediction=result.prediction,
                    observed=obs.values, known=obs.known, holdout=result.holdout, norm=np.array([signal.lo, signal.hi]))
        if obs.operator is None and self.ops_forward is None:
            save_mask(self.out_dir, signal, obs)  # mask.npz (+ observed.npz if noisy): degrade=from_file input
        self.model_record = {"name": self.cfg.model.name, "params": n_params(self.model), **self.model.report()}  # after setup: S-INR sizes itself
        record = {k: v for k, v in vars(result).items() if k not in ("prediction", "holdout")}
        with atomic_path(self.out_dir / "model.pt") as tmp:
            torch.save({"fit_sha": fingerprint(self.cfg, AFTER_FIT), "model": self.model_record, "fit": record,
                        "oracle": self.oracle.curve,
                        "state_dict": self.model.state_dict() if isinstance(self.model, INR) else None}, tmp)

    def reuse(self) -> FitResult | None:
        """The fit saved by an earlier run of this configuration in the run directory (:meth:`save_fit`) that failed
        after training, if there is one (and ``checkpoint.resume``): later stages are then redone from it without
        training again. The observation must be the one it was fitted to."""
        path = self.out_dir / "model.pt"
        if not (self.cfg.checkpoint.resume and path.is_file() and (self.out_dir / "reconstruction.npz").is_file()):
            return None
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved["fit_sha"] != fingerprint(self.cfg, AFTER_FIT) or saved["fit"]["interrupted"]:
            return None
        with np.load(self.out_dir / "reconstruction.npz") as z:
            arrays = {k: z[k] for k in z.files}
        if not (np.array_equal(arrays["known"], self.obs.known) and np.array_equal(arrays["observed"], self.obs.values)):
            raise UserError(f"{self.out_dir}: the saved fit was made on another observation (the data or mask files "
                            "changed); use a new output directory or checkpoint.resume=false")
        self.oracle = Oracle(self.truth if self.eval_coords is None else None, self.signal, self.task, self.obs)
        self.oracle.curve.update(saved["oracle"])
        self.model_record = saved["model"]
        self.result = FitResult(prediction=arrays["prediction"], holdout=arrays.get("holdout"), **saved["fit"])
        self.recon = arrays["reconstruction"]
        log.info("training finished in an earlier run: its fit is reused from %s", path.resolve())
        return self.result

    def failed(self, error: Exception, stage: str, partial: dict) -> dict:
        """``results.json`` of a run whose fit is saved but a later stage failed: a rerun redoes only what failed."""
        return {**partial, "status": "failed", "failed_stage": stage, "error": f"{type(error).__name__}: {error}",
                "saved": ["reconstruction.npz", "model.pt"], "config_sha": self.config_sha, "iterations": self.result.iterations,
                "train_seconds": self.result.train_seconds, "selection": self.result.selection,
                "rerun": "run the same command again: the saved fit is reused, nothing is trained again",
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}

    def observed(self) -> dict:
        """How closely the prediction fits the observed entries it trained on, and those held out (if any)."""
        obs, result = self.obs, self.result
        if self.task.shape is not None:  # the training points' labels: distances (RMSE) or inside/outside (accuracy)
            pred, y = result.prediction, obs.values
            return {"fraction": 1.0, **({"rmse_fit": float(np.sqrt(np.mean((pred - y) ** 2)))} if self.task.shape == "sdf"
                                        else {"accuracy_fit": float(np.mean((pred >= 0) == (y >= 0.5)))})}
        train = obs.known if result.holdout is None else obs.known & ~result.holdout
        fitted = obs.observe(result.prediction)  # A(f): on the observed entries' own grid
        rec = {"fraction": obs.observed_fraction, "psnr_fit": M.psnr(np.clip(fitted[train], 0, 1), obs.values[train])}
        if result.holdout is not None:
            rec["psnr_holdout"] = M.psnr(np.clip(fitted[result.holdout], 0, 1), obs.values[result.holdout])
        return rec

    def evaluate(self) -> dict:
        """``results.json``'s content: the headline metrics of the reconstruction against the truth, and the record
        of every part of the run."""
        cfg, result, device = self.cfg, self.result, self.device
        observed = self.observed()
        headline = self.score() if self.truth is not None else {}
        results = {
            "status": "interrupted" if result.interrupted else "complete",
            "metrics": headline,
            "selection": result.selection,
            "observed": observed,
            "model": self.model_record,
            "data": self.signal.record(),
            "degrade": degradation.record(cfg.degrade.name, int(cfg.degrade.seed), self.ops),
            "task": self.task.name,
            "protocol": self.protocol.record(cfg) if issubclass(model_class(cfg.model), INR) else {"name": cfg.protocol.name,
                                                                                        "note": "no training loop"},
            "iterations": result.iterations,
            "train_seconds": result.train_seconds,
            "seconds_to_selected": result.seconds_to_selected,  # time to quality: training seconds to the headline's iteration
            "it_per_s": result.iterations / result.train_seconds if result.train_seconds > 0 else None,
            "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
            "seed": int(cfg.seed),
            "peak_memory_mb": peak_memory_mb(device),
            "memory": result.memory,
            "config_sha": self.config_sha,
            "versions": versions(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        oracle = self.oracle.record(result.history, headline)
        if oracle is not None:
            results["oracle"] = oracle
        if self.eval_coords is not None and self.task.shape is None:
            results["zero_shot"] = {"train_factor": self.task.train_factor, "factor": self.ops_forward.factor,
                                    "query": "the training grid refined at its sub-pixel centres (README)"}
        return results

    @property
    def ops_forward(self):
        """The degradation's forward operator (the one that made ``y`` from the truth), or None."""
        return next((op for op in self.ops if hasattr(op, "forward")), None)

    def score(self) -> dict:
        """The headline metrics against the truth: ``cfg.metrics`` on a grid; on point data NRMSE and R-squared over
        the points the observation does not hold (S-INR's Table 4 protocol: scored on the unobserved points)."""
        if self.task.shape is not None:
            return shapes.score(self.recon[..., 0], self.signal, seed=int(self.cfg.seed))
        if self.signal.scattered:
            test = ~self.obs.known.any(-1)
            return M.point_scores(self.signal.values[test], self.recon[test])
        return M.compute(self.truth, self.signal.frames_view(self.recon), names=tuple(self.cfg.metrics.names))

    def curves(self) -> dict:
        """The logger's columns: the history's recorded columns, then the oracle PSNR diagnostic at the same iterations
        (empty where it has none: an evaluation interrupted by Ctrl-C inside the diagnostic, then resumed)."""
        curves = {k: v for k, v in self.result.history.items() if v}
        if self.oracle.curve["psnr"]:
            at = dict(zip(self.oracle.curve["iteration"], self.oracle.curve["psnr"]))
            curves["oracle_psnr"] = [at.get(i) for i in self.result.history["iteration"]]
        return curves

    def write(self, results: dict) -> None:
        """The run's files (README, "What a run writes"); a recover run's repaired data is named in ``results``."""
        cfg, out_dir, signal = self.cfg, self.out_dir, self.signal
        if cfg.save.mat:
            write_array(out_dir / "reconstruction.mat", signal.to_raw(self.recon), key=signal.key or "reconstruction")
        if not signal.has_truth:  # the product of a recover run: the repaired data, as the input was stored
            results["output"] = str(write_native(out_dir, signal, self.recon))
        if self.task.shape is not None and (mesh := shapes.extract(self.recon[..., 0])) is not None:
            mesh.trimesh().export(out_dir / "reconstruction.ply")  # the extracted surface (MeshLab, Blender)
            results["mesh"] = str(out_dir / "reconstruction.ply")
        logger = instantiate(cfg.logger)
        if logger is not None:
            logger.write(out_dir, self.curves())
        if cfg.save.figures:
            self.figures(results["metrics"])

    def figures(self, m: dict) -> None:
        """``figure.png`` (truth / observed / reconstruction / error, middle frame; the low-resolution input drawn
        at full size when the observation is downsampled; a map of the points for point data) and ``curves.png``."""
        signal, obs, truth, hist = self.signal, self.obs, self.truth, self.result.history
        if hist["iteration"]:
            save_curves(self.out_dir / "curves.png", hist, self.oracle.curve)
        if self.task.shape is not None:
            return self.shape_figure(m)
        if signal.scattered:
            return self.point_figure(m)
        f = len(signal.frames_view(self.recon)) // 2
        shown, label = np.where(obs.known, obs.values, 0.0), f"observed ({100 * obs.observed_fraction:.1f}% known)"
        if self.ops_forward is not None:
            shown = self.ops_forward.spread(shown)
            label = f"low-resolution input (x{self.ops_forward.factor}, {self.ops_forward.kernel})"
        obs_frame = signal.frames_view(shown)[f]
        rec_frame = signal.frames_view(self.recon)[f]
        title = "reconstruction" + (f"\nPSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}" if m else "")
        panels = ([("ground truth", truth[f])] if truth is not None else []) + [(label, obs_frame), (title, rec_frame)]
        err = np.sqrt(np.mean((truth[f] - np.clip(rec_frame, 0, 1)) ** 2, -1)) if truth is not None else None
        save_figure(self.out_dir / "figure.png", panels, err, signal.rgb_bands)

    def shape_figure(self, m: dict) -> None:
        """``figure.png`` for a shape: the middle slice (z = 0) of the true field, of the reconstruction, and the error."""
        r, label = self.eval_grid[0], self.task.shape
        centres = shapes.cell_centres(r).reshape(r, r, r, 3)[:, :, r // 2]
        mesh = self.signal.mesh
        truth = (mesh.sdf(centres.reshape(-1, 3)) if label == "sdf" else mesh.inside(centres.reshape(-1, 3)) - 0.5).reshape(r, r)
        title = "reconstruction" + (f"\nIoU {m['iou']:.4f}" + (f", Chamfer {m['chamfer']:.3g}" if m.get("chamfer") is not None else "")
                                    if m else "")
        save_slices(self.out_dir / "figure.png", truth, self.recon[:, :, r // 2, 0], label, title)

    def point_figure(self, m: dict) -> None:
        """``figure.png`` for point data: truth, observed points, reconstruction and absolute error of the first
        channel (at the first time step with ``time: coordinate``) on a longitude-latitude map."""
        signal, obs = self.signal, self.obs
        at = np.ones(signal.values.shape[0], bool) if signal.time_index is None else signal.time_index == signal.time_index.min()
        seen = obs.known[at, 0]
        title = "reconstruction" + (f"\nNRMSE {m['nrmse']:.4f}, R² {m['r2']:.4f} (unobserved points)" if m.get("nrmse") is not None else "")
        panels = [("ground truth", signal.values[at, 0], None), (f"observed ({100 * obs.observed_fraction:.1f}% of points)",
                  signal.values[at, 0], seen), (title, self.recon[at, 0], None)]
        error = np.abs(self.recon[at, 0] - signal.values[at, 0])
        save_map(self.out_dir / "figure.png", signal.lon[at], signal.lat[at], panels, error, signal.channel_names[0])


def progress(cfg) -> bool | None:
    """The ``progress`` setting as the fit takes it (None: a bar only on a terminal)."""
    return None if cfg.progress == "auto" else bool(cfg.progress)


def prepare(cfg: DictConfig, out_dir: str | os.PathLike) -> Experiment | dict:
    """The stages before the fit (load, degrade, build) of the run writing under ``out_dir``; with
    ``checkpoint.resume``, the results instead when ``out_dir`` already holds complete results of this config, and no
    build when it holds the fit of a run that failed after training (:meth:`Experiment.reuse`)."""
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
    exp.zero_shot()
    exp.dense_grid()
    exp.reused = exp.reuse() is not None
    if not exp.reused:
        exp.build()
    return exp


def conclude(exp: Experiment, **record) -> dict:
    """The stages after the fit: evaluate (plus ``record``), write, ``results.json`` last, the checkpoint removed
    unless the fit was interrupted, the report. A failure here leaves ``results.json`` with ``status: failed`` beside
    the saved fit."""
    results, stage = {}, "evaluate"
    try:
        results = {**exp.evaluate(), **record}
        stage = "write"
        exp.write(results)
    except Exception as e:  # the fit is saved (Experiment.save_fit): a rerun redoes only what failed
        write_json(exp.out_dir / "results.json", {**exp.failed(e, stage, results), "process": process_record(exp.started[1])})
        raise
    results["wall_seconds"] = time.perf_counter() - exp.started[0]
    results["process"] = process_record(exp.started[1])
    write_json(exp.out_dir / "results.json", results)  # last: its presence means the run finished
    if not exp.result.interrupted:
        (exp.out_dir / "checkpoint.pt").unlink(missing_ok=True)
    report(results, exp.out_dir)
    return results


def run(cfg: DictConfig, out_dir: str | os.PathLike) -> dict:
    """Run one experiment described by a composed config; write everything under ``out_dir``; return results.

    The config is checked whole first (:func:`inr_recover.validate.validate`), and ``out_dir`` is this process's
    while the run goes on (:mod:`inr_recover.locks`). With ``checkpoint.resume`` (default) a run whose ``out_dir``
    already holds complete results of the same config returns them untouched, an interrupted one continues from
    ``out_dir/checkpoint.pt``, and one that failed after training redoes only the stages after it (:meth:`Experiment.reuse`).
    A failure after training leaves ``results.json`` with ``status: failed`` beside the saved fit."""
    validate(cfg)
    with hold(out_dir):
        exp = prepare(cfg, out_dir)
        if not isinstance(exp, Experiment):
            return exp
        if not exp.reused:
            exp.fit()
        return conclude(exp)


def run_group(cfgs: list[DictConfig], out_dirs: list, key: str) -> list[dict]:
    """Runs whose configs differ only in ``key`` (``seed``, ``optim.lr``), trained together as one vmapped model
    (:func:`inr_recover.batched.fit_group`); each member's results and files as :func:`run` writes them alone.
    Members already complete are skipped; interrupted ones resume from their own checkpoint. Members that cannot
    share a model (:func:`inr_recover.batched.refusal`) run one after another, with a one-line notice. A member whose
    fit failed writes no results (as a failed run); its error is raised once the others' results are written."""
    for cfg in cfgs:
        validate(cfg)
    with contextlib.ExitStack() as held:
        for out_dir in out_dirs:
            held.enter_context(hold(out_dir))
        return _run_group(cfgs, out_dirs, key)


def _run_group(cfgs: list[DictConfig], out_dirs: list, key: str) -> list[dict]:
    runs = [prepare(cfg, out_dir) for cfg, out_dir in zip(cfgs, out_dirs)]
    todo = [exp for exp in runs if isinstance(exp, Experiment) and not exp.reused]
    if len(todo) < 2:
        return [run(cfg, out_dir) if isinstance(exp, Experiment) else exp for exp, cfg, out_dir in zip(runs, cfgs, out_dirs)]
    reason = batched.refusal([exp.model for exp in todo])
    if reason is not None:
        log.warning("batch: %s; the %d members run one after another", reason, len(todo))
        return [run(cfg, out_dir) for cfg, out_dir in zip(cfgs, out_dirs)]
    fits = iter(batched.fit_group([exp.trainer() for exp in todo], progress(todo[0].cfg)))
    record = {"batch": {"key": key, "members": len(todo), "note": "trained with the other members as one vmapped "
                        "model in one process: train_seconds, it_per_s and peak_memory_mb are the group's"}}
    results, errors = [], []
    for exp in runs:
        fit = next(fits) if isinstance(exp, Experiment) and not exp.reused else None
        if isinstance(exp, Experiment) and exp.reused:
            results.append(conclude(exp))
        elif isinstance(fit, UserError):
            errors.append(f"{exp.out_dir}: {fit}")
        elif fit is not None:
            exp.fitted(fit)
            results.append(conclude(exp, **record))
        else:
            results.append(exp)
    if errors:
        raise UserError("; ".join(errors))
    return results


def process_record(started: float) -> dict:
    """Where and when this job ran (which GPU a launcher gave it: CUDA_VISIBLE_DEVICES as set by Ray/SLURM)."""
    return {"host": platform.node(), "pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "started_unix": started, "finished_unix": time.time()}


def report(results: dict, out_dir: Path) -> None:
    m = results["metrics"]
    fmt = lambda v, p: "n/a" if v is None else f"{v:.{p}f}"  # noqa: E731
    if "iou" in m:
        log.info("%s | IoU %s | Chamfer %s | F-score %s (%d^3 grid) | %d it in %.1f s", results["status"], fmt(m["iou"], 4),
                 "n/a" if m["chamfer"] is None else f"{m['chamfer']:.3g}", fmt(m["fscore"], 4), m["resolution"],
                 results["iterations"], results["train_seconds"])
    elif "nrmse" in m:
        log.info("%s | NRMSE %s | R² %s (unobserved points) | selection=%s @ %d | %d it in %.1f s", results["status"],
                 fmt(m["nrmse"], 4), fmt(m["r2"], 4), results["selection"]["method"], results["selection"]["iteration"],
                 results["iterations"], results["train_seconds"])
    elif m:
        log.info("%s | PSNR %s dB | SSIM %s | LPIPS %s%s | selection=%s @ %d | %d it in %.1f s",
                 results["status"], fmt(m.get("psnr"), 2), fmt(m.get("ssim"), 4), fmt(m.get("lpips"), 4),
                 f" | SAM {fmt(m.get('sam'), 2)}" if m.get("sam") is not None else "",
                 results["selection"]["method"], results["selection"]["iteration"], results["iterations"], results["train_seconds"])
    else:
        log.info("%s | no ground truth; PSNR on observed entries %.2f dB | %d it", results["status"],
                 results["observed"]["psnr_fit"], results["iterations"])
    if results.get("mesh"):
        log.info("extracted surface (marching cubes of the field's zero level): %s", results["mesh"])
    if results.get("output"):
        log.info("repaired data (the input's format, key, axis order and units): %s", results["output"])
    log.info("outputs: %s", out_dir.resolve())
