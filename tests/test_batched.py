"""K seeds as one vmapped model (inr_recover/batched.py): same training as K separate fits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inr_recover.batched import clip_per_model_, fit_batched
from inr_recover.data.builtin import synthetic
from inr_recover.degrade import RandomMissing, degrade
from inr_recover.errors import UserError
from inr_recover.fit import fit
from inr_recover.models.choir import CHOIR
from inr_recover.select import Final
from inr_recover.tasks import Task

from conftest import make_optim

OPTIM = make_optim("optim.lr=3e-3", "optim.weight_decay=1e-5", "optim.iterations=25", "scheduler.eta_min=1e-6", "optim.grad_clip=0.05")


def _obs():
    return degrade(synthetic("s", shape=[16, 16, 3], kind="smooth").values, [RandomMissing(0.3)], seed=0)


def _model(seed, grid):
    torch.manual_seed(seed)
    return CHOIR(2, 3, grid, width=16, depth=2)


def test_clip_per_model_matches_clip_grad_norm():
    g = [torch.randn(3, 5, 4), torch.randn(3, 4)]
    ref = [[x[k].clone() for x in g] for k in range(3)]
    clip_per_model_(g, 1.0)
    for k in range(3):
        ps = [torch.nn.Parameter(torch.zeros_like(x)) for x in ref[k]]
        for p, x in zip(ps, ref[k]):
            p.grad = x
        torch.nn.utils.clip_grad_norm_(ps, 1.0)
        for p, x in zip(ps, g):
            torch.testing.assert_close(x[k], p.grad)


def test_three_seeds_batched_equal_three_separate_fits():
    """Clipping is active (small max norm) and the seeds differ, so a shared norm or mixed-up slices would show."""
    obs = _obs()
    batched = fit_batched([_model(s, obs.grid) for s in (0, 1, 2)], obs, Task("complete"), OPTIM)
    assert batched.shape == (3, 16, 16, 3)
    for k, s in enumerate((0, 1, 2)):
        ref = fit(_model(s, obs.grid), obs, Task("complete"), OPTIM, Final(Task("complete"), obs, 0), eval_every=1000).prediction
        np.testing.assert_allclose(batched[k], ref, atol=2e-5)
    assert np.abs(batched[0] - batched[1]).max() > 1e-2  # different seeds, different fits


def test_hooked_models_are_refused():
    class Hooked(CHOIR):
        def regularization(self):
            return 0.0

    obs = _obs()
    with pytest.raises(UserError, match="overrides regularization"):
        fit_batched([Hooked(2, 3, obs.grid, width=8, depth=1)], obs, Task("complete"), OPTIM)
