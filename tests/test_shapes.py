"""3-D shapes (inr_recover/tasks/shapes/mesh.py, task=sdf|occupancy): labels against closed forms on a sphere, the
metrics on shapes with known answers, the refusals, and a field trained on the Stanford bunny above a trivial
baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from conftest import TINY_RUN, run_cli, shared_file
from scipy.spatial import cKDTree

from inr_recover.tasks.shapes import mesh as shapes
from inr_recover.tasks.shapes.labels import LABELS


def _sphere(radius=0.5, subdivisions=5) -> shapes.Mesh:
    ico = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return shapes.Mesh(np.asarray(ico.vertices, dtype=np.float64), np.asarray(ico.faces, dtype=np.int64))


def _ball(r: int, centre, radius) -> np.ndarray:
    """The exact SDF of a ball on the grid of cell centres."""
    return np.linalg.norm(shapes.cell_centres(r) - np.asarray(centre), axis=1).reshape(r, r, r) - radius


def test_sdf_and_inside_of_a_sphere_match_the_closed_form():
    """|x| - r up to the icosphere's faceting (its faces sit at most r (1 - cos(edge/2r)) inside the sphere)."""
    mesh = _sphere()
    pts = np.random.default_rng(0).uniform(-1, 1, (5000, 3))
    exact = np.linalg.norm(pts, axis=1) - 0.5
    np.testing.assert_allclose(mesh.sdf(pts), exact, atol=2e-3)
    far = np.abs(exact) > 2e-3
    np.testing.assert_array_equal(mesh.inside(pts)[far], exact[far] < 0)


def test_normalisation_centres_the_box_and_spans_the_extent():
    v = np.random.default_rng(0).uniform([2, -5, 10], [4, -1, 11], (100, 3))
    mesh = shapes.normalised(v, np.zeros((1, 3), np.int64))
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    np.testing.assert_allclose(lo + hi, 0, atol=1e-12)
    assert (hi - lo).max() == pytest.approx(2 * shapes.EXTENT)


def test_training_pool_thirds_and_labels():
    mesh = _sphere()
    pts, sdf = shapes.sample(mesh, 3000, LABELS["sdf"], seed=0, near_sigma=0.01)
    assert pts.shape == (3000, 3) and sdf.shape == (3000, 1) and np.abs(pts).max() <= 1
    r = np.linalg.norm(pts, axis=1)
    assert np.abs(r[:1000] - 0.5).max() < 2e-3  # on the surface
    assert 0.005 < np.abs(r[1000:2000] - 0.5).mean() < 0.012  # near it: E|N(0, 0.01^2)| along the normal ~ 0.008
    np.testing.assert_allclose(sdf[:, 0], r - 0.5, atol=2e-3)
    _, occ = shapes.sample(mesh, 3000, LABELS["occupancy"], seed=0)
    off = sdf[:, 0] != 0  # the same inside test signs both (a point exactly on the surface has distance 0)
    np.testing.assert_array_equal((occ[:, 0] == 1)[off], sdf[off, 0] < 0)
    np.testing.assert_array_equal(shapes.sample(mesh, 3000, LABELS["sdf"], seed=0)[0], pts)  # one pool per seed


def test_iou_of_two_balls_is_the_lens_formula():
    """Balls of radius R at distance d: intersection = pi (4R + d)(2R - d)^2 / 12, union = 2 (4/3 pi R^3) - that."""
    r, R, d = 96, 0.5, 0.4
    a, b = _ball(r, (-d / 2, 0, 0), R) <= 0, _ball(r, (d / 2, 0, 0), R) <= 0
    lens = np.pi * (4 * R + d) * (2 * R - d) ** 2 / 12
    assert shapes.iou(a, b) == pytest.approx(lens / (2 * 4 / 3 * np.pi * R**3 - lens), abs=5e-3)
    assert shapes.iou(a, a) == 1.0 and shapes.iou(a, ~a) == 0.0


