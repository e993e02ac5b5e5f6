"""The training loop (inr_recover/engine/fit.py): honesty, holdout, mini-batches, the loss on a forward operator, the
range."""
import inspect

import numpy as np
import pytest
import torch
from conftest import make_optim

from inr_recover.data.builtin import synthetic
from inr_recover.engine.fit import fit
from inr_recover.engine.select import Final, Holdout, holdout_error
from inr_recover.errors import UserError
from inr_recover.measure.degrade import RandomMissing, degrade
from inr_recover.measure.domain import Domain
from inr_recover.measure.observation import Observation
from inr_recover.models.base import build_model, model_config
from inr_recover.models.choir import CHOIR
from inr_recover.models.iinr import IINR
from inr_recover.models.siren import SIREN
from inr_recover.tasks.entries import Recovery
from inr_recover.tasks.super_resolve import SuperResolve


def optim(iterations=30):
    return make_optim(
        "optim.lr=3e-3",
        "optim.weight_decay=0",
        f"optim.iterations={iterations}",
        "scheduler.eta_min=1e-6",
        "optim.grad_clip=1.0",
    )


OPTIM = optim()


def holdout(obs, fraction, task=Recovery("complete")):
    return Holdout(task, obs, 0, fraction=fraction, error="trimmed", trim=0.1, every=0)


def _setup(seed=0):
    sig = synthetic("s", shape=[16, 16, 4], kind="smooth")
    obs = degrade(sig.values, [RandomMissing(0.5)], seed=0)
    torch.manual_seed(seed)
    return sig, obs, CHOIR(2, 4, Domain.of(obs), width=16, depth=2)


def test_fit_never_sees_the_truth():
    """fit() takes the Observation only, and its result is bit-identical whatever the evaluation callback sees."""
    params = inspect.signature(fit).parameters
    assert not any(p in params for p in ("truth", "clean", "target", "signal"))
    sig, obs, model = _setup()
    seen = []
    r1 = fit(
        model,
        obs,
        Recovery("complete"),
        OPTIM,
        holdout(obs, 0.1),
        eval_every=5,
        on_eval=lambda i, p: seen.append(((p - sig.values) ** 2).mean()) or 1e9,
    )
    _, obs2, model2 = _setup()
    r2 = fit(model2, obs2, Recovery("complete"), OPTIM, holdout(obs2, 0.1), eval_every=5)
    assert len(seen) == 6
    np.testing.assert_array_equal(r1.prediction, r2.prediction)
    assert r1.selected_iteration == r2.selected_iteration


def test_holdout_selection_reports_the_best_scored_point():
    """The reported iteration is the evaluation point of lowest holdout error, and the reported prediction is the model
    state there (its error on the held-out entries is that minimum)."""
    sig, obs, model = _setup()
    r = fit(model, obs, Recovery("complete"), OPTIM, holdout(obs, 0.2), eval_every=10)
    assert r.selection["method"] == "holdout" and r.history["iteration"] == [10, 20, 30]
    assert r.holdout.sum() == round(0.2 * obs.known.sum()) and not (r.holdout & ~obs.known).any()
    scores = r.history["holdout"]
    assert len(set(scores)) == 3 and r.selected_iteration == r.history["iteration"][int(np.argmin(scores))]
    residual = torch.from_numpy(r.prediction - obs.values)[torch.from_numpy(r.holdout)]
    assert holdout_error(residual, None, "trimmed", trim=0.1) == pytest.approx(min(scores), rel=1e-5)


