"""Classical completion baselines: per-band interpolation and HaLRTC (inr_recover/models/classical.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_RUN, run_pipeline

from inr_recover.errors import UserError
from inr_recover.models.classical import fold, halrtc, interpolate, svt, unfold


def planar(shape, rng):
    """Each band an affine function of (row, col): linear interpolation reproduces it exactly inside the hull."""
    H, W = shape[:2]
    r, c = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    a, b, d = rng.random((3, int(np.prod(shape[2:]))))
    return (a * r[..., None] / H + b * c[..., None] / W + d).reshape(shape)


def hull_mask(known2d):
    """Pixels inside the convex hull of the known pixels (Delaunay of the known points)."""
    from scipy.spatial import Delaunay

    tri = Delaunay(np.argwhere(known2d))
    H, W = known2d.shape
    return (tri.find_simplex(np.argwhere(np.ones((H, W), bool))) >= 0).reshape(H, W)


@pytest.mark.parametrize("shape", [(20, 18, 3), (16, 15, 2, 2)])
@pytest.mark.parametrize("tube", [False, True])
def test_interpolation_reproduces_a_planar_image_inside_the_hull(shape, tube):
    rng = np.random.default_rng(0)
    x = planar(shape, rng)
    if tube:
        known = np.broadcast_to(
            (rng.random(shape[:2]) < 0.2).reshape(*shape[:2], *([1] * (len(shape) - 2))), shape
        ).copy()
    else:
        known = rng.random(shape) < 0.2
    out = interpolate(np.where(known, x, 0.0), known)
    assert np.array_equal(out[known], x[known])  # observed entries kept
    v, k, o = (a.reshape(*shape[:2], -1) for a in (x, known, out))
    for b in range(v.shape[-1]):
        inside = hull_mask(k[..., b])
        np.testing.assert_allclose(o[..., b][inside], v[..., b][inside], atol=1e-9)
        # outside the hull: the value of a nearest observed pixel (grid distances tie often)
        pts = np.argwhere(k[..., b])
        for i, j in np.argwhere(~inside)[:5]:
            d = ((pts - [i, j]) ** 2).sum(1)
            assert o[i, j, b] in {v[y, x, b] for y, x in pts[d == d.min()]}


def test_interpolation_nearest_and_empty_band():
    x = np.zeros((4, 4, 2))
    known = np.zeros((4, 4, 2), bool)
    x[0, 0, 0], known[0, 0, 0] = 0.8, True
    x[3, 3, 0], known[3, 3, 0] = 0.2, True
    out = interpolate(x, known, "nearest")
    assert out[1, 0, 0] == 0.8 and out[3, 2, 0] == 0.2  # nearest observed entry (2 points: no triangle)
    assert np.all(out[..., 1] == 0.5)  # a band with nothing observed: the mean of the observed entries
    with pytest.raises(UserError, match="method"):
        interpolate(x, known, "spline")
    with pytest.raises(UserError, match="no observed"):
        interpolate(x, np.zeros_like(known))


def test_unfold_fold_and_svt():
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    for mode in range(3):
        m = unfold(x, mode)
        assert m.shape == (x.shape[mode], x.numel() // x.shape[mode])
        assert torch.equal(m[1], x.select(mode, 1).reshape(-1))  # the mode's slice, flattened
        assert torch.equal(fold(m, mode, x.shape), x)
    a = torch.randn(6, 9, dtype=torch.float64)
    s = torch.linalg.svdvals(a)
    np.testing.assert_allclose(
        torch.linalg.svdvals(svt(a, float(s[2]))).numpy()[:2], (s[:2] - s[2]).numpy(), atol=1e-10
    )
    assert torch.linalg.matrix_rank(svt(a, float(s[2]))) == 2


def test_halrtc_recovers_an_exactly_low_rank_tensor_from_30_percent():
    rng = np.random.default_rng(0)
    G = rng.normal(size=(2, 2, 2))
    U, V, W = (rng.normal(size=(n, 2)) for n in (30, 30, 30))
    x = np.einsum("abc,ia,jb,kc->ijk", G, U, V, W)
    known = rng.random(x.shape) < 0.3
    out = halrtc(np.where(known, x, 0.0), known, iterations=1000, tol=1e-9)
    assert np.array_equal(out[known], x[known])
    rel = np.linalg.norm(out - x) / np.linalg.norm(x)
    assert rel < 1e-3, rel
    assert np.linalg.norm(np.where(known, x, 0.0) - x) / np.linalg.norm(x) > 0.8  # the holes were not trivial


def test_halrtc_bad_input():
    with pytest.raises(UserError, match="alpha"):
        halrtc(np.zeros((3, 3, 2)), np.ones((3, 3, 2), bool), alpha=[1.0, 1.0])
    with pytest.raises(UserError, match="shape"):
        halrtc(np.zeros((3, 3, 2)), np.ones((3, 3, 3), bool))


@pytest.mark.parametrize("name", ["interp", "halrtc"])
def test_solver_runs_through_the_pipeline_as_the_algorithm(tmp_path, name):
    """``model=interp|halrtc`` in the runner: the reconstruction is the algorithm's on the same observation, the
    observed entries are kept, and nothing is trained."""
    r = run_pipeline(
        tmp_path,
        f"model={name}",
        "data=synthetic",
        "data.shape=[20,18,3]",
        "degrade=random_0.3",
        "metrics=fast",
        "save.figures=false",
        "progress=false",
    )
    z = np.load(tmp_path / "reconstruction.npz")
    algo = interpolate if name == "interp" else halrtc
    np.testing.assert_allclose(z["reconstruction"], algo(z["observed"], z["known"]).astype(np.float32), atol=1e-6)
    assert r["iterations"] == 0 and r["model"]["params"] == 0 and r["selection"]["iteration"] == 0


def test_bicubic_baseline_is_bicubic_upsampling_of_y(tmp_path):
    """``model=bicubic`` in the runner (task=super_resolve): the reconstruction is the upsampled observation."""
    from inr_recover.models.classical import bicubic_upsample

    res = run_pipeline(
        tmp_path,
        *TINY_RUN,
        "task=super_resolve",
        "degrade=downsample_2",
        "model=bicubic",
        "degrade.downsample.kernel=bicubic",
    )
    saved = np.load(tmp_path / "reconstruction.npz")
    assert np.allclose(saved["reconstruction"], bicubic_upsample(saved["observed"], 2))
    assert res["degrade"]["ops"][0]["kernel"] == "bicubic" and res["metrics"]["psnr"] > 25


def test_bicubic_upsampling_matches_pil():
    """model=bicubic's upsampling is PIL's BICUBIC resize (Keys a=-0.5, pixel centres aligned)."""
    from PIL import Image

    from inr_recover.models.classical import bicubic_upsample

    y = np.random.default_rng(0).random((6, 9, 2)).astype(np.float32)
    for f in (2, 4):
        ref = np.stack(
            [np.asarray(Image.fromarray(y[..., c], mode="F").resize((9 * f, 6 * f), Image.BICUBIC)) for c in range(2)],
            -1,
        )
        assert np.abs(bicubic_upsample(y, f) - ref).max() < 1e-5


@pytest.mark.parametrize("name", ["interp", "halrtc"])
@pytest.mark.parametrize(
    "shape,layout,degrade,task",
    [
        ([12, 10, 1], "flatten", "random_0.3", "complete"),  # one channel (grey image)
        ([12, 10, 3, 4], "flatten", "tube_0.3", "complete"),  # RGB video, frames as channels (the presets' News)
        ([12, 10, 3, 4], "nd", "random_0.3", "complete"),  # RGB video on an (x, y, t) grid
        ([12, 10, 3], "flatten", "scene3", "restore"),  # Table 3's mixed degradation (noisy, stripes)
    ],
)
def test_solvers_run_on_every_data_kind_of_the_presets(tmp_path, name, shape, layout, degrade, task):
    """The baselines of every preset table run on each data kind the presets use, under the default
    protocol (no recipe: nothing trained), and keep the known entries (complete) or return the algorithm's output."""
    r = run_pipeline(
        tmp_path,
        f"model={name}",
        "data=synthetic",
        f"data.shape={shape}".replace(" ", ""),
        f"data.layout={layout}",
        f"degrade={degrade}",
        f"task={task}",
        "metrics=fast",
        "save.figures=false",
        "progress=false",
    )
    z = np.load(tmp_path / "reconstruction.npz")
    assert z["reconstruction"].shape == z["known"].shape and np.isfinite(z["reconstruction"]).all()
    assert r["iterations"] == 0 and r["protocol"]["note"] == "no training loop"
    if task == "complete":
        np.testing.assert_array_equal(z["reconstruction"][z["known"]], z["observed"][z["known"]].astype(np.float32))
