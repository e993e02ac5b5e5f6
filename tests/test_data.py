import numpy as np
import pytest

from inr_recover.data import load_file
from inr_recover.data.builtin import skimage_image, synthetic
from inr_recover.data.io import read_array, write_array
from inr_recover.data.prepare import prepare
from inr_recover.errors import UserError

from conftest import shared_file


def write_mat_v73(path, name, arr):
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 with a 512-byte header, axes stored reversed."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset(name, data=np.ascontiguousarray(arr.transpose(tuple(range(arr.ndim))[::-1])))
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .".ljust(116, b" "))


@pytest.fixture
def cube():
    return np.arange(5 * 6 * 4, dtype=np.float64).reshape(5, 6, 4)


@pytest.mark.parametrize("ext", [".mat", ".npy", ".npz", ".h5", ".tif"])
def test_round_trip_every_format(tmp_path, cube, ext):
    p = write_array(tmp_path / f"x{ext}", cube, key="cube")
    arr, key = read_array(p, "cube" if ext in (".mat", ".npz", ".h5") else None)
    np.testing.assert_array_equal(arr, cube)


def test_png_reader(tmp_path):
    img = (np.arange(8 * 9 * 3) % 256).astype(np.uint8).reshape(8, 9, 3)
    p = write_array(tmp_path / "x.png", img)
    np.testing.assert_array_equal(read_array(p)[0], img)


def test_mat_v73_axes_restored(tmp_path, cube):
    p = tmp_path / "v73.mat"
    write_mat_v73(p, "data", cube)
    arr, key = read_array(p)
    assert key == "data"
    np.testing.assert_array_equal(arr, cube)


def test_shared_pavia_v73():
    arr, key = read_array(shared_file("hsi/pavia_centre_crop_100x100x102_v73.mat"), "data")
    assert arr.shape == (100, 100, 102) and 0 <= arr.min() and arr.max() <= 1


def test_auto_key_and_errors(tmp_path, cube):
    p = write_array(tmp_path / "one.npz", cube, key="only")
    assert read_array(p)[1] == "only"
    np.savez(tmp_path / "two.npz", a=cube, b=cube)
    with pytest.raises(UserError, match="several arrays"):
        read_array(tmp_path / "two.npz")
    with pytest.raises(UserError, match="no array named 'zz'"):
        read_array(p, "zz")
    (tmp_path / "x.xyz").write_text("nope")
    with pytest.raises(UserError, match="unsupported format"):
        read_array(tmp_path / "x.xyz")


def test_missing_file_error_names_path_key_and_fix(tmp_path):
    with pytest.raises(UserError) as e:
        load_file("wdc", file="WDC.mat", root=str(tmp_path), key="dc")
    msg = str(e.value)
    assert str(tmp_path / "WDC.mat") in msg and "'dc'" in msg and "data.root" in msg and "data.path" in msg
    assert "\n" not in msg


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


def test_builtin_sources():
    a = skimage_image("astronaut", "astronaut", resize=[64, 64])
    assert a.values.shape == (64, 64, 3) and a.values.dtype == np.float32
    s = synthetic("s", shape=[8, 9, 3], kind="lowrank", rank=2)
    assert s.values.shape == (8, 9, 3) and 0 <= s.values.min() and s.values.max() <= 1
