"""Honest selection rules: which evaluation point :func:`inr_recover.engine.fit.fit` reports, decided from the
observation only (never the clean signal). Each rule is a ``_partial_`` config of ``conf/select/`` completed with
the task, the observation and the seed; it scores the prediction at every scoring point (:meth:`Selector.__call__`),
keeps the model state of the point it selects, and describes itself for ``results.json`` (:meth:`Selector.record`).

- ``final``: the last iteration.
- ``holdout``: a fraction of the observed entries is kept out of the loss; the evaluation point with the lowest
  error on them is reported. With noise independent of the signal, ``E|f - y|`` on held-out entries tracks
  the error against the truth up to a constant, so its minimum sits where the truth error's does.
  ``select.error`` picks the error: ``penalty`` (the task's loss), ``l1``, ``l2``, ``median`` (median absolute
  residual) or ``trimmed`` (mean absolute residual after dropping the largest ``select.trim`` fraction).
  The robust ones ignore held-out entries hit by unknown impulses (blind salt-and-pepper), whose residual
  rewards fitting the impulse rather than the signal. Default ``trimmed`` (``trim=0.1``, the impulse rate of
  Scenes 2/3): on Scene 3 (cloth, 32x32, blind impulses) L1 picked iteration 40 (1.5 dB below the truth's peak),
  the trimmed mean iteration 160 (0.01 dB below); at 128x128 both are within 0.11 dB (docs/results.md).
- ``discrepancy`` (no holdout; Morozov's discrepancy principle): the first evaluation point where the
  training residual has shrunk to the noise level, ``median |f - y| <= tau * s``, with the noise level
  ``s = median |y_i - y_j| / sqrt(2)`` over neighbouring observed entries (the adjacent pair along the axis
  whose differences are smallest, where the signal contributes least). For zero-mean Gaussian noise both
  sides equal ``0.6745 sigma`` when ``f`` is the truth, so no constant depends on the noise law's scale.
  Measured weaker than the holdout (Scene 3 cloth 128x128: 1.05 dB below the peak with blind impulses, whose
  clipping and impulses bias the level estimate; 0.11 dB with known impulses), so it is an option, not a default.
- ``select.every``: score every that many iterations as well as at each ``eval_every`` point (a restoration
  peak is narrow: on Scene 3 it lasts about 100 iterations), at the cost of one forward pass each.
- ``auto``: the task's own default (``task.select``), chosen by measurement (docs/selection.md, "Honest selection"),
with the
  settings that rule takes.

Early stopping (``select.patience``, ``select.min_iterations``; holdout and discrepancy): the fit ends at the first
iteration ``t >= min_iterations`` with ``t - t_sel >= patience``, where ``t_sel`` is the selected point (no better
score in the last ``patience`` iterations; :func:`patience_reached`). The selection rule, and so the headline, is
unchanged as long as the full run would select a point before the stop; the schedule keeps its horizon
(``optim.iterations``), so a stopped run is exactly the prefix of the full run. Patience counts iterations, not
scoring points, so its meaning does not depend on ``select.every`` or ``eval_every``. Each task's default
(``task.patience``, ``task.min_iterations``) was measured (docs/selection.md, "Early stopping").
"""

from __future__ import annotations

import inspect
import math
from typing import Annotated, Literal

import numpy as np
import torch

from inr_recover.config.schema import Interval, NonNegativeInt, Positive, forwards
from inr_recover.errors import UserError
from inr_recover.measure.grid import rows

ERRORS = ("penalty", "l1", "l2", "median", "trimmed")
Every = NonNegativeInt | None  # select.every: 0 or null scores only at eval_every


def holdout_error(residual: torch.Tensor, penalty, kind: str = "penalty", trim: float = 0.1) -> float:
    """Error of the held-out residuals ``f - y`` (a 1-D tensor) under rule ``kind`` (see module doc)."""
    if residual.numel() == 0:
        raise UserError("the holdout is empty; raise select.fraction")
    a = residual.abs()
    if kind == "penalty":
        return float(penalty(residual).mean())
    if kind == "l1":
        return float(a.mean())
    if kind == "l2":
        return float(residual.square().mean())
    if kind == "median":
        return float(a.median())
    if kind == "trimmed":
        if not 0.0 <= trim < 1.0:
            raise UserError(f"select.trim must be in [0, 1), got {trim}")
        keep = max(1, int(math.ceil((1.0 - trim) * a.numel())))
        return float(torch.topk(a, keep, largest=False).values.mean())
    raise UserError(f"select.error='{kind}' is not one of {', '.join(ERRORS)}")


