"""Real observations: masks from files (degrade=from_file), saved masks, and task=recover (no ground truth)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from hydra import compose, initialize_config_dir

from inr_recover.data.io import write_array
from inr_recover.data.prepare import prepare
from inr_recover.degrade import FromFile
from inr_recover.errors import UserError
from inr_recover.experiment import run

from conftest import CONF, run_cli

TINY = ["model.width=16", "model.depth=2", "eval_every=2", "metrics=fast", "save.figures=false", "progress=false",
        "logger=none"]


def run_here(out, *overrides: str) -> dict:
    """The whole pipeline in this process (the CLI minus Hydra's launcher), writing under ``out``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*TINY, *overrides])
    return run(cfg, out)


def bound(signal, **kw) -> FromFile:
    op = FromFile(**kw)
    op.bind(signal)
    return op


# ---------------------------------------------------------------- the input's own axis order <-> the grid


@pytest.mark.parametrize("axes,shape,layout", [("CHW", (4, 6, 5), "flatten"), ("HW", (6, 5), "flatten"),
                                               ("HWCT", (6, 5, 2, 3), "flatten"), ("THWC", (3, 6, 5, 2), "nd")])
def test_own_axes_round_trip(axes, shape, layout):
    rng = np.random.default_rng(0)
    arr = rng.random(shape)
    sig = prepare(arr, name="t", axes=axes, layout=layout)
    mask = rng.random(shape) < 0.5
    grid_mask = sig.from_own_axes(mask, "mask")
    assert grid_mask.shape == sig.values.shape and grid_mask.dtype == bool
    np.testing.assert_array_equal(sig.to_own_axes(grid_mask), mask)
    # the data itself maps onto exactly the values prepare() built
    np.testing.assert_allclose((sig.from_own_axes(arr, "x") - sig.lo) / (sig.hi - sig.lo), sig.values, atol=1e-7)
    assert sig.own_shape == shape


def test_whole_input_mask_gets_the_same_crop_and_bands():
    rng = np.random.default_rng(1)
    arr = rng.random((5, 8, 7))  # C, H, W
    sig = prepare(arr, name="t", axes="CHW", crop=[2, 1, 4, 5], bands=[1, 4])
    assert sig.own_shape == (3, 4, 5) and sig.source_shape == (5, 8, 7)
    whole = rng.random((5, 8, 7)) < 0.5
    np.testing.assert_array_equal(sig.from_own_axes(whole, "mask"), sig.from_own_axes(whole[1:4, 2:6, 1:6], "mask"))
    # a per-pixel (H, W) mask is the same for every band, and is cropped too when it covers the whole input
    pix = rng.random((8, 7)) < 0.5
    g = sig.from_own_axes(pix, "mask")
    assert g.shape == (4, 5, 3) and all(np.array_equal(g[..., c], pix[2:6, 1:6]) for c in range(3))


def test_mask_of_wrong_shape_or_on_resized_data_is_one_line_error():
    sig = prepare(np.random.default_rng(2).random((8, 9, 3)), name="t", crop=[0, 0, 6, 6])
    with pytest.raises(UserError, match=r"shape \(6, 7, 3\); expected \(6, 6, 3\) .* or \(8, 9, 3\) \(the whole input\)") as e:
        sig.from_own_axes(np.ones((6, 7, 3), bool), "mask m.npy")
    assert "\n" not in str(e.value)
    sig = prepare(np.random.default_rng(2).random((8, 8, 3)), name="t", resize=[4, 4])
    with pytest.raises(UserError, match="data.resize is set"):
        sig.from_own_axes(np.ones((8, 8, 3), bool), "mask")
    assert sig.from_own_axes(np.ones((4, 4, 3), bool), "mask").all()


# ---------------------------------------------------------------- degrade=from_file


@pytest.fixture
def sig():
    return prepare(np.random.default_rng(3).random((6, 5, 4)) * 100, name="t")


def test_mask_file_values_and_meaning(tmp_path, sig):
    m = np.random.default_rng(4).random((6, 5, 4)) < 0.4
    known = np.ones(sig.values.shape, bool)
    for dtype in (bool, np.uint8, np.float64):
        write_array(tmp_path / "m.mat", m.astype(dtype), key="bad")
        values, k = bound(sig, mask_path=str(tmp_path / "m.mat"), mask_key="bad")(sig.values, known, None)
        np.testing.assert_array_equal(k, m)
        np.testing.assert_array_equal(values, np.where(m, sig.values, 0))
    np.save(tmp_path / "bad.npy", m)
    _, k = bound(sig, mask_path=str(tmp_path / "bad.npy"), mask_means="missing")(sig.values, known, None)
    np.testing.assert_array_equal(k, ~m)


@pytest.mark.parametrize("bad", [np.full((6, 5, 4), 2.0), np.full((6, 5, 4), np.nan), np.full((6, 5, 4), 0.5)])
def test_non_binary_mask_is_rejected(tmp_path, sig, bad):
    arr = np.ones((6, 5, 4))
    arr[0, 0, 0] = bad[0, 0, 0]
    np.save(tmp_path / "m.npy", arr)
    with pytest.raises(UserError, match="1 entries are neither 0 nor 1") as e:
        bound(sig, mask_path=str(tmp_path / "m.npy"))
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="needs the mask file: set degrade.mask="):
        bound(sig)


