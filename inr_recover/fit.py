"""The one training loop every method uses.

``fit`` receives an :class:`~inr_recover.observation.Observation` (observed values and the mask of known
entries) and never the clean tensor. What it reports is chosen from data the model could see:

- ``select=final``: the prediction at the last iteration.
- ``select=holdout``: a fraction of the *observed* entries (whole pixels when the mask is pixel-wise) is kept
  out of the loss; the iteration with the lowest error on it is selected (the task's penalty, e.g. L1).

``on_eval`` lets the caller look at intermediate predictions (training curves, the oracle diagnostic); its
return value is ignored, so nothing it computes can steer the fit.

``checkpoint={"path", "every", "meta", "extra"}`` makes the fit resumable (:mod:`inr_recover.checkpoint`): the
state is saved every ``every`` iterations, on Ctrl-C and on SIGTERM (then the process exits with 143), and a fit
started while ``path`` exists continues from it. ``extra`` is a dict of the caller's own state saved and restored
in place with it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from inr_recover import checkpoint as ckpt
from inr_recover.errors import UserError
from inr_recover.observation import Observation
from inr_recover.select import Selector
from inr_recover.tasks import Task


def grid_coords(grid: tuple, device=None) -> torch.Tensor:
    """Coordinates of every grid point, ``(prod(grid), len(grid))``, each axis linearly in [-1, 1] ('ij' order)."""
    axes = [torch.linspace(-1.0, 1.0, n, device=device) if n > 1 else torch.zeros(1, device=device) for n in grid]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(grid))


@torch.no_grad()
def predict(model, coords: torch.Tensor, chunk: int | None) -> torch.Tensor:
    """Inference over all coordinates in chunks, so memory does not grow with the output size."""
    was_training = model.training
    model.eval()
    if not chunk or coords.shape[0] <= chunk:
        out = model.predict(coords)
    else:
        out = torch.cat([model.predict(coords[i : i + chunk]) for i in range(0, coords.shape[0], chunk)])
    model.train(was_training)
    return out


def make_optimizer(params, optim: dict):
    name = optim.get("name", "adam").lower()
    kw = dict(lr=optim["lr"], weight_decay=optim.get("weight_decay", 0.0))
    if name == "adam":
        return torch.optim.Adam(params, betas=tuple(optim.get("betas", (0.9, 0.999))), **kw)
    if name == "adamw":
        return torch.optim.AdamW(params, betas=tuple(optim.get("betas", (0.9, 0.999))), **kw)
    raise UserError(f"optim.name='{name}' is not one of adam, adamw")


def make_scheduler(opt, optim: dict, iterations: int):
    kind = optim.get("schedule", "cosine")
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, iterations), eta_min=optim.get("min_lr", 0.0))
    if kind in (None, "none", "constant"):
        return None
    raise UserError(f"optim.schedule='{kind}' is not one of cosine, none")


@dataclass
class FitResult:
    prediction: np.ndarray  # (*grid, C) model output at the selected iteration
    selected_iteration: int
    iterations: int  # iterations actually run
    train_seconds: float
    selection: str
    history: dict = field(default_factory=dict)
    interrupted: bool = False
    holdout: np.ndarray | None = None


def fit(
    model,
    obs: Observation,
    task: Task,
    optim: dict,
    select: dict,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    eval_every: int = 100,
    batch_size: int | None = None,
    eval_chunk: int | None = 262144,
    progress: bool | None = None,
    on_eval=None,
    checkpoint: dict | None = None,
) -> FitResult:
    """Train ``model`` on ``obs`` under ``task`` and return the selected prediction (see module doc)."""
    from tqdm.auto import tqdm

    if not isinstance(obs, Observation):
        raise TypeError("fit() takes an Observation")
    device = torch.device(device)
    iterations = int(optim["iterations"])
    if iterations < 0:
        raise UserError(f"optim.iterations must be >= 0, got {iterations}")
    coords = grid_coords(obs.grid, device)
    target = torch.from_numpy(obs.values.reshape(-1, obs.channels)).to(device)
    selector = Selector(select, task, obs, seed)
    weight = torch.from_numpy(selector.train_mask.reshape(-1, obs.channels).astype(np.float32)).to(device)

    model.to(device).train()
    model.setup(obs, coords)
    opt = make_optimizer(model.parameters(), optim)
    sched = make_scheduler(opt, optim, iterations)
    clip = optim.get("grad_clip")
    n = coords.shape[0]
    if batch_size is not None and batch_size <= 0:
        raise UserError(f"batch_size must be positive, got {batch_size}")
    minibatch = batch_size is not None and batch_size < n
    gen = torch.Generator(device="cpu").manual_seed(seed)

    history = {"iteration": [], "seconds": [], "loss": [], "lr": [], "holdout": []}
    pending = []
    t0 = time.perf_counter()
    done = 0  # iterations completed
    interrupted = False
    start, elapsed = 0, 0.0
    if checkpoint:
        every = int(checkpoint.get("every") or 0)
        extra = checkpoint.get("extra")
        saved = ckpt.load(checkpoint["path"], checkpoint.get("meta"))
        if saved is not None:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            if sched is not None:
                sched.load_state_dict(saved["scheduler"])
            ckpt.set_rng_state(saved["rng"], gen)
            start = done = saved["iteration"]
            elapsed = saved["train_seconds"]
            history = saved["history"]
            selector.iteration, selector.score, selector.state = saved["selected"]
            pending = [torch.tensor(v) for v in saved["pending"]]
            if extra is not None:
                extra.clear()
                extra.update(saved["extra"])

    def save_checkpoint():
        ckpt.save(checkpoint["path"], {
            "meta": checkpoint.get("meta"), "iteration": done, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None, "rng": ckpt.rng_state(gen),
            "train_seconds": elapsed + time.perf_counter() - t0, "history": history,
            "selected": (selector.iteration, selector.score, selector.state),
            "pending": [float(v) for v in pending], "extra": extra})

    bar = tqdm(total=iterations, initial=start, disable=(not progress) if progress is not None else None, desc="fit", leave=False, dynamic_ncols=True)

    def evaluate(i: int):
        pred = predict(model, coords, eval_chunk)
        score = selector(i, pred, target, model)
        if score is not None:
            history["holdout"].append(score)
        if on_eval is not None:
            on_eval(i, pred.reshape(*obs.grid, obs.channels).cpu().numpy())
        return pred

    stop = ckpt.StopOnSigterm().install() if checkpoint else None
    try:
        for it in range(start + 1, iterations + 1):
            if minibatch:
                idx = torch.randint(0, n, (batch_size,), generator=gen).to(device)
                c, y, w = coords[idx], target[idx], weight[idx]
            else:
                c, y, w = coords, target, weight
            pred = model.training_forward(c, y)
            loss = task.loss_fn(pred, y, w)
            reg = model.regularization()
            if not isinstance(reg, float) or reg != 0.0:
                loss = loss + reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            if sched is not None:
                sched.step()
            done = it
            pending.append(loss.detach())
            bar.update(1)
            if it % eval_every == 0 or it == iterations:
                losses = torch.stack(pending).cpu().tolist()
                pending.clear()
                history["iteration"].append(it)
                history["seconds"].append(elapsed + time.perf_counter() - t0)  # training time so far (time to quality)
                history["loss"].append(float(np.mean(losses)))
                history["lr"].append(opt.param_groups[0]["lr"])
                evaluate(it)
                bar.set_postfix(loss=f"{losses[-1]:.4g}", **({"select": f"{history['holdout'][-1]:.4g}"} if history["holdout"] else {}))
                if not math.isfinite(losses[-1]):
                    raise UserError(f"the loss became {losses[-1]} at iteration {it}; lower optim.lr or enable optim.grad_clip")
            elif selector.every and it % selector.every == 0:  # selection-only point between evaluations
                selector(it, predict(model, coords, eval_chunk), target, model)
            if stop is not None and ((every and it % every == 0) or stop.signum is not None):
                save_checkpoint()
                if stop.signum is not None:
                    raise SystemExit(128 + stop.signum)
    except KeyboardInterrupt:
        interrupted = True
        if checkpoint:
            save_checkpoint()
    finally:
        bar.close()
        if stop is not None:
            stop.restore()
    train_seconds = elapsed + time.perf_counter() - t0

    selected = done
    if selector.state is not None:
        model.load_state_dict(selector.state)
        selected = selector.iteration
    final = predict(model, coords, eval_chunk).reshape(*obs.grid, obs.channels).cpu().numpy()
    return FitResult(
        prediction=final,
        selected_iteration=selected,
        iterations=done,
        train_seconds=train_seconds,
        selection=selector.method,
        history=history,
        interrupted=interrupted,
        holdout=selector.holdout,
    )
