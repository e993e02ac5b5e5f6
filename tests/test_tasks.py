"""Tasks (inr_recover/tasks/base.py): the losses' reductions, the output's data consistency, and what each task trains
on, where it queries the model and how it is evaluated."""

import numpy as np
import pytest
import torch
import trimesh

from inr_recover.data.builtin import synthetic
from inr_recover.errors import UserError
from inr_recover.measure.degrade import Downsample, RandomMissing, degrade
from inr_recover.tasks.entries import GridEvaluation, Recovery
from inr_recover.tasks.shapes import mesh as shapes
from inr_recover.tasks.shapes import metrics as SM
from inr_recover.tasks.shapes.evaluation import ShapeEvaluation
from inr_recover.tasks.shapes.labels import LABELS
from inr_recover.tasks.shapes.task import ShapeField
from inr_recover.tasks.super_resolve import SuperResolve


def test_loss_reduction_is_masked_sum_over_numel():
    t = Recovery("complete", loss="l1")
    pred, y = torch.ones(2, 3), torch.zeros(2, 3)
    w = torch.tensor([[1.0, 0, 0], [1, 1, 0]])
    assert t.loss_fn(pred, y, w).item() == pytest.approx(3 / 6)
    assert Recovery("x", loss="l2").loss_fn(2 * pred, y, w).item() == pytest.approx(12 / 6)


def test_sse_is_bacons_summed_overfit_sdf():
    """sse: BACON's overfit_sdf (loss_functions.py:122-143), the fine (odd) points' squared errors summed plus the
    coarse (even) points' times the coarse weight, written out here on 4 points."""
    pred, y = torch.tensor([[1.0], [2.0], [3.0], [4.0]]), torch.zeros(4, 1)
    w = torch.tensor([[0.01], [1.0], [0.01], [1.0]])  # Shape.draw's weights: coarse_weight on the even points
    mse = (y - pred) ** 2
    mse[::2] *= 0.01
    assert Recovery("x", loss="sse").loss_fn(pred, y, w).item() == pytest.approx((mse[1::2].sum() + mse[::2].sum()))


def test_frobenius_losses_are_unsquared_unaveraged_norms():
    """fro: ||w (f - y)||_2 (LRTFR/DRO-TFF torch.norm(X_Out * mask - X * mask, 2)); group_fro: the sum over groups
    of each group's norm (S-INR sum_j ||M_j (f_j - y_j)||_2)."""
    pred, y = torch.tensor([[3.0, 0], [0, 4], [1, 1]]), torch.zeros(3, 2)
    w = torch.tensor([[1.0, 1], [1, 1], [0, 1]])
    assert Recovery("x", loss="fro").loss_fn(pred, y, w).item() == pytest.approx(26**0.5)
    groups = torch.tensor([0, 2, 2]), 4  # groups 1 and 3 are empty: no term, and a finite gradient
    pred.requires_grad_(True)
    loss = Recovery("x", loss="group_fro").loss_fn(pred, y, w, groups)
    assert loss.item() == pytest.approx(3 + 17**0.5)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 0].item() == pytest.approx(1.0)


def test_data_consistency_keeps_observed_entries():
    """complete: x = M y + (1 - M) f, the observed entries kept and the prediction elsewhere; restore without data
    consistency: the prediction itself."""
    obs = degrade(synthetic("s", shape=[16, 16, 4], kind="smooth").values, [RandomMissing(0.5)], seed=0)
    prediction = np.random.default_rng(0).random(obs.values.shape).astype(np.float32)
    rec = Recovery("complete").output(prediction, obs.values, obs.known)
    np.testing.assert_array_equal(rec[obs.known], obs.values[obs.known])
    np.testing.assert_array_equal(rec[~obs.known], prediction[~obs.known])
    assert not np.array_equal(rec[~obs.known], obs.values[~obs.known])
    assert Recovery("restore", data_consistency=False).output(prediction, obs.values, obs.known) is prediction
    t = Recovery("complete").output(
        torch.from_numpy(prediction), torch.from_numpy(obs.values), torch.from_numpy(obs.known)
    )
    np.testing.assert_array_equal(t.numpy(), rec)  # the torch path forms the same reconstruction


# ---------------------------------------------------------------- each task's observation, query and evaluation


