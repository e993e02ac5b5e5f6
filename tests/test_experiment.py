"""The pipeline in this process (``conftest.run_pipeline``, the CLI minus Hydra's launcher): what results.json records,
the files a run writes, real observations (task=recover), and quality on real data."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.io

from conftest import TINY, read_results, run_cli, run_pipeline, shared_file


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
    np.testing.assert_array_equal(np.load(out / "reconstruction.npz")["prediction"], np.load(cli_out / "reconstruction.npz")["prediction"])


# ---------------------------------------------------------------- what results.json records


def test_restore_defaults_to_holdout_and_records_the_degradation(tiny):
    r, _ = tiny("task=restore", "degrade=scene3")
    assert r["selection"]["method"] == "holdout" and r["selection"]["requested"] == "auto"
    assert r["selection"]["fraction"] == 0.05 and r["selection"]["iteration"] in (2, 4)
    assert r["selection"]["patience"] == 300 and r["selection"]["stopped_early_at"] is None  # on by default, not reached
    d = r["degrade"]
    assert d["name"] == "scene3" and d["impulses"] == "blind"
    assert [op["op"] for op in d["ops"]] == ["Gaussian", "SaltPepper", "Stripes"]
    assert d["ops"][0]["sigma"] == 0.2 and d["ops"][1] == {"op": "SaltPepper", "rate": 0.1, "known": False}
    o = r["oracle"]
    assert o["gap_db"] == pytest.approx(o["psnr_peak"] - r["metrics"]["psnr"]) and o["gap_db"] >= -1e-9


def test_early_stop_and_time_to_quality_are_recorded(tiny):
    """``select.patience=0, select.min_iterations=2``: the first scoring point (2 of 4) is selected and the run ends
    there; results.json says where, why, what it saved, and the training seconds to the selected iteration."""
    r, _ = tiny("task=restore", "degrade=scene3", "select.patience=0", "select.min_iterations=2")
    s = r["selection"]
    assert r["iterations"] == s["iteration"] == s["stopped_early_at"] == 2 and s["iterations_saved"] == 2
    assert s["stop_reason"].startswith("no better holdout score in the 0 iterations after iteration 2")
    assert 0 < r["seconds_to_selected"] <= r["train_seconds"]


def test_known_impulses_and_explicit_final_are_recorded(tiny):
    r, _ = tiny("task=restore", "degrade=scene2", "degrade.ops.1.known=true", "select=final")
    assert r["degrade"]["impulses"] == "known" and r["selection"] == {"method": "final", "iteration": 4}


def test_holdout_selection_and_mat_output(tiny):
    r, out = tiny("select=holdout", "select.fraction=0.1", "save.mat=true", "task=restore", "degrade=scene3")
    assert r["selection"]["method"] == "holdout" and r["selection"]["iteration"] in (2, 4)
    assert "psnr_holdout" in r["observed"]
    assert scipy.io.loadmat(out / "reconstruction.mat")["reconstruction"].shape == (32, 32, 8)


# ---------------------------------------------------------------- every run saves its exact observation


def test_saved_mask_reproduces_the_observation_bit_for_bit(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_pipeline(a, *TINY, "data.shape=[16,12,5]", "degrade=tube_0.3", "optim.iterations=2")
    run_pipeline(b, *TINY, "data.shape=[16,12,5]", "degrade=from_file", f"degrade.mask={a}/mask.npz", "optim.iterations=2")
    za, zb = np.load(a / "reconstruction.npz"), np.load(b / "reconstruction.npz")
    assert za["known"].mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(za["known"], zb["known"])
    np.testing.assert_array_equal(za["observed"], zb["observed"])
    np.testing.assert_array_equal(np.load(a / "mask.npz")["mask"], np.load(b / "mask.npz")["mask"])
    assert not (a / "observed.npz").exists()  # a pure mask: the data's own values are the observation


def test_saved_noisy_observation_reproduces_bit_for_bit(tmp_path):
    """Gaussian noise + dead lines (known): the mask alone cannot reproduce the noise; observed.npz does."""
    a, b = tmp_path / "a", tmp_path / "b"
    common = [*TINY, "data.shape=[40,34,3]", "task=restore", "optim.iterations=2"]
    run_pipeline(a, *common, "degrade=scene3")
    run_pipeline(b, *common, "degrade=from_file", f"degrade.mask={a}/mask.npz", f"degrade.observed={a}/observed.npz")
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
    r, out = tiny("task=recover", "data=file", f"data.path={path}", "model.width=64", "model.depth=3",
                  "optim.iterations=300", "eval_every=100")
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
    # the holes are filled with the image: measured 28.4 dB on them (CHOIR width 64, depth 3, 300 it, seed 0,
    # CPU); filling them with the mean of the observed entries gives 15.5 dB
    hole_psnr = 10 * np.log10(span**2 / np.mean((rec - clean)[~obs] ** 2))
    assert hole_psnr > 26.0


def test_recover_sentinel_and_mask_file_in_native_units(tiny, tmp_path):
    """uint16 .npy, zeros mark missing (data.missing_value=0), and a per-pixel bad-line map (1 = missing) whose
    entries hold a saturated 65535: the range is taken over the observed entries only, output is uint16 .npy."""
    from skimage import data

    img = (data.astronaut()[200:224, 100:124].astype(np.uint16) * 100 + 1000)
    img[np.random.default_rng(5).random(img.shape) < 0.2] = 0
    img[7, :, :] = 65535
    dead = np.zeros(img.shape[:2], np.uint8)
    dead[7] = 1
    np.save(tmp_path / "cube.npy", img)
    np.save(tmp_path / "dead.npy", dead)
    r, out = tiny("task=recover", "data=file", f"data.path={tmp_path}/cube.npy", "data.missing_value=0",
                  "degrade=from_file", f"degrade.mask={tmp_path}/dead.npy", "degrade.mask_means=missing")
    rec = np.load(out / "reconstruction.npy")
    assert r["output"].endswith("reconstruction.npy") and rec.shape == img.shape and rec.dtype == np.uint16
    known = (img != 0) & (dead[..., None] == 0)
    np.testing.assert_array_equal(rec[known], img[known])  # integers: exact
    lo, hi = np.load(out / "reconstruction.npz")["norm"]
    assert (lo, hi) == pytest.approx((img[known].min(), img[known].max()), rel=1e-6)  # not set by the saturated line
    np.testing.assert_array_equal(np.load(out / "mask.npz")["mask"], known)


# ---------------------------------------------------------------- real data


def test_shared_cave_cloth_completion(tmp_path):
    """CHOIR on the real CAVE cloth cube (64x64 crop, 31 bands) from 10% random entries; measured 22.4 dB."""
    shared_file("msi/cave_cloth_256x256x31.mat")
    r = run_pipeline(tmp_path, "progress=false", "save.figures=false", "data=cave_cloth", "data.crop=[96,96,64,64]",
                     "degrade=random_0.1", "optim.iterations=200", "metrics=fast")
    assert r["data"]["channels"] == 31 and r["metrics"]["psnr"] > 20.5  # measured 22.37 dB (200 it, seed 0)
