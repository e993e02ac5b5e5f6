"""The pipeline, once: load -> degrade -> query -> build the model -> fit -> evaluate -> write -> report.

Data flows one way. ``fit`` gets the :class:`Observation` only; the clean signal stays with the task's evaluation
(:mod:`inr_recover.tasks.base`: headline metrics of the selected reconstruction, and the oracle diagnostic curve).
Constructing an :class:`Experiment` runs the stages up to the model (:func:`load`, :func:`degrade`, the task's
:meth:`~inr_recover.tasks.base.Task.query`); :func:`run` calls the rest in order. Provenance, resume and the saved fit
are :mod:`inr_recover.run.provenance`'s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from inr_recover.config import instantiate
from inr_recover.config.validate import nothing_to_recover, validate
from inr_recover.data import Signal
from inr_recover.data.io import write_array
from inr_recover.engine import batched
from inr_recover.engine.fit import FitResult, Trainer, solve
from inr_recover.engine.optim import Optim
from inr_recover.engine.runtime import job_settings, peak_memory_mb, resolve_device
from inr_recover.errors import UserError
from inr_recover.measure import degrade as degradation
from inr_recover.measure.domain import Domain
from inr_recover.measure.observation import Observation
from inr_recover.models.base import INR, Solver, build_model, check_support, model_class
from inr_recover.run.checkpoint import Checkpoint
from inr_recover.run.files import write_json
from inr_recover.run.locks import hold
from inr_recover.run.outputs import save_curves, write_native
from inr_recover.run.provenance import (
    RESUMES_ACROSS,
    command_line,
    fingerprint,
    finished,
    process_record,
    save_fit,
    saved_fit,
    seed_everything,
    versions,
)
from inr_recover.tasks.base import Oracle

log = logging.getLogger("inr_recover")


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters()) if isinstance(model, INR) else 0


def progress(cfg) -> bool | None:
    """The ``progress`` setting as the fit takes it (None: a bar only on a terminal)."""
    return None if cfg.progress == "auto" else bool(cfg.progress)


def load(cfg: DictConfig, task) -> Signal:
    """The data as a normalised signal. A task that scores nothing against a truth (recover) reads the file as the
    observation itself."""
    return instantiate(cfg.data, **({} if task.needs_truth else {"has_truth": False}))


def degrade(cfg: DictConfig, task, signal: Signal) -> tuple[list, Observation]:
    """The configured operators and the observation they make (min-max over its observed entries when the data has
    no ground truth: entries a mask file flags may hold any value), checked by the task."""
    ops = degradation.build_ops(cfg.degrade, signal)
    obs = degradation.degrade(
        signal.values,
        ops,
        seed=int(cfg.degrade.seed),
        missing=signal.missing,
        coords=signal.coords if signal.scattered else None,
    )
    task.check_observation(obs, cfg.degrade.name)
    if not signal.has_truth:
        obs = Observation(values=signal.renormalize(obs.values, obs.known), known=obs.known)
    nothing_to_recover(task, obs, signal.name)
    log.info(
        "data %s: grid %s x %d channels, observed %.2f%% (degrade=%s, task=%s)",
        signal.name,
        "x".join(map(str, signal.grid)),
        signal.channels,
        100 * obs.observed_fraction,
        cfg.degrade.name,
        task.name,
    )
    return ops, obs


def forward(ops: list):
    """The degradation's forward operator (the one that made ``y`` from the truth), or None."""
    return next((op for op in ops if hasattr(op, "forward")), None)


@dataclass
class Fitted:
    """What a finished fit leaves: the fit's result, the reconstruction (the task's output of the selected
    prediction, where the model is queried) and the model's record."""

    result: FitResult
    recon: np.ndarray
    model: dict


