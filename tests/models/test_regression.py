"""model=knn|tree|forest (inr_recover/models/regression.py): scikit-learn regressors on the observed coordinates."""
import numpy as np
import pytest

from inr_recover.errors import UserError
from inr_recover.measure.domain import Domain
from inr_recover.measure.geometry import Scattered
from inr_recover.measure.observation import Observation
from inr_recover.models.regression import Regressor


def _points(n=40, channels=2, rate=0.5, seed=0):
    rng = np.random.default_rng(seed)
    coords = rng.normal(size=(n, 3)).astype(np.float32)
    coords /= np.linalg.norm(coords, axis=1, keepdims=True)
    values = rng.random((n, channels)).astype(np.float32)
    known = np.broadcast_to((rng.random(n) < rate)[:, None], values.shape).copy()
    return Observation(np.where(known, values, 0).astype(np.float32), known, Scattered(coords)), values


def test_knn_is_the_mean_of_the_nearest_observed_points():
    obs, _ = _points()
    out = Regressor(3, 2, Domain(3, 40), kind="knn", options={"n_neighbors": 3}).solve(obs)
    seen = np.flatnonzero(obs.known[:, 0])
    for i in range(40):
        d = np.linalg.norm(obs.geometry.coords[seen] - obs.geometry.coords[i], axis=1)
        near = seen[np.argsort(d, kind="stable")[:3]]
        assert np.allclose(out[i], obs.values[near].mean(0), atol=1e-6)


def test_tree_interpolates_observed_points_and_is_seeded():
    obs, _ = _points()
    a = Regressor(3, 2, Domain(3, 40), kind="tree").solve(obs)
    assert np.allclose(a[obs.known], obs.values[obs.known])  # a fully grown tree reproduces its training data
    f1, f2 = (
        Regressor(3, 2, Domain(3, 40), kind="forest", options={"n_estimators": 5}, seed=s).solve(obs) for s in (0, 0)
    )
    assert np.array_equal(f1, f2)


def test_bad_options_are_one_line_errors():
    with pytest.raises(UserError, match="model=knn"):
        Regressor(3, 2, Domain(3, 40), kind="knn", options={"neighbours": 3})
    with pytest.raises(UserError, match="not one of knn, tree, forest"):
        Regressor(3, 2, Domain(3, 40), kind="svm")
