"""The pipeline in this process (``conftest.run_pipeline``, the CLI minus Hydra's launcher): what results.json records,
the files a run writes, real observations (task=recover), and quality on real data."""
from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
import scipy.io
from conftest import (
    TINY,
    TINY_RUN,
    clean_values,
    compose_config,
    psnr,
    read_curves,
    read_results,
    run_cli,
    run_pipeline,
    saved_psnr,
    shared_file,
    write_mat_v73,
)

from inr_recover.measure.domain import Domain


def _curves(run_dir):
    rows = list(csv.reader((run_dir / "curves.csv").open()))
    t = rows[0].index("seconds")
    return [[v for i, v in enumerate(row) if i != t] for row in rows]


def test_in_process_run_equals_the_cli(tmp_path, tiny):
    """The in-process runner gives the CLI's numbers: metrics, selection, the fit on observed entries, the curves."""
    over = ["task=restore", "degrade=scene3", "select.every=1"]
    _, cli_out = run_cli(tmp_path, *TINY, *over)
    here, out = tiny(*over)
    there = read_results(cli_out)
    for key in ("metrics", "selection", "observed", "degrade", "data", "model", "iterations", "config_sha"):
        assert here[key] == there[key], key
    assert here["oracle"]["psnr_peak"] == there["oracle"]["psnr_peak"]
    assert _curves(out) == _curves(cli_out)
    np.testing.assert_array_equal(
        np.load(out / "reconstruction.npz")["prediction"], np.load(cli_out / "reconstruction.npz")["prediction"]
    )


# ---------------------------------------------------------------- what results.json records


def _best_holdout_iteration(run_dir):
    """The iteration of the lowest holdout error in curves.csv (the points scored when select.every does not add
    any between evaluation points)."""
    rows = read_curves(run_dir)
    assert len(rows) == 2 and rows[0]["holdout"] != rows[1]["holdout"]
    return int(min(rows, key=lambda row: float(row["holdout"]))["iteration"])


def test_restore_defaults_to_holdout_and_records_the_degradation(tiny):
    r, out = tiny("task=restore", "degrade=scene3")
    assert r["selection"]["method"] == "holdout" and r["selection"]["requested"] == "auto"
    assert r["selection"]["fraction"] == 0.05 and r["selection"]["iteration"] == _best_holdout_iteration(out)
    assert (
        r["selection"]["patience"] == 300 and r["selection"]["stopped_early_at"] is None
    )  # on by default, not reached
    d = r["degrade"]
    assert d["name"] == "scene3" and d["impulses"] == "blind"
    assert [op["op"] for op in d["ops"]] == ["Gaussian", "SaltPepper", "Stripes"]
    assert d["ops"][0]["sigma"] == 0.2 and d["ops"][1] == {"op": "SaltPepper", "rate": 0.1, "known": False}
    o = r["oracle"]
    assert o["gap_db"] == pytest.approx(o["psnr_peak"] - r["metrics"]["psnr"]) and o["gap_db"] >= -1e-9


def test_results_record_the_protocol_that_ran(tiny):
    """results.json ``protocol``: the recipe's source, the resolved values that ran, and where an explicit override
    departed from the recipe (SIREN: l2, lr 1e-4, no schedule, wd 0, no clip, [-1, 1])."""
    r, _ = tiny("model=siren", "optim.weight_decay=0.5")
    p = r["protocol"]
    assert (p["name"], p["source"]) == ("official", "conf/model/siren.yaml recipe.complete")
    ran = p["ran"]
    assert (ran["loss"], ran["range"], ran["lr"], ran["grad_clip"], ran["scheduler"]["name"]) == (
        "l2",
        [-1, 1],
        1e-4,
        None,
        "none",
    )
    assert (
        ran["weight_decay"] == 0.5
        and p["protocol"]["weight_decay"] == 0.0
        and p["differs"] == ["weight_decay", "iterations"]
    )  # 4 it, not 10000
    r, _ = tiny("model=siren", "protocol=common")
    assert r["protocol"]["source"] == "conf/protocol/common.yaml" and r["protocol"]["ran"]["loss"] == "l1"


