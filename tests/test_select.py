"""Selection rules (inr_recover/engine/select.py): their errors and noise level against direct formulas, what each
keeps, select=auto per task, and honest selection on real noisy data."""

import math

import numpy as np
import pytest
import torch
from conftest import compose_config, full_observation, make_optim, shared_file

from inr_recover.data import load_file
from inr_recover.data.builtin import synthetic
from inr_recover.engine.fit import fit
from inr_recover.engine.select import (
    Discrepancy,
    Final,
    Holdout,
    auto,
    discrepancy_reached,
    holdout_error,
    holdout_mask,
    noise_level,
    patience_reached,
)
from inr_recover.errors import UserError
from inr_recover.measure import metrics as M
from inr_recover.measure.degrade import Gaussian, RandomMissing, SaltPepper, Stripes, TubeMissing, degrade
from inr_recover.measure.domain import Domain
from inr_recover.models.choir import CHOIR
from inr_recover.tasks.entries import Recovery


def optim(iterations):
    return make_optim(
        "optim.lr=3e-3",
        "optim.weight_decay=0",
        f"optim.iterations={iterations}",
        "scheduler.eta_min=1e-6",
        "optim.grad_clip=1.0",
    )


SETTINGS = dict(fraction=0.05, error="trimmed", trim=0.1, tau=1.0, every=25)  # conf/select/auto.yaml
RESTORE_PATIENCE, RESTORE_MIN_ITERATIONS = (
    300,
    500,
)  # conf/task/restore.yaml (measured: docs/selection.md "Early stopping")


def test_holdout_errors_match_direct_formulas():
    r = torch.tensor([0.1, -0.2, 0.3, -0.4, 5.0])
    assert holdout_error(r, Recovery("x").penalty, "penalty") == pytest.approx((0.1 + 0.2 + 0.3 + 0.4 + 5.0) / 5)
    assert holdout_error(r, None, "l1") == pytest.approx(6.0 / 5)
    assert holdout_error(r, None, "l2") == pytest.approx((0.01 + 0.04 + 0.09 + 0.16 + 25.0) / 5)
    assert holdout_error(r, None, "median") == pytest.approx(0.3)
    # trim 0.2 of 5 entries: ceil(0.8 * 5) = 4 smallest |r| kept, the impulse-like 5.0 is dropped
    assert holdout_error(r, None, "trimmed", trim=0.2) == pytest.approx((0.1 + 0.2 + 0.3 + 0.4) / 4)
    assert holdout_error(r, Recovery("x", loss="huber", huber_delta=0.1).penalty, "penalty") == pytest.approx(
        (0.5 * 0.01 + 0.1 * (0.2 - 0.05) + 0.1 * (0.3 - 0.05) + 0.1 * (0.4 - 0.05) + 0.1 * (5.0 - 0.05)) / 5
    )


@pytest.mark.parametrize("bad", [dict(kind="mean"), dict(kind="trimmed", trim=1.0)])
def test_holdout_error_rejects_bad_options(bad):
    with pytest.raises(UserError):
        holdout_error(torch.ones(3), None, **bad)


def test_holdout_mask_exact_and_pixelwise():
    known = np.zeros((20, 20, 3), bool)
    known[::2] = True  # 200 observed pixels, all bands
    h = holdout_mask(known, 0.05, pixelwise=True, seed=0)
    assert h.all(-1).sum() == 10 and np.array_equal(h.all(-1), h.any(-1))
    assert not (h & ~known).any()
    e = holdout_mask(known, 0.05, pixelwise=False, seed=0)
    assert e.sum() == 30 and not np.array_equal(e.all(-1), e.any(-1))


def test_tube_holdout_uses_whole_pixels():
    sig = synthetic("s", shape=[16, 16, 4])
    obs = degrade(sig.values, [TubeMissing(0.5)], seed=0)
    h = holdout_mask(obs.known, 0.1, obs.pixelwise, seed=0)
    assert np.array_equal(h.all(-1), h.any(-1)) and h.all(-1).sum() == round(0.1 * 128)


