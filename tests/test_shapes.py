"""3-D shapes (inr_recover/tasks/shapes/, task=sdf|occupancy): labels against closed forms on a sphere, the frames,
the checks of a bad mesh, the metrics of each convention on shapes with known answers, the refusals, and a field
trained on the Stanford bunny above a trivial baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import TINY_RUN, run_cli, shared_file
from scipy.spatial import cKDTree

from inr_recover.tasks.shapes import mesh as shapes
from inr_recover.tasks.shapes import metrics as M
from inr_recover.tasks.shapes.labels import LABELS


def _sphere(radius=0.5, subdivisions=5) -> shapes.Mesh:
    ico = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return shapes.Mesh(np.asarray(ico.vertices, dtype=np.float64), np.asarray(ico.faces, dtype=np.int64))


def _ball(r: int, centre, radius) -> np.ndarray:
    """The exact SDF of a ball on the grid of cell centres."""
    return np.linalg.norm(M.cell_centres(r) - np.asarray(centre), axis=1).reshape(r, r, r) - radius


def test_sdf_and_inside_of_a_sphere_match_the_closed_form():
    """|x| - r up to the icosphere's faceting (its faces sit at most r (1 - cos(edge/2r)) inside the sphere)."""
    mesh = _sphere()
    pts = np.random.default_rng(0).uniform(-1, 1, (5000, 3))
    exact = np.linalg.norm(pts, axis=1) - 0.5
    np.testing.assert_allclose(mesh.sdf(pts), exact, atol=2e-3)
    far = np.abs(exact) > 2e-3
    np.testing.assert_array_equal(mesh.inside(pts)[far], exact[far] < 0)


def test_frames_bbox_centres_the_box_and_bacon_is_bacons_normalize():
    """bbox: the box centred, its longest side spanning 2 * 0.9; bacon: BACON's MeshSDF.normalize written out
    (mean-centred, scalar min and max, * 0.9 - 0.45); both invert to the input's units."""
    v = np.random.default_rng(0).uniform([2, -5, 10], [4, -1, 11], (100, 3))
    box = shapes.bbox_frame(v)
    lo, hi = box(v).min(0), box(v).max(0)
    np.testing.assert_allclose(lo + hi, 0, atol=1e-12)
    assert (hi - lo).max() == pytest.approx(2 * shapes.EXTENT) and box.half == 1.0
    c = v - v.mean(0)
    bacon = (c - c.min()) / (c.max() - c.min()) * 0.9 - 0.45
    frame = shapes.bacon_frame(v)
    np.testing.assert_allclose(frame(v), bacon, atol=1e-12)
    assert frame.half == 0.5 and frame(v).min() == pytest.approx(-0.45) and frame(v).max() == pytest.approx(0.45)
    for f in (box, frame):
        np.testing.assert_allclose(f.inverse(f(v)), v, atol=1e-12)
        assert f.record()["scale"] == f.scale and len(f.record()["centre"]) == 3


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


@pytest.mark.parametrize("sign", [1, -1], ids=["sdf", "larger inside"])
def test_an_extracted_surface_has_outward_normals_from_the_fields_gradient(tmp_path, sign):
    """The zero level of a ball's field (|x| - 0.6, or its negative as an occupancy logit is) on a 48^3 grid: every
    vertex normal is the outward radial direction within 2 degrees, and a .ply and an .obj keep them."""
    n = 48
    field = np.linalg.norm(M.cell_centres(n), axis=1).reshape(n, n, n) - 0.6
    mesh = M.extract(sign * field)
    radial = mesh.vertices / np.linalg.norm(mesh.vertices, axis=1, keepdims=True)
    assert mesh.signed_volume() > 0 and (mesh.normals * radial).sum(1).min() > np.cos(np.radians(2))
    for ext in ("ply", "obj"):
        mesh.trimesh().export(tmp_path / f"m.{ext}")
        np.testing.assert_allclose(trimesh.load(tmp_path / f"m.{ext}", process=False).vertex_normals, mesh.normals,
                                   atol=1e-6)