class Experiment:
    """One run's stages, each keeping what the next one needs (module doc). ``out_dir`` and ``config_sha`` (the
    checkpoint's key) are needed from :meth:`fit` on."""

    def __init__(
        self, cfg: DictConfig, device: torch.device, out_dir: Path | None = None, config_sha: str | None = None
    ):
        self.cfg, self.device, self.out_dir, self.config_sha = cfg, device, out_dir, config_sha
        self.started = (time.perf_counter(), time.time())  # the run's wall clock and start time (results.json)
        self.task = instantiate(cfg.task)
        self.protocol = instantiate(cfg.protocol, _recursive_=False)
        self.signal = load(cfg, self.task)
        self.ops, obs = degrade(cfg, self.task, self.signal)
        trains = issubclass(model_class(cfg.model), INR)
        self.obs, self.query = self.task.query(obs, self.signal, trains, device)  # query: None where it trains
        self.evaluation = self.task.evaluation(self.signal, self.obs, forward(self.ops))
        self.oracle = Oracle(self.evaluation if self.query is None else None)
        self.model: INR | Solver | None = None  # built by build()
        self.fitted: Fitted | None = None  # by fit(), finish() or reuse()

    def build(self) -> INR | Solver:
        torch.manual_seed(int(self.cfg.seed))  # model init does not depend on how much randomness loading used
        check_support(self.cfg.model, self.obs)
        self.model = build_model(self.cfg.model, self.obs.in_features, self.obs.out_features, Domain.of(self.obs))
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
        meta = fingerprint(self.cfg, ignore=RESUMES_ACROSS)
        return Checkpoint(path, int(self.cfg.checkpoint.every), meta, self.oracle.curve)

    def trainer(self) -> Trainer | None:
        """For an INR, its fit ready to run with the configured optimiser, schedule, selection rule, checkpoint and the
        oracle diagnostic; None for a Solver (nothing to train)."""
        cfg, obs, task = self.cfg, self.obs, self.task
        if isinstance(self.model, Solver):
            return None
        selector = instantiate(cfg.select)(task=task, obs=obs, seed=int(cfg.seed))
        return Trainer(
            self.model,
            obs,
            task,
            Optim.from_config(cfg),
            selector,
            device=self.device,
            seed=int(cfg.seed),
            eval_every=int(cfg.eval_every),
            batch_size=cfg.batch_size,
            eval_chunk=cfg.eval_chunk,
            on_eval=self.oracle if self.oracle.evaluation is not None else None,
            checkpoint=self.checkpoint(),
            memory_limit=cfg.memory_limit,
            compile=bool(cfg.compile),
        )

    def fit(self) -> Fitted:
        """Train (:meth:`trainer`), or solve for a Solver; then :meth:`finish`."""
        trainer = self.trainer()
        return self.finish(solve(self.model, self.obs) if trainer is None else trainer.run(progress(self.cfg)))

    def finish(self, result: FitResult) -> Fitted:
        """Keep the fit's result and the reconstruction; both saved at once (:meth:`save_fit`)."""
        recon = self.task.output(self.rendered(result), self.obs.values, self.obs.known).astype(np.float32)
        model = {
            "name": self.cfg.model.name,
            "params": n_params(self.model),
            **self.model.report(),
        }  # after setup: S-INR sizes itself
        self.fitted = Fitted(result, recon, model)
        self.save_fit()
        return self.fitted

    def rendered(self, result: FitResult) -> np.ndarray:
        """The selected model on the signal's samples: its prediction where it was queried in training, or the model
        queried where the task asks (:attr:`query`: zero-shot, a shape's dense grid)."""
        if self.query is None:
            return result.prediction
        out = self.query.predict(self.model, self.cfg.eval_chunk)
        return out.reshape(*self.query.grid, self.signal.channels).cpu().numpy()

    def save_fit(self) -> None:
        """Everything a finished fit made, written before anything that can fail: ``reconstruction.npz``, the
        observation (``mask.npz``) and ``model.pt`` (the selected model's state_dict, None without a training loop)
        from which :meth:`reuse` picks the fit up again."""
        obs, fitted, signal = self.obs, self.fitted, self.signal
        record = {k: v for k, v in vars(fitted.result).items() if k not in ("prediction", "holdout")}
        save_fit(
            self.out_dir,
            self.cfg,
            {
                "reconstruction": fitted.recon,
                "prediction": fitted.result.prediction,
                "observed": obs.values,
                "known": obs.known,
                "holdout": fitted.result.holdout,
                "norm": np.array([signal.lo, signal.hi]),
            },
            {
                "model": fitted.model,
                "fit": record,
                "oracle": self.oracle.curve,
                "state_dict": self.model.state_dict() if isinstance(self.model, INR) else None,
            },
        )
        self.evaluation.save_observation(self.out_dir)

    def reuse(self) -> Fitted | None:
        """The fit saved by an earlier run of this configuration that failed after training (:func:`saved_fit`), if
        any: later stages are then redone from it without training again."""
        saved = saved_fit(self.out_dir, self.cfg, self.obs)
        if saved is None:
            return None
        arrays, record = saved
        self.oracle.curve.update(record["oracle"])
        result = FitResult(prediction=arrays["prediction"], holdout=arrays.get("holdout"), **record["fit"])
        self.fitted = Fitted(result, arrays["reconstruction"], record["model"])
        log.info(
            "training finished in an earlier run: its fit is reused from %s", (self.out_dir / "model.pt").resolve()
        )
        return self.fitted

    def failed(self, error: Exception, stage: str, partial: dict) -> dict:
        """``results.json`` of a run whose fit is saved but a later stage failed: a rerun redoes only what failed."""
        result = self.fitted.result
        return {
            **partial,
            "status": "failed",
            "failed_stage": stage,
            "error": f"{type(error).__name__}: {error}",
            "saved": ["reconstruction.npz", "model.pt"],
            "config_sha": self.config_sha,
            "iterations": result.iterations,
            "train_seconds": result.train_seconds,
            "selection": result.selection,
            "rerun": "run the same command again: the saved fit is reused, nothing is trained again",
            "command": command_line(),
        }

    def evaluate(self) -> dict:
        """``results.json``'s content: the headline metrics of the reconstruction against the truth (the task's
        evaluation), and the record of every part of the run."""
        cfg, (result, recon, model), device = self.cfg, vars(self.fitted).values(), self.device
        headline = self.evaluation.score(recon, cfg.metrics.names, int(cfg.seed)) if self.signal.has_truth else {}
        results = {
            "status": "interrupted" if result.interrupted else "complete",
            "metrics": headline,
            "selection": result.selection,
            "observed": self.evaluation.observed(result.prediction, result.holdout),
            "model": model,
            "data": self.signal.record(),
            "degrade": degradation.record(cfg.degrade.name, int(cfg.degrade.seed), self.ops),
            "task": self.task.name,
            "protocol": self.protocol.record(cfg)
            if issubclass(model_class(cfg.model), INR)
            else {"name": cfg.protocol.name, "note": "no training loop"},
            "iterations": result.iterations,
            "train_seconds": result.train_seconds,
            "seconds_to_selected": result.seconds_to_selected,  # time to quality: training seconds to the headline
            "it_per_s": result.iterations / result.train_seconds if result.train_seconds > 0 else None,
            "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
            "seed": int(cfg.seed),
            "peak_memory_mb": peak_memory_mb(device),
            "memory": result.memory,
            "config_sha": self.config_sha,
            "versions": versions(),
            "command": command_line(),
        }
        oracle = self.oracle.record(result.history, headline)
        if oracle is not None:
            results["oracle"] = oracle
        if self.query is not None and self.query.key is not None:
            results[self.query.key] = self.query.record
        return results

    def curves(self) -> dict:
        """The logger's columns: the history's recorded columns, then the oracle PSNR diagnostic at the same iterations
        (empty where it has none: an evaluation interrupted by Ctrl-C inside the diagnostic, then resumed)."""
        history = self.fitted.result.history
        curves = {k: v for k, v in history.items() if v}
        if self.oracle.curve["psnr"]:
            at = dict(zip(self.oracle.curve["iteration"], self.oracle.curve["psnr"]))
            curves["oracle_psnr"] = [at.get(i) for i in history["iteration"]]
        return curves

    def write(self, results: dict) -> None:
        """The run's files (docs/getting-started.md, "What a run writes"): the task's products (a mesh) and a recover
        run's repaired data are named in ``results``; ``figure.png`` and ``curves.png``."""
        cfg, out_dir, signal, recon = self.cfg, self.out_dir, self.signal, self.fitted.recon
        if cfg.save.mat:
            write_array(out_dir / "reconstruction.mat", signal.to_raw(recon), key=signal.key or "reconstruction")
        if not signal.has_truth:  # the product of a recover run: the repaired data, as the input was stored
            results["output"] = str(write_native(out_dir, signal, recon))
        results.update(self.evaluation.products(out_dir, recon, cfg.save))
        logger = instantiate(cfg.logger)
        if logger is not None:
            logger.write(out_dir, self.curves())
        if cfg.save.figures:
            if self.fitted.result.history["iteration"]:
                save_curves(out_dir / "curves.png", self.fitted.result.history, self.oracle.curve)
            self.evaluation.figure(out_dir / "figure.png", recon, results["metrics"])


