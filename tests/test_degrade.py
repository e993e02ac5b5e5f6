"""Degradation operators (inr_recover/measure/degrade.py): exact counts, seeding, composition, masks from files,
records."""

import numpy as np
import pytest
import torch
from conftest import compose_config

from inr_recover.data.io import write_array
from inr_recover.data.prepare import prepare
from inr_recover.errors import UserError
from inr_recover.measure.degrade import (
    Downsample,
    FromFile,
    Gaussian,
    Poisson,
    RandomMissing,
    SaltPepper,
    Stripes,
    TubeMissing,
    build_ops,
    degrade,
    operators,
    record,
)


@pytest.fixture
def clean():
    rng = np.random.default_rng(1)
    return rng.uniform(0.2, 0.8, (40, 50, 7)).astype(np.float32)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.05])
def test_random_missing_exact_fraction(clean, rate):
    obs = degrade(clean, [RandomMissing(rate)], seed=3)
    assert obs.known.sum() == round(rate * clean.size)
    assert np.all(obs.values[~obs.known] == 0)
    np.testing.assert_array_equal(obs.values[obs.known], clean[obs.known])
    assert not obs.pixelwise  # entries differ across bands


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_tube_missing_whole_pixels(clean, rate):
    obs = degrade(clean, [TubeMissing(rate)], seed=0)
    pix = obs.known[..., 0]
    assert pix.sum() == round(rate * 40 * 50)
    assert np.all(obs.known == pix[..., None])  # the same pixels in every band
    assert obs.pixelwise


