"""How the parameters move: the optimiser (``conf/optim/``) and learning-rate schedule (``conf/scheduler/``).

Both are ``_partial_`` configs naming a ``torch.optim`` class (or a function here): the optimiser is called with the
parameters, the scheduler with the optimiser (``scheduler=none``: constant learning rate; ``scheduler=auto``, the
default: the protocol's schedule, :func:`auto`; ``scheduler=exponential``: :func:`exponential`). ``optim.iterations``
and ``optim.grad_clip`` belong to the training loop, not to the optimiser's constructor. One step
(:meth:`Updater.step`): ``g = grad L``; with ``grad_clip = c``, ``g <- g min(1, c / (||g||_2 + 1e-6))``; then the
optimiser's update and the scheduler's learning rate for the next step.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
from omegaconf import OmegaConf

from inr_recover.config import instantiate
from inr_recover.config.schema import NonNegative, NonNegativeInt, Positive
from inr_recover.errors import UserError

LOOP_KEYS = ("iterations", "grad_clip")  # keys of conf/optim read by the loop, not passed to the optimiser
LIMITS = {"lr": Positive}  # declared limits of the optimiser's own settings, beyond torch's checks (it accepts lr=0)


def _decay(t: int, gamma: float, T: int) -> float:
    return gamma ** min(t / T, 1.0)


def exponential(optimizer, gamma: float, T: int):
    """``lr_t = lr * gamma^(min(t, T) / T)``: FINER/FINER++/WIRE's ``LambdaLR(lambda t: 0.1 ** min(t / T, 1))``,
    stepped once per iteration, over ``T = optim.iterations`` (so early stopping sees the same curve)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(_decay, gamma=float(gamma), T=max(int(T), 1)))


def _bacon(t: int, ratio: float, T: int, warmup: int, floor: float) -> float:
    ramp = floor + (1 - floor) * math.sin(math.pi / 2 * min(t / warmup, 1.0)) if warmup else 1.0
    return ramp * ratio ** (t / T)


def bacon(optimizer, lr_end: float, T: int, warmup: int = 1, floor: float = 0.01):
    """BACON's ``lr_log_schedule``, which FINER++'s SDF runs use (liuzhen0212/FINER sdf/bacon/training.py:370-372,
    with ``nw=1, lrn=1e-4`` at :207-210, stepped every iteration): ``lr_t = lr (floor + (1 - floor) sin(pi/2
    min(t / warmup, 1))) (lr_end / lr)^(t / T)``, a log-linear decay from ``lr`` to ``lr_end`` over ``T`` iterations
    whose first ``warmup`` steps ramp up from ``floor`` (constant after the first step when ``lr = lr_end``)."""
    ratio = float(lr_end) / optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(_bacon, ratio=ratio, T=max(int(T), 1), warmup=int(warmup), floor=float(floor))
    )


def auto(optimizer, schedule):
    """``scheduler=auto``: the protocol's schedule (``protocol.scheduler``, a ``conf/scheduler/`` option) on
    ``optimizer``; None when it is ``none``."""
    make = instantiate(schedule)
    return make(optimizer) if make is not None else None


@dataclass(frozen=True)
class Optim:
    optimizer: Callable  # parameters -> torch.optim.Optimizer
    scheduler: Callable | None  # optimiser -> learning-rate scheduler; None keeps the learning rate constant
    iterations: NonNegativeInt  # 0: no training (the observation and the initial model's output, tools/official)
    grad_clip: NonNegative | None  # max gradient norm; None or 0 disables clipping

    def __post_init__(self):
        if self.iterations < 0:
            raise UserError(f"optim.iterations must be >= 0, got {self.iterations}")

    @classmethod
    def from_config(cls, cfg) -> Optim:
        """The ``optim`` and ``scheduler`` groups of a composed config."""
        settings = {k: v for k, v in OmegaConf.to_container(cfg.optim, resolve=True).items() if k not in LOOP_KEYS}
        return cls(
            optimizer=instantiate(settings, _convert_="all"),
            scheduler=instantiate(cfg.scheduler),
            iterations=int(cfg.optim.iterations),
            grad_clip=cfg.optim.grad_clip,
        )

    def build(self, params, clip=torch.nn.utils.clip_grad_norm_) -> Updater:
        """The optimiser and scheduler over ``params``; ``clip(params, max_norm)`` bounds the gradient."""
        params = list(params)
        opt = self.optimizer(params)
        return Updater(opt, self.scheduler(opt) if self.scheduler is not None else None, params, self.grad_clip, clip)


class Updater:
    """One optimiser and its schedule over a set of parameters: :meth:`step` applies one update (module doc)."""

    def __init__(self, optimizer, scheduler, params: list, grad_clip: float | None, clip):
        self.optimizer, self.scheduler = optimizer, scheduler
        self.params, self.grad_clip, self.clip = params, grad_clip, clip

    def step(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.apply()

    def apply(self) -> None:
        """The update from the gradients already in the parameters: clipping, the optimiser, the schedule."""
        if self.grad_clip:
            self.clip(self.params, self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