def settings(cfg: DictConfig):
    """torch's settings of this job (``deterministic``, ``precision``), restored after it
    (:func:`inr_recover.engine.runtime.job_settings`)."""
    return job_settings(bool(cfg.deterministic), str(cfg.precision), resolve_device(str(cfg.device)))


def prepare(cfg: DictConfig, out_dir: str | os.PathLike) -> Experiment:
    """The stages before the fit of the run writing under ``out_dir`` (the config already checked for complete
    results there: :func:`inr_recover.run.provenance.finished`); with ``checkpoint.resume``, the fit of a run that
    failed after training is reused (:meth:`Experiment.reuse`: ``fitted`` set, no model built)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(int(cfg.seed))
    exp = Experiment(cfg, resolve_device(str(cfg.device)), out_dir, fingerprint(cfg))
    if exp.reuse() is None:
        exp.build()
    return exp


def previous(cfg: DictConfig, out_dir: str | os.PathLike) -> dict | None:
    """The complete results of this config already in ``out_dir`` (a relaunched sweep), or None."""
    prev = finished(cfg, Path(out_dir))
    if prev is not None:
        log.info("complete results of this config already in %s: skipped", Path(out_dir).resolve())
    return prev


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
        write_json(
            exp.out_dir / "results.json", {**exp.failed(e, stage, results), "process": process_record(exp.started[1])}
        )
        raise
    results["wall_seconds"] = time.perf_counter() - exp.started[0]
    results["process"] = process_record(exp.started[1])
    write_json(exp.out_dir / "results.json", results)  # last: its presence means the run finished
    if not exp.fitted.result.interrupted:
        (exp.out_dir / "checkpoint.pt").unlink(missing_ok=True)
    report(results, exp)
    return results


def run(cfg: DictConfig, out_dir: str | os.PathLike) -> dict:
    """Run one experiment described by a composed config; write everything under ``out_dir``; return results.

    The config is checked whole first (:func:`inr_recover.config.validate.validate`), and ``out_dir`` is this process's
    while the run goes on (:mod:`inr_recover.run.locks`). With ``checkpoint.resume`` (default) a run whose ``out_dir``
    already holds complete results of the same config returns them untouched, an interrupted one continues from
    ``out_dir/checkpoint.pt``, and one that failed after training redoes only the stages after it
    (:meth:`Experiment.reuse`).
    A failure after training leaves ``results.json`` with ``status: failed`` beside the saved fit."""
    validate(cfg)
    with hold(out_dir), settings(cfg):
        prev = previous(cfg, out_dir)
        if prev is not None:
            return prev
        return alone(prepare(cfg, out_dir))


def alone(exp: Experiment) -> dict:
    """A prepared run fitted on its own (unless its fit is reused) and concluded."""
    if exp.fitted is None:
        exp.fit()
    return conclude(exp)


def run_group(cfgs: list[DictConfig], out_dirs: list, key: str) -> list[dict]:
    """Runs whose configs differ only in ``key`` (``seed``, ``optim.lr``), trained together as one vmapped model
    (:func:`inr_recover.engine.batched.fit_group`); each member's results and files as :func:`run` writes them alone.
    Members already complete are skipped; interrupted ones resume from their own checkpoint. Members that cannot
    share a model (:func:`inr_recover.engine.batched.refusal`) run one after another, with a one-line notice. A member
    whose fit failed writes no results (as a failed run); its error is raised once the others' results are written."""
    for cfg in cfgs:
        validate(cfg)
    with contextlib.ExitStack() as held:
        for out_dir in out_dirs:
            held.enter_context(hold(out_dir))
        held.enter_context(settings(cfgs[0]))
        return _run_group(cfgs, out_dirs, key)


