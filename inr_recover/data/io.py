"""Array readers and writers by file format.

MATLAB v5 via scipy.io, MATLAB v7.3 via h5py (HDF5 stores MATLAB arrays with the axes reversed; they are
transposed back so a (H, W, B) MATLAB array reads as (H, W, B)), .npy/.npz, .h5/.hdf5, TIFF, PNG/JPEG, and netCDF
(.nc: netCDF4 is HDF5, read with h5py; netCDF3 with scipy.io.netcdf_file), whose variables are unpacked as CF says
(``scale_factor``, ``add_offset``) with ``_FillValue`` / ``missing_value`` entries as NaN.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inr_recover.errors import UserError
from inr_recover.run.files import atomic_path

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp"}
TIFF_EXT = {".tif", ".tiff"}
SUPPORTED = [".mat", ".npy", ".npz", ".h5", ".hdf5", ".nc", *sorted(TIFF_EXT), *sorted(IMAGE_EXT)]
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _pick_key(path: Path, keys: list[str], key: str | None) -> str:
    if key is not None:
        if key not in keys:
            raise UserError(
                f"{path}: no array named '{key}' (found: {', '.join(keys) or 'none'}); set data.key to one of them"
            )
        return key
    if len(keys) == 1:
        return keys[0]
    raise UserError(f"{path}: holds several arrays ({', '.join(keys)}); set data.key to the one to load")


def _is_mat_v73(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(128)
    return b"MATLAB 7.3" in head or head[:8] == HDF5_SIGNATURE


def _cf_values(raw, attrs: dict) -> np.ndarray:
    """A netCDF variable as float64: fill / missing values as NaN, then CF unpacking (``scale_factor``,
    ``add_offset``)."""
    arr = np.asarray(raw, dtype=np.float64)
    for name in ("_FillValue", "missing_value"):
        if name in attrs:
            arr = np.where(np.isin(arr, np.atleast_1d(np.asarray(attrs[name], dtype=np.float64))), np.nan, arr)
    return arr * float(np.asarray(attrs.get("scale_factor", 1.0))) + float(np.asarray(attrs.get("add_offset", 0.0)))


def _read_netcdf(path: Path, key: str | None) -> tuple[np.ndarray, str]:
    with open(path, "rb") as f:
        netcdf4 = f.read(8) == HDF5_SIGNATURE
    if netcdf4:
        import h5py

        with h5py.File(path, "r") as f:
            keys = [k for k, v in f.items() if isinstance(v, h5py.Dataset)]
            k = _pick_key(path, keys, key)
            return _cf_values(f[k][()], dict(f[k].attrs)), k
    import scipy.io

    try:
        nc = scipy.io.netcdf_file(path, "r", mmap=False)
    except Exception as e:  # not netCDF3 either
        raise UserError(f"{path}: cannot read as netCDF ({e})") from None
    with nc:
        k = _pick_key(path, list(nc.variables), key)
        var = nc.variables[k]
        return _cf_values(var[:], dict(var._attributes)), k


def _read_hdf5(path: Path, key: str | None, matlab: bool) -> tuple[np.ndarray, str]:
    import h5py

    with h5py.File(path, "r") as f:
        keys = []
        f.visititems(
            lambda name, obj: keys.append(name) if isinstance(obj, h5py.Dataset) and not name.startswith("#") else None
        )
        k = _pick_key(path, keys, key)
        arr = np.asarray(f[k][()])
    if matlab:  # MATLAB writes column-major; HDF5 sees the axes reversed
        arr = arr.transpose(tuple(range(arr.ndim))[::-1])
    return arr, k


WORKING_BYTES = 32  # bytes per entry while a file is read and prepared (the array, its float64 copies, the mask)


def _npy_entries(path: Path) -> int:
    """Entries of the array a .npy file's header announces (read before its data)."""
    with open(path, "rb") as f:
        fmt = np.lib.format
        header = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
        shape, _, _ = header(f)
    return int(np.prod(shape, dtype=np.int64))


def read_array(path: str | os.PathLike, key: str | None = None) -> tuple[np.ndarray, str | None]:
    """Read one array from ``path``; returns (array, key actually used or None). A file that cannot be read (empty,
    corrupt, truncated) or would not fit in memory is a one-line :class:`UserError`."""
    from inr_recover.engine.memory import require

    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    try:
        if path.suffix.lower() == ".npy":
            require(_npy_entries(path) * WORKING_BYTES, f"reading {path}")
        return _read(path, key)
    except UserError:
        raise
    except Exception as e:  # each reader's own error for a file it cannot parse
        reason = " ".join(str(e).split()) or type(e).__name__
        raise UserError(f"{path}: cannot read as a {path.suffix or 'data'} file ({reason[:200]})") from None


def _read(path: Path, key: str | None) -> tuple[np.ndarray, str | None]:
    ext = path.suffix.lower()
    if ext == ".mat":
        if _is_mat_v73(path):
            return _read_hdf5(path, key, matlab=True)
        import scipy.io

        mat = scipy.io.loadmat(path)
        keys = [k for k in mat if not k.startswith("__")]
        k = _pick_key(path, keys, key)
        return np.asarray(mat[k]), k
    if ext == ".npy":
        return np.load(path, allow_pickle=False), None
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            k = _pick_key(path, list(z.files), key)
            return z[k], k
    if ext in {".h5", ".hdf5"}:
        return _read_hdf5(path, key, matlab=False)
    if ext == ".nc":
        return _read_netcdf(path, key)
    if ext in TIFF_EXT:
        import tifffile

        return tifffile.imread(path), None
    if ext in IMAGE_EXT:
        from skimage import io as skio

        return skio.imread(path), None
    raise UserError(f"{path}: unsupported format '{ext}' (supported: {' '.join(SUPPORTED)})")


def write_array(path: str | os.PathLike, array: np.ndarray, key: str = "data") -> Path:
    """Write ``array`` in the format given by the suffix (inverse of :func:`read_array`), atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    with atomic_path(path) as tmp:
        if ext == ".mat":
            import scipy.io

            scipy.io.savemat(tmp, {key: array}, do_compression=True)
        elif ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, array)
        elif ext == ".npz":
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **{key: array})
        elif ext in {".h5", ".hdf5"}:
            import h5py

            with h5py.File(tmp, "w") as f:
                f.create_dataset(key, data=array, compression="gzip")
        elif ext in TIFF_EXT:
            import tifffile

            tifffile.imwrite(tmp, array, photometric="minisblack")
        elif ext in IMAGE_EXT:
            import imageio.v3 as iio

            iio.imwrite(tmp, array, extension=ext)
        else:
            raise UserError(f"{path}: unsupported output format '{ext}' (supported: {' '.join(SUPPORTED)})")
    return path
