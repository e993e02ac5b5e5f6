"""Resumable fits: the training state on disk, and SIGTERM or USR2 (SLURM preemption, submitit's requeue) as
"checkpoint, then do what the signal would have done".

A checkpoint holds everything that decides the next iteration: model, optimiser and scheduler state, every
random number generator (python, numpy, torch CPU/CUDA and the fit's mini-batch generator), the iteration,
the history so far, the selection rule's state and the caller's ``extra`` state. It is written atomically
(``files.atomic_path``), so a kill at any moment leaves the previous checkpoint or the new one, never a torn file.
A fit resumed from it continues the same trajectory as an uninterrupted one (bit-identical on CPU).
"""
from __future__ import annotations

import logging
import os
import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from inr_recover.errors import UserError
from inr_recover.run.files import atomic_path

FORMAT = 2  # 2: the selector's and the optimiser's state as their own state_dicts
log = logging.getLogger("inr_recover")


def rng_state(gen: torch.Generator) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None, "generator": gen.get_state()}


def set_rng_state(state: dict, gen: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen.set_state(state["generator"])


@dataclass
class Checkpoint:
    """Where and how often a fit saves its state. ``meta`` (e.g. a config fingerprint) must be the same on resume:
    resuming a different experiment's state would silently mix two runs. ``extra`` is the caller's own state (a
    dict), saved with the fit's and restored into it in place."""

    path: Path
    every: int  # save every N iterations; 0: only on Ctrl-C and SIGTERM
    meta: object = None
    extra: dict | None = None

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({"format": FORMAT, "meta": self.meta, **state, "extra": self.extra}, tmp)

    def load(self) -> dict | None:
        """The saved state, or None when there is none; restores ``extra`` in place."""
        path = Path(self.path)
        if not path.is_file():
            return None
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("format") != FORMAT or state.get("meta") != self.meta:
            raise UserError(f"{path} was written by a different configuration; remove it or use a new output directory")
        if self.extra is not None:
            self.extra.clear()
            self.extra.update(state["extra"])
        return state


def requeue_signal() -> int:
    """The signal submitit turns into "checkpoint and requeue": USR2, or the one ``SUBMITIT_PREEMPT_SIGNAL`` names
    (submitit's ``JobEnvironment.USR_SIG``). SLURM sends it ``signal_delay_s`` before the time limit and, on
    preemption, after SIGTERM."""
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), signal.SIGUSR2)


class StopOnSigterm:
    """While active, SIGTERM and the requeue signal (:func:`requeue_signal`) set :attr:`signum` instead of acting at
    once, so the loop can checkpoint at the end of the current iteration and then :meth:`handoff` the signal to what
    it would have done: the handler installed before (under submitit: USR2 requeues the job and exits, SIGTERM is
    logged and training goes on until USR2), else exit with 128 + signal, as its default action ends the process.
    A no-op outside the main thread (signals go there only)."""

    def __init__(self):
        self.signum = None
        self._prev = {}

    def _handle(self, signum, frame):
        self.signum = signum

    def install(self) -> "StopOnSigterm":
        if threading.current_thread() is threading.main_thread():
            self._prev = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, requeue_signal())}
        return self

    def restore(self) -> None:
        for s, handler in self._prev.items():
            signal.signal(s, handler)
        self._prev = {}

    def handoff(self) -> None:
        """After the checkpoint: the caught signal goes on to the previous handler, or ends the process (class doc)."""
        signum, self.signum = self.signum, None
        previous = self._prev.get(signum)
        log.warning("%s: training state checkpointed; %s", signal.Signals(signum).name,
                    "handing the signal to the handler installed before" if callable(previous) else "exiting")
        if callable(previous):
            previous(signum, None)
        elif previous is not signal.SIG_IGN:
            raise SystemExit(128 + signum)