def _run_group(cfgs: list[DictConfig], out_dirs: list, key: str) -> list[dict]:
    runs = [previous(cfg, out_dir) or prepare(cfg, out_dir) for cfg, out_dir in zip(cfgs, out_dirs)]
    todo = [exp for exp in runs if isinstance(exp, Experiment) and exp.fitted is None]
    reason = "fewer than two members left to train" if len(todo) < 2 else batched.refusal([exp.model for exp in todo])
    if reason is None and todo[0].cfg.compile:
        reason = "compile=true compiles each member's model on its own (not through the group's vmap)"
    if reason is not None:
        if len(todo) > 1:
            log.warning("batch: %s; the %d members run one after another", reason, len(todo))
        return [alone(exp) if isinstance(exp, Experiment) else exp for exp in runs]
    fits = dict(zip(map(id, todo), batched.fit_group([exp.trainer() for exp in todo], progress(todo[0].cfg))))
    record = {
        "batch": {
            "key": key,
            "members": len(todo),
            "note": "trained with the other members as one vmapped "
            "model in one process: train_seconds, it_per_s and peak_memory_mb are the group's",
        }
    }
    results, errors = [], []
    for exp in runs:
        fit = fits.get(id(exp))
        if isinstance(fit, UserError):
            errors.append(f"{exp.out_dir}: {fit}")
        elif fit is not None:
            exp.finish(fit)
            results.append(conclude(exp, **record))
        else:
            results.append(conclude(exp) if isinstance(exp, Experiment) else exp)
    if errors:
        raise UserError("; ".join(errors))
    return results


def report(results: dict, exp: Experiment) -> None:
    """The run's last log lines: the task's headline, the selection and training time, and the files to open."""
    selected = results["selection"]
    log.info(
        "%s | %s | selection=%s @ %d | %d it in %.1f s",
        results["status"],
        exp.evaluation.report(results),
        selected["method"],
        selected["iteration"],
        results["iterations"],
        results["train_seconds"],
    )
    if results.get("mesh"):
        log.info("extracted surface (marching cubes of the field's zero level): %s", results["mesh"])
    if results.get("output"):
        log.info("repaired data (the input's format, key, axis order and units): %s", results["output"])
    log.info("outputs: %s", exp.out_dir.resolve())
