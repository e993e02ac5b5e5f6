"""Shared by the side-by-side drivers of the low-rank tensor baselines (``tools/official/{lrtfr,crnl,dro_tff}.py``).

- :func:`observation`: the runner's observation saved in an ``obs`` dir (``mask.npz``, ``observed.npz`` when noisy),
  re-read through the runner's own ``degrade=from_file`` path, and the clean tensor from the runner's data loader
  with that run's ``data.*`` overrides: the identical input for both sides.
- :func:`script_values`, :func:`script_defs`: read an official demo script's constants and class definitions
  (module level or inside ``main()``) from the user's checkout without running the demo (its top level loads
  .mat files that do not ship and trains on CUDA).
- :func:`on_cpu`: the official code calls ``.cuda()`` and ``torch.cuda.FloatTensor``; on a CPU-only machine these
  become no-ops / ``torch.FloatTensor`` while the official code runs.
- :func:`finish`: the task's output rule (complete: observed entries kept; restore: not), final-iterate metrics on
  [0, 1], and the JSON record.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from inr_recover.measure import metrics as M  # noqa: E402
from inr_recover.measure.domain import Domain  # noqa: E402


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repo", required=True, help="the user's checkout of the official repository")
    p.add_argument("--obs", required=True, help="a run dir of this runner holding mask.npz (and observed.npz)")
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--side", choices=("official", "ours"), default="official",
                   help="official: the official code and recipe; ours: this runner's model and fit() under the same "
                        "recipe (the official loss, as protocol=official will wire it)")
    p.add_argument("--check", action="store_true",
                   help="also check that this runner's model, given the official model's initial weights, computes "
                        "the official forward on this observation")
    p.add_argument("--out", required=True, help="JSON file to write")
    return p


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def observation(obs_dir: str):
    """``(obs, truth, task, overrides)``: the saved observation read back with ``degrade=from_file`` and the clean
    tensor, both ``(*grid, C)`` on [0, 1]; ``task`` is the saved run's task name."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from inr_recover.config import instantiate
    from inr_recover.measure.degrade import build_ops, degrade

    d = Path(obs_dir).resolve()
    saved = [o for o in OmegaConf.load(d / ".hydra" / "overrides.yaml") if o.startswith("data")]
    task = OmegaConf.load(d / ".hydra" / "config.yaml").task.name
    over = saved + ["degrade=from_file", f"degrade.mask={d / 'mask.npz'}"]
    if (d / "observed.npz").is_file():
        over.append(f"degrade.observed={d / 'observed.npz'}")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=over)
    cwd = os.getcwd()
    os.chdir(ROOT)  # data.root is relative to the launch dir (../shared/data beside the checkout)
    try:
        signal = instantiate(cfg.data)
    finally:
        os.chdir(cwd)
    obs = degrade(signal.values, build_ops(cfg.degrade, signal), seed=int(cfg.degrade.seed), missing=signal.missing)
    saved_arrays = np.load(d / "reconstruction.npz")  # what that run's fit() saw: the same observation
    assert np.array_equal(saved_arrays["known"], obs.known)
    assert np.allclose(saved_arrays["observed"][obs.known], obs.values[obs.known], atol=1e-6)
    return obs, signal.values, task, over


def _constant(node):
    """Value of an expression made only of constants and arithmetic (``5*10e-6``, ``[1,1,3,5]``), else raise."""
    for n in ast.walk(node):
        if not isinstance(n, (ast.Expression, ast.Constant, ast.BinOp, ast.UnaryOp, ast.List, ast.Tuple, ast.Load,
                              ast.operator, ast.unaryop)):
            raise ValueError("not a constant expression")
    return eval(compile(ast.Expression(node), "<official>", "eval"), {"__builtins__": {}})


def _body(path: Path, function: str | None):
    tree = ast.parse(path.read_text())
    if function is None:
        return tree.body
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function).body