def test_observed_file_replaces_values_in_data_units(tmp_path, sig):
    raw = sig.to_raw(sig.values) + 10.0
    raw[1, 2, 3] = np.nan
    np.save(tmp_path / "obs.npy", raw)
    np.save(tmp_path / "m.npy", np.ones((6, 5, 4), bool))
    op = bound(sig, mask_path=str(tmp_path / "m.npy"), observed_path=str(tmp_path / "obs.npy"))
    values, k = op(sig.values, np.ones(sig.values.shape, bool), None)
    assert not k[1, 2, 3] and k.sum() == k.size - 1 and values[1, 2, 3] == 0
    expect = sig.values + 10.0 / (sig.hi - sig.lo)
    np.testing.assert_allclose(values[k], expect[k], atol=1e-6)


# ---------------------------------------------------------------- every run saves its exact mask


def test_saved_mask_reproduces_the_observation_bit_for_bit(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_here(a, "data=synthetic", "data.shape=[16,12,5]", "degrade=tube_0.3", "optim.iterations=2")
    run_here(b, "data=synthetic", "data.shape=[16,12,5]", "degrade=from_file", f"degrade.mask={a}/mask.npz",
             "optim.iterations=2")
    za, zb = np.load(a / "reconstruction.npz"), np.load(b / "reconstruction.npz")
    assert za["known"].mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(za["known"], zb["known"])
    np.testing.assert_array_equal(za["observed"], zb["observed"])
    np.testing.assert_array_equal(np.load(a / "mask.npz")["mask"], np.load(b / "mask.npz")["mask"])
    assert not (a / "observed.npz").exists()  # a pure mask: the data's own values are the observation


def test_saved_noisy_observation_reproduces_bit_for_bit(tmp_path):
    """Gaussian noise + dead lines (known): the mask alone cannot reproduce the noise; observed.npz does."""
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["data=synthetic", "data.shape=[40,34,3]", "task=restore", "optim.iterations=2"]
    run_here(a, *common, "degrade=scene3")
    run_here(b, *common, "degrade=from_file", f"degrade.mask={a}/mask.npz", f"degrade.observed={a}/observed.npz")
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


def test_recover_real_observation_with_nan_holes(tmp_path, holes):
    path, clean, holed = holes
    out = tmp_path / "run"
    r = run_here(out, "task=recover", "data=file", f"data.path={path}", "model.width=64", "model.depth=3",
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


def test_recover_sentinel_and_mask_file_in_native_units(tmp_path):
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
    out = tmp_path / "run"
    r = run_here(out, "task=recover", "data=file", f"data.path={tmp_path}/cube.npy", "data.missing_value=0",
                 "degrade=from_file", f"degrade.mask={tmp_path}/dead.npy", "degrade.mask_means=missing",
                 "optim.iterations=4")
    rec = np.load(out / "reconstruction.npy")
    assert r["output"].endswith("reconstruction.npy") and rec.shape == img.shape and rec.dtype == np.uint16
    known = (img != 0) & (dead[..., None] == 0)
    np.testing.assert_array_equal(rec[known], img[known])  # integers: exact
    lo, hi = np.load(out / "reconstruction.npz")["norm"]
    assert (lo, hi) == pytest.approx((img[known].min(), img[known].max()), rel=1e-6)  # not set by the saturated line
    np.testing.assert_array_equal(np.load(out / "mask.npz")["mask"], known)


def test_recover_preset_and_truth_rules():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        assert compose(config_name="config", overrides=["task=recover"]).degrade.name == "none"
        assert compose(config_name="config", overrides=["task=recover", "degrade=from_file"]).degrade.name == "from_file"


def test_cli_rejects_mismatched_mask_in_one_line(tmp_path):
    np.save(tmp_path / "m.npy", np.ones((31, 32, 8), bool))
    proc, _ = run_cli(tmp_path, "data=synthetic", "degrade=from_file", f"degrade.mask={tmp_path}/m.npy",
                      check=False, checkout=True)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "Traceback" not in proc.stderr
    assert "shape (31, 32, 8); expected (32, 32, 8)" in err[0] and "m.npy" in err[0]
