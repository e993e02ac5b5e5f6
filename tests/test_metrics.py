"""Metrics (inr_recover/measure/metrics.py) against direct formulas and scikit-image; LPIPS plumbing and channel
mapping."""

import numpy as np
import pytest
import torch

from inr_recover.measure import metrics as M


def test_psnr_formula():
    a = np.zeros((4, 4, 4, 1))
    b = a + 0.1
    assert M.psnr(a, b) == pytest.approx(20.0)
    assert M.psnr(a, a) == float("inf")


def test_band_psnr_is_mean_of_per_band():
    rng = np.random.default_rng(0)
    t = rng.uniform(size=(1, 16, 16, 3))
    r = t.copy()
    r[..., 0] += 0.1
    r[..., 1] += 0.01
    r[..., 2] += 0.001
    assert M.psnr_band(t, r) == pytest.approx((20 + 40 + 60) / 3)


def test_ssim_matches_skimage_per_band():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    t = rng.uniform(size=(1, 32, 32, 2))
    r = np.clip(t + rng.normal(0, 0.05, t.shape), 0, 1)
    expected = np.mean([structural_similarity(t[0, ..., c], r[0, ..., c], data_range=1.0) for c in range(2)])
    assert M.ssim(t, r) == pytest.approx(expected)
    assert M.ssim(t, t) == pytest.approx(1.0)


def test_sam_degrees():
    t = np.zeros((1, 1, 2, 4))
    t[..., 0] = 1
    r = t.copy()
    r[0, 0, 1] = [1, 1, 0, 0]
    assert M.sam(t, r) == pytest.approx((0 + 45) / 2)


def test_lpips_plumbing_with_random_backbone():
    """The lpips package's random AlexNet (pnet_rand) exercises the code path; never a reported figure."""
    net = M.lpips_model(random_backbone=True)
    assert net is not None
    rng = np.random.default_rng(0)
    t = rng.uniform(size=(2, 32, 32, 5))
    assert M.lpips_distance(t, t, net) == pytest.approx(0.0, abs=1e-6)
    noise = rng.normal(size=t.shape)
    small, large = (M.lpips_distance(t, np.clip(t + s * noise, 0, 1), net) for s in (0.1, 0.3))
    assert 0 < small < large  # a distance: more of the same noise, farther


def test_lpips_without_weights_is_null_with_warning(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub: no AlexNet weights
    M._LPIPS.pop(False, None)
    with pytest.warns(UserWarning, match="LPIPS skipped"):
        out = M.compute(np.zeros((1, 16, 16, 3)), np.zeros((1, 16, 16, 3)), names=("psnr", "lpips"))
    assert out["lpips"] is None
    M._LPIPS.pop(False, None)


@pytest.mark.parametrize(
    "channels,bands", [(1, [0, 0, 0]), (3, [0, 1, 2]), (5, [0, 2, 4]), (31, [0, 15, 30]), (102, [0, 51, 101])]
)
def test_lpips_channel_mapping(channels, bands):
    """The bands that reach the (random-backbone) network, per frame, as R, G, B scaled to [-1, 1]: one channel
    repeated, three as they are, more: bands [0, C//2, C-1]. Every band holds its own constant plus its frame index,
    so the inputs name the bands and frames they came from."""
    net = M.lpips_model(random_backbone=True)
    seen = []

    def recording(a, b):
        seen.append((a.clone(), b.clone()))
        return net(a, b)

    T, H, W = 2, 32, 32  # AlexNet pools a 16x16 input to nothing
    level = (np.arange(channels) + 1) / (channels + 2)  # band c holds (c + 1) / (C + 2) ...
    truth = np.broadcast_to(level, (T, H, W, channels)) + np.arange(T)[:, None, None, None] / (4 * (channels + 2))
    recon = truth[..., ::-1].copy()  # ... and the reconstruction holds the bands in reverse order
    M.lpips_distance(truth, recon, recording)
    assert len(seen) == T
    for f, (a, b) in enumerate(seen):
        assert a.shape == b.shape == (1, 3, H, W)
        for k, c in enumerate(bands):
            torch.testing.assert_close(a[0, k], torch.full((H, W), float(truth[f, 0, 0, c]) * 2 - 1))
            torch.testing.assert_close(b[0, k], torch.full((H, W), float(recon[f, 0, 0, c]) * 2 - 1))


def test_point_scores_nrmse_and_r2_by_hand():
    """NRMSE = mean_c RMSE_c / (max_c - min_c) of the truth; R^2 = mean_c 1 - SS_res / SS_tot (S-INR Table 4)."""
    truth = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [3.0, 40.0]])
    recon = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [5.0, 40.0]])  # channel 0: one error of 2
    # channel 0: RMSE sqrt(4/4) = 1 over range 3; SS_res 4, SS_tot 5 -> R^2 0.2. Channel 1 exact: 0 and 1.
    assert M.nrmse(truth, recon) == pytest.approx((1 / 3 + 0) / 2)
    assert M.r2(truth, recon) == pytest.approx((0.2 + 1.0) / 2)
    scaled = M.point_scores(truth * 7 + 3, recon * 7 + 3)  # unchanged by an affine rescaling
    assert scaled["nrmse"] == pytest.approx((1 / 3) / 2) and scaled["r2"] == pytest.approx(0.6)
    assert M.r2(np.ones((3, 1)), np.ones((3, 1))) == 1.0 and M.r2(np.ones((3, 1)), np.zeros((3, 1))) == 0.0


def test_every_metric_a_run_records_is_in_the_one_table():
    """The summary reads its headers, formats and "better" from metrics.METRICS: every metric a task's evaluation
    writes (a grid's, point data's, a shape's) is there, and the grid's are exactly those computed on a grid."""
    import trimesh

    from inr_recover.cli.summary import COLUMNS, RECORDED
    from inr_recover.tasks.shapes import mesh as shapes
    from inr_recover.tasks.shapes import metrics as SM
    from inr_recover.tasks.shapes.labels import LABELS
    from inr_recover.tasks.shapes.metrics import CONVENTIONS

    truth = np.random.default_rng(0).random((1, 8, 8, 4))
    grid = M.compute(truth, truth, names=tuple(M.GRID), lpips_net=None)
    points = M.point_scores(truth.reshape(-1, 4), truth.reshape(-1, 4) + 0.01)
    ico = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    sphere = shapes.Mesh(np.asarray(ico.vertices, np.float64), np.asarray(ico.faces, np.int64))
    pts, labels = shapes.sample(sphere, 50, LABELS["sdf"], seed=0)
    shape = shapes.Shape(values=labels, coords=pts, mesh=sphere, name="s", label=LABELS["sdf"], resolution=16)
    centres = SM.cell_centres(16)
    volume = (np.linalg.norm(centres, axis=1) - 0.5).reshape(16, 16, 16)
    scored = CONVENTIONS["ours"].score({"mesh": volume}, shape, seed=0)
    written = {*grid, *points, *(k for k, v in scored.items() if isinstance(v, float | None))}
    assert written <= set(M.METRICS) and set(M.GRID) == set(grid)
    assert scored["iou"] > 0.9 and set(COLUMNS) <= set(RECORDED) <= set(M.METRICS)
    assert [M.METRICS[m].better for m in ("psnr", "lpips", "chamfer", "iou")] == [max, min, min, max]
