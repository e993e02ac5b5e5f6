"""The one training loop every method uses.

``fit`` receives an :class:`~inr_recover.measure.observation.Observation` (observed values and the mask of known
entries) and never the clean tensor. What it reports is chosen from data the model could see, by the selection
rule it is handed (:mod:`inr_recover.engine.select`): the last iteration, or the scoring point with the lowest error on
observed entries kept out of the loss (the rule's ``train_mask``).

Each step minimises the task's data term on the model's output seen through the observation's forward operator
plus the model's regulariser, ``L = sum(w * rho(A(f(x)) - y)) / numel + R`` (:meth:`Trainer.loss`; ``A`` the identity
unless the observation is e.g. downsampled; or another of the task's losses), with the optimiser and schedule of
:class:`~inr_recover.engine.optim.Optim`. The loss sees the data on the task's range (``task.encode``: ``2 y - 1`` for
[-1, 1]); every prediction is mapped back to [0, 1] (``task.decode``) before selection, ``on_eval`` and the result.
``on_eval`` lets the caller look at intermediate predictions (training curves,
the oracle diagnostic); its return value is ignored, so nothing it computes can steer the fit.

``checkpoint`` (:class:`~inr_recover.run.checkpoint.Checkpoint`) makes the fit resumable: the state is saved every
``checkpoint.every`` iterations, on Ctrl-C, and on SIGTERM or submitit's requeue signal USR2 (then the signal goes on
to what it would have done: exit with 128 + signal, or submitit's requeue;
:class:`~inr_recover.run.checkpoint.StopOnSigterm`),
and a fit started while the checkpoint exists continues from it. ``memory_limit`` stops a fit that would not fit in
memory before it starts (:meth:`Trainer.check_memory`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inr_recover.engine import memory
from inr_recover.engine.optim import Optim
from inr_recover.engine.select import Selector
from inr_recover.errors import UserError
from inr_recover.measure.measurements import Batch
from inr_recover.measure.observation import Observation
from inr_recover.run import checkpoint as ckpt
from inr_recover.tasks.base import Task

log = logging.getLogger("inr_recover")

# optim.iterations=0 is a run of its own kind: the observation saved and the untrained network scored (tools/official)
INIT_ONLY = "initialisation only (optim.iterations=0): the untrained network's output, not a fit"
HISTORY = ("iteration", "seconds", "loss", "lr", "holdout")  # the columns recorded at each evaluation point


@dataclass
class FitResult:
    prediction: np.ndarray  # (*grid, C) model output at the selected iteration
    selected_iteration: int
    iterations: int  # iterations actually run
    train_seconds: float
    selection: dict  # the selection rule's record (results.json `selection`)
    history: dict = field(default_factory=dict)
    interrupted: bool = False
    holdout: np.ndarray | None = None
    memory: dict = field(default_factory=dict)  # the memory check's record (inr_recover/engine/memory.py)
    seconds_to_selected: float | None = None  # training seconds when the selected iteration was reached


class Trainer:
    """One fit, stage by stage: :meth:`restore` (continue from a checkpoint), :meth:`step` (one update),
    :meth:`evaluate` (history, selection score, ``on_eval``), :meth:`save_checkpoint`, :meth:`finish` (the selected
    state's prediction). :meth:`run` is the loop that calls them."""

    def __init__(
        self,
        model,
        obs: Observation,
        task: Task,
        optim: Optim,
        selector: Selector,
        *,
        device="cpu",
        seed: int = 0,
        eval_every: int = 100,
        batch_size: int | None = None,
        eval_chunk: int | None = 262144,
        on_eval=None,
        checkpoint: ckpt.Checkpoint | None = None,
        memory_limit=None,
        compile: bool = False,
    ):
        if not isinstance(obs, Observation):
            raise TypeError("fit() takes an Observation")
        self.model, self.obs, self.task, self.optim, self.selector = model, obs, task, optim, selector
        self.device = torch.device(device)
        task.trains()
        # what the loss sees (targets on the task's range, held-out entries weighing 0) and selection scores against
        self.measure = obs.measurement(selector.train_mask, task.encode, self.device)
        if task.range != (0.0, 1.0) and model.sigmoid_output():
            raise UserError(
                f"{type(model).__name__} ends in a sigmoid (outputs in (0, 1)); it cannot train on "
                f"task.range={list(task.range)}: use task.range=[0,1]"
            )
        task.check_model(model)
        model.to(self.device).train()
        model.setup(obs.restricted(selector.train_mask), self.measure.inputs)  # held-out entries stay unseen
        if compile:  # torch.compile of the model's forward, in place: its state_dict (and checkpoints) keep their keys
            model.compile()
        self.updater = optim.build(model.parameters())
        self.batch_size = self.measure.batch_size(batch_size)
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.eval_every, self.eval_chunk, self.on_eval, self.checkpoint = eval_every, eval_chunk, on_eval, checkpoint
        self.memory_limit, self.memory = memory_limit, {}
        self.history = {k: [] for k in HISTORY}
        self.pending = []  # training losses since the last evaluation point
        self.done, self.elapsed, self.interrupted = 0, 0.0, False
        self.t0 = time.perf_counter()
        self.bar = None
        selector.clock = self.seconds  # time to quality: the selector notes when it selects

    def seconds(self) -> float:
        """Training time so far, across resumes (time to quality)."""
        return self.elapsed + time.perf_counter() - self.t0

    def check_memory(self, members: int = 1) -> dict:
        """Stop before training when the fit's estimated peak memory exceeds ``memory_limit`` (GiB, or ``auto``: what
        is available; None: no check), naming a ``batch_size`` / ``eval_chunk`` that fits
        (:mod:`inr_recover.engine.memory`);
        ``members``: this fit is one of that many trained as one vmapped model (:meth:`memory.Estimate.group`).
        The probe is the training loss on a prefix of the rows; for a measurement of the whole grid (super-resolution)
        it is the network's training forward on a prefix: the operator's own tensors (images of the grid's size) are
        small beside the network's activations."""
        m = self.measure
        if self.memory_limit is None:
            return {}
        probe = (lambda n: self.loss(m.first(n))) if m.per_row else (lambda n: self.model(m.inputs[:n]).square().sum())
        est = memory.estimate(
            self.model,
            probe,
            self.optim.optimizer,
            [m.inputs, m.values, m.weights],
            m.inputs.shape[0],
            m.inputs.shape[0] * self.obs.channels,
            self.device,
        )
        limit, batchable = self.memory_limit, m.per_row
        return memory.check(est.group(members), self.batch_size, self.eval_chunk, limit, self.device, batchable)

    def restore(self) -> None:
        """Continue from the checkpoint, if there is one: everything that decides the next iteration."""
        saved = self.checkpoint.load() if self.checkpoint else None
        if saved is None:
            return
        if saved.get("device", str(self.device)) != str(self.device):  # the device is not part of the config's identity
            log.info("the checkpoint was written on %s and goes on on %s (the config fingerprint leaves the device "
                     "out: a requeued job may land on another node)", saved["device"], self.device)
        self.model.load_state_dict(saved["model"])
        self.updater.load_state_dict(saved)
        ckpt.set_rng_state(saved["rng"], self.gen)
        self.done, self.elapsed, self.history = saved["iteration"], saved["train_seconds"], saved["history"]
        self.selector.load_state_dict(saved["selected"])
        self.pending = [torch.tensor(v, device=self.device) for v in saved["pending"]]  # stacked with new losses

    def save_checkpoint(self) -> None:
        self.checkpoint.save(
            {
                "iteration": self.done,
                "model": self.model.state_dict(),
                **self.updater.state_dict(),
                "rng": ckpt.rng_state(self.gen),
                "train_seconds": self.seconds(),
                "history": self.history,
                "selected": self.selector.state_dict(),
                "pending": [float(v) for v in self.pending],
                "device": str(self.device),
            }
        )

    def batch(self) -> Batch:
        """One step's batch of the measurement: all of it, or a random mini-batch of ``batch_size`` rows."""
        return self.measure.sample(self.gen, self.batch_size)

    def objective(self, output: torch.Tensor, batch: Batch, gradients: torch.Tensor | None = None) -> torch.Tensor:
        """``L = sum(w * rho(A(f(x)) - y)) / numel + G + R`` of the model's output on ``batch``: the task's data term
        (:mod:`inr_recover.tasks.losses`) seen through the measurement's operator ``A`` (:meth:`Measurement.apply`;
        the model's loss groups for ``group_fro``), the task's term ``G`` in the output's ``gradients`` with respect to
        the inputs (task=sdf ``task.eikonal``; None: none) and the model's regulariser ``R``. The one loss of a single
        fit (:meth:`loss`) and of each member of a batched group (:meth:`inr_recover.engine.batched.Group.step`)."""
        loss = self.task.loss_fn(
            self.measure.apply(output, batch), batch.targets, batch.weights, self.model.loss_groups(batch.inputs)
        )
        if gradients is not None:
            loss = loss + self.task.gradient_term(gradients)
        reg = self.model.regularization()
        if not isinstance(reg, float) or reg != 0.0:
            loss = loss + reg
        return loss

    def loss(self, batch: Batch) -> torch.Tensor:
        """:meth:`objective` of the model's training forward on ``batch``."""
        inputs = batch.inputs.detach().requires_grad_(True) if self.task.input_gradients else batch.inputs
        output = self.model.training_forward(inputs, batch.targets)
        return self.objective(output, batch, input_gradients(output, inputs) if self.task.input_gradients else None)

    def step(self) -> torch.Tensor:
        """One update on one batch; returns its loss."""
        loss = self.loss(self.batch())
        self.updater.step(loss)
        return loss

    def score(self, iteration: int) -> tuple:
        """A scoring point: the selection rule scores the prediction as observed (``A(f)`` against ``y``) and keeps the
        model state it selects. Returns (flat prediction, score); (None, None) when nothing would look at the
        prediction (a rule without a score and no ``on_eval``): an evaluation of view synthesis renders every ray."""
        if not self.selector.scores and self.on_eval is None:
            return None, None
        pred = self.task.decode(self.measure.predict(self.model, self.eval_chunk))
        return pred, self.selector(iteration, self.measure.measured(pred), self.measure.values, self.model)

    def evaluate(self, iteration: int) -> None:
        """An evaluation point: mean training loss since the previous one, time and learning rate into the history,
        a scoring point, and the caller's ``on_eval``."""
        losses = torch.stack(self.pending).cpu().tolist()
        self.pending.clear()
        h = self.history
        h["iteration"].append(iteration)
        h["seconds"].append(self.seconds())
        h["loss"].append(float(np.mean(losses)))
        h["lr"].append(self.updater.lr)
        pred, score = self.score(iteration)
        if score is not None:
            h["holdout"].append(score)
        if self.on_eval is not None:
            self.on_eval(iteration, pred.reshape(*self.obs.grid, self.obs.channels).cpu().numpy())
        self.bar.set_postfix(
            loss=f"{losses[-1]:.4g}", **({"select": f"{h['holdout'][-1]:.4g}"} if h["holdout"] else {})
        )
        if not math.isfinite(losses[-1]):
            raise UserError(
                f"the loss became {losses[-1]} at iteration {iteration}; lower optim.lr or enable optim.grad_clip"
            )

    def record(self, iteration: int, loss: torch.Tensor) -> None:
        """After the update of ``iteration``: its loss into the pending history, then an evaluation point every
        ``eval_every`` (and at the end), else a selection-only scoring point every ``selector.every``."""
        self.done = iteration
        self.pending.append(loss.detach())
        if iteration % self.eval_every == 0 or iteration == self.optim.iterations:
            self.evaluate(iteration)
        elif self.selector.every and iteration % self.selector.every == 0:
            self.score(iteration)

    def run(self, progress: bool | None = None) -> FitResult:
        """This fit alone: :func:`train` with one member whose update is :meth:`step`; a failure is raised."""
        (result,) = train([self], lambda members: [self.step()], progress)
        if isinstance(result, UserError):
            raise result
        return result

    def finish(self) -> FitResult:
        """The prediction of the selected model state (the last one when the rule selected none), and the iterations
        an early stop saved."""
        train_seconds = self.seconds()
        selected, seconds_to_selected = self.done, train_seconds
        if self.selector.state is not None:
            self.model.load_state_dict(self.selector.state)
            selected, seconds_to_selected = self.selector.iteration, self.selector.seconds
        final = self.task.decode(self.measure.predict(self.model, self.eval_chunk))
        final = final.reshape(*self.obs.grid, self.obs.channels).cpu().numpy()
        selection = self.selector.record(selected)
        if self.optim.iterations == 0:
            selection = {"method": "initialisation", "iteration": 0, "note": INIT_ONLY}
        if self.selector.stopped_at is not None:
            selection["iterations_saved"] = self.optim.iterations - self.done
        return FitResult(
            prediction=final,
            selected_iteration=selected,
            iterations=self.done,
            train_seconds=train_seconds,
            selection=selection,
            history=self.history,
            interrupted=self.interrupted,
            holdout=self.selector.holdout,
            memory=self.memory,
            seconds_to_selected=seconds_to_selected,
        )


def input_gradients(output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``d sum(f) / d x``: each output row's gradient with respect to its own input row (rows are independent), kept
    in the graph so a loss term in it trains the model."""
    return torch.autograd.grad(output.sum(), inputs, create_graph=True)[0]


def takes_part(member: Trainer, iteration: int) -> bool:
    """Whether ``member`` takes the update of ``iteration``: not once its fit is past it (resumed from a later
    checkpoint, or done), nor once its selector ended it (``select.patience``: :meth:`Selector.should_stop`, asked
    once after each iteration but the last); its prediction is then its selected state (:meth:`Trainer.finish`)."""
    done = member.done
    return done < iteration and not (0 < done < member.optim.iterations and member.selector.should_stop(done))


def train(members: list[Trainer], step, progress: bool | None = None) -> list[FitResult | UserError]:
    """The one training loop, for a single fit (:meth:`Trainer.run`) and for K fits trained as one model
    (:mod:`inr_recover.engine.batched`): ``step(active)`` updates the active members and returns their losses.

    The memory check (of all members together), then each member's restore; then iterations until every member is
    done (:func:`takes_part`), each one ``step`` of the active members, each recording its own loss and evaluation
    points (:meth:`Trainer.record`). Checkpoints of every member every ``checkpoint.every`` iterations, on Ctrl-C, and
    on SIGTERM or the requeue signal USR2, after which the signal is handed on (:meth:`StopOnSigterm.handoff`: exit,
    or submitit's requeue). A member whose fit fails (its loss became non-finite) leaves, with its error in place of
    a result; the others go on. Returns each member's :meth:`Trainer.finish`."""
    from tqdm.auto import tqdm

    record = members[0].check_memory(len(members))
    for t in members:
        t.memory = record
        t.restore()
    iterations = members[0].optim.iterations
    if iterations == 0:
        log.warning(INIT_ONLY)
    start = min(t.done for t in members)
    bar = tqdm(
        total=iterations,
        initial=start,
        disable=(not progress) if progress is not None else None,
        desc="fit" if len(members) == 1 else f"fit x{len(members)}",
        leave=False,
        dynamic_ncols=True,
    )
    for t in members:
        t.bar = bar if len(members) == 1 else tqdm(disable=True)  # a group's bar shows the progress
    saving = [t for t in members if t.checkpoint]
    stop = ckpt.StopOnSigterm().install() if saving else None
    failed, stage = {}, "training step"
    try:
        for it in range(start + 1, iterations + 1):
            active = [t for t in members if t not in failed and takes_part(t, it)]
            if not active:
                break
            stage = "training step"
            losses = step(active)
            stage = "evaluation"
            for t, loss in zip(active, losses):
                try:
                    t.record(it, loss)
                except UserError as e:
                    failed[t] = e
            bar.update(1)
            if stop is not None and (
                (saving[0].checkpoint.every and it % saving[0].checkpoint.every == 0) or stop.signum is not None
            ):
                for t in saving:
                    if t not in failed:
                        t.save_checkpoint()
                if stop.signum is not None:
                    stop.handoff()
    except KeyboardInterrupt:
        for t in members:
            t.interrupted = True
            if t.checkpoint and t not in failed:
                t.save_checkpoint()
    except torch.OutOfMemoryError as e:
        if stage == "training step":  # the update did not happen: each model is as its last iteration left it
            for t in saving:
                t.save_checkpoint()
        raise out_of_memory(members, stage, e) from None
    finally:
        bar.close()
        if stop is not None:
            stop.restore()
    try:
        return [failed[t] if t in failed else t.finish() for t in members]
    except torch.OutOfMemoryError as e:  # the fit is done: kept for a rerun with a smaller eval_chunk to finish
        for t in saving:
            t.save_checkpoint()
        raise out_of_memory(members, "final prediction", e) from None


def out_of_memory(members: list[Trainer], stage: str, error: Exception) -> UserError:
    """The one-line error of a fit that ran out of device memory in ``stage`` (the training step, an evaluation, the
    final prediction): the setting that lowers it, and the checkpoint kept."""
    t = members[0]
    asked = re.search(r"Tried to allocate [\d.]+ [KMGT]?i?B", str(error))
    if stage == "training step":
        lower = [f"batch_size (now {'null: every row' if t.batch_size is None else t.batch_size})"]
        if len(members) > 1:
            lower.append(f"the group size ({len(members)} members: fewer values per setting, or batch=none)")
    else:
        lower = [f"eval_chunk (now {t.eval_chunk})"]
    kept = [str(m.checkpoint.path) for m in members if m.checkpoint and Path(m.checkpoint.path).is_file()]
    return UserError(
        f"out of memory on {t.device} in the {stage} at iteration {max(m.done for m in members)}"
        f"{f' ({asked[0].lower()})' if asked else ''}: lower {' or '.join(lower)}"
        f"{f'; the checkpoint is kept: {kept[0]}' if kept else ''}"
    )


def solve(solver, obs: Observation) -> FitResult:
    """A method without a training loop (:class:`~inr_recover.models.base.Solver`): its prediction, timed, recorded
    as iteration 0 (there is nothing to select from)."""
    t0 = time.perf_counter()
    prediction = np.asarray(solver.solve(obs), dtype=np.float32).reshape(*obs.grid, obs.channels)
    seconds = time.perf_counter() - t0
    return FitResult(
        prediction=prediction,
        selected_iteration=0,
        iterations=0,
        train_seconds=seconds,
        selection={"method": "final", "iteration": 0, "note": "no training loop: nothing to select"},
        history={k: [] for k in HISTORY},
        seconds_to_selected=seconds,
    )


def fit(
    model,
    obs: Observation,
    task: Task,
    optim: Optim,
    selector: Selector,
    *,
    device="cpu",
    seed: int = 0,
    eval_every: int = 100,
    batch_size: int | None = None,
    eval_chunk: int | None = 262144,
    progress: bool | None = None,
    on_eval=None,
    checkpoint: ckpt.Checkpoint | None = None,
    memory_limit=None,
) -> FitResult:
    """Train ``model`` on ``obs`` under ``task`` and return the selected prediction (module doc)."""
    return Trainer(
        model,
        obs,
        task,
        optim,
        selector,
        device=device,
        seed=seed,
        eval_every=eval_every,
        batch_size=batch_size,
        eval_chunk=eval_chunk,
        on_eval=on_eval,
        checkpoint=checkpoint,
        memory_limit=memory_limit,
    ).run(progress)