def test_iou_of_two_balls_is_the_lens_formula():
    """Balls of radius R at distance d: intersection = pi (4R + d)(2R - d)^2 / 12, union = 2 (4/3 pi R^3) - that."""
    r, R, d = 96, 0.5, 0.4
    a, b = _ball(r, (-d / 2, 0, 0), R) <= 0, _ball(r, (d / 2, 0, 0), R) <= 0
    lens = np.pi * (4 * R + d) * (2 * R - d) ** 2 / 12
    assert M.iou(a, b) == pytest.approx(lens / (2 * 4 / 3 * np.pi * R**3 - lens), abs=5e-3)
    assert M.iou(a, a) == 1.0 and M.iou(a, ~a) == 0.0


def test_surface_distances_closed_forms():
    """A point set against itself: Chamfer 0, F-scores 1, normal consistency 1; against the same points pushed out
    radially by t (a concentric sphere of radius 0.5 + t): our Chamfer t^2 (up to the faceting), FINER's (summed) 2 t^2,
    SCONE's (unsquared, summed) 2 t; no match within 1% of a side of 1."""
    mesh = _sphere(subdivisions=6)
    p, n = mesh.surface(20000, 0)
    same = M.surface_distances(p, n, p, n, 1.0)
    assert same == {"chamfer": 0.0, "fscore": 1.0, "fscore_fine": 1.0, "normal_consistency": pytest.approx(1.0)}
    t = 0.05
    q = p / np.linalg.norm(p, axis=1, keepdims=True) * (0.5 + t)
    out = M.surface_distances(p, n, q, n, 1.0)
    assert out["chamfer"] == pytest.approx(t**2, rel=0.05) and out["fscore"] == 0.0
    assert M.surface_distances(p, n, q, n, 1.0, halve=False)["chamfer"] == pytest.approx(2 * t**2, rel=0.05)
    scone = M.surface_distances(p, None, q, None, 1.0, squared=False, halve=False)
    assert scone["chamfer"] == pytest.approx(2 * t, rel=0.05) and scone["normal_consistency"] is None


def _cube_shape(resolution: int, half: float = 1.0, **kw) -> shapes.Shape:
    box = trimesh.creation.box(extents=(half, half, half))
    return shapes.Shape(
        values=np.zeros((1, 1), np.float32),
        coords=np.zeros((1, 3), np.float32),
        mesh=shapes.Mesh(np.asarray(box.vertices, np.float64), np.asarray(box.faces, np.int64)),
        name="cube",
        label=LABELS["sdf"],
        resolution=resolution,
        frame=shapes.Frame("bacon" if half == 0.5 else "bbox", half=half),
        **kw,
    )


def _box_sdf(x: np.ndarray, side: float) -> np.ndarray:
    q = np.abs(x) - side / 2
    return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)


@pytest.mark.parametrize("name", ["ours", "finer", "scone"])
def test_each_convention_scores_the_exact_field_of_a_cube_near_its_floor(name):
    """The cube's exact SDF on each convention's own grids (half side 0.5, BACON's cube): IoU near 1 against its own
    mesh, the Chamfer within a few of its sampling floor (marching cubes bevels the edges within a cell); each record
    names its convention, its Chamfer's definition and its floor."""
    conv = M.CONVENTIONS[name]
    shape = _cube_shape(48, 0.5 if name != "ours" else 1.0, mesh_resolution=64)
    side = 0.5 if name != "ours" else 1.0
    volumes = {k: _box_sdf(M.grid_points(a), side).reshape((len(a),) * 3) for k, a in conv.grids(shape).items()}
    m = conv.score(volumes, shape, seed=0)
    cell = 2 * shape.frame.half / 64
    assert m["convention"] == name and m["floor"]["chamfer"] <= m["chamfer"] and "chamfer_definition" in m
    assert m["iou"] > 0.97 and m["fscore"] > 0.95, m
    assert m["chamfer"] < {"ours": cell**2, "finer": 2 * cell**2, "scone": 2 * cell}[name], m
    assert set(conv.grids(shape)) == {"ours": {"mesh", "iou"}, "finer": {"mesh"}, "scone": {"mesh"}}[name]


