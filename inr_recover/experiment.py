"""The pipeline, once: load -> degrade -> fit -> evaluate -> write.

Data flows one way. ``fit`` gets the :class:`Observation` only; the clean signal stays here and is used by
the evaluation (headline metrics of the selected reconstruction, and the oracle diagnostic curve).
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

from inr_recover import __version__, metrics as M
from inr_recover.config import instantiate
from inr_recover.degrade import build_ops, degrade
from inr_recover.errors import UserError
from inr_recover.fit import fit
from inr_recover.models.base import build_model
from inr_recover.observation import Observation
from inr_recover.outputs import save_arrays, save_curves, save_figure, save_mask, write_json, write_native
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


def run(cfg: DictConfig, out_dir: str | os.PathLike) -> dict:
    """Run one experiment described by a composed config; write everything under ``out_dir``; return results.

    With ``checkpoint.resume`` (default) a run whose ``out_dir`` already holds complete results of the same
    config returns them untouched, and an interrupted one continues from ``out_dir/checkpoint.pt``."""
    t_start, started = time.perf_counter(), time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_sha = fingerprint(cfg)
    resume = bool(cfg.checkpoint.resume)
    if resume and (prev := _finished(out_dir, config_sha)) is not None:
        log.info("complete results of this config already in %s: skipped", out_dir.resolve())
        return prev
    seed_everything(int(cfg.seed), bool(cfg.deterministic))
    device = resolve_device(str(cfg.device))
    task = instantiate(cfg.task)

    # task=recover: the data file is the observation itself (no ground truth)
    signal = instantiate(cfg.data, **({"has_truth": False} if task.name == "recover" else {}))
    if not signal.has_truth and task.name != "recover":
        raise UserError("data.has_truth=false needs task=recover (there is no ground truth to score against)")
    ops = build_ops(cfg.degrade.ops, signal)
    if not task.allows_degradation and ops:
        raise UserError(f"task={task.name} measures representation quality and takes degrade=none (got degrade={cfg.degrade.name})")
    obs = degrade(signal.values, ops, seed=int(cfg.degrade.seed), missing=signal.missing)
    if not signal.has_truth:  # normalise over what is observed: entries a mask file flags may hold any value
        obs = Observation(values=signal.renormalize(obs.values, obs.known), known=obs.known)
    log.info("data %s: grid %s x %d channels, observed %.2f%% (degrade=%s, task=%s)",
             signal.name, "x".join(map(str, signal.grid)), signal.channels, 100 * obs.observed_fraction, cfg.degrade.name, task.name)

    torch.manual_seed(int(cfg.seed))  # model init does not depend on how much randomness loading used
    model = build_model(cfg.model, len(obs.grid), obs.channels, obs.grid)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model %s: %d parameters, device %s", cfg.model.name, n_params, device)

    truth = signal.frames_view(signal.values) if signal.has_truth else None
    oracle = {"iteration": [], "psnr": []}

    def on_eval(iteration, prediction):  # diagnostics only: fit() ignores the return value
        if truth is not None:
            recon_i = task.output(prediction, obs.values, obs.known)
            oracle["iteration"].append(iteration)
            oracle["psnr"].append(M.psnr(truth, np.clip(signal.frames_view(recon_i), 0, 1)))

    progress = None if cfg.progress == "auto" else bool(cfg.progress)
    ckpt_path = out_dir / "checkpoint.pt"
    if not resume:
        ckpt_path.unlink(missing_ok=True)
    elif ckpt_path.is_file():
        log.info("resuming from %s", ckpt_path.resolve())
    checkpoint = {"path": ckpt_path, "every": int(cfg.checkpoint.every), "meta": config_sha, "extra": oracle} if resume else None
    result = fit(model, obs, task, _container(cfg.optim), _container(cfg.select), device=device, seed=int(cfg.seed),
                 eval_every=int(cfg.eval_every), batch_size=cfg.batch_size, eval_chunk=cfg.eval_chunk,
                 progress=progress, on_eval=on_eval, checkpoint=checkpoint)
    recon = task.output(result.prediction, obs.values, obs.known).astype(np.float32)
    n_params = sum(p.numel() for p in model.parameters())  # again after setup: S-INR sizes itself to its superpixels

    known = obs.known
    train_known = known if result.holdout is None else known & ~result.holdout
    observed = {
        "fraction": obs.observed_fraction,
        "psnr_fit": M.psnr(np.clip(result.prediction[train_known], 0, 1), obs.values[train_known]),
    }
    if result.holdout is not None:
        observed["psnr_holdout"] = M.psnr(np.clip(result.prediction[result.holdout], 0, 1), obs.values[result.holdout])
    headline = {}
    if truth is not None:
        headline = M.compute(truth, signal.frames_view(recon), names=tuple(cfg.metrics.names))
    results = {
        "status": "interrupted" if result.interrupted else "complete",
        "metrics": headline,
        "selection": selection_record(cfg.select, result),
        "observed": observed,
        "model": {"name": cfg.model.name, "params": n_params, **model.report()},
        "data": {"name": signal.name, "grid": list(signal.grid), "channels": signal.channels, "layout": signal.layout,
                 "path": signal.path, "key": signal.key},
        "degrade": degrade_record(cfg.degrade),
        "task": task.name,
        "iterations": result.iterations,
        "train_seconds": result.train_seconds,
        "it_per_s": result.iterations / result.train_seconds if result.train_seconds > 0 else None,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "seed": int(cfg.seed),
        "peak_memory_mb": peak_memory_mb(device),
        "config_sha": config_sha,
        "versions": versions(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    if oracle["psnr"]:
        k = int(np.argmax(oracle["psnr"]))
        results["oracle"] = {"note": "diagnostic only: best PSNR against the truth over eval points; never a headline",
                             "psnr_peak": oracle["psnr"][k], "iteration": oracle["iteration"][k],
                             "seconds_to_peak": result.history["seconds"][k],
                             "gap_db": oracle["psnr"][k] - headline.get("psnr", float("nan"))}

    _write_outputs(cfg, out_dir, signal, obs, result, recon, truth, oracle, results)
    results["wall_seconds"] = time.perf_counter() - t_start
    # where and when this job ran (which GPU a launcher gave it: CUDA_VISIBLE_DEVICES as set by Ray/SLURM)
    results["process"] = {"host": platform.node(), "pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                          "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "started_unix": started, "finished_unix": time.time()}
    write_json(out_dir / "results.json", results)  # last: its presence means the run finished
    if not result.interrupted:
        ckpt_path.unlink(missing_ok=True)
    _report(results, out_dir)
    return results


def selection_record(select, result) -> dict:
    """What selected the headline: the rule that ran (``auto`` resolved), its settings, and the iteration."""
    rec = {"method": result.selection, "iteration": result.selected_iteration}
    if select.method == "auto":
        rec["requested"] = "auto"
    keys = {"holdout": ("fraction", "error", "trim", "every"), "discrepancy": ("tau", "every")}.get(result.selection, ())
    rec.update({k: select[k] for k in keys if k in select and (k != "trim" or select.get("error") == "trimmed")})
    return rec


def degrade_record(degrade_cfg) -> dict:
    """The degradation as it ran: every operator with its parameters, and whether impulses were known or blind."""
    ops = [{"op": str(op["_target_"]).rsplit(".", 1)[-1], **{k: v for k, v in op.items() if k != "_target_"}}
           for op in (OmegaConf.to_container(degrade_cfg.ops, resolve=True) if degrade_cfg.get("ops") else [])]
    rec = {"name": degrade_cfg.name, "seed": int(degrade_cfg.seed), "ops": ops}
    sp = [op for op in ops if op["op"] == "SaltPepper"]
    if sp:
        rec["impulses"] = "known" if all(op.get("known", False) for op in sp) else "blind"
    return rec


def _write_outputs(cfg, out_dir, signal, obs, result, recon, truth, oracle, results):
    hist = result.history
    save_arrays(out_dir / "reconstruction.npz", reconstruction=recon, prediction=result.prediction,
                observed=obs.values, known=obs.known, holdout=result.holdout,
                norm=np.array([signal.lo, signal.hi]))
    save_mask(out_dir, signal, obs)  # mask.npz (+ observed.npz if noisy): degrade=from_file input
    if cfg.save.mat:
        from inr_recover.data.io import write_array

        write_array(out_dir / "reconstruction.mat", signal.to_raw(recon), key=signal.key or "reconstruction")
    if not signal.has_truth:  # the product of a recover run: the repaired data, as the input was stored
        results["output"] = str(write_native(out_dir, signal, recon))
    if cfg.logger.name == "csv":
        import csv

        from inr_recover.outputs import atomic_path

        with atomic_path(out_dir / "curves.csv") as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            cols = [k for k in ("iteration", "seconds", "loss", "lr", "holdout") if hist.get(k)]
            w.writerow(cols + (["oracle_psnr"] if oracle["psnr"] else []))
            for i in range(len(hist["iteration"])):
                w.writerow([hist[k][i] for k in cols] + ([oracle["psnr"][i]] if oracle["psnr"] else []))
    elif cfg.logger.name == "tensorboard":
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("logger=tensorboard needs the tensorboard package: pip install 'inr-recover[tensorboard]'") from None
        with SummaryWriter(str(out_dir / "tb")) as tb:
            for i, it in enumerate(hist["iteration"]):
                for k in ("loss", "lr", "holdout"):
                    if hist.get(k):
                        tb.add_scalar(k, hist[k][i], it)
                if oracle["psnr"]:
                    tb.add_scalar("oracle_psnr", oracle["psnr"][i], it)
    if cfg.save.figures:
        f = len(signal.frames_view(recon)) // 2
        obs_frame = signal.frames_view(np.where(obs.known, obs.values, 0.0))[f]
        rec_frame = signal.frames_view(recon)[f]
        m = results["metrics"]
        title = "reconstruction" + (f"\nPSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}" if m else "")
        panels = ([("ground truth", truth[f])] if truth is not None else []) + [
            (f"observed ({100 * obs.observed_fraction:.1f}% known)", obs_frame), (title, rec_frame)]
        err = np.sqrt(np.mean((truth[f] - np.clip(rec_frame, 0, 1)) ** 2, -1)) if truth is not None else None
        save_figure(out_dir / "figure.png", panels, err, signal.rgb_bands)
        if hist["iteration"]:
            save_curves(out_dir / "curves.png", hist, oracle)


def _report(results: dict, out_dir: Path) -> None:
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