# Models whose hooks see the observation or the targets: the plain loop (full batch and mini-batches), I-INR (its
# training_forward noises the targets), LRTFR with its sparse term (soft-thresholds target - prediction) and CRNL
# (its data term is built in setup).
GARBAGE_MODELS = {
    "choir": (lambda grid: CHOIR(2, 4, Domain.on_grid(grid), width=16, depth=2), {}),
    "choir_minibatch": (lambda grid: CHOIR(2, 4, Domain.on_grid(grid), width=16, depth=2), {"batch_size": 64}),
    "iinr": (
        lambda grid: IINR(2, 4, Domain.on_grid(grid), backbone="siren", backbone_overrides={"width": 16, "depth": 1}),
        {},
    ),
    "lrtfr_sparse": (lambda grid: build_model(model_config("lrtfr", {"sparse": 0.05}), 2, 4, Domain.on_grid(grid)), {}),
    "crnl": (
        lambda grid: build_model(model_config("crnl", {"patch": 4, "neighbors": 3}), 2, 4, Domain.on_grid(grid)),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(GARBAGE_MODELS))
def test_held_out_entries_never_reach_the_loss(name):
    """Garbage written at the held-out entries leaves the training-loss history and the final weights bit-identical
    (CPU); it does reach the holdout scores, so it was there to leak."""
    build, kw = GARBAGE_MODELS[name]
    _, obs, _ = _setup()
    held = holdout(obs, 0.2).holdout
    values = obs.values.copy()
    values[held] = np.random.default_rng(9).uniform(-50, 50, int(held.sum()))
    garbage = Observation(values, obs.known)

    def run(o):
        torch.manual_seed(0)
        model = build(o.grid)
        final = {}
        on_eval = lambda i, p: i == 12 and final.update({k: v.clone() for k, v in model.state_dict().items()})  # noqa: E731
        r = fit(model, o, Recovery("complete"), optim(12), holdout(o, 0.2), eval_every=4, on_eval=on_eval, seed=3, **kw)
        np.testing.assert_array_equal(r.holdout, held)
        return r.history, final

    (h1, w1), (h2, w2) = run(obs), run(garbage)
    assert h1["loss"] == h2["loss"] and len(h1["loss"]) == 3
    assert h1["holdout"] != h2["holdout"]
    assert w1.keys() == w2.keys() and w1
    for k in w1:
        assert torch.equal(w1[k], w2[k]), k


def test_setup_never_sees_held_out_entries():
    """A model's data-dependent setup (FreSh's spectrum, S-INR's segmentation, CRNL's groups) gets the training
    entries only: the held-out ones are neither known nor carry their values."""
    sig, obs, model = _setup()
    seen = {}
    model.setup = lambda o, coords: seen.update(known=o.known.copy(), values=o.values.copy())
    r = fit(model, obs, Recovery("complete"), optim(2), holdout(obs, 0.2), eval_every=1)
    np.testing.assert_array_equal(seen["known"], obs.known & ~r.holdout)
    assert (seen["values"][r.holdout] == 0).all() and (obs.values[r.holdout] != 0).any()


def test_minibatch_and_seed_reproducible():
    outs = []
    for _ in range(2):
        _, obs, model = _setup(seed=1)
        outs.append(
            fit(
                model,
                obs,
                Recovery("complete"),
                OPTIM,
                Final(Recovery("complete"), obs, 4),
                eval_every=10,
                batch_size=64,
                seed=4,
            ).prediction
        )
    np.testing.assert_array_equal(outs[0], outs[1])


def test_loss_is_on_the_downsampled_model_output():
    """The data term compares A(f(x)) with y (A = area downsampling by 2): L = mean((avgpool(f) - y)^2)."""
    from inr_recover.engine.fit import Trainer
    from inr_recover.measure.degrade import Downsample
    from inr_recover.measure.grid import grid_coords

    sig = synthetic("s", shape=[8, 8, 3], kind="smooth")
    obs = degrade(sig.values, [Downsample(2).on((8, 8))], seed=0)
    torch.manual_seed(0)
    model = CHOIR(2, 3, Domain.of(obs), width=8, depth=1, gamma=1.0)
    trainer = Trainer(model, obs, SuperResolve("super_resolve", loss="l2"), OPTIM, Final(Recovery("x"), obs, 0))
    assert trainer.measure.inputs.shape == (64, 2) and trainer.measure.values.shape == (16, 3)
    with torch.no_grad():
        loss = trainer.loss(trainer.batch()).item()
        f = model(grid_coords((8, 8))).reshape(4, 2, 4, 2, 3).mean((1, 3))
    assert loss == pytest.approx(((f - torch.from_numpy(obs.values)) ** 2).mean().item(), rel=1e-5)
    with pytest.raises(UserError, match="batch_size must be null"):
        Trainer(model, obs, SuperResolve("super_resolve"), OPTIM, Final(Recovery("x"), obs, 0), batch_size=8)


def test_range_encodes_the_targets_and_decodes_the_output():
    """task.range=[-1, 1]: the loss sees 2 y - 1, the fit's prediction comes back on [0, 1] (metrics stay there)."""
    t = Recovery("complete", loss="l2", range=[-1, 1])
    y = torch.rand(5, 3)
    assert torch.allclose(t.encode(y), 2 * y - 1) and torch.allclose(t.decode(t.encode(y)), y)
    sig, obs, _ = _setup()
    res = {}
    for lo in (0, -1):
        torch.manual_seed(0)
        model = SIREN(2, 4, Domain.of(obs), width=16, depth=2)
        res[lo] = fit(
            model, obs, Recovery("complete", loss="l2", range=[lo, 1]), OPTIM, Final(Recovery("complete"), obs, 0)
        )
    assert res[-1].prediction.min() > -0.2 and res[-1].prediction.max() < 1.2  # on [0, 1], not [-1, 1]
    assert not np.allclose(res[-1].prediction, res[0].prediction)  # the range changes what is fitted


def test_sigmoid_output_cannot_train_on_minus_one_one():
    sig, obs, model = _setup()
    with pytest.raises(UserError, match="sigmoid"):
        fit(model, obs, Recovery("complete", loss="l1", range=[-1, 1]), OPTIM, Final(Recovery("complete"), obs, 0))


def test_patience_stops_on_the_prefix_of_the_full_run():
    """``select.patience=20, min_iterations=30`` on a fit whose holdout error is lowest at iteration 15 of 60: the run
    ends at the first iteration t >= 30 with t - (best holdout point up to t) >= 20 (the rule restated on the full
    run's curve), its curve is the full run's prefix, and its headline is the full run's, bit for bit (same selected
    iteration, same schedule horizon)."""
    from conftest import overfitting_restore

    full = overfitting_restore()
    stopped = overfitting_restore(patience=20, min_iterations=30)
    curve = dict(zip(full.history["iteration"], full.history["holdout"]))
    best = lambda t: min((i for i in curve if i <= t), key=lambda i: curve[i], default=None)  # noqa: E731 first minimum
    expected = next(t for t in range(30, 60) if best(t) is not None and t - best(t) >= 20)
    assert full.selected_iteration == 15 and expected == 35  # the measured case (conftest)
    assert stopped.iterations == stopped.selection["stopped_early_at"] == expected
    assert stopped.selection["iterations_saved"] == 60 - expected and stopped.selection["patience"] == 20
    assert "stopped_early_at" not in full.selection and full.iterations == 60
    n = len(stopped.history["iteration"])
    assert stopped.history["iteration"] == full.history["iteration"][:n] == [5, 10, 15, 20, 25, 30, 35]
    assert stopped.history["holdout"] == full.history["holdout"][:n] and stopped.history["lr"] == full.history["lr"][:n]
    assert stopped.selected_iteration == full.selected_iteration
    np.testing.assert_array_equal(stopped.prediction, full.prediction)
    assert 0 < stopped.seconds_to_selected < stopped.train_seconds


def test_zero_iterations_is_an_initialisation_only_run():
    """optim.iterations=0: no update, the untrained network's output, recorded as such (not as a selected fit)."""
    _, obs, model = _setup()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = fit(model, obs, Recovery("complete"), optim(0), holdout(obs, 0.1), eval_every=5)
    assert r.iterations == 0 and r.selection["method"] == "initialisation" and "untrained" in r.selection["note"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        untrained = model(obs.coordinates()).reshape(r.prediction.shape).numpy()
    np.testing.assert_allclose(
        r.prediction, Recovery("complete").decode(torch.from_numpy(untrained)).numpy(), atol=1e-6
    )


def test_the_eikonal_term_is_the_mean_deviation_of_the_input_gradients_norm_from_one():
    """task=sdf task.eikonal=w: L = mean((f - y)^2) + w mean(| |grad_x f| - 1 |), the gradient of each point's output
    with respect to its own input (checked against torch.func's per-point Jacobians)."""
    from inr_recover.engine.fit import Trainer
    from inr_recover.models.siren import SIREN
    from inr_recover.tasks.shapes.task import ShapeField

    rng = np.random.default_rng(0)
    coords = rng.uniform(-1, 1, (50, 3)).astype(np.float32)
    values = (np.linalg.norm(coords, axis=1, keepdims=True) - 0.5).astype(np.float32)
    obs = degrade(values, [], seed=0, coords=coords)
    torch.manual_seed(0)
    model = SIREN(3, 1, Domain.of(obs), width=16, depth=1)
    task = ShapeField("sdf", range=[0, 1], eikonal=0.3)
    trainer = Trainer(model, obs, task, OPTIM, Final(task, obs, 0))
    batch = trainer.batch()
    x = torch.from_numpy(coords)
    jac = torch.func.vmap(torch.func.jacrev(lambda p: model(p[None])[0]))(x)[:, 0]  # (50, 3): each point's gradient
    data = torch.mean((model(x) - torch.from_numpy(values)) ** 2)
    expected = data + 0.3 * (jac.norm(dim=-1) - 1).abs().mean()
    assert float(trainer.loss(batch)) == pytest.approx(float(expected), rel=1e-5)
    assert float(expected) > float(data) + 1e-3  # the term is not zero at init
    with pytest.raises(UserError, match="task.eikonal applies to task=sdf"):
        ShapeField("occupancy", shape="occupancy", loss="bce", eikonal=0.3)