def test_early_stop_and_time_to_quality_are_recorded(tiny):
    """``select.patience=0, select.min_iterations=2``: the first scoring point (2 of 4) is selected and the run ends
    there; results.json says where, why, what it saved, and the training seconds to the selected iteration."""
    r, _ = tiny("task=restore", "degrade=scene3", "select.patience=0", "select.min_iterations=2")
    s = r["selection"]
    assert r["iterations"] == s["iteration"] == s["stopped_early_at"] == 2 and s["iterations_saved"] == 2
    assert s["stop_reason"].startswith("no better holdout score in the 0 iterations after iteration 2")
    assert 0 < r["seconds_to_selected"] <= r["train_seconds"]


def test_known_impulses_and_explicit_final_are_recorded(tiny):
    r, _ = tiny("task=restore", "degrade=scene2", "degrade.impulses.known=true", "select=final")
    assert r["degrade"]["impulses"] == "known" and r["selection"] == {"method": "final", "iteration": 4}


def test_holdout_selection_and_mat_output(tiny):
    r, out = tiny("select=holdout", "select.fraction=0.1", "save.mat=true", "task=restore", "degrade=scene3")
    assert r["selection"]["method"] == "holdout" and r["selection"]["iteration"] == _best_holdout_iteration(out)
    assert "psnr_holdout" in r["observed"]
    assert scipy.io.loadmat(out / "reconstruction.mat")["reconstruction"].shape == (32, 32, 8)


# ---------------------------------------------------------------- every run saves its exact observation


def test_saved_mask_reproduces_the_observation_bit_for_bit(tiny):
    _, a = tiny("data.shape=[16,12,5]", "degrade=tube_0.3", "optim.iterations=2")
    _, b = tiny("data.shape=[16,12,5]", "degrade=from_file", f"degrade.mask={a}/mask.npz", "optim.iterations=2")
    za, zb = np.load(a / "reconstruction.npz"), np.load(b / "reconstruction.npz")
    assert za["known"].mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(za["known"], zb["known"])
    np.testing.assert_array_equal(za["observed"], zb["observed"])
    np.testing.assert_array_equal(np.load(a / "mask.npz")["mask"], np.load(b / "mask.npz")["mask"])
    assert not (a / "observed.npz").exists()  # a pure mask: the data's own values are the observation


def test_saved_noisy_observation_reproduces_bit_for_bit(tiny):
    """Gaussian noise + dead lines (known): the mask alone cannot reproduce the noise; observed.npz does."""
    common = ["data.shape=[40,34,3]", "task=restore", "optim.iterations=2"]
    _, a = tiny(*common, "degrade=scene3")
    _, b = tiny(*common, "degrade=from_file", f"degrade.mask={a}/mask.npz", f"degrade.observed={a}/observed.npz")
    za, zb = np.load(a / "reconstruction.npz"), np.load(b / "reconstruction.npz")
    assert not za["known"].all()
    np.testing.assert_array_equal(za["known"], zb["known"])
    np.testing.assert_array_equal(za["observed"], zb["observed"])


# ---------------------------------------------------------------- task=recover: the file is the observation


@pytest.fixture
def holes(tmp_path):
    """A real photograph crop (scikit-image astronaut) in its own units (float64, offset and scaled), with
    30% of the entries NaN, stored as MATLAB v5 under the key 'scene'; returns (path, clean, holed)."""
    from skimage import data

    clean = data.astronaut()[120:152, 200:232].astype(np.float64) * 1.7 + 5.0
    holed = clean.copy()
    holed[np.random.default_rng(0).random(clean.shape) < 0.3] = np.nan
    path = tmp_path / "holes.mat"
    scipy.io.savemat(path, {"scene": holed})
    return path, clean, holed


def test_recover_real_observation_with_nan_holes(tiny, holes):
    path, clean, holed = holes
    r, out = tiny(
        "task=recover",
        "data=file",
        f"data.path={path}",
        "model.width=64",
        "model.depth=3",
        "optim.iterations=300",
        "eval_every=100",
    )
    assert r["metrics"] == {} and "oracle" not in r and r["degrade"]["name"] == "none"
    assert r["observed"]["fraction"] == pytest.approx(np.isfinite(holed).mean())
    mat = scipy.io.loadmat(out / "reconstruction.mat")
    assert [k for k in mat if not k.startswith("__")] == ["scene"] and r["output"] == str(out / "reconstruction.mat")
    rec = mat["scene"]
    assert rec.shape == holed.shape and rec.dtype == np.float64 and np.isfinite(rec).all()
    obs = np.isfinite(holed)
    span = np.nanmax(holed) - np.nanmin(holed)
    # observed entries come back unchanged up to float32 round-off of the normalised values (measured 3e-8 * span)
    np.testing.assert_allclose(rec[obs], holed[obs], rtol=0, atol=1e-6 * span)
    np.testing.assert_array_equal(np.load(out / "mask.npz")["mask"], obs)
    # the holes are filled with the image, well above filling them with the mean of the observed entries: measured
    # 28.4 dB against 15.5 dB (CHOIR width 64, depth 3, 300 it, seed 0, CPU); the margin is the measured 12.9 - 0.5
    hole_psnr = 10 * np.log10(span**2 / np.mean((rec - clean)[~obs] ** 2))
    mean_fill = 10 * np.log10(span**2 / np.mean((np.nanmean(holed) - clean)[~obs] ** 2))
    assert hole_psnr >= mean_fill + 12.4, (hole_psnr, mean_fill)