def test_finer_samples_linspace_and_scone_arange_as_their_code():
    """FINER's field at torch.linspace(-0.5, 0.5, N) (eval.py:110), SCONE's at arange(-N/2, N/2) / N (dataset.py:122),
    ours at the cell centres; FINER's IoU on 128 points per axis of [-1, 1] (metrics.py:15-40)."""
    shape = _cube_shape(128, 0.5, mesh_resolution=8)
    np.testing.assert_allclose(M.CONVENTIONS["finer"].grids(shape)["mesh"], np.linspace(-0.5, 0.5, 8))
    np.testing.assert_allclose(M.CONVENTIONS["scone"].grids(shape)["mesh"], np.arange(-4, 4) / 8)
    np.testing.assert_allclose(M.CONVENTIONS["ours"].grids(shape)["mesh"], (np.arange(8) + 0.5) / 8 - 0.5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["task=sdf", "data=synthetic"], "task=sdf takes a 3-D shape"),
        (["task=complete", "data=bunny"], "data=bunny is a 3-D shape: use task=sdf"),
        (["task=occupancy", "data=mesh", "model=knn"], "model=knn has no network to query"),
        (["task=sdf", "data=mesh", "data.path=null"], "set data.path"),
        (["task=occupancy", "data=mesh", "model=wire", "model.out_activation=sigmoid"], "model.out_activation=none"),
        (["task=sdf", "data=mesh", "metrics.shape=scone"], "set data.frame=bacon"),
        (["task=sdf", "data=mesh", "data.cloud=c.xyz"], "it needs data.kind=points_with_normals"),
        (["task=sdf", "data=mesh", "data.frame=box"], "data.frame='box' is not one of bbox, bacon"),
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
    bunny = shapes.normalised(*shapes.read_mesh(shared_file("mesh/bunny.obj")))
    pts, sdf = shapes.sample(bunny, 20000, LABELS["sdf"], seed=0)
    nearest = sdf[cKDTree(pts).query(M.cell_centres(r))[1], 0].reshape(r, r, r)
    return M.iou(nearest <= 0, bunny.inside(M.cell_centres(r)).reshape(r, r, r))


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
    assert r["metrics"]["chamfer"] < 1e-3 and (out / "figure.png").is_file() and (out / "render.png").is_file()
    mesh = trimesh.load(out / "reconstruction.ply")
    assert len(mesh.faces) > 1000 and np.abs(mesh.vertices).max() <= 1
    bunny, back = trimesh.load(shared_file("mesh/bunny.obj")), trimesh.load(out / "reconstruction_input_frame.ply")
    frame = r["data"]["frame"]
    np.testing.assert_allclose(shapes.Frame("bbox", tuple(frame["centre"]), frame["scale"]).inverse(mesh.vertices),
                               back.vertices, atol=1e-6)
    lo, hi = bunny.bounds  # the input's own units: the frame's scale is 11.6 here, a mesh left in the frame would be
    assert ((back.centroid > lo) & (back.centroid < hi)).all()  # 11.6 times too large and off the bunny's box
    assert 0.8 < back.extents.max() / bunny.extents.max() < 1.25


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


def test_an_oriented_cloud_file_is_read_with_unit_normals(tmp_path):
    rng = np.random.default_rng(0)
    pts, nrm = rng.uniform(2, 4, (50, 3)), rng.normal(size=(50, 3)) * 5
    np.savetxt(tmp_path / "c.xyz", np.c_[pts, nrm])
    points, normals = shapes.read_cloud(tmp_path / "c.xyz")
    np.testing.assert_allclose(points, pts)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    np.savetxt(tmp_path / "bad.xyz", pts)
    with pytest.raises(shapes.UserError, match="6 columns"):
        shapes.read_cloud(tmp_path / "bad.xyz")


