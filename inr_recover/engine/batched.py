"""K fits of one method (K seeds, or K learning rates) trained as one vmapped model in one process.

Each member is an ordinary :class:`~inr_recover.engine.fit.Trainer`: its own model, selection rule (its own holdout from
its own seed), optimiser, schedule, gradient clipping, checkpoint, history and oracle diagnostic. Only the update is
shared (:meth:`Group.step`): the members' parameters are stacked and evaluated with ``vmap(functional_call)``, so
one forward and one backward serve all K; member k's loss is its own (:meth:`Trainer.objective`, the
single-model loss) on its slice of the output; the group minimises the sum, so each member's gradient is that of its
own loss; then each member's :class:`~inr_recover.engine.optim.Updater` clips and applies its own update. Results equal
K separate fits up to floating-point summation order (batched matmuls).

A member leaves the group when its fit is done (a member resumed from a later checkpoint waits until the group
reaches it); the group ends when all have. Which methods: an INR whose training is its plain forward
(:func:`unbatchable`: no ``setup``, ``training_forward``, ``regularization`` or ``predict`` hook).
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, vmap

from inr_recover.engine.fit import FitResult, Trainer, input_gradients, train
from inr_recover.errors import UserError
from inr_recover.models.base import INR

HOOKS = ("setup", "training_forward", "regularization", "predict")


def unbatchable(cls: type) -> str | None:
    """Why members of class ``cls`` cannot share a vmapped model (None: they can): a method without a training loop,
    or one whose fit goes beyond its forward (a hook of :class:`~inr_recover.models.base.INR`: data-dependent setup,
    a training-only forward, a regulariser, its own inference)."""
    if not (isinstance(cls, type) and issubclass(cls, INR)):
        return f"{getattr(cls, '__name__', cls)} has no training loop"
    hooked = [h for h in HOOKS if getattr(cls, h) is not getattr(INR, h)]
    if hooked:
        return f"{cls.__name__} overrides {', '.join(hooked)}"
    return None


def refusal(models: list) -> str | None:
    """Why ``models`` cannot be one vmapped model (None: they can): not one batchable class, or parameters and
    buffers of different names or shapes."""
    if not models:
        return "a batched group needs at least one member"
    kinds = {type(m) for m in models}
    if len(kinds) != 1:
        return f"a batched group stacks copies of one method, got {', '.join(sorted(k.__name__ for k in kinds))}"
    reason = unbatchable(kinds.pop())
    if reason is not None:
        return reason
    shapes = {tuple((n, tuple(t.shape)) for n, t in (*m.named_parameters(), *m.named_buffers())) for m in models}
    if len(shapes) != 1:
        return "the members' models differ in their parameters' shapes"
    return None


def _stacked(members: list[Trainer], named: str) -> dict:
    """The members' parameters (``named="named_parameters"``) or buffers, each name stacked along a new dim 0."""
    per = [dict(getattr(t.model, named)()) for t in members]
    return {n: torch.stack([d[n] for d in per]) for n in per[0]}


class Group:
    """The members' shared update (:meth:`step`), run by the one training loop (:meth:`run`)."""

    def __init__(self, trainers: list[Trainer]):
        reason = refusal([t.model for t in trainers])
        if reason is not None:
            raise UserError(f"{reason}: run the members as separate jobs (batch=none)")
        if len({t.obs.grid for t in trainers}) != 1:
            raise UserError("the members of a batched group must share one sample grid")
        self.trainers = trainers
        self.base = copy.deepcopy(trainers[0].model)  # a shell: functional_call swaps in the stacked tensors

    def step(self, members: list[Trainer]) -> list[torch.Tensor]:
        """One update of each of ``members`` on its own batch (:meth:`Trainer.batch`); returns their losses."""
        batches = [t.batch() for t in members]
        grads = members[0].task.input_gradients  # a loss term in d f / d x: each member differentiates its own inputs
        shared = members[0].batch_size is None and not grads  # full batch: every member's inputs are the measurement's
        inputs = batches[0].inputs if shared else torch.stack([b.inputs for b in batches])
        if grads:
            inputs = inputs.detach().requires_grad_(True)
        forward = vmap(lambda p, b, x: functional_call(self.base, (p, b), (x,)), in_dims=(0, 0, None if shared else 0))
        out = forward(_stacked(members, "named_parameters"), _stacked(members, "named_buffers"), inputs)
        gradients = input_gradients(out, inputs) if grads else [None] * len(members)
        losses = [t.objective(o, batch, g) for t, o, batch, g in zip(members, out, batches, gradients)]
        for t in members:
            t.updater.optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        for t in members:
            t.updater.apply()
        return losses

    def run(self, progress: bool | None = None) -> list[FitResult | UserError]:
        """The members trained by the one training loop (:func:`inr_recover.engine.fit.train`), each update one
        :meth:`step` of those not yet done: memory checked for the group, checkpoints, signals, early stopping and
        records as for a single fit; a member whose fit fails leaves the group with its error in place of a result."""
        return train(self.trainers, self.step, progress)


def fit_group(trainers: list[Trainer], progress: bool | None = None) -> list[FitResult | UserError]:
    """Train the members together (module doc); returns each member's :class:`FitResult` as its own fit would (or
    the error that ended it)."""
    return Group(trainers).run(progress)