def test_noise_level_estimates_gaussian_median_abs():
    """On a smooth signal plus N(0, s^2), the estimate is median|n| = 0.6745 s (within 3%), even with 10% of
    the entries missing; impulses on 2% of entries move it by < 10%."""
    sig = synthetic("s", shape=[96, 96, 8], kind="smooth").values * 0.5 + 0.25
    rng = np.random.default_rng(0)
    noisy = (sig + rng.normal(0, 0.05, sig.shape)).astype(np.float32)
    known = rng.random(sig.shape) > 0.1
    expected = 0.6745 * 0.05
    assert noise_level(noisy, known) == pytest.approx(expected, rel=0.03)
    obs = degrade(noisy, [SaltPepper(0.02)], seed=1)
    assert noise_level(obs.values, known) == pytest.approx(expected, rel=0.1)
    with pytest.raises(UserError):
        noise_level(noisy[:1, :1, :1], known[:1, :1, :1])


def test_discrepancy_rule_on_residuals():
    r = torch.tensor([0.125, -0.125, 0.375, 0.5, -0.0625])  # median |r| = 0.125
    assert discrepancy_reached(r, 0.125) and not discrepancy_reached(r, 0.12)
    assert discrepancy_reached(r, 0.12, tau=1.1)


def test_auto_resolves_per_task():
    _, obs, _ = _noisy()
    assert auto(Recovery("restore", select="holdout"), obs, 0, **SETTINGS).method == "holdout"
    assert auto(Recovery("complete"), obs, 0, **SETTINGS).method == "final"
    explicit = compose_config("task=restore", "select=final").select
    assert (
        explicit._target_ == "inr_recover.engine.select.Final"
        and Final(Recovery("restore", select="holdout"), obs, 0).method == "final"
    )
    with pytest.raises(UserError):
        auto(Recovery("complete", select="best"), obs, 0, **SETTINGS)


def _noisy(seed=0):
    sig = synthetic("s", shape=[24, 24, 6], kind="smooth")
    obs = degrade(sig.values, [Gaussian(0.1), RandomMissing(0.9)], seed=0)
    torch.manual_seed(seed)
    return sig, obs, CHOIR(2, 6, Domain.of(obs), width=32, depth=2)


def test_discrepancy_selects_the_first_point_below_the_noise_level():
    sig, obs, model = _noisy()
    tau = 2.5
    task = Recovery("restore", data_consistency=False)
    r = fit(model, obs, task, optim(20), Discrepancy(task, obs, 0, tau=tau, every=0), eval_every=5)
    level = noise_level(obs.values, obs.known)
    med = r.history["holdout"]  # the median training residual at each evaluation point
    hits = [it for it, m in zip(r.history["iteration"], med) if m <= tau * level]
    assert r.selection["method"] == "discrepancy" and r.holdout is None and len(med) == 4
    assert hits and r.selected_iteration == hits[0] < 20
    resid = np.median(np.abs(r.prediction - obs.values)[obs.known])
    assert resid == pytest.approx(
        med[r.history["iteration"].index(r.selected_iteration)], rel=1e-3
    )  # torch: lower median


def test_selector_keeps_the_state_of_the_best_point():
    _, obs, model = _noisy()
    sel = Holdout(Recovery("restore"), obs, 0, fraction=0.1, error="l1", trim=0.1, every=0)
    target = torch.from_numpy(obs.values.reshape(-1, 6))
    good, bad = target.clone(), target + 1.0
    assert sel(10, bad, target, model) == pytest.approx(1.0)
    first = {k: v.clone() for k, v in sel.state.items()}
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert sel(20, good, target, model) == 0.0 and sel.iteration == 20
    assert sel(30, bad, target, model) == pytest.approx(1.0) and sel.iteration == 20
    assert not torch.equal(sel.state[next(iter(first))], first[next(iter(first))])
    assert Final(Recovery("complete"), obs, 0)(5, good, target, model) is None
    assert math.isinf(Final(Recovery("complete"), obs, 0).score)