def test_recover_sentinel_and_mask_file_in_native_units(tiny, tmp_path):
    """uint16 .npy, zeros mark missing (data.missing_value=0), and a per-pixel bad-line map (1 = missing) whose
    entries hold a saturated 65535: the range is taken over the observed entries only, output is uint16 .npy."""
    from skimage import data

    img = data.astronaut()[200:224, 100:124].astype(np.uint16) * 100 + 1000
    img[np.random.default_rng(5).random(img.shape) < 0.2] = 0
    img[7, :, :] = 65535
    dead = np.zeros(img.shape[:2], np.uint8)
    dead[7] = 1
    np.save(tmp_path / "cube.npy", img)
    np.save(tmp_path / "dead.npy", dead)
    r, out = tiny(
        "task=recover",
        "data=file",
        f"data.path={tmp_path}/cube.npy",
        "data.missing_value=0",
        "degrade=from_file",
        f"degrade.mask={tmp_path}/dead.npy",
        "degrade.mask_means=missing",
    )
    rec = np.load(out / "reconstruction.npy")
    assert r["output"].endswith("reconstruction.npy") and rec.shape == img.shape and rec.dtype == np.uint16
    known = (img != 0) & (dead[..., None] == 0)
    np.testing.assert_array_equal(rec[known], img[known])  # integers: exact
    lo, hi = np.load(out / "reconstruction.npz")["norm"]
    assert (lo, hi) == pytest.approx((img[known].min(), img[known].max()), rel=1e-6)  # not set by the saturated line
    np.testing.assert_array_equal(np.load(out / "mask.npz")["mask"], known)


def test_recover_v73_non_square_keeps_its_orientation(tiny, tmp_path):
    """A MATLAB v7.3 file (HDF5, axes stored reversed) of a 24 x 40 x 3 observation with NaN holes: the repaired
    file (MATLAB v5, the same name) reads back 24 x 40 x 3 in MATLAB's orientation, with the observed entries in
    place."""
    from skimage import data

    holed = data.astronaut()[100:124, 200:240].astype(np.float64)
    holed[np.random.default_rng(0).random(holed.shape) < 0.3] = np.nan
    write_mat_v73(tmp_path / "scene.mat", "cube", holed)
    r, out = tiny("task=recover", "data=file", f"data.path={tmp_path}/scene.mat")
    assert r["data"]["grid"] == [24, 40] and r["data"]["channels"] == 3
    mat = scipy.io.loadmat(r["output"])
    assert [k for k in mat if not k.startswith("__")] == ["cube"]
    rec, obs = mat["cube"], np.isfinite(holed)
    assert rec.shape == (24, 40, 3) and np.isfinite(rec).all()
    np.testing.assert_allclose(rec[obs], holed[obs], rtol=0, atol=1e-6 * 255)


# ---------------------------------------------------------------- degrade.seed alone decides the observation


@pytest.mark.parametrize("scene", [["degrade=tube_0.3"], ["degrade=scene3", "task=restore"]])
def test_degrade_seed_alone_decides_the_observation(tiny, scene):
    """The same degrade.seed gives the same mask and observed values (noise, impulses, dead lines) whatever the model
    and the training seed; another degrade.seed gives another mask."""

    def observation(*overrides):
        _, out = tiny(*scene, "optim.iterations=1", "eval_every=1", *overrides)
        z = np.load(out / "reconstruction.npz")
        return z["known"], z["observed"]

    known, observed = observation()
    assert 0 < known.mean() < 1
    for other in (["seed=1"], ["model=siren", "seed=5"], ["model=pemlp"]):
        k, o = observation(*other)
        np.testing.assert_array_equal(k, known, err_msg=str(other))
        np.testing.assert_array_equal(o, observed, err_msg=str(other))
    k, o = observation("degrade.seed=1")
    assert (k != known).mean() > 0.01 and not np.array_equal(o, observed)