def test_seeded_and_seed_dependent(clean):
    a, b, c = (degrade(clean, [RandomMissing(0.3)], seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.known, b.known)
    assert not np.array_equal(a.known, c.known)


def test_gaussian_noise_level():
    clean = np.full((200, 200, 4), 0.5, np.float32)
    obs = degrade(clean, [Gaussian(0.1)], seed=0)
    assert obs.known.all()
    assert abs(float((obs.values - clean).std()) - 0.1) < 0.002
    assert abs(float((obs.values - clean).mean())) < 0.002
    clipped = degrade(clean, [Gaussian(0.4)], seed=0).values
    assert clipped.min() >= 0 and clipped.max() <= 1  # clipped to [0, 1] as the CHOIR code


@pytest.mark.parametrize("known", [False, True])
def test_salt_and_pepper_counts(clean, known):
    obs = degrade(clean, [SaltPepper(0.1, known=known)], seed=2)
    n = round(0.1 * clean.size)
    hit = obs.values != clean
    if known:
        assert (~obs.known).sum() == n
        assert np.all(obs.values[~obs.known] == 0)
    else:
        assert obs.known.all()  # blind: the model is not told
        assert hit.sum() == n  # clean values lie in (0.2, 0.8), so every impulse changes its entry
        assert (obs.values == 1).sum() == n // 2 and (obs.values == 0).sum() == n - n // 2


def test_stripes_rows_and_columns_in_every_band(clean):
    obs = degrade(clean, [Stripes(0.1)], seed=0)
    dead = ~obs.known
    rows = np.flatnonzero(dead.all(axis=(1, 2)))
    cols = np.flatnonzero(dead.all(axis=(0, 2)))
    assert len(rows) == 4 and len(cols) == 5  # round(0.1 * 40), round(0.1 * 50)
    expected = np.zeros((40, 50), bool)
    expected[rows] = True
    expected[:, cols] = True
    assert np.all(dead == expected[..., None])
    assert np.all(obs.values[dead] == 0)


# ---------------------------------------------------------------- Scenes 2 and 3 as configured (conf/degrade/)

GREY = np.full((100, 60, 31), 0.5, np.float32)  # mid-grey: noise of sigma 0.2 never reaches 0 or 1 unclipped
GREY_SIGNAL = prepare(GREY, name="grey", axes="HWC", normalize="none")  # what build_ops binds file readers to


def scene(name: str, *overrides: str):
    """The observation ``degrade=name`` makes of GREY, with the config's own operators, order and seed."""
    cfg = compose_config(f"degrade={name}", *overrides).degrade
    return degrade(GREY, build_ops(cfg, GREY_SIGNAL), seed=int(cfg.seed))


def test_scene2_noise_then_exact_impulses():
    """Unclipped noise on mid-grey data is never exactly 0 or 1, so the entries that are hold the impulses: exactly
    round(0.1 N), half salt (the odd one pepper), none of them noisy (impulses come after the noise); the rest
    carry N(0, 0.2^2) noise. Blind: every entry is known."""
    obs = scene("scene2", "degrade.noise.clip=false")
    n = round(0.1 * GREY.size)
    salt, pepper = obs.values == 1, obs.values == 0
    assert salt.sum() == n // 2 and pepper.sum() == n - n // 2
    assert obs.known.all()
    noise = obs.values[~(salt | pepper)].astype(np.float64) - 0.5
    assert abs(noise.std() - 0.2) < 0.0015 and abs(noise.mean()) < 0.0015  # standard errors 0.0003 and 0.0005


def test_scene3_is_scene2_then_whole_dead_lines():
    """round(0.03 H) rows and round(0.03 W) columns, the same in every band and nothing else, are marked missing and
    zero (stripes come last: no noise or impulse survives on them); elsewhere Scene 3 is Scene 2 of the same seed."""
    s2, s3 = scene("scene2"), scene("scene3")
    dead = ~s3.known
    rows, cols = np.flatnonzero(dead.all(axis=(1, 2))), np.flatnonzero(dead.all(axis=(0, 2)))
    assert len(rows) == 3 and len(cols) == 2  # round(0.03 * 100), round(0.03 * 60) = round(1.8)
    lines = np.zeros(GREY.shape[:2], bool)
    lines[rows] = True
    lines[:, cols] = True
    np.testing.assert_array_equal(dead, np.broadcast_to(lines[..., None], GREY.shape))
    assert (s3.values[dead] == 0).all()
    np.testing.assert_array_equal(s3.values[~dead], s2.values[~dead])


@pytest.mark.parametrize("name", ["scene2", "scene3"])
def test_known_impulses_are_masked_blind_ones_are_not(name):
    """degrade.impulses.known=true (the official code) marks exactly the entries the blind impulses hit as missing, and
    zero; every other entry keeps its value."""
    blind = scene(name, "degrade.noise.clip=false")
    known = scene(name, "degrade.noise.clip=false", "degrade.impulses.known=true")
    impulses = ((blind.values == 0) | (blind.values == 1)) & blind.known
    assert impulses.sum() > 0.09 * GREY.size
    np.testing.assert_array_equal(~known.known, impulses | ~blind.known)
    assert (known.values[impulses] == 0).all()
    np.testing.assert_array_equal(known.values[known.known], blind.values[known.known])


def test_rate_out_of_range(clean):
    with pytest.raises(UserError, match="rate must be in"):
        degrade(clean, [RandomMissing(1.5)], seed=0)


def test_missing_input_entries_stay_missing(clean):
    missing = np.zeros(clean.shape, bool)
    missing[0, 0, :] = True
    obs = degrade(clean, [], seed=0, missing=missing)
    assert not obs.known[0, 0].any() and obs.known.sum() == clean.size - 7


def test_operators_record_themselves():
    ops = [Gaussian(0.2), SaltPepper(0.1, known=True), Stripes(0.03)]
    rec = record("scene3", 0, ops)
    assert rec["ops"] == [
        {"op": "Gaussian", "sigma": 0.2, "clip": True},
        {"op": "SaltPepper", "rate": 0.1, "known": True},
        {"op": "Stripes", "rate": 0.03, "known": True},
    ]
    assert rec["impulses"] == "known" and "impulses" not in record("random", 0, [RandomMissing(0.1)])
    assert record("scene2", 0, [SaltPepper(0.1), SaltPepper(0.1, known=True)])["impulses"] == "blind"


def bound(signal, **kw) -> FromFile:
    op = FromFile(**kw)
    op.bind(signal)
    return op


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


# --- forward operators (y = A(f)) and Poisson noise ---------------------------------------------------------------


def test_area_downsampling_is_the_block_mean():

    x = np.random.default_rng(0).random((12, 18, 2, 3)).astype(np.float32)  # H, W, C, T-like trailing axes
    for f in (2, 3):
        y = Downsample(f).on(x.shape[:-1]).forward(torch.from_numpy(x)).numpy()
        ref = x.reshape(12 // f, f, 18 // f, f, 2, 3).mean((1, 3))
        assert y.shape == ref.shape and np.allclose(y, ref, atol=1e-6)


def test_bicubic_downsampling_matches_pil():
    """PIL's BICUBIC resize (Keys a=-0.5, support widened by the factor) on float images is the reference."""
    from PIL import Image

    x = np.random.default_rng(1).random((24, 36, 2)).astype(np.float32)
    for f in (2, 3, 4):
        y = Downsample(f, "bicubic").on((24, 36)).forward(torch.from_numpy(x)).numpy()
        ref = np.stack(
            [
                np.asarray(Image.fromarray(x[..., c], mode="F").resize((36 // f, 24 // f), Image.BICUBIC))
                for c in range(2)
            ],
            -1,
        )
        assert np.abs(y - ref).max() < 1e-5


def test_downsampling_makes_the_observation_and_its_operator():

    x = np.random.default_rng(2).random((8, 8, 3)).astype(np.float32)
    op = Downsample(2)
    op.on(x.shape[:2])
    obs = degrade(x, [op], seed=0)
    assert obs.values.shape == (4, 4, 3) and obs.known.all() and obs.grid == (8, 8) and obs.geometry.operator is op
    assert np.allclose(obs.observe(x), obs.values)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Downsample(3).on((8, 9)), "multiples of 3"),
        (lambda: Downsample(1).on((8, 8)), "integer >= 2"),
        (lambda: Downsample(2, "lanczos").on((8, 8)), "not one of area, bicubic"),
    ],
)
def test_downsampling_refuses_bad_settings(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_downsampling_after_a_mask_is_refused():
    x = np.random.default_rng(3).random((8, 8, 1)).astype(np.float32)
    with pytest.raises(UserError, match="put it first"):
        degrade(x, [RandomMissing(0.5), Downsample(2).on((8, 8))], seed=0)


def test_poisson_mean_variance_and_exact_seeding():
    """``y = Poisson(peak x) / peak``: mean x, variance x / peak; the draw is numpy's Poisson of the seeded
    generator."""
    peak, x = 30.0, np.full((400, 500, 1), 0.4, np.float32)
    obs = degrade(x, [Poisson(peak)], seed=5)
    assert obs.values.mean() == pytest.approx(0.4, abs=2e-3)
    assert obs.values.var() == pytest.approx(0.4 / peak, rel=0.02)
    assert obs.known.all()
    ref = np.random.default_rng(5).poisson(peak * x.astype(np.float64)) / peak
    assert np.array_equal(obs.values, ref.astype(np.float32))
    assert not np.array_equal(degrade(x, [Poisson(peak)], seed=6).values, obs.values)
    with pytest.raises(UserError, match="peak must be > 0"):
        degrade(x, [Poisson(0.0)], seed=0)


def test_poisson_config_records_itself():
    cfg = compose_config("degrade=poisson_10")
    ops = build_ops(cfg.degrade, GREY_SIGNAL)
    assert isinstance(ops[0], Poisson) and ops[0].peak == 10
    assert record("poisson_10", 0, ops)["ops"][0]["peak"] == 10


def test_operators_are_named_and_applied_in_the_order_written():
    """A degrade config's operators are its `_target_` nodes, by name, in the order of the file (scene3: noise, then
    impulses, then stripes); a degradation without operators (none) has none."""
    assert list(operators(compose_config("degrade=scene3").degrade)) == ["noise", "impulses", "stripes"]
    assert [type(op).__name__ for op in build_ops(compose_config("degrade=scene3").degrade, GREY_SIGNAL)] == [
        "Gaussian",
        "SaltPepper",
        "Stripes",
    ]
    assert operators(compose_config("degrade=none").degrade) == {}
    assert list(operators(compose_config("degrade=from_file").degrade)) == ["file"]