def _write_sphere(path, flip=False, drop=0, nan=0):
    ico = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    v, f = np.asarray(ico.vertices), np.asarray(ico.faces)
    f = f[:, ::-1] if flip else f[drop:]
    v = v.copy()
    v[:nan] = np.nan
    trimesh.Trimesh(v, f, process=False).export(path)
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("nan", "3 of the mesh's 642 vertices are not finite"),
        ("xyz", "a point cloud, not a mesh; an oriented point cloud trains with data.kind=points_with_normals"),
        ("points", "the file has no faces, so it is not a surface; an oriented point cloud trains with data.kind="),
    ],
)
def test_a_bad_mesh_is_refused_before_any_work(tmp_path, kind, message):
    """Non-finite vertices (libigl's winding number segfaults on them), a cloud file given as a mesh, a mesh file of
    points only: exit 2 with the count and what to do, no traceback."""
    if kind == "nan":
        path = _write_sphere(tmp_path / "s.obj", nan=3)
    elif kind == "xyz":
        path = tmp_path / "s.xyz"
        np.savetxt(path, np.random.default_rng(0).normal(size=(10, 6)))
    else:
        path = tmp_path / "s.ply"
        trimesh.PointCloud(trimesh.creation.icosphere(subdivisions=3).vertices).export(path)
    proc, _ = run_cli(tmp_path, "task=sdf", "data=mesh", f"data.path={path}", check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_inward_faces_are_flipped_and_holes_reported(tmp_path, caplog):
    """A sphere with its faces reversed (every winding number -1 inside: IoU 0 before) reads as the sphere with a
    warning; one with 5 faces removed reads with a warning naming its boundary edges (as trimesh counts them); a closed
    one is silent."""
    with caplog.at_level("WARNING", logger="inr_recover"):
        v, f = shapes.read_mesh(_write_sphere(tmp_path / "flip.obj", flip=True))
    assert "oriented inwards" in caplog.text and "watertight" not in caplog.text
    mesh = shapes.Mesh(v, f)
    assert mesh.signed_volume() > 0 and mesh.inside(np.zeros((1, 3)))[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="inr_recover"):
        shapes.read_mesh(_write_sphere(tmp_path / "open.obj", drop=5))
    holes = trimesh.load(tmp_path / "open.obj", process=False)
    edges = len(trimesh.grouping.group_rows(holes.edges_sorted, require_count=1))
    assert edges > 3 and f"not watertight ({edges} boundary edges)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="inr_recover"):
        shapes.read_mesh(_write_sphere(tmp_path / "ok.obj"))
    assert caplog.text == ""


@pytest.mark.parametrize("task", ["sdf", "occupancy"])
def test_the_default_model_runs_the_shape_tasks(tmp_path, task):
    """`inr-recover task=sdf|occupancy` with the default model (CHOIR): its recipe for shapes picks the linear head;
    its sigmoid head, asked for, is refused before the mesh is read (a path that does not exist is never looked at)."""
    sphere = _write_sphere(tmp_path / "s.obj")
    small = ["optim.iterations=20", "eval_every=20", "data.samples=3000", "data.resolution=16", "batch_size=1000"]
    _, out = run_cli(tmp_path, f"task={task}", "data=mesh", f"data.path={sphere}", *small, "save.mesh=[obj,stl]")
    r = json.loads((out / "results.json").read_text())
    assert r["model"]["name"] == "choir" and r["protocol"]["ran"]["model"] == {"out_activation": "none"}
    assert r["metrics"]["iou"] > 0 and r["protocol"]["differs"] == ["iterations"]
    names = [f"{n}.{ext}" for n in ("reconstruction", "reconstruction_input_frame") for ext in ("obj", "stl")]
    assert [Path(f).name for f in r["mesh_files"]] == names and r["mesh"] == str(out / "reconstruction.obj")
    assert all((out / f).is_file() for f in names) and not (out / "reconstruction.ply").exists()
    proc, _ = run_cli(tmp_path, f"task={task}", "data=mesh", "data.path=/nowhere.obj", "model.out_activation=sigmoid",
                      check=False)
    assert proc.returncode == 2 and "set model.out_activation=none" in proc.stderr and "nowhere" not in proc.stderr


def test_finer_convention_in_bacons_frame_from_the_command_line(tmp_path):
    """data.frame=bacon metrics.shape=finer: trained in BACON's cube, scored as FINER's code scores (its Chamfer is
    the summed one: twice ours on the same surfaces), the frame's numbers recorded; finer in our frame is refused."""
    sphere = _write_sphere(tmp_path / "s.obj")
    small = ["optim.iterations=60", "eval_every=60", "data.samples=3000", "batch_size=1000", "model=siren"]
    bacon = ["data.frame=bacon", "data.resolution=24", "data.mesh_resolution=32", "data.near_sigma=0.005"]
    _, out = run_cli(tmp_path, "task=sdf", "data=mesh", f"data.path={sphere}", *small, *bacon, "metrics.shape=finer")
    r = json.loads((out / "results.json").read_text())
    m, frame = r["metrics"], r["data"]["frame"]
    assert m["convention"] == "finer" and m["surface_samples"] == 300000 and m["grids"] == {"mesh": 32}
    assert frame["name"] == "bacon" and frame["cube"] == [-0.5, 0.5] and frame["scale"] == pytest.approx(0.9, rel=0.01)
    assert m["iou"] > 0.5 and m["floor"]["chamfer"] < m["chamfer"]
    (tmp_path / "ours").mkdir()
    proc, _ = run_cli(tmp_path / "ours", "task=sdf", "data=mesh", f"data.path={sphere}", "metrics.shape=finer",
                      check=False)
    assert proc.returncode == 2 and "set data.frame=bacon" in proc.stderr


def test_a_shape_query_renders_its_grids_chunk_by_chunk():
    """The Query's points made on the device from flat indices, any chunk: the model at every grid point in 'ij'
    order, the convention's grids one after the other."""
    import torch

    from inr_recover.tasks.shapes.task import Grids

    class Coord(torch.nn.Module):
        def predict(self, x):
            return x @ torch.tensor([[100.0], [10.0], [1.0]], dtype=x.dtype)

    axes = [np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)]
    flat = torch.from_numpy(np.concatenate(axes))
    expected = np.concatenate([M.grid_points(a) @ np.array([100.0, 10.0, 1.0]) for a in axes])
    for chunk in (None, 7, 1000):
        out = Grids((5, 3))(Coord(), flat, chunk)
        np.testing.assert_allclose(out[:, 0].numpy(), expected)