# ---------------------------------------------------------------- video end to end


def test_video_nd_layout_end_to_end(tmp_path):
    """The News video (H, W, RGB, T) with data.layout=nd: the model's grid is (H, W, T) with 3 channels, and the
    headline metrics are over frames, as recomputed here from the file: PSNR of the MSE over all frames, band PSNR
    and SSIM the means over every (frame, channel) image."""
    from skimage.metrics import structural_similarity

    path = shared_file("video/news_qcif_rgb_144x176x3x10.mat")
    r = run_pipeline(
        tmp_path,
        "data=news_qcif",
        "data.layout=nd",
        "data.crop=[40,60,16,20]",
        "data.frames=[2,6]",
        "model.width=16",
        "model.depth=2",
        "optim.iterations=20",
        "eval_every=10",
        "metrics=fast",
        "save.figures=false",
        "progress=false",
    )
    assert r["data"]["grid"] == [16, 20, 4] and r["data"]["channels"] == 3 and r["data"]["layout"] == "nd"
    raw = scipy.io.loadmat(path)["X"][40:56, 60:80, :, 2:6]  # (H, W, C, T)
    truth = np.moveaxis((raw - raw.min()) / (raw.max() - raw.min()), 3, 0)  # (T, H, W, C)
    recon = np.load(tmp_path / "reconstruction.npz")["reconstruction"]
    assert recon.shape == (16, 20, 4, 3)
    recon = np.clip(np.moveaxis(recon, 2, 0), 0, 1).astype(np.float64)  # grid (H, W, T) -> (T, H, W, C)
    mse = ((recon - truth) ** 2).mean(axis=(1, 2))  # (T, C)
    assert r["metrics"]["psnr"] == pytest.approx(10 * np.log10(1 / mse.mean()), abs=1e-4)
    assert r["metrics"]["psnr_band"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), abs=1e-4)
    ssim = [
        structural_similarity(truth[t, ..., c], recon[t, ..., c], data_range=1.0) for t in range(4) for c in range(3)
    ]
    assert r["metrics"]["ssim"] == pytest.approx(np.mean(ssim), abs=1e-5)
    assert mse.std() > 0.05 * mse.mean()  # the frames and channels differ: a per-frame mix-up would show


# --- observations through a forward operator: super-resolution, point data ----------------------------------------

SR = ["task=super_resolve", "degrade=downsample_2"]


def solver(tmp_path, *overrides):
    """A run of a model without TINY's network size (baselines, grid-only methods)."""
    return run_pipeline(tmp_path / "run", *TINY_RUN, *overrides), tmp_path / "run"


def test_super_resolution_end_to_end(tiny):
    """y is the 2x area-downsampled image; the model is scored on the full grid; the figure shows the input."""
    res, out = tiny(*SR, "save.figures=true")
    assert res["degrade"]["ops"][0] == {"op": "Downsample", "factor": 2, "kernel": "area"}
    assert res["data"]["grid"] == [32, 32]
    assert res["metrics"]["psnr"] == pytest.approx(saved_psnr(out, clean_values(*TINY)), abs=1e-6)  # on the full grid
    saved = np.load(out / "reconstruction.npz")
    assert saved["observed"].shape == (16, 16, 8) and saved["reconstruction"].shape == (32, 32, 8)
    assert (out / "figure.png").is_file() and not (out / "mask.npz").exists()
    assert "zero_shot" not in res


def test_zero_shot_trains_at_2x_and_queries_the_full_grid(tiny):
    """train_factor=2 on a 4x observation: trained on an 16x16 grid (y 8x8, A = 2x area), queried at 32x32."""
    res, out = tiny("task=super_resolve", "degrade=downsample_4", "task.train_factor=2")
    assert res["zero_shot"]["train_factor"] == 2 and res["zero_shot"]["factor"] == 4
    saved = np.load(out / "reconstruction.npz")
    assert saved["observed"].shape == (8, 8, 8) and saved["prediction"].shape == (16, 16, 8)
    assert saved["reconstruction"].shape == (32, 32, 8)
    assert res["metrics"]["psnr"] == pytest.approx(saved_psnr(out, clean_values(*TINY)), abs=1e-6)  # of the 32x32 query


