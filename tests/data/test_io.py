"""Readers and writers by file format (inr_recover/data/io.py) and loading a file (inr_recover.data.load_file)."""
import numpy as np
import pytest
from conftest import shared_file, write_mat_v73

from inr_recover.data import load_file
from inr_recover.data.io import read_array, write_array
from inr_recover.errors import UserError


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
