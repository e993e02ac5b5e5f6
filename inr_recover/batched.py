"""K copies of one method (K seeds, or K initialisations) trained as one batched model in one process.

The K models' parameters are stacked (``torch.func.stack_module_state``) and evaluated with
``vmap(functional_call)``, so one forward/backward serves all K. Training is the same as K separate
:func:`inr_recover.fit.fit` runs with ``select=final`` and full batches: the loss is the sum of the K losses (so
model k's gradient is that of its own loss), Adam/AdamW and the cosine schedule act elementwise (the same
update as K optimisers, built by the same :class:`~inr_recover.optim.Optim`), and gradient clipping uses each
model's own norm, as ``clip_grad_norm_`` on it alone.
Results equal separate runs up to floating-point summation order (batched matmuls).

Scope: models with a pure forward (no ``setup``/``training_forward``/``regularization``/``predict`` hooks),
full-batch training, final-iteration selection. It is a library function; the CLI runs seeds as separate jobs.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from inr_recover.errors import UserError
from inr_recover.grid import grid_coords, rows
from inr_recover.models.base import INR
from inr_recover.observation import Observation
from inr_recover.optim import Optim
from inr_recover.tasks import Task

HOOKS = ("setup", "training_forward", "regularization", "predict")


def _check(models) -> None:
    if not models:
        raise UserError("fit_batched needs at least one model")
    kinds = {type(m) for m in models}
    if len(kinds) != 1:
        raise UserError(f"fit_batched stacks copies of one method, got {sorted(k.__name__ for k in kinds)}")
    cls = kinds.pop()
    hooked = [h for h in HOOKS if getattr(cls, h) is not getattr(INR, h)]
    if hooked:
        raise UserError(f"{cls.__name__} overrides {', '.join(hooked)}; run its seeds as separate jobs (seed=0,1,...)")


def clip_per_model_(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale each model's gradients (dim 0 indexes the model) as ``clip_grad_norm_(max_norm)`` would on that model
    alone: ``g *= min(1, max_norm / (||g||_2 + 1e-6))``. Returns the K norms before clipping."""
    norms = torch.stack([g.reshape(g.shape[0], -1).norm(dim=1) for g in grads], 1).norm(dim=1)
    coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.ndim - 1))))
    return norms


def fit_batched(models: list[INR], obs: Observation, task: Task, optim: Optim, *, device="cpu",
                eval_chunk: int | None = 262144) -> np.ndarray:
    """Train the K ``models`` on ``obs`` together; returns their final predictions, ``(K, *grid, C)``."""
    _check(models)
    device = torch.device(device)
    coords = grid_coords(obs.grid, device)
    target = task.encode(rows(obs.values, device))
    weight = rows(obs.known.astype(np.float32), device)

    params, buffers = stack_module_state([m.to(device) for m in models])
    base = copy.deepcopy(models[0])  # a shell: functional_call swaps in the stacked tensors
    forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))
    updater = optim.build(params.values(), clip=lambda ps, c: clip_per_model_([p.grad for p in ps if p.grad is not None], float(c)))
    for _ in range(optim.iterations):
        pred = forward(params, buffers, coords)
        updater.step(torch.stack([task.loss_fn(p, target, weight) for p in pred]).sum())
    with torch.no_grad():
        chunk = eval_chunk or coords.shape[0]
        out = torch.cat([forward(params, buffers, coords[i : i + chunk]) for i in range(0, coords.shape[0], chunk)], 1)
    return task.decode(out).reshape(len(models), *obs.grid, obs.channels).cpu().numpy()