def test_super_resolution_holdout_is_low_resolution_pixels(tiny):
    """The held-out entries are whole pixels of y, scored against the 2x2 block means of the prediction."""
    res, out = tiny(*SR, "select=holdout", "select.fraction=0.25")
    saved = np.load(out / "reconstruction.npz")
    held = saved["holdout"]
    assert held.shape == (16, 16, 8) and held.all(-1).sum() == 64 and np.array_equal(held.all(-1), held.any(-1))
    fitted = saved["prediction"].astype(np.float64).reshape(16, 2, 16, 2, 8).mean((1, 3))  # A(f): area downsampling
    assert res["observed"]["psnr_holdout"] == pytest.approx(
        psnr(np.clip(fitted[held], 0, 1), saved["observed"][held]), abs=1e-4
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["task=super_resolve"], "needs a downsampled observation"),
        (["degrade=downsample_2"], "use task=super_resolve"),
        ([*SR, "batch_size=64"], "batch_size must be null"),
        ([*SR, "model=interp"], "model=interp reads the observation entry by entry"),
        ([*SR, "model=sinr"], "model=sinr reads the observation entry by entry"),
        (["task=super_resolve", "degrade=downsample_4", "task.train_factor=3"], "does not divide"),
    ],
)
def test_super_resolution_refusals(tmp_path, overrides, message):
    from inr_recover.errors import UserError

    with pytest.raises(UserError, match=message):
        solver(tmp_path, *overrides)


def unobserved_nrmse(run_dir, sst_root):
    """NRMSE of the saved reconstruction on the points the observation does not hold (S-INR's Table 4 protocol)."""
    from inr_recover.data.points import sst
    from inr_recover.measure import metrics as M

    saved = np.load(run_dir / "reconstruction.npz")
    test = ~saved["known"].any(-1)
    return M.nrmse(sst(root=sst_root.split("=", 1)[1]).values[test], saved["reconstruction"][test])


@pytest.fixture
def sst_root(tmp_path):
    from data.test_points import write_sst

    folder = tmp_path / "points"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_sst(folder, rng.random((2, 3, 4)) * 4 - 2)
    return f"data.root={folder}"


def test_point_data_end_to_end(tiny, sst_root):
    """data=sst on a tiny file: the model is queried at the points' sphere coordinates, NRMSE/R^2 on unobserved
    points, a map figure."""
    res, out = tiny("data=sst", sst_root, "degrade=random_0.3", "model=siren", "save.figures=true")
    assert set(res["metrics"]) == {"nrmse", "r2"} and res["degrade"]["ops"][0]["per"] == "point"
    saved = np.load(out / "reconstruction.npz")
    known = saved["known"]
    assert known.shape == (11, 2) and np.array_equal(known.all(-1), known.any(-1)) and known.all(-1).sum() == 3
    assert res["metrics"]["nrmse"] == pytest.approx(unobserved_nrmse(out, sst_root))
    assert (out / "figure.png").is_file()


@pytest.mark.parametrize("model", ["interp", "halrtc", "lrtfr", "fresh", "iinr", "bicubic"])
def test_grid_only_methods_refuse_point_data(tmp_path, sst_root, model):
    from inr_recover.errors import UserError

    with pytest.raises(UserError, match=f"model={model} needs samples on a regular grid"):
        solver(tmp_path, "data=sst", sst_root, "degrade=random_0.3", f"model={model}")


@pytest.mark.parametrize("degrade", ["tube_0.1", "stripes_0.03", "downsample_2"])
def test_grid_only_degradations_refuse_point_data(tiny, sst_root, degrade):
    from inr_recover.errors import UserError

    with pytest.raises(UserError, match="needs an H x W grid"):
        tiny("data=sst", sst_root, f"degrade={degrade}")


def test_sinr_on_point_data_clusters_the_points(tiny, sst_root):
    """S-INR's generalized superpixels on scattered points (its point-data scripts: k-means, no overlap)."""
    res, out = tiny("data=sst", sst_root, "degrade=random_0.3", "model=sinr_points", "model.superpixels=2")
    assert (
        res["metrics"]["nrmse"] == pytest.approx(unobserved_nrmse(out, sst_root))
        and res["model"]["name"] == "sinr_points"
    )


