"""The measurement protocol (inr_recover/measure/observation.py): what a training batch is, what the forward operator
does to the model's outputs, and that held-out and missing entries weigh nothing, for every kind of observation today:
entries of a grid (completion, restoration), scattered points, a downsampled grid (super-resolution)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inr_recover.data.builtin import synthetic
from inr_recover.errors import UserError
from inr_recover.measure.degrade import Downsample, RandomMissing, degrade
from inr_recover.measure.geometry import Scattered
from inr_recover.measure.grid import grid_coords
from inr_recover.measure.measurements import Downsampled, Entries
from inr_recover.measure.observation import Observation
from inr_recover.tasks.entries import Recovery
from inr_recover.tasks.shapes.labels import LABELS
from inr_recover.tasks.super_resolve import SuperResolve


def _grid_obs():
    return degrade(synthetic("s", shape=[8, 6, 3], kind="smooth").values, [RandomMissing(0.5)], seed=0)


def _points_obs(n=40, c=2):
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    known = rng.random((n, c)) < 0.5
    return Observation(
        values=np.where(known, rng.random((n, c)), 0).astype(np.float32),
        known=known,
        geometry=Scattered(xyz / np.linalg.norm(xyz, axis=1, keepdims=True)),
    )


def _train_mask(obs, seed=1):
    """A selection rule's split: a quarter of the observed entries held out."""
    return obs.known & (np.random.default_rng(seed).random(obs.known.shape) >= 0.25)


def test_entries_on_a_grid_measure_each_entry_at_its_grid_point():
    obs = _grid_obs()
    train = _train_mask(obs)
    m = obs.measurement(train, Recovery("complete").encode)
    assert isinstance(m, Entries) and m.per_row
    torch.testing.assert_close(m.inputs, grid_coords((8, 6)))
    np.testing.assert_array_equal(m.values.numpy(), obs.values.reshape(48, 3))
    # the loss sees exactly the training entries: held-out and missing entries weigh 0
    assert m.weights.sum().item() == train.sum() < obs.known.sum()
    np.testing.assert_array_equal(m.weights.numpy().astype(bool), train.reshape(48, 3))
    out = torch.randn(48, 3)
    assert m.apply(out) is out  # A is the identity on the observed entries


def test_entries_on_points_are_queried_at_the_points():
    obs = _points_obs()
    m = obs.measurement(obs.known, Recovery("complete").encode)
    assert isinstance(m, Entries) and m.inputs.shape == (40, 3)
    np.testing.assert_array_equal(m.inputs.numpy(), obs.geometry.coords)
    assert m.weights.sum().item() == obs.known.sum()


def test_a_batch_is_all_rows_or_rows_drawn_by_the_generator():
    """The full batch is every row; a mini-batch is ``size`` rows drawn with replacement by ``torch.randint`` on the
    given generator (so a checkpointed generator state resumes the same draws), inputs, targets and weights alike."""
    obs = _grid_obs()
    m = obs.measurement(obs.known, Recovery("complete").encode)
    full = m.sample(torch.Generator().manual_seed(0))
    assert full.inputs is m.inputs and full.targets is m.targets and full.weights is m.weights
    b = m.sample(torch.Generator().manual_seed(7), 10)
    idx = torch.randint(0, 48, (10,), generator=torch.Generator().manual_seed(7))
    for got, whole in ((b.inputs, m.inputs), (b.targets, m.targets), (b.weights, m.weights)):
        torch.testing.assert_close(got, whole[idx])
    assert m.batch_size(None) is None and m.batch_size(10) == 10 and m.batch_size(48) is None  # all rows: full batch
    with pytest.raises(UserError, match="positive"):
        m.batch_size(0)
    torch.testing.assert_close(m.first(5).targets, m.targets[:5])


def test_targets_are_on_the_task_range():
    obs = _grid_obs()
    m = obs.measurement(obs.known, Recovery("complete", range=[-1, 1]).encode)
    torch.testing.assert_close(m.targets, 2 * m.values - 1)


def test_downsampled_measures_block_means_of_the_whole_grid():
    """Super-resolution: y = A f with A the 2x2 area mean; the model is queried on the fine grid, a batch is the
    whole grid (no mini-batch, no prefix probe)."""
    sig = synthetic("s", shape=[8, 8, 3], kind="smooth")
    obs = degrade(sig.values, [Downsample(2).on((8, 8))], seed=0)
    m = obs.measurement(obs.known, SuperResolve("super_resolve").encode)
    assert isinstance(m, Downsampled) and not m.per_row
    assert m.inputs.shape == (64, 2) and m.values.shape == (16, 3)
    f = torch.randn(64, 3)
    torch.testing.assert_close(m.apply(f), f.reshape(4, 2, 4, 2, 3).mean((1, 3)).reshape(16, 3))
    assert m.batch_size(None) is None
    with pytest.raises(UserError, match="batch_size must be null"):
        m.batch_size(8)
    with pytest.raises(ValueError):
        m.first(4)