def test_finerpp_sdf_at_the_cpu_budget_prints_the_paper_only_in_its_convention(tmp_path):
    """experiment=finerpp_sdf (SIREN, FINER's settings, its metrics) on a sphere written here under the Armadillo's
    config name, 30 iterations: results.json names recipe.finerpp_sdf and FINER's convention, and the summary puts
    FINER++ Table 2's Armadillo IoU and Chamfer beside it; the same run scored in our convention gets no paper column;
    protocol=finerpp_sdf with an image task is refused."""
    from inr_recover.cli.summary import summarize

    sphere = _write_sphere(tmp_path / "s.obj")
    small = ["model=siren", f"data.path={sphere}", "optim.iterations=30", "eval_every=30", "batch_size=2000",
             "data.cloud_points=20000", "data.samples=2000", "data.resolution=24", "data.mesh_resolution=32"]
    for shape in ("finer", "ours"):
        (tmp_path / shape).mkdir()
        _, out = run_cli(tmp_path / shape, "experiment=finerpp_sdf", *small, f"metrics.shape={shape}")
        r = json.loads((out / "results.json").read_text())
        assert r["protocol"]["source"] == "conf/model/siren.yaml recipe.finerpp_sdf"
        assert r["metrics"]["convention"] == shape
        assert r["protocol"]["differs"] == ["iterations"] and r["data"]["name"] == "armadillo"
    head = summarize(tmp_path / "finer")["md"].read_text().splitlines()[0]
    assert "armadillo · none · paper IoU" in head and "armadillo · none · paper Chamfer" in head
    assert "paper" not in summarize(tmp_path / "ours")["md"].read_text().splitlines()[0]
    proc, _ = run_cli(tmp_path, "protocol=finerpp_sdf", "optim.iterations=2", check=False)
    assert proc.returncode == 2 and "protocol=finerpp_sdf is a paper's runs of task=sdf" in proc.stderr


def test_a_render_shades_the_nearest_surface_facing_the_camera():
    """A sphere seen from any view: a disc of the sphere's radius (in pixels of the framing box), brightest at its
    centre (the normal faces the camera) and darkest at its rim, the background empty."""
    from inr_recover.tasks.shapes.render import VIEWS, splat

    points, normals = _sphere(radius=0.5, subdivisions=5).surface(200000, 0)
    for view in VIEWS:
        image = splat(points, normals, view, (np.full(2, -1.0), np.full(2, 1.0)), size=101)
        covered = np.isfinite(image)
        assert abs(covered.mean() - np.pi * 0.25**2) < 0.02  # radius 0.5 of a box of side 2: pi r^2 / 4
        assert image[50, 50] > 0.95 and np.nanmin(image) < 0.5 and not covered[0, 0]