def test_poisson_denoising_run_records_the_peak(tiny):
    res, out = tiny("degrade=poisson_30", "task=restore")
    assert res["degrade"]["ops"] == [{"op": "Poisson", "peak": 30}] and res["selection"]["method"] == "holdout"
    saved = np.load(out / "reconstruction.npz")
    counts = saved["observed"] * 30  # y * peak are integer photon counts
    assert np.allclose(counts, np.round(counts), atol=1e-4) and saved["known"].all()


def test_super_resolution_of_a_video_with_time_coordinates(tiny):
    """layout=nd: (x, y, t) coordinates; every frame downsampled in H and W, T untouched."""
    video = ["data.shape=[16,16,2,3]", "data.layout=nd"]
    res, out = tiny(*SR, *video)
    saved = np.load(out / "reconstruction.npz")
    assert saved["observed"].shape == (8, 8, 3, 2) and saved["reconstruction"].shape == (16, 16, 3, 2)
    assert res["metrics"]["psnr"] == pytest.approx(saved_psnr(out, clean_values(*TINY, *video)), abs=1e-6)


@pytest.mark.slow
def test_embedded_default_beats_interpolation_by_2db(tmp_path):
    """``inr-recover`` with no arguments (README "Quick start") beats per-band linear interpolation of the same mask
    by at least 2 dB, final iterate (select=auto -> final for completion). Measured (docs/results.md "The embedded
    default against interpolation"): 21.34 vs 18.87 dB in 193 s on the 2-core CPU."""
    default = run_pipeline(tmp_path / "default", "progress=false", "save.figures=false", "metrics=fast")
    interp = run_pipeline(tmp_path / "interp", "progress=false", "save.figures=false", "metrics=fast", "model=interp")
    assert np.array_equal(
        np.load(tmp_path / "default" / "mask.npz")["mask"], np.load(tmp_path / "interp" / "mask.npz")["mask"]
    )
    assert default["selection"]["method"] == "final"
    assert default["metrics"]["psnr"] >= interp["metrics"]["psnr"] + 2.0


# ---------------------------------------------------------------- never lose a finished fit


def test_failure_after_training_keeps_the_fit_and_a_rerun_only_redoes_what_failed(tmp_path, monkeypatch):
    """A metric that fails after training: the arrays and the selected model's state_dict are on disk, results.json
    says failed with the error; the rerun into the same dir reuses the fit (no training) and completes with the
    numbers of an uninterrupted run. The saved state_dict reproduces the saved prediction."""
    import json

    import torch

    from inr_recover.measure import metrics
    from inr_recover.measure.grid import grid_coords, predict
    from inr_recover.models.base import build_model

    over = [*TINY, "task=restore", "degrade=scene3"]  # holdout selection
    out = tmp_path / "run"

    def broken(truth, recon, _):
        raise RuntimeError("the metric server is down")

    monkeypatch.setitem(metrics.GRID, "ssim", dataclasses.replace(metrics.GRID["ssim"], grid=broken))
    with pytest.raises(RuntimeError, match="server is down"):
        run_pipeline(out, *over)
    failed = json.loads((out / "results.json").read_text())
    assert failed["status"] == "failed" and failed["failed_stage"] == "evaluate" and "server is down" in failed["error"]
    saved = {f: (out / f).stat().st_mtime_ns for f in ("reconstruction.npz", "model.pt", "mask.npz")}
    z = np.load(out / "reconstruction.npz")
    state = torch.load(out / "model.pt", weights_only=False)
    model = build_model(compose_config(*over).model, 2, 8, Domain.on_grid((32, 32)))
    model.load_state_dict(state["state_dict"])
    again = predict(model, grid_coords((32, 32)), None).reshape(32, 32, 8).detach().numpy()
    np.testing.assert_allclose(again, z["prediction"], atol=1e-6)
    assert state["fit"]["selected_iteration"] == failed["selection"]["iteration"]

    monkeypatch.undo()
    r = run_pipeline(out, *over)
    assert r["status"] == "complete" and {f: (out / f).stat().st_mtime_ns for f in saved} == saved
    assert r["train_seconds"] == failed["train_seconds"]  # the saved fit's, not a new one's
    ref = run_pipeline(tmp_path / "ref", *over)
    for key in ("metrics", "selection", "observed", "model", "iterations", "config_sha"):
        assert r[key] == ref[key], key
