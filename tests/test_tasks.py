"""Tasks (inr_recover/tasks.py): the losses' reductions and the output's data consistency."""
import numpy as np
import pytest
import torch

from inr_recover.data.builtin import synthetic
from inr_recover.degrade import RandomMissing, degrade
from inr_recover.tasks import Task


def test_loss_reduction_is_masked_sum_over_numel():
    t = Task("complete", loss="l1")
    pred, y = torch.ones(2, 3), torch.zeros(2, 3)
    w = torch.tensor([[1.0, 0, 0], [1, 1, 0]])
    assert t.loss_fn(pred, y, w).item() == pytest.approx(3 / 6)
    assert Task("x", loss="l2").loss_fn(2 * pred, y, w).item() == pytest.approx(12 / 6)


def test_frobenius_losses_are_unsquared_unaveraged_norms():
    """fro: ||w (f - y)||_2 (LRTFR/DRO-TFF torch.norm(X_Out * mask - X * mask, 2)); group_fro: the sum over groups
    of each group's norm (S-INR sum_j ||M_j (f_j - y_j)||_2)."""
    pred, y = torch.tensor([[3.0, 0], [0, 4], [1, 1]]), torch.zeros(3, 2)
    w = torch.tensor([[1.0, 1], [1, 1], [0, 1]])
    assert Task("x", loss="fro").loss_fn(pred, y, w).item() == pytest.approx(26 ** 0.5)
    groups = torch.tensor([0, 1, 1])
    assert Task("x", loss="group_fro").loss_fn(pred, y, w, groups).item() == pytest.approx(3 + 17 ** 0.5)


def test_data_consistency_keeps_observed_entries():
    """complete: x = M y + (1 - M) f, the observed entries kept and the prediction elsewhere; restore without data
    consistency: the prediction itself."""
    obs = degrade(synthetic("s", shape=[16, 16, 4], kind="smooth").values, [RandomMissing(0.5)], seed=0)
    prediction = np.random.default_rng(0).random(obs.values.shape).astype(np.float32)
    rec = Task("complete").output(prediction, obs.values, obs.known)
    np.testing.assert_array_equal(rec[obs.known], obs.values[obs.known])
    np.testing.assert_array_equal(rec[~obs.known], prediction[~obs.known])
    assert not np.array_equal(rec[~obs.known], obs.values[~obs.known])
    assert Task("restore", data_consistency=False).output(prediction, obs.values, obs.known) is prediction
    t = Task("complete").output(torch.from_numpy(prediction), torch.from_numpy(obs.values), torch.from_numpy(obs.known))
    np.testing.assert_array_equal(t.numpy(), rec)  # the torch path forms the same reconstruction