def noise_level(values: np.ndarray, known: np.ndarray) -> float:
    """Median absolute noise ``s = median|y_i - y_j| / sqrt(2)`` over adjacent observed pairs, along the grid or
    channel axis with the smallest value (``0.6745 sigma`` for i.i.d. Gaussian noise on a smooth signal)."""
    best = math.inf
    for ax in range(values.ndim):
        if values.shape[ax] < 2:
            continue
        n = values.shape[ax] - 1
        a, b = np.take(values, range(n), ax), np.take(values, range(1, n + 1), ax)
        both = np.take(known, range(n), ax) & np.take(known, range(1, n + 1), ax)
        if both.sum() >= 16:
            best = min(best, float(np.median(np.abs(a - b)[both])) / math.sqrt(2.0))
    if not math.isfinite(best):
        raise UserError("select=discrepancy needs adjacent observed entries to estimate the noise level")
    return best


def discrepancy_reached(residual: torch.Tensor, level: float, tau: float = 1.0) -> bool:
    """Morozov's rule on the training residual ``f - y`` (1-D): ``median |f - y| <= tau * level``."""
    return float(residual.abs().median()) <= tau * level


def holdout_mask(known: np.ndarray, fraction: float, pixelwise: bool, seed: int) -> np.ndarray:
    """Exactly ``round(fraction * n)`` of the ``n`` observed units held out: whole pixels when ``pixelwise``
    (tube masks: a held-out pixel is hidden in every band), single entries otherwise."""
    if not 0.0 < fraction < 1.0:
        raise UserError(f"select.fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed + 7919)
    units = known.all(-1) if pixelwise else known
    idx = np.flatnonzero(units)
    k = int(round(fraction * idx.size))
    if k == 0 or k == idx.size:
        raise UserError(
            f"select.fraction={fraction} of {idx.size} observed units leaves no holdout or no training data"
        )
    held = np.zeros(units.size, dtype=bool)
    held[rng.choice(idx, k, replace=False)] = True
    held = held.reshape(units.shape)
    if pixelwise:
        held = np.broadcast_to(held[..., None], known.shape)
    return np.ascontiguousarray(held)


def patience_reached(iteration: int, selected: int | None, patience: int | None, min_iterations: int = 0) -> bool:
    """Early stopping at ``iteration``: a point is selected, none better for ``patience`` iterations since
    (``iteration - selected >= patience``), and ``iteration >= min_iterations``. Never with ``patience`` None."""
    return (
        patience is not None
        and selected is not None
        and iteration >= min_iterations
        and iteration - selected >= patience
    )


def _count(name: str, value, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(
            f"select.{name} must be a whole number >= 0{' or null (never stop early)' if allow_none else ''}, got "
            f"{value!r}"
        )
    return value


class Selector:
    """The state every rule keeps: which entries train (``train_mask``), which are held out (``holdout``), the
    selected point with the model state there (``iteration``, ``state``; None until one is selected: then the last
    iteration is reported) and the training seconds when it was selected (``seconds``, read from ``clock``, the
    fit's clock), and the early-stopping rule (``patience``, ``min_iterations``; :meth:`should_stop`)."""

    method: str
    scores = True  # whether the rule looks at predictions (False: the fit need not make one to score)

    def __init__(self, task, obs, seed: int, patience: int | None = None, min_iterations: int = 0):
        self.holdout = None
        self.train_mask = obs.known
        self.every = 0  # also score every N iterations between evaluation points (0: only at them)
        self.settings: dict = {}  # recorded in results.json
        self.requested = None  # "auto" when select=auto chose this rule
        self.iteration, self.state, self.score, self.seconds = None, None, math.inf, None
        self.patience, self.min_iterations = (
            _count("patience", patience, allow_none=True),
            _count("min_iterations", min_iterations),
        )
        self.stopped_at = None  # the iteration should_stop ended the fit at
        self.clock = None  # () -> training seconds so far; the Trainer sets it

    def __call__(self, iteration: int, pred: torch.Tensor, target: torch.Tensor, model) -> float | None:
        """Score the prediction at ``iteration`` (flat ``(N, C)``), keep the model state if it is selected, and
        return the score to log (None: this rule has none)."""
        return None

    def keep(self, iteration: int, score: float, model) -> None:
        self.iteration, self.score = iteration, score
        self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        self.seconds = self.clock() if self.clock is not None else None

    def should_stop(self, iteration: int) -> bool:
        """Asked after each iteration: True when the fit should end here (:func:`patience_reached`); the iteration is
        then recorded (``stopped_early_at``) and the selection is final. Its only state is the selected iteration,
        which the checkpoint holds, so a resumed fit stops where an uninterrupted one does. A fit of several models
        at once asks each one's selector, stops scoring a model once its selector said True, and ends when all have."""
        if not patience_reached(iteration, self.iteration, self.patience, self.min_iterations):
            return False
        self.stopped_at = iteration
        return True

    def record(self, iteration: int) -> dict:
        """What selected the headline (``results.json`` ``selection``): the rule, the reported iteration, ``auto`` if
        the task chose the rule, the rule's settings, and the early stop (where, and why) if patience is set."""
        rec = {
            "method": self.method,
            "iteration": iteration,
            **({"requested": self.requested} if self.requested else {}),
            **self.settings,
        }
        if self.patience is not None:
            rec.update(patience=self.patience, min_iterations=self.min_iterations, stopped_early_at=self.stopped_at)
        if self.stopped_at is not None:
            rec["stop_reason"] = (
                f"no better {self.method} score in the {self.stopped_at - self.iteration} iterations after "
                f"iteration {self.iteration} (patience {self.patience}, min_iterations {self.min_iterations})"
            )
        return rec

    def state_dict(self) -> dict:
        return {"iteration": self.iteration, "score": self.score, "state": self.state, "seconds": self.seconds}

    def load_state_dict(self, saved: dict) -> None:
        self.iteration, self.score, self.state = saved["iteration"], saved["score"], saved["state"]
        self.seconds = saved.get("seconds")  # absent from checkpoints written before time to quality was recorded


class Final(Selector):
    """``select=final``: the last iteration (no score)."""

    method = "final"
    scores = False

    def __init__(self, task, obs, seed: int, patience: int | None = None, min_iterations: int = 0):
        if patience is not None:
            raise UserError(
                "select.patience needs a rule that scores (holdout, discrepancy); select=final has no score"
            )
        super().__init__(task, obs, seed)


def _every(every) -> int:
    every = int(every or 0)
    if every < 0:
        raise UserError(f"select.every must be >= 0 (0: only at eval_every), got {every}")
    return every


class Holdout(Selector):
    """``select=holdout``: ``fraction`` of the observed entries never train; the point with the lowest ``error`` on
    them is reported (module doc)."""

    method = "holdout"

    def __init__(
        self,
        task,
        obs,
        seed: int,
        fraction: Annotated[float, Interval(0, 1, open_lo=True, open_hi=True)],
        error: Literal[ERRORS],
        trim: Annotated[float, Interval(0, 1, open_hi=True)],
        every: Every,
        patience: int | None = None,
        min_iterations: int = 0,
    ):
        super().__init__(task, obs, seed, patience, min_iterations)
        if error not in ERRORS:
            raise UserError(f"select.error='{error}' is not one of {', '.join(ERRORS)}")
        self.error, self.trim, self.penalty = error, float(trim), task.penalty
        self.every = _every(every)
        self.holdout = holdout_mask(obs.known, float(fraction), obs.pixelwise, seed)
        self.train_mask = obs.known & ~self.holdout
        self.settings = {
            "fraction": fraction,
            "error": error,
            **({"trim": trim} if error == "trimmed" else {}),
            "every": every,
        }
        self._held = None

    def __call__(self, iteration, pred, target, model):
        if self._held is None:
            self._held = rows(self.holdout, target.device)
        score = holdout_error((pred - target)[self._held], self.penalty, self.error, self.trim)
        if score < self.score:
            self.keep(iteration, score, model)
        return score


class Discrepancy(Selector):
    """``select=discrepancy``: the first point whose median training residual reaches ``tau`` times the noise level
    estimated from the observation (module doc); the score logged is that median residual."""

    method = "discrepancy"

    def __init__(
        self, task, obs, seed: int, tau: Positive, every: Every, patience: int | None = None, min_iterations: int = 0
    ):
        super().__init__(task, obs, seed, patience, min_iterations)
        self.tau, self.every = float(tau), _every(every)
        self.level = noise_level(obs.values, obs.known)
        self.settings = {"tau": tau, "every": every}
        self._train = None

    def __call__(self, iteration, pred, target, model):
        if self._train is None:
            self._train = rows(self.train_mask, target.device)
        residual = (pred - target)[self._train]
        score = float(residual.abs().median())
        if self.iteration is None and discrepancy_reached(residual, self.level, self.tau):
            self.keep(iteration, score, model)
        return score


RULES = {rule.method: rule for rule in (Final, Holdout, Discrepancy)}


@forwards(*RULES.values())
def auto(task, obs, seed: int, **settings) -> Selector:
    """``select=auto``: the task's own rule (``task.select``) with those of ``settings`` that it takes."""
    rule = RULES.get(task.select)
    if rule is None:
        raise UserError(f"task.select='{task.select}' is not one of {', '.join(RULES)}")
    takes = inspect.signature(rule).parameters
    selector = rule(task, obs, seed, **{k: v for k, v in settings.items() if k in takes})
    selector.requested = "auto"
    return selector
