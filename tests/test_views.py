"""inr_recover/tasks/views (rays.py, scene.py): camera rays, the cube's near/far, stratified bins, the volume-rendering
quadrature against closed forms, the Blender loader on the shared lego scene, and the rendered measurement."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import SHARED

from inr_recover.errors import UserError
from inr_recover.measure.observation import Observation
from inr_recover.tasks.views import rays as R
from inr_recover.tasks.views import scene as S
from inr_recover.tasks.views.rays import Rendered

LEGO = SHARED / "nerf" / "lego"
needs_lego = pytest.mark.skipif(
    not (LEGO / "transforms_train.json").is_file(), reason=f"the lego scene is not at {LEGO}"
)


def raw_of(sigma: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """The network outputs that the renderer turns into ``sigma`` and ``colour`` (log, logit)."""
    return torch.cat([sigma.log()[..., None], torch.logit(colour)], -1)


def slab(n: int, length: float) -> tuple:
    edges = torch.linspace(0.0, length, n + 1, dtype=torch.float64)[None]
    return edges[:, :-1], edges[:, 1:]


@pytest.mark.parametrize("background", [0.0, 1.0])
def test_a_constant_density_slab_transmits_exp_minus_sigma_d(background):
    """Density s over a slab of length d: the slab's opacity is 1 - exp(-s d) and the background shows through
    exp(-s d), whatever the number of bins."""
    s, d, c = 1.7, 0.9, torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    for n in (1, 7, 64):
        t0, t1 = slab(n, d)
        raw = raw_of(torch.full((1, n), s, dtype=torch.float64), c.expand(1, n, 3))
        out = R.composite(raw, t0, t1, background)
        expect = (1 - math.exp(-s * d)) * c + math.exp(-s * d) * background
        torch.testing.assert_close(out[0], expect)


def test_a_single_opaque_sample_returns_its_colour_and_hides_what_is_behind():
    t0, t1 = slab(4, 1.0)
    sigma = torch.tensor([[1e-9, 1e6, 1e-9, 1e6]], dtype=torch.float64)
    colour = torch.tensor([[[0.9, 0.9, 0.9], [0.1, 0.6, 0.3], [0.5, 0.5, 0.5], [0.7, 0.2, 0.2]]], dtype=torch.float64)
    out = R.composite(raw_of(sigma, colour), t0, t1, background=1.0)
    torch.testing.assert_close(out[0], colour[0, 1], atol=1e-6, rtol=0)


def test_empty_space_shows_the_background():
    t0, t1 = slab(8, 2.0)
    raw = raw_of(torch.full((1, 8), 1e-12, dtype=torch.float64), torch.full((1, 8, 3), 0.3, dtype=torch.float64))
    torch.testing.assert_close(R.composite(raw, t0, t1, 1.0)[0], torch.ones(3, dtype=torch.float64))


def test_a_ray_that_misses_the_cube_shows_the_background_whatever_the_density():
    """Zero-length bins (near = far) at a raw density of 100 (exp overflows float32 to inf): no inf * 0, the
    background, and a finite gradient."""
    t = torch.full((2, 8), 2.5)
    raw = torch.cat([torch.full((2, 8, 1), 100.0), torch.zeros(2, 8, 3)], -1).requires_grad_(True)
    out = R.composite(raw, t, t, background=1.0)
    torch.testing.assert_close(out, torch.ones(2, 3))
    out.sum().backward()
    assert torch.isfinite(raw.grad).all()


def test_trunc_exp_is_exp_with_a_clamped_gradient():
    x = torch.tensor([0.0, 2.0, 20.0], requires_grad=True)
    y = R.TruncExp.apply(x)
    torch.testing.assert_close(y, torch.exp(x.detach()))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.exp(torch.tensor([0.0, 2.0, 15.0])))


def look_at_origin(distance: float) -> np.ndarray:
    """A camera on the +z axis looking at the origin (Blender/OpenGL: the camera looks along its -z)."""
    pose = np.eye(4)
    pose[2, 3] = distance
    return pose


def test_camera_rays_go_through_pixel_centres_from_the_scaled_camera():
    angle = 2 * math.atan(0.5)  # focal = W: the image spans [-0.5, 0.5] of the unit plane
    rays = R.camera_rays(look_at_origin(4.0), S.Camera.of_frame({"camera_angle_x": angle}, {}, 2, 2), scale=0.5)
    np.testing.assert_allclose(rays[:, :3], [[0, 0, 2.0]] * 4)
    np.testing.assert_allclose(np.linalg.norm(rays[:, 3:], axis=1), 1.0)
    d = rays[:, 3:] / -rays[:, 5:6]  # back onto the plane z = -1 of the camera
    np.testing.assert_allclose(
        d[:, :2], [[-0.25, 0.25], [0.25, 0.25], [-0.25, -0.25], [0.25, -0.25]]
    )  # row 0 is the top


def test_a_camera_resized_to_another_aspect_keeps_its_field_of_view_on_each_axis():
    """A 400x400 Blender view (camera_angle_x 0.691, half-FoV 19.8 deg) rendered at [100, 50] (height, width): both
    half-FoVs stay 19.8 deg (the focal per axis; the width's focal on both axes would give 35.5 deg vertically)."""
    angle = 0.6911112070083618
    cam = S.Camera.of_frame({"camera_angle_x": angle}, {}, 400, 400).resized(100, 50)
    assert (cam.height, cam.width, cam.cx, cam.cy) == (100, 50, 25.0, 50.0)
    rays = R.camera_rays(np.eye(4), cam, 1.0).reshape(100, 50, 6)
    d = rays[..., 3:] / -rays[..., 5:6]  # onto the plane z = -1
    half = np.degrees(np.arctan([d[50, -1, 0] + 0.5 / cam.fx, d[0, 25, 1] + 0.5 / cam.fy]))  # edges, not centres
    np.testing.assert_allclose(half, np.degrees(angle / 2), atol=1e-6)


def test_intrinsics_of_a_transforms_file_are_read_per_file_and_per_frame():
    meta = {"fl_x": 300.0, "fl_y": 320.0, "cx": 190.0, "cy": 210.0, "w": 400, "h": 420}
    cam = S.Camera.of_frame(meta, {}, 1, 1)  # the file's w and h, not the image's
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.height, cam.width) == (300.0, 320.0, 190.0, 210.0, 420, 400)
    assert S.Camera.of_frame(meta, {"fl_x": 100.0}, 1, 1).fx == 100.0  # nerfstudio: a frame's own keys first
    one = S.Camera.of_frame({"fl_y": 50.0}, {}, 20, 30)  # one focal stands for both, the centre by default
    assert (one.fx, one.fy, one.cx, one.cy) == (50.0, 50.0, 15.0, 10.0)
    with pytest.raises(ValueError, match="no camera intrinsics"):
        S.Camera.of_frame({}, {}, 4, 4)