def test_zero_shot_trains_through_the_finer_downsampling_and_queries_the_signal_grid():
    """task.train_factor=2 on a 4x-downsampled 16x16 image: the fit sees y through a 2x downsampling of an 8x8 grid,
    and the reconstruction is the model queried at the 256 sub-pixel centres of that grid (at +-h/4 of each centre);
    without train_factor, or for a Solver, the observation is trained on as it is and no query is made."""
    sig = synthetic("s", shape=[16, 16, 3], kind="smooth")
    obs = degrade(sig.values, [Downsample(4).on((16, 16))], seed=0)
    trained, query = SuperResolve("super_resolve", train_factor=2).query(obs, sig, True, "cpu")
    op = trained.geometry.operator
    assert op.factor == 2 and op.out_grid == (4, 4) and trained.grid == (8, 8)
    assert query.grid == (16, 16) and query.coords.shape == (256, 2) and query.key == "zero_shot"
    assert query.record["train_factor"] == 2 and query.record["factor"] == 4
    g, h = np.linspace(-1, 1, 8), 2 / 7  # the training grid's pixel centres; each splits into 2 sub-pixel centres
    np.testing.assert_allclose(np.unique(query.coords[:, 0].numpy()), np.sort(np.r_[g - h / 4, g + h / 4]), atol=1e-6)
    assert len(np.unique(query.coords.numpy(), axis=0)) == 256
    for task, trains in [(SuperResolve("super_resolve"), True), (SuperResolve("super_resolve", train_factor=2), False)]:
        same, none = task.query(obs, sig, trains, "cpu")
        assert same is obs and none is None
    with pytest.raises(UserError, match="task.train_factor=3 does not divide the degradation's factor 4"):
        SuperResolve("super_resolve", train_factor=3).query(obs, sig, True, "cpu")


def test_tasks_refuse_the_observation_of_another_task():
    sig = synthetic("s", shape=[16, 16, 3], kind="smooth")
    small, holed = (degrade(sig.values, [op], seed=0) for op in (Downsample(2).on((16, 16)), RandomMissing(0.5)))
    with pytest.raises(UserError, match="degrade=downsample_2 observes a downsampled image: use task=super_resolve"):
        Recovery("complete").check_observation(small, "downsample_2")
    with pytest.raises(UserError, match="task=super_resolve needs a downsampled observation"):
        SuperResolve("super_resolve").check_observation(holed, "random_0.5")
    Recovery("complete").check_observation(holed, "random_0.5")
    SuperResolve("super_resolve").check_observation(small, "downsample_2")


def _cube(resolution: int, label: str) -> shapes.Shape:
    box = trimesh.creation.box(extents=(1, 1, 1))
    mesh = shapes.Mesh(np.asarray(box.vertices, np.float64), np.asarray(box.faces, np.int64))
    coords, values = shapes.sample(mesh, 300, LABELS[label], seed=0)
    shape = LABELS[label]
    return shapes.Shape(values=values, coords=coords, mesh=mesh, name="cube", label=shape, resolution=resolution)


@pytest.mark.parametrize("label", ["sdf", "occupancy"])
def test_a_shape_is_queried_on_the_cell_centres_and_judged_on_its_labels(label):
    """task=sdf|occupancy: the model is queried at the r^3 cell centres of the cube (the Query holds their axis);
    the fit to the training points is the RMSE of the distances, or the accuracy of the inside/outside logits; a grid
    task evaluates a grid."""
    shape = _cube(8, label)
    obs = degrade(shape.values, [], seed=0, coords=shape.coords)
    task = ShapeField(label, shape=label)
    same, query = task.query(obs, shape, True, "cpu")
    assert same is obs and query.grid == (8, 8, 8) and query.key is None
    np.testing.assert_array_equal(query.coords.numpy(), SM.cell_centres(8)[::64, 0].astype(np.float32))  # its axis
    evaluation = task.evaluation(shape, obs)
    assert isinstance(evaluation, ShapeEvaluation)
    if label == "sdf":
        assert evaluation.observed(shape.values + 0.1, None)["rmse_fit"] == pytest.approx(0.1, abs=1e-6)
    else:  # logits: right where on the label's side of 0.5; 2 * label - 1 is right everywhere, its negation nowhere
        logits = 2 * shape.values - 1
        assert (
            evaluation.observed(logits, None)["accuracy_fit"] == 1.0
            and evaluation.observed(-logits, None)["accuracy_fit"] == 0.0
        )
    sig = synthetic("s", shape=[8, 8, 3], kind="smooth")
    assert type(Recovery("complete").evaluation(sig, degrade(sig.values, [], seed=0))) is GridEvaluation