def test_surface_distances_closed_forms():
    """A point set against itself: Chamfer 0, F-score 1, normal consistency 1; against the same points pushed out
    radially by t (a concentric sphere of radius 0.5 + t): Chamfer t^2 (up to the faceting), no match within 0.02."""
    mesh = _sphere(subdivisions=6)
    p, n = mesh.surface(20000, 0)
    same = shapes.surface_distances(p, n, p, n, 0.02)
    assert same == {"chamfer": 0.0, "fscore": 1.0, "normal_consistency": pytest.approx(1.0)}
    t = 0.05
    q = p / np.linalg.norm(p, axis=1, keepdims=True) * (0.5 + t)
    out = shapes.surface_distances(p, n, q, n, 0.02)
    assert out["chamfer"] == pytest.approx(t**2, rel=0.05) and out["fscore"] == 0.0


def test_score_of_the_exact_field_of_a_cube():
    """The cube's exact SDF on the grid: IoU 1 against its own mesh, and an extracted surface within a cell of it."""
    box = trimesh.creation.box(extents=(1, 1, 1))
    shape = shapes.Shape(
        values=np.zeros((1, 1), np.float32),
        coords=np.zeros((1, 3), np.float32),
        mesh=shapes.Mesh(np.asarray(box.vertices, np.float64), np.asarray(box.faces, np.int64)),
        name="cube",
        label=LABELS["sdf"],
        resolution=64,
    )
    x = shapes.cell_centres(64)
    q = np.abs(x) - 0.5
    sdf = (np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)).reshape(64, 64, 64)
    m = shapes.score(
        sdf, shape, surface_samples=20000, fscore_tau=2 * 2 / 64
    )  # marching cubes bevels edges within a cell
    assert m["iou"] == 1.0 and m["chamfer"] < (2 / 64) ** 2 and m["fscore"] > 0.99 and m["normal_consistency"] > 0.95


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["task=sdf", "data=synthetic"], "task=sdf takes a 3-D shape"),
        (["task=complete", "data=bunny"], "data=bunny is a 3-D shape: use task=sdf"),
        (["task=occupancy", "data=mesh", "model=knn"], "model=knn has no network to query"),
        (["task=sdf", "data=mesh", "data.path=null"], "set data.path"),
        (
            ["task=occupancy", "data=mesh", "model=choir", "data.samples=300"],
            "set model.out_activation=none",
        ),  # sigmoid
        (["task=sdf", "data=mesh", "data.fresh=true", "select=holdout"], "none can be held out: use select=final"),
        (["task=sdf", "data=mesh", "data.kind=points_with_normals"], "use task=sdf with data.fresh=true"),
    ],
)
def test_refusals(tmp_path, overrides, message):
    """Each refused before training, on a sphere written here (no shared data needed: a fresh clone runs it)."""
    sphere = tmp_path / "sphere.obj"
    trimesh.creation.icosphere(subdivisions=2, radius=0.5).export(sphere)
    mesh = [f"data.path={sphere}"] if "data=mesh" in overrides else []
    proc, _ = run_cli(tmp_path, *overrides[:2], *mesh, *overrides[2:], check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def _nearest_label_iou(out) -> float:
    """The trivial baseline: each grid cell takes the label of its nearest training point."""
    with np.load(out / "reconstruction.npz") as z:
        field = z["reconstruction"][..., 0]
    r = field.shape[0]
    pts, sdf = shapes.sample(shapes.read_mesh(shared_file("mesh/bunny.obj")), 20000, LABELS["sdf"], seed=0)
    nearest = sdf[cKDTree(pts).query(shapes.cell_centres(r))[1], 0].reshape(r, r, r)
    truth = shapes.read_mesh(shared_file("mesh/bunny.obj")).inside(shapes.cell_centres(r)).reshape(r, r, r)
    return shapes.iou(nearest <= 0, truth)


@pytest.mark.parametrize("task", ["sdf", pytest.param("occupancy", marks=pytest.mark.slow)])
def test_a_field_on_the_bunny_beats_the_nearest_label(tmp_path, task):
    """SIREN, 150 iterations of 10k points from a 20k pool, 48^3 evaluation, seed 0: IoU above the labels of the
    nearest training point of the same pool on the same grid (measured: sdf 0.984, occupancy 0.975, nearest label
    0.821; Chamfer 4.8e-5 and 4.8e-4); mesh, figure and metrics written."""
    shared_file("mesh/bunny.obj")
    over = [
        *TINY_RUN[1:],
        f"task={task}",
        "data=bunny",
        "model=siren",
        "optim.iterations=150",
        "eval_every=50",
        "data.samples=20000",
        "data.resolution=48",
        "save.figures=true",
    ]
    _, out = run_cli(tmp_path, *over)
    r = json.loads((out / "results.json").read_text())
    baseline = _nearest_label_iou(out)
    assert r["status"] == "complete" and r["metrics"]["iou"] > baseline + 0.1, (r["metrics"], baseline)
    assert r["metrics"]["chamfer"] < 1e-3 and (out / "figure.png").is_file()
    mesh = trimesh.load(out / "reconstruction.ply")
    assert len(mesh.faces) > 1000 and np.abs(mesh.vertices).max() <= 1


def test_bacon_labels_from_an_oriented_cloud_of_a_sphere():
    """data.kind=points_with_normals: BACON's label (x - p1) . mean(n1, n2, n3) from a dense oriented cloud of a sphere
    is its SDF |x| - r near the surface; the even points carry the coarse Laplace noise and the coarse weight, the odd
    the fine, and every point is wrapped back into the cube."""
    rng = np.random.default_rng(0)
    p = rng.normal(size=(200000, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    cloud = shapes.Cloud(0.5 * p, p)
    x, y, w = shapes.bacon_sample(cloud, 4000, seed=1, coarse=0.2, fine=0.002, coarse_weight=0.01)
    assert x.shape == (4000, 3) and y.shape == (4000, 1) and np.abs(x).max() <= 1
    assert set(np.unique(w[0::2])) == {np.float32(0.01)} and set(np.unique(w[1::2])) == {1.0}
    r = np.linalg.norm(x, axis=1)
    fine = np.abs(r[1::2] - 0.5) < 0.01
    np.testing.assert_allclose(y[1::2, 0][fine], r[1::2][fine] - 0.5, atol=2e-3)
    assert np.median(np.abs(r[0::2] - 0.5)) > 10 * np.median(np.abs(r[1::2] - 0.5))  # coarse vs fine offsets
    assert cloud.inside(np.array([[0.3, 0, 0], [0, -0.2, 0.1], [0.9, 0, 0]])).tolist() == [True, True, False]


def test_cloud_labels_on_the_device_are_the_k_d_tree_labels():
    """Cloud.sdf_on_device (brute-force 3 nearest, chunked: 1000 pairs per chunk here) against the host's k-d tree, on
    BACON's points of a sphere's cloud; a fresh draw on a device that is not the CPU labels there (meta: shapes only),
    the CPU's draw is the host's bit for bit."""
    import torch

    rng = np.random.default_rng(0)
    p = rng.normal(size=(3000, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    cloud = shapes.Cloud(0.5 * p, p)
    x, y, _ = shapes.bacon_sample(cloud, 500, seed=1, coarse=0.2, fine=0.002, coarse_weight=0.01)
    on = cloud.sdf_on_device(torch.from_numpy(x), pairs=1000).numpy()
    np.testing.assert_allclose(on, y[:, 0], atol=1e-5)
    shape = shapes.Shape(y, x, cloud, "sphere", LABELS["sdf"], 8, fresh=True, cloud=cloud)
    coords, values, weights = shape.draw(100, 3, torch.device("meta"))
    assert coords.is_meta and values.is_meta and values.shape == (100, 1) and weights.shape == (100, 1)
    host = shapes.bacon_sample(cloud, 100, 3, *shape.bacon)
    for a, b in zip(shape.draw(100, 3, torch.device("cpu")), host):
        np.testing.assert_array_equal(a.numpy(), b)


def test_an_oriented_cloud_file_is_read_normalised_with_unit_normals(tmp_path):
    rng = np.random.default_rng(0)
    pts, nrm = rng.uniform(2, 4, (50, 3)), rng.normal(size=(50, 3)) * 5
    np.savetxt(tmp_path / "c.xyz", np.c_[pts, nrm])
    cloud = shapes.read_cloud(tmp_path / "c.xyz")
    lo, hi = cloud.points.min(0), cloud.points.max(0)
    assert np.isclose((hi - lo).max(), 2 * shapes.EXTENT) and np.allclose((hi + lo) / 2, 0)
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0)
    np.savetxt(tmp_path / "bad.xyz", pts)
    with pytest.raises(shapes.UserError, match="6 columns"):
        shapes.read_cloud(tmp_path / "bad.xyz")