def script_values(path: Path, names, function: str | None = None) -> dict:
    """The last constant assigned to each of ``names`` in ``path`` (module level or ``function``'s body), with the
    line it came from: ``{name: (value, line)}``."""
    found = {}
    for node in _body(path, function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in names:
                with contextlib.suppress(ValueError):
                    found[name] = (_constant(node.value), node.lineno)
    missing = set(names) - set(found)
    if missing:
        raise SystemExit(f"{path}: no constant assignment of {sorted(missing)}; is this the official checkout?")
    return found


def script_defs(path: Path, names, env: dict, function: str | None = None) -> dict:
    """Execute the class definitions ``names`` of ``path`` (module level or inside ``function``) in ``env`` (their
    globals: torch, nn, np, ...) and return ``env``."""
    nodes = [n for n in _body(path, function) if isinstance(n, ast.ClassDef) and n.name in names]
    if {n.name for n in nodes} != set(names):
        raise SystemExit(f"{path}: classes {sorted(set(names) - {n.name for n in nodes})} not found")
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), env)
    return env


@contextlib.contextmanager
def on_cpu(*modules):
    """Run official CUDA-only code on the CPU: ``Tensor.cuda`` returns the tensor itself and the modules'
    ``dtype`` (``torch.cuda.FloatTensor``) becomes ``torch.FloatTensor``."""
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self
    old = [m.__dict__.get("dtype") for m in modules]
    for m in modules:
        m.__dict__["dtype"] = torch.FloatTensor
    try:
        yield
    finally:
        torch.Tensor.cuda = cuda
        for m, d in zip(modules, old):
            m.__dict__["dtype"] = d


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def our_model(name: str, task: str, obs, seed: int):
    """This runner's ``model=name`` with its config's ``recipe.<task>.model`` options applied (what
    protocol=official will run), and that recipe."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from inr_recover.models.base import build_model

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=[f"model={name}"]).model, resolve=True)
    recipe = cfg["recipe"][task]
    cfg.update(recipe["model"])
    seed_all(seed)
    return build_model(cfg, len(obs.grid), obs.channels, Domain.of(obs)), recipe


def run_ours(name: str, task_name: str, obs, args, loss=None):
    """``(prediction, seconds, recipe)``: this runner's ``model=name`` built by :func:`our_model` and trained by its
    ``fit()`` for ``args.iterations`` with the recipe's lr and weight decay and the data term ``loss`` (default the
    official Frobenius norm, :func:`frobenius`)."""
    model, recipe = our_model(name, task_name, obs, args.seed)
    optim = {"lr": recipe["lr"], "weight_decay": recipe["weight_decay"], "iterations": args.iterations}
    with Timer() as t:
        pred = fit_ours(model, obs, task_name, optim, args.seed, loss or frobenius)
    return pred, t.seconds, recipe


def fit_ours(model, obs, task_name: str, optim: dict, seed: int, loss):
    """This runner's ``fit()`` (final iterate, no holdout) with the data term ``loss(pred, target, weight)``."""
    from inr_recover.engine.fit import fit
    from inr_recover.tasks.entries import Recovery

    class OfficialLoss(Recovery):
        def loss_fn(self, pred, target, weight):
            return loss(pred, target, weight)

    task = OfficialLoss(task_name, loss="l2", data_consistency=task_name == "complete")
    r = fit(model, obs, task, {"name": "adam", "schedule": "none", "grad_clip": None, **optim}, {"method": "final"},
            seed=seed, eval_every=max(1, optim["iterations"]), progress=False)
    return r.prediction


def frobenius(pred, target, weight):
    """The official data term ``torch.norm(X_Out * mask - X * mask, 2)``."""
    return torch.linalg.vector_norm(weight * (pred - target))


def finish(args, prediction: np.ndarray, obs, truth, task: str, seconds: float, record: dict) -> dict:
    """Apply the task's output rule, score the final iterate on [0, 1], write and return the JSON record."""
    pred = np.asarray(prediction, dtype=np.float64).reshape(truth.shape)
    recon = np.where(obs.known, obs.values, pred) if task == "complete" else pred
    recon = np.clip(recon, 0.0, 1.0)
    frames = lambda a: a.reshape(-1, *truth.shape[:2], truth.shape[-1]) if truth.ndim == 4 else a[None]  # noqa: E731
    out = {
        "side": args.side,
        "psnr": M.psnr(truth, recon),
        "psnr_band": M.psnr_band(frames(truth), frames(recon)),
        "ssim": M.ssim(frames(truth), frames(recon)),
        "iterations": args.iterations,
        "seed": args.seed,
        "train_seconds": seconds,
        "task": task,
        "output_rule": "observed entries kept" if task == "complete" else "model output",
        "obs": str(Path(args.obs).resolve()),
        **record,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "torch": torch.__version__,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("side", "psnr", "psnr_band", "iterations", "train_seconds")}))
    return out


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