def _sphere_shape(fresh=True):
    """A sphere of radius 0.5 as a shape whose exact SDF is |x| - 0.5, with a 300-point pool."""
    import trimesh

    from inr_recover.tasks.shapes import mesh as shapes

    ico = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    mesh = shapes.Mesh(np.asarray(ico.vertices, np.float64), np.asarray(ico.faces, np.int64))
    coords, values = shapes.sample(mesh, 300, LABELS["sdf"], seed=0)
    return shapes.Shape(
        values=values, coords=coords, mesh=mesh, name="sphere", label=LABELS["sdf"], resolution=8, fresh=fresh
    )


def test_resampled_points_are_new_at_every_step_and_labelled_exactly():
    """data.fresh: each batch is `size` new points with their exact SDF (the sphere's |x| - 0.5, to the icosphere's
    facet error), another set at the next step, the same set again from the same generator state (a resumed fit);
    the whole measurement stays the fixed pool."""
    from dataclasses import replace

    from inr_recover.tasks.shapes.task import FreshPoints, Resampled

    shape = _sphere_shape()
    pool = degrade(shape.values, [], seed=0, coords=shape.coords)
    obs = replace(pool, geometry=FreshPoints(shape.coords, shape.draw))
    m = obs.measurement(obs.known, Recovery("sdf", range=[0, 1]).encode)
    assert isinstance(m, Resampled) and m.inputs.shape == (300, 3)
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    a, b = m.sample(gen, 64), m.sample(gen, 64)
    assert a.inputs.shape == (64, 3) and a.targets.shape == (64, 1) and bool((a.weights == 1).all())
    assert not torch.equal(a.inputs, b.inputs)
    np.testing.assert_allclose(a.targets[:, 0].numpy(), a.inputs.norm(dim=1).numpy() - 0.5, atol=2e-3)
    gen.set_state(state)
    torch.testing.assert_close(m.sample(gen, 64).inputs, a.inputs)
    assert torch.equal(m.sample(gen, None).inputs, m.inputs)  # the pool
    with pytest.raises(
        UserError, match="data.fresh=true draws new training points at every step, so none can be held out"
    ):
        obs.measurement(_train_mask(obs), Recovery("sdf").encode)


def test_each_geometry_gives_sizes_coordinates_domain_and_which_models_take_it():
    """One geometry object per observation: the grid's entries, a forward operator, scattered points and camera rays
    each give the model's grid, input and output sizes, coordinates, domain and refusals (needs_grid: bicubic;
    needs_entries: knn; both: lrtfr; neither: siren)."""
    from inr_recover.measure.domain import Domain
    from inr_recover.measure.geometry import Operated
    from inr_recover.models.classical import Bicubic
    from inr_recover.models.regression import Regressor
    from inr_recover.models.siren import SIREN
    from inr_recover.models.tensor.lrtfr import LRTFR
    from inr_recover.tasks.views.rays import Rays, Rendered

    values = np.zeros((4, 5, 3), np.float32)
    grid = degrade(values, [], seed=0)
    assert (grid.grid, grid.in_features, grid.out_features) == ((4, 5), 2, 3) and grid.geometry.measurement is Entries
    assert Domain.of(grid) == Domain.on_grid((4, 5)) and tuple(grid.coordinates().shape) == (20, 2)
    sr = degrade(np.zeros((8, 10, 3), np.float32), [Downsample(2).on((8, 10))], seed=0)
    assert isinstance(sr.geometry, Operated) and sr.values.shape == (4, 5, 3) and sr.grid == (8, 10)
    assert tuple(sr.coordinates().shape) == (80, 2) and sr.geometry.measurement is Downsampled
    points = _points_obs()
    assert points.in_features == 3 and Domain.of(points) == Domain(dim=3, samples=40)
    table = np.zeros((2 * 3 * 4, 8), np.float32)
    rays = Observation(np.zeros((2, 3, 4, 3), np.float32), np.ones((2, 3, 4, 3), bool), Rays(table, samples=4))
    assert (rays.in_features, rays.out_features, tuple(rays.coordinates().shape)) == (3, 4, (24, 8))
    assert Domain.of(rays) == Domain(dim=3, samples=24, extent=3) and rays.geometry.measurement is Rendered
    refused = {
        kind: [m.__name__ for m in (SIREN, Bicubic, Regressor, LRTFR) if obs.geometry.refusal(m, "x") is not None]
        for kind, obs in (("grid", grid), ("downsampled", sr), ("points", points), ("rays", rays))
    }
    assert refused == {
        "grid": [],
        "downsampled": ["Regressor", "LRTFR"],
        "points": ["Bicubic", "LRTFR"],
        "rays": ["Bicubic", "Regressor", "LRTFR"],
    }