def write_scene(folder, frames: int, meta: dict | None = None, single: bool = True, size: int = 4):
    """A scene of ``frames`` views of ``size``^2 RGB PNGs (``img_<i>.png``) on the +z axis, in one transforms.json or
    in the Blender layout (the same frames in both splits)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(frames):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img_{i}.png")
    meta = {"camera_angle_x": 0.7, **(meta or {}),
            "frames": [{"file_path": f"img_{i}.png", "transform_matrix": look_at_origin(4.0).tolist()}
                       for i in range(frames)]}
    for name in ["transforms.json"] if single else ["transforms_train.json", "transforms_test.json"]:
        (folder / name).write_text(json.dumps(meta))
    return folder


def test_a_single_transforms_json_holds_out_every_eighth_frame(tmp_path):
    """instant-ngp / nerfstudio: one transforms.json with intrinsics and file names with their extension; frames 0 and
    8 of 10 are the test views, the other 8 train."""
    folder = write_scene(tmp_path / "s", 10, {"fl_x": 3.0, "fl_y": 3.0, "cx": 2.0, "cy": 2.0, "w": 4, "h": 4})
    scene = S.load_blender("s", path=str(folder), views=None, resize=None)
    r = scene.record()
    assert r["layout"] == "single" and r["test_views"] == ["img_0.png", "img_8.png"]
    assert r["train_views"] == [f"img_{i}.png" for i in (1, 2, 3, 4, 5, 6, 7, 9)]
    assert scene.values.shape == (8, 4, 4, 3) and scene.test_rays.shape == (2 * 16, 8)


@pytest.mark.parametrize(
    "text,message",
    [
        ("{not json", r"transforms_train.json: not JSON \(Expecting property name"),
        ('{"camera_angle_x": 0.7, "frames": []}', r"transforms_train.json: no frames"),
        ('{"camera_angle_x": 0.7, "frames": [{"file_path": "img_0.png", "transform_matrix": [[1, 0], [0, 1]]}]}',
         r"transforms_train.json: frame 0 \(img_0.png\): transform_matrix must be a finite 4x4 .* shape \(2, 2\)"),
        ('{"camera_angle_x": 0.7, "frames": [{"transform_matrix": []}]}', r"frame 0: no file_path"),
        ('{"frames": [{"file_path": "img_0.png", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}]}',
         r"transforms_train.json: frame img_0.png: no camera intrinsics"),
    ],
    ids=["not json", "no frames", "2x2 matrix", "no file", "no intrinsics"],
)
def test_a_malformed_transforms_file_is_one_line_naming_the_file_and_the_frame(tmp_path, text, message):
    folder = write_scene(tmp_path / "s", 1, single=False)
    (folder / "transforms_train.json").write_text(text)
    with pytest.raises(UserError, match=message) as e:
        S.load_blender("s", path=str(folder), resize=None)
    assert "\n" not in str(e.value)


def test_near_far_is_where_a_ray_crosses_the_cube():
    rays = np.array(
        [
            [0, 0, 3, 0, 0, -1],  # straight through: enters at z = 1, leaves at z = -1
            [0, 5, 3, 0, 0, -1],  # misses the cube
            [0, 0, 0.5, 0, 0, -1],
        ],
        float,
    )  # starts inside: near is min_near
    nf = R.near_far(rays, min_near=0.2)
    np.testing.assert_allclose(nf[0], [2.0, 4.0])
    assert nf[1, 0] == nf[1, 1]
    np.testing.assert_allclose(nf[2], [0.2, 1.5])


def test_bins_split_near_far_evenly_and_jitter_inside_them():
    table = torch.tensor([[0, 0, 3, 0, 0, -1, 2.0, 4.0]])
    rays = R.Rays(table.numpy(), samples=4)
    points, (t0, t1) = rays.bins(table, None)
    torch.testing.assert_close(t0[0], torch.tensor([2.0, 2.5, 3.0, 3.5]))
    torch.testing.assert_close(points[:, 2], 3 - (t0[0] + 0.25))  # centres: o + t d
    g = torch.Generator().manual_seed(0)
    points, (t0, t1) = rays.bins(table, g)
    t = 3 - points[:, 2]
    assert bool(((t >= t0[0]) & (t <= t1[0])).all()) and not torch.allclose(t, t0[0] + 0.25)


def test_pick_views_by_stride_or_seeded_draw():
    np.testing.assert_array_equal(S.pick(100, 25, "stride", 0), np.arange(0, 100, 4))
    a, b = S.pick(100, 25, "random", 3), S.pick(100, 25, "random", 3)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 25 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, S.pick(100, 25, "random", 4))
    np.testing.assert_array_equal(S.pick(10, None, "random", 0), np.arange(10))


def test_on_background_composites_then_averages_areas():
    rgba = np.zeros((1, 4, 4, 4), np.float32)
    rgba[0, :2, :2] = [1.0, 0.0, 0.0, 1.0]  # an opaque red quarter; the rest transparent
    rgba[0, 2:, 2:] = [0.0, 0.0, 1.0, 0.5]  # half-transparent blue over white
    out = S.on_background(rgba, (2, 2), background=1.0)
    np.testing.assert_allclose(out[0, 0, 0], [1, 0, 0])
    np.testing.assert_allclose(out[0, 0, 1], [1, 1, 1])
    np.testing.assert_allclose(out[0, 1, 1], [0.5, 0.5, 1.0])


def test_the_rendered_measurement_composites_each_rays_samples():
    table = np.array([[0, 0, 3, 0, 0, -1, 2.0, 4.0]] * 6, np.float32)
    obs = Observation(
        values=np.full((1, 2, 3, 3), 0.5, np.float32),
        known=np.ones((1, 2, 3, 3), bool),
        geometry=R.Rays(table, samples=5),
    )
    m = obs.measurement(obs.known, lambda y: y)
    assert isinstance(m, Rendered) and obs.in_features == 3 and obs.out_features == 4
    batch = m.sample(torch.Generator().manual_seed(0), 4)
    assert batch.inputs.shape == (20, 3) and batch.targets.shape == (4, 3)
    raw = torch.zeros(20, 4, requires_grad=True)  # density 1, colour 0.5 everywhere
    colour = m.apply(raw, batch)
    torch.testing.assert_close(colour, torch.full((4, 3), 0.5 * (1 - math.exp(-2)) + math.exp(-2)))
    colour.sum().backward()
    assert raw.grad.abs().sum() > 0


def test_options_are_checked_before_reading():
    with pytest.raises(UserError, match="view_order"):
        S.load_blender("x", path="/nowhere", view_order="every")
    with pytest.raises(UserError, match="names no scene"):
        S.load_blender("blender")
    with pytest.raises(UserError, match="scene file not found: /nowhere/transforms_train.json"):
        S.load_blender("x", path="/nowhere")


@needs_lego
def test_the_lego_scene_loads_with_its_views_picked_and_resized():
    scene = S.load_blender("lego", path=str(LEGO), views=4, view_order="stride", resize=[20, 24], test_views=2)
    assert scene.values.shape == (4, 20, 24, 3) and scene.test.shape == (2, 20, 24, 3)
    assert scene.rays.shape == (4 * 20 * 24, 8) and scene.test_rays.shape == (2 * 20 * 24, 8)
    assert scene.record()["train_views"] == ["./train/r_0", "./train/r_25", "./train/r_50", "./train/r_75"]
    assert scene.record()["test_views"] == ["./test/r_0", "./test/r_100"]
    np.testing.assert_allclose(scene.values[:, 0, 0], 1.0)  # corners: the white background
    centre = scene.rays.reshape(4, 20, 24, 8)[:, 10, 12]  # the cameras look at the origin
    o, d = centre[:, :3], centre[:, 3:6]
    assert np.all(np.linalg.norm(np.cross(o, d), axis=1) < 0.1)
    assert np.all(centre[:, 7] > centre[:, 6])  # they cross the cube


SCENE = [
    "task=view_synthesis",
    "data=lego",
    "data.views=3",
    "data.resize=[12,12]",
    "data.test_views=2",
    "task.samples=8",
    "batch_size=64",
    "optim.iterations=3",
    "metrics=fast",
    "progress=false",
]
TINY = [*SCENE, "model=siren", "model.width=16", "model.depth=1"]


@needs_lego
def test_a_view_synthesis_run_scores_test_views_only_and_writes_its_views(tmp_path):
    from conftest import read_results, run_cli

    _, out = run_cli(tmp_path, *TINY)
    r = read_results(out)
    m = r["metrics"]
    assert m["test_views"] == 2 and len(m["per_view"]["psnr"]) == 2
    assert m["psnr"] == pytest.approx(np.mean(m["per_view"]["psnr"]))
    assert r["data"]["test_views"] == ["./test/r_0", "./test/r_100"] and len(r["data"]["train_views"]) == 3
    assert set(m["baselines"]) == {"background", "mean_training_view"}
    assert r["observed"]["fraction"] == 1.0 and np.isfinite(r["observed"]["psnr_fit"])
    recon = np.load(out / "reconstruction.npz")["reconstruction"]
    assert recon.shape == (2, 12, 12, 3)  # the rendered test views
    for name in ("figure.png", "test_views.gif", "curves.png"):
        assert (out / name).stat().st_size > 0
    assert r["video"] == str(out / "test_views.gif")


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["task=view_synthesis", "data=astronaut"], "task=view_synthesis takes posed views"),
        (["task=complete", "data=lego"], "posed views of a scene: use task=view_synthesis"),
        (["task=view_synthesis", "data=lego", "degrade=random_0.1"], "takes degrade=none"),
        (["task=view_synthesis", "data=lego", "model=interp"], "has no network"),
    ],
)
def test_what_view_synthesis_cannot_take_is_refused_before_any_work(tmp_path, overrides, message):
    from conftest import run_cli

    proc, _ = run_cli(tmp_path, *overrides, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_malformed_scene_and_a_grid_method_exit_2_before_any_work(tmp_path):
    """From the command: a transforms file that is not JSON, one line and exit 2; a tensor method refused before the
    scene is read (its path is never looked at)."""
    from conftest import run_cli

    folder = write_scene(tmp_path / "s", 1, single=False)
    (folder / "transforms_train.json").write_text("{not json")
    proc, _ = run_cli(tmp_path, "task=view_synthesis", "data=blender", f"data.path={folder}", check=False)
    assert proc.returncode == 2 and "transforms_train.json: not JSON" in proc.stderr
    assert "Traceback" not in proc.stderr and "JSONDecodeError" not in proc.stderr
    proc, _ = run_cli(tmp_path, "task=view_synthesis", "data=blender", "data.path=/nowhere", "model=lrtfr",
                      check=False)
    assert proc.returncode == 2 and "view synthesis queries points along camera rays" in proc.stderr
    assert "nowhere" not in proc.stderr


@needs_lego
@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model=lrtfr"], "view synthesis queries points along camera rays"),
        (["model=choir", "protocol=common"], "set model.out_activation=none"),
        (["model=siren", "model.width=16", "task.samples=64", "batch_size=null", "memory_limit=0.005"], "batch_size="),
    ],
)
def test_a_model_or_batch_that_cannot_render_is_refused_before_training(tmp_path, overrides, message):
    from conftest import run_pipeline

    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        run_pipeline(tmp_path, *SCENE, *overrides)


@needs_lego
@pytest.mark.slow
def test_a_small_field_learns_lego_far_above_what_learns_nothing(tmp_path):
    """8 lego views at 50x50, a 64-wide SIREN, 300 iterations of 256 rays x 32 samples (about 30 s): the mean PSNR of
    4 test views is 16.22 and 15.93 dB at seeds 0 and 1 (2-core CPU), 5.3 to 5.6 dB above the white background
    alone (10.66 dB) and above the mean training view (14.91 dB)."""
    from conftest import run_pipeline

    r = run_pipeline(
        tmp_path,
        "task=view_synthesis",
        "data=lego",
        "model=siren",
        "model.width=64",
        "model.depth=3",
        "data.views=8",
        "data.resize=[50,50]",
        "data.test_views=4",
        "task.samples=32",
        "batch_size=256",
        "optim.iterations=300",
        "metrics=fast",
        "save.figures=false",
        "progress=false",
    )
    m = r["metrics"]
    assert m["psnr"] > m["baselines"]["background"] + 4.0
    assert m["psnr"] > m["baselines"]["mean_training_view"]