class Scored(Holdout):
    """The holdout rule, remembering the score of every point it was asked to score."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.scores = {}

    def __call__(self, iteration, pred, target, model):
        self.scores[iteration] = super().__call__(iteration, pred, target, model)
        return self.scores[iteration]


@pytest.mark.parametrize("every,scored", [(5, [5, 10, 15, 20, 25, 30, 35, 40]), (0, [40])])
def test_select_every_scores_between_evaluation_points(every, scored):
    """With eval_every=40 and select.every=5 the holdout is scored every 5 iterations (only at 40 with every=0); the
    history logs the evaluation point only; the reported prediction is the model state at the best scored point.
    On pure noise about mid-grey the best estimate is the mean and fitting the noise makes the holdout worse, so the
    best point lies between evaluation points (measured: iteration 25, 1.3% below iteration 40's error)."""
    obs = full_observation(np.float32(0.5) + np.random.default_rng(0).normal(0, 0.1, (16, 16, 4)).astype(np.float32))
    torch.manual_seed(0)
    model = CHOIR(2, 4, Domain.of(obs), width=32, depth=2)
    seen = {}
    task = Recovery("restore", data_consistency=False)
    sel = Scored(task, obs, 0, fraction=0.1, error="l1", trim=0.1, every=every)
    adam = make_optim("optim.lr=1e-2", "optim.weight_decay=0", "optim.iterations=40", "optim.grad_clip=1.0")
    r = fit(model, obs, task, adam, sel, eval_every=40, on_eval=lambda i, p: seen.setdefault(i, p))
    assert list(seen) == [40] and list(sel.scores) == scored and r.history["holdout"] == [sel.scores[40]]
    assert r.selected_iteration == min(sel.scores, key=sel.scores.get)
    assert (r.selected_iteration != 40) == bool(every)
    err = np.abs(r.prediction - obs.values)[r.holdout].mean()
    assert err == pytest.approx(min(sel.scores.values()), rel=1e-5)


def test_select_every_must_not_be_negative():
    _, obs, _ = _noisy()
    with pytest.raises(UserError, match="select.every must be >= 0"):
        Holdout(Recovery("restore"), obs, 0, fraction=0.05, error="trimmed", trim=0.1, every=-1)


def test_patience_rule():
    """Stop at t once a point s is selected, t - s >= patience and t >= min_iterations; never with patience None."""
    assert not patience_reached(100, None, 10)  # nothing selected yet
    assert not patience_reached(19, 10, 10) and patience_reached(20, 10, 10)
    assert not patience_reached(20, 10, 10, min_iterations=21) and patience_reached(21, 10, 10, min_iterations=21)
    assert patience_reached(10, 10, 0) and not patience_reached(10**6, 10, None)


def test_should_stop_records_where_and_why():
    _, obs, model = _noisy()
    sel = Holdout(
        Recovery("restore"), obs, 0, fraction=0.1, error="l1", trim=0.1, every=0, patience=20, min_iterations=50
    )
    target = torch.from_numpy(obs.values.reshape(-1, 6))
    sel(10, target, target, model)
    assert not sel.should_stop(49) and sel.stopped_at is None
    assert sel.should_stop(50) and sel.stopped_at == 50
    rec = sel.record(10)
    assert rec["patience"] == 20 and rec["min_iterations"] == 50 and rec["stopped_early_at"] == 50
    assert (
        rec["stop_reason"]
        == "no better holdout score in the 40 iterations after iteration 10 (patience 20, min_iterations 50)"
    )
    assert "patience" not in Holdout(Recovery("restore"), obs, 0, fraction=0.1, error="l1", trim=0.1, every=0).record(5)


@pytest.mark.parametrize("bad", [dict(patience=-1), dict(patience=2.5), dict(patience=True), dict(min_iterations=None)])
def test_patience_rejects_bad_values(bad):
    _, obs, _ = _noisy()
    with pytest.raises(UserError, match="select.(patience|min_iterations)"):
        Holdout(Recovery("restore"), obs, 0, fraction=0.1, error="l1", trim=0.1, every=0, **bad)


def test_patience_defaults_per_task_and_needs_a_score():
    """``select.patience`` defaults to the task's measured value (on for restore, off for complete); select=final
    has no score to be patient about."""
    _, obs, _ = _noisy()
    restore, complete = compose_config("task=restore").select, compose_config("task=complete").select
    assert (restore.patience, restore.min_iterations) == (RESTORE_PATIENCE, RESTORE_MIN_ITERATIONS)
    assert complete.patience is None and complete.min_iterations == 0
    assert compose_config("task=restore", "select=holdout").select.patience == RESTORE_PATIENCE
    assert compose_config("task=restore", "select.patience=null").select.patience is None
    sel = auto(Recovery("restore", select="holdout"), obs, 0, **SETTINGS, patience=7, min_iterations=3)
    assert (sel.patience, sel.min_iterations) == (7, 3)
    with pytest.raises(UserError, match="select=final has no score"):
        auto(Recovery("complete"), obs, 0, **SETTINGS, patience=7, min_iterations=0)


# ---------------------------------------------------------------- honest selection on real noisy data


def _scene3_on_cloth(size: int, iterations: int, width: int, eval_every: int, select: dict):
    """CHOIR (code defaults but ``width``) restoring Scene 3 (blind impulses) on the CAVE cloth cube resized to
    ``size`` x ``size`` x 31; returns (headline PSNR, oracle peak PSNR, selected iteration)."""
    sig = load_file(
        "cave_cloth",
        path=str(shared_file("msi/cave_cloth_256x256x31.mat")),
        key="Omsi",
        axes="HWC",
        resize=[size, size],
    )
    obs = degrade(sig.values, [Gaussian(0.2), SaltPepper(0.1, known=False), Stripes(0.03)], seed=0)
    torch.manual_seed(0)
    model = CHOIR(2, 31, Domain.of(obs), width=width)
    curve = []
    adam = make_optim(
        "optim.lr=3e-3",
        "optim.weight_decay=1e-5",
        f"optim.iterations={iterations}",
        "scheduler.eta_min=1e-6",
        "optim.grad_clip=1.0",
    )
    task = Recovery("restore", data_consistency=False, select="holdout")
    r = fit(
        model,
        obs,
        task,
        adam,
        Holdout(task, obs, 0, **select),
        eval_every=eval_every,
        on_eval=lambda i, p: curve.append(M.psnr(sig.values, np.clip(p, 0, 1))),
    )
    return M.psnr(sig.values, np.clip(r.prediction, 0, 1)), max(curve), r.selected_iteration


def test_honest_selection_keeps_the_oracle_gain_on_scene3_small():
    """32x32x31 cloth, width 32, 200 iterations. Measured (2-core CPU): honest 22.74 dB at iteration 160, oracle
    peak 22.75; with the plain L1 holdout error the impulses pull the choice to iteration 40 (21.25 dB)."""
    honest, oracle, it = _scene3_on_cloth(
        32, 200, 32, 10, {"fraction": 0.05, "error": "trimmed", "trim": 0.1, "every": 0}
    )
    assert oracle - honest <= 0.5 and honest >= 22.0, (honest, oracle, it)


@pytest.mark.slow
def test_honest_selection_keeps_the_oracle_gain_on_scene3_64():
    """64x64x31 cloth, width 64, 300 iterations (issue 8's bar at a CI size). Measured (2-core CPU, 27 s):
    honest 23.40 dB at iteration 180, oracle peak 23.41."""
    honest, oracle, it = _scene3_on_cloth(
        64, 300, 64, 10, {"fraction": 0.05, "error": "trimmed", "trim": 0.1, "every": 0}
    )
    assert oracle - honest <= 0.5 and honest >= 22.8, (honest, oracle, it)
