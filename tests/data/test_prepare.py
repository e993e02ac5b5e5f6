"""A raw array to a normalised signal and back (inr_recover/data/prepare.py): layouts, crop/resize/bands, the
input's own axis order for masks and outputs."""
import numpy as np
import pytest

from inr_recover.data.prepare import prepare
from inr_recover.errors import UserError


@pytest.fixture
def cube():
    return np.arange(5 * 6 * 4, dtype=np.float64).reshape(5, 6, 4)


def test_prepare_normalises_and_inverts(cube):
    s = prepare(cube.transpose(2, 0, 1).astype(np.uint16), name="t", axes="CHW")
    assert s.values.shape == (5, 6, 4) and s.values.min() == 0 and s.values.max() == 1
    back = s.to_raw(s.values)
    assert back.dtype == np.uint16 and back.shape == (4, 5, 6)
    np.testing.assert_array_equal(back, cube.transpose(2, 0, 1))


def test_layouts_of_video():
    vid = np.random.default_rng(0).uniform(size=(8, 9, 3, 5))
    flat = prepare(vid, name="v", axes="HWCT")
    nd = prepare(vid, name="v", axes="HWCT", layout="nd")
    assert flat.values.shape == (8, 9, 15) and nd.values.shape == (8, 9, 5, 3)
    np.testing.assert_allclose(flat.frames_view(flat.values), nd.frames_view(nd.values))
    assert flat.frames_view(flat.values).shape == (5, 8, 9, 3)
    np.testing.assert_allclose(nd.to_raw(nd.values), vid, atol=1e-6)


def test_crop_resize_bands(cube):
    s = prepare(cube, name="t", crop=[1, 2, 3, 4], bands=[1, 3])
    assert s.values.shape == (3, 4, 2)
    r = prepare(np.random.default_rng(0).uniform(size=(32, 32, 2)), name="t", resize=[16, 8])
    assert r.values.shape == (16, 8, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(crop=[0, 0, 10, 10]), "does not fit"),
        (dict(axes="HW"), "does not describe"),
        (dict(bands=[2, 9]), "outside"),
        (dict(layout="weird"), "layout"),
    ],
)
def test_prepare_rejects_bad_options(cube, kwargs, match):
    with pytest.raises(UserError, match=match):
        prepare(cube, name="t", **kwargs)


def test_prepare_rejects_nan_empty_constant(cube):
    bad = cube.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        prepare(bad, name="t")
    with pytest.raises(UserError, match="empty"):
        prepare(np.zeros((0, 3)), name="t")
    with pytest.raises(UserError, match="constant"):
        prepare(np.ones((4, 4)), name="t")


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
    with pytest.raises(
        UserError, match=r"shape \(6, 7, 3\); expected \(6, 6, 3\) .* or \(8, 9, 3\) \(the whole input\)"
    ) as e:
        sig.from_own_axes(np.ones((6, 7, 3), bool), "mask m.npy")
    assert "\n" not in str(e.value)
    sig = prepare(np.random.default_rng(2).random((8, 8, 3)), name="t", resize=[4, 4])
    with pytest.raises(UserError, match="data.resize is set"):
        sig.from_own_axes(np.ones((8, 8, 3), bool), "mask")
    assert sig.from_own_axes(np.ones((4, 4, 3), bool), "mask").all()
