"""What makes a run reproducible and resumable: its seed, the fingerprint of its config, the versions and the process
it ran in, the complete results an earlier run of the same config left, and the saved fit (``model.pt`` beside
``reconstruction.npz``) from which a run that failed after training redoes only the later stages."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from inr_recover import __version__
from inr_recover.errors import UserError
from inr_recover.run.files import atomic_path, save_arrays

log = logging.getLogger("inr_recover")

AFTER_FIT = ("metrics", "save", "logger")  # keys read only once training has ended


def seed_everything(seed: int) -> None:
    """Python's, numpy's and torch's random state (all devices) from ``seed``."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def versions() -> dict:
    import hydra
    import skimage

    return {"inr_recover": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "hydra": hydra.__version__, "scikit-image": skimage.__version__}


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def _container(cfg):
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


# Settings a checkpoint resumes under any value of: they do not change training (eval_chunk: the rows of a no-grad
# forward pass; lowered after running out of memory in an evaluation, the fit goes on from its checkpoint).
RESUMES_ACROSS = ("eval_chunk",)


def fingerprint(cfg, ignore: tuple = ()) -> str:
    """Hash of the resolved config minus what cannot change the numbers (progress bar, checkpointing, device, memory
    check, batching with other runs) and minus the keys in ``ignore``. The device is left out deliberately: a
    checkpoint resumes on another device (a SLURM requeue onto another node, a CPU debug run continued on a GPU) and a
    relaunched sweep keeps the complete results of either; the numbers of two devices differ only by floating-point
    rounding, results.json records the device, and a reuse across devices is logged."""
    c = {k: v for k, v in _container(cfg).items()
         if k not in ("progress", "checkpoint", "device", "memory_limit", "batch", *ignore)}
    return hashlib.sha256(json.dumps(c, sort_keys=True, default=str).encode()).hexdigest()[:16]


def finished(cfg, out_dir: Path) -> dict | None:
    """With ``checkpoint.resume``, the results of a complete earlier run of this same config in ``out_dir`` (a
    relaunched sweep), else None; complete results of another config there are refused."""
    path = out_dir / "results.json"
    if not (cfg.checkpoint.resume and path.is_file()):
        return None
    prev = json.loads(path.read_text())
    if prev.get("status") != "complete":
        return None
    if prev.get("config_sha") != fingerprint(cfg):
        raise UserError(f"{out_dir} holds complete results of a different configuration; use a new hydra.run.dir / "
                        "hydra.sweep.dir, or checkpoint.resume=false to overwrite them")
    if str(prev.get("device", cfg.device)).split(":")[0] != str(cfg.device).split(":")[0] and cfg.device != "auto":
        log.info("the complete results in %s were trained on %s and are kept for device=%s (checkpoint.resume=false "
                 "retrains)", out_dir, prev["device"], cfg.device)
    return prev


def source_commit() -> str | None:
    """The git commit of the inr-recover source that ran (a checkout, an editable install), ``+dirty`` when its
    tracked files differ from that commit; None for an installed wheel (no repository around the package)."""
    root = Path(__file__).resolve().parents[2]  # above the inr_recover package
    if not (root / ".git").exists():
        return None
    try:
        git = lambda *a: subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True, timeout=30)  # noqa: E731
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict:
    """The machine a run used, as a results table's stamp names it: CPU cores available to the process, the GPU."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_cores": cores, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "arch": platform.machine()}


def process_record(started: float) -> dict:
    """Where and when this job ran (which GPU a launcher gave it: CUDA_VISIBLE_DEVICES as set by Ray/SLURM), on which
    machine and from which commit of this source (:func:`source_commit`)."""
    return {"host": platform.node(), "pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"), "started_unix": started, "finished_unix": time.time(),
            "commit": source_commit(), "machine": machine()}


def save_fit(out_dir: Path, cfg, arrays: dict, record: dict) -> None:
    """A finished fit, written before anything that can fail: ``reconstruction.npz`` (``arrays``) and ``model.pt``
    (``record``: the model's record and state_dict, the fit's record, the oracle curve) keyed by the config's
    fingerprint without the keys read after the fit (:func:`saved_fit`)."""
    save_arrays(out_dir / "reconstruction.npz", **arrays)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({"fit_sha": fingerprint(cfg, AFTER_FIT), **record}, tmp)


def saved_fit(out_dir: Path, cfg, obs) -> tuple[dict, dict] | None:
    """The arrays and record :func:`save_fit` wrote in ``out_dir`` for this config (with ``checkpoint.resume``), if the
    fit ended (not interrupted); it must have been made on this observation ``obs``."""
    path = out_dir / "model.pt"
    if not (cfg.checkpoint.resume and path.is_file() and (out_dir / "reconstruction.npz").is_file()):
        return None
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved["fit_sha"] != fingerprint(cfg, AFTER_FIT) or saved["fit"]["interrupted"]:
        return None
    with np.load(out_dir / "reconstruction.npz") as z:
        arrays = {k: z[k] for k in z.files}
    if not (np.array_equal(arrays["known"], obs.known) and np.array_equal(arrays["observed"], obs.values)):
        raise UserError(f"{out_dir}: the saved fit was made on another observation (the data or mask files "
                        "changed); use a new output directory or checkpoint.resume=false")
    return arrays, saved
