"""The ``xarray`` source: any file or store xarray opens, mapped onto the canonical layout.

Covers WeatherBench 1 (a folder of netCDF files, one per variable and year), WeatherBench 2 (a
Zarr store with a ``level`` dimension), ERA5 and NCEP netCDF, GRIB (through cfgrib, if installed)
and radar stacks ``precip(time, y, x)``. Everything is opened lazily with dask: selection,
coarsening and the transform build a task graph, and nothing is read until the series is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field

from s2kd.data.sources.base import SourceData
from s2kd.data.sources.stores import locate, open_store
from s2kd.errors import InputError, ParameterError
from s2kd.params import Number, Params, PositiveInt

logger = logging.getLogger(__name__)

#: Dimension names recognised in files, per canonical role (first match wins).
DIM_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "valid_time", "datetime", "t"),
    "level": ("level", "isobaricInhPa", "plev", "lev", "pressure_level", "pressure"),
    "lat": ("lat", "latitude", "rlat"),
    "lon": ("lon", "longitude", "rlon"),
    "y": ("y", "south_north", "row"),
    "x": ("x", "west_east", "col"),
}

TRANSFORMS = ("log1p", "dbz")


def _open(o: XarrayOptions, variables: list[str] | None,
          storage_options: Mapping[str, Any] | None) -> tuple[xr.Dataset, pd.DatetimeIndex]:
    """Open the file, glob, folder or Zarr store at ``o.path`` (a local path or an fsspec URL), lazily."""
    path = str(o.path)
    store = locate(path, storage_options)
    time_names = (o.dims["time"],) if o.dims and "time" in o.dims else DIM_ALIASES["time"]
    try:
        return open_store(store, engine=o.engine, chunks=o.chunks, time_names=time_names, variables=variables)
    except InputError:
        raise
    except Exception as exc:  # any reader failure: corrupt, truncated, wrong format
        raise InputError(
            f"ingest.xarray.path ({path})",
            f"xarray could not read it ({type(exc).__name__}: {exc})",
            "check the file is complete and in a format xarray opens (netCDF, Zarr, GRIB with "
            "cfgrib); set ingest.xarray.engine to force a reader",
        ) from exc


def _find(da: xr.DataArray, role: str, override: Mapping[str, str]) -> str | None:
    if role in override:
        name = override[role]
        return name if name in da.dims else None
    return next((d for d in DIM_ALIASES[role] if d in da.dims), None)


def _channel_arrays(
    ds: xr.Dataset, variables: Sequence[str], dims: Mapping[str, str], level: Any, select: Mapping[str, Any], path: str
) -> list[tuple[str, xr.DataArray]]:
    """One (name, DataArray[time, Y, X]) per variable and level, with dims renamed to canonical."""
    out = []
    for var in variables:
        if var not in ds.data_vars:
            raise InputError(
                f"{path}: variable '{var}'",
                f"not in the file (it has {sorted(map(str, ds.data_vars))})",
                "set ingest.xarray.variables to names the file holds",
            )
        da = ds[var]
        sel = {k: v for k, v in select.items() if k in da.dims}
        if sel:
            try:
                da = da.sel(sel)
            except (KeyError, ValueError, TypeError) as exc:
                raise ParameterError("ingest.xarray.select", f"{sel} is not in variable '{var}' ({exc})",
                                     "select values that the coordinate holds") from exc
        t, lev = _find(da, "time", dims), _find(da, "level", dims)
        lat, lon = _find(da, "lat", dims), _find(da, "lon", dims)
        y, x = (lat, lon) if lat and lon else (_find(da, "y", dims), _find(da, "x", dims))
        if t is None or y is None or x is None:
            raise InputError(
                f"{path}: variable '{var}' with dims {tuple(da.dims)}",
                "needs a time dimension and two spatial ones (lat/lon or y/x)",
                "name them in ingest.xarray.dims, e.g. {time: valid_time, y: rlat, x: rlon}",
            )
        known = {t, y, x, lev} - {None}
        extra = [d for d in da.dims if d not in known]
        if extra:
            raise InputError(
                f"{path}: variable '{var}'",
                f"has dimension(s) {extra} the source cannot map to (time, channel, y, x)",
                f"pick one value with ingest.xarray.select, e.g. {{{extra[0]}: 0}}",
            )
        latlon = (np.asarray(da[y].values, dtype=float), np.asarray(da[x].values, dtype=float)) if lat and lon else None
        da = da.rename({k: v for k, v in {t: "time", y: "y", x: "x"}.items() if k != v})
        da = da.reset_coords(drop=True)
        if latlon is not None:
            da = da.assign_coords(lat=("y", latlon[0]), lon=("x", latlon[1]))
        if lev is None:
            out.append((var, da.transpose("time", "y", "x")))
            continue
        levels = da[lev].values if level is None else np.atleast_1d(level)
        for value in levels:
            try:
                one = da.sel({lev: value})
            except KeyError as exc:
                raise ParameterError(
                    "ingest.xarray.level",
                    f"level {value} is not in variable '{var}' (it has {da[lev].values.tolist()})",
                    "choose levels the file holds") from exc
            out.append((f"{var}{_fmt(value)}", one.drop_vars(lev, errors="ignore").transpose("time", "y", "x")))
    return out


def _fmt(value: Any) -> str:
    v = float(value)
    return f"{int(v)}" if v.is_integer() else f"{v:g}"


def apply_transform(da: xr.DataArray, name: str | None, options: Mapping[str, Any]) -> xr.DataArray:
    """The source's transform of raw values (``log1p``, ``dbz``; ``None``: as they are); any dims."""
    if name is None:
        return da
    if name == "log1p":
        return np.log1p(da.clip(min=0))
    if name == "dbz":
        # Marshall-Palmer Z = 200 R^1.6 with R in mm/h; rate_factor turns a per-step
        # accumulation into a rate (12 for mm per 5 min). Rates under threshold get zero_value.
        factor = float(options.get("rate_factor", 1.0))
        threshold = float(options.get("threshold_mmh", 0.1))
        zero_value = float(options.get("zero_value", -15.0))
        rate = da.clip(min=0) * factor
        dbz = 10.0 * np.log10(200.0 * rate.clip(min=threshold) ** 1.6)
        return dbz.where((rate >= threshold) | rate.isnull(), zero_value)
    raise AssertionError(f"unknown transform {name!r}: XarrayOptions allows only {TRANSFORMS}")


class XarrayOptions(Params):
    """The ``ingest.xarray`` options (conf/base/parameters_ingest.yml).

    Attributes:
        path: a file, a glob (``folder/*.nc``), a folder of netCDF files (WeatherBench 1) or a
            Zarr store (WeatherBench 2); local, or an fsspec URL (``gs://``, ``s3://``, ``https://``,
            ``zip::...``, ``file://``, ``memory://``) whose storage options (credentials) come from
            the ``xarray_store`` entry of ``conf/local/credentials.yml``.
        variables: data variables to use, each a channel (all data variables when ``None``).
        engine: xarray engine (``h5netcdf``, ``netcdf4``, ``zarr``, ``cfgrib``); ``None`` guesses.
        dims: file dimension name per role (``time``, ``level``, ``lat``, ``lon``, ``y``, ``x``)
            where the names are not the usual ones.
        level: level value(s) to keep; every level becomes its own channel (``z500``).
        select: values of other dimensions to pick, e.g. ``{number: 0}`` for an ensemble member.
        time_slice: ``[start, end]`` inclusive, as dates.
        coarsen: block-mean factors per canonical dim (``y``, ``x``, ``time``); NaN-aware.
        clip_min: lower bound applied before the transform (e.g. 0 for small negative radar values).
        transform: ``log1p`` or ``dbz`` (radar rain to reflectivity), or ``None``.
        transform_options: options of the transform (``dbz``: ``rate_factor``, ``threshold_mmh``,
            ``zero_value``).
        chunks: dask chunks passed to xarray: a dict, ``{}`` for the file's own, or ``"auto"``: time
            chunks of about 8 MiB along the file's time dimension, other dims whole
            (:func:`~s2kd.data.sources.stores.auto_chunks`).
    """

    group = "ingest.xarray"

    path: str | None = None
    variables: list[str] | str | None = None
    engine: str | None = None
    dims: dict[Literal["time", "level", "lat", "lon", "y", "x"], str] | None = None
    level: Any = None
    select: dict[str, Any] | None = None
    time_slice: Annotated[list[Any], Field(min_length=2, max_length=2)] | None = None
    coarsen: dict[Literal["time", "y", "x"], PositiveInt] | None = None
    clip_min: Number | None = None
    transform: Literal["log1p", "dbz"] | None = None
    transform_options: dict[Literal["rate_factor", "threshold_mmh", "zero_value"], Number] | None = None
    chunks: Any = "auto"


def load_xarray(options: XarrayOptions | None = None, /, storage_options: Mapping[str, Any] | None = None,
                **overrides: Any) -> SourceData:
    """Open any xarray-readable data lazily and return it in the canonical layout.

    Args:
        options: the options (:class:`XarrayOptions`); or give them as keywords
            (``load_xarray(path=..., variables=[...])``).
        storage_options: fsspec storage options (credentials) for a URL path; ignored for local paths.

    Returns:
        The lazy series in the canonical layout, with no events and no time context, and the first
        time of each file when a glob or folder of files was read.
    """
    o = options if options is not None else XarrayOptions.model_validate(overrides)
    path, variables, time_slice, coarsen, clip_min, transform = (o.path, o.variables, o.time_slice, o.coarsen,
                                                                 o.clip_min, o.transform)
    if not path:
        raise ParameterError("ingest.xarray.path", "is not set",
                             "give the file, folder or Zarr store to read, "
                             "e.g. --params ingest.xarray.path=data/01_raw/my.nc")
    if isinstance(variables, str):
        variables = [variables]
    ds, file_starts = _open(o, variables, storage_options)
    if variables is None:
        variables = [str(v) for v in ds.data_vars]
    if not variables:
        raise InputError(f"ingest.xarray.path ({path})", "holds no data variables", "point it at a file with data")
    arrays = _channel_arrays(ds, variables, dict(o.dims or {}), o.level, dict(o.select or {}), str(path))
    ref = arrays[0][1]
    for name, a in arrays[1:]:
        if a.sizes != ref.sizes:
            raise InputError(f"{path}: channel '{name}'", f"has shape {dict(a.sizes)} unlike {dict(ref.sizes)}",
                             "choose variables on the same grid")
    names = [n for n, _ in arrays]
    da = xr.concat([a for _, a in arrays], dim="channel", coords="minimal", compat="override", join="override")
    da = da.assign_coords(channel=names).transpose("time", "channel", "y", "x")
    if time_slice is not None:
        da = da.sel(time=slice(*time_slice))
    if coarsen:
        factors = {k: int(v) for k, v in coarsen.items() if int(v) > 1}
        if factors:
            da = da.coarsen(factors, boundary="trim", coord_func="mean").mean()  # NaN-aware for floats
    if clip_min is not None:
        da = da.where(da.isnull() | (da >= clip_min), clip_min)
    da = apply_transform(da, transform, dict(o.transform_options or {}))
    has_latlon = "lat" in da.coords and "lon" in da.coords
    units = source_units = {n: str(a.attrs.get("units", "")) for n, a in arrays}
    if transform == "dbz":
        units = dict.fromkeys(names, "dBZ")
    elif transform == "log1p":
        units = {n: f"log1p({u})" for n, u in units.items()}
    coords_to_keep = {"time", "channel", "lat", "lon"}
    da = da.drop_vars([c for c in da.coords if c not in coords_to_keep and c not in da.dims])
    da = da.assign_coords(y=np.arange(da.sizes["y"]), x=np.arange(da.sizes["x"])).astype("float32")
    da.name = "series"
    da.attrs = {
        "grid": "latlon" if has_latlon else "xy",
        "cycles": json.dumps(["annual", "diurnal"]),
        "units": json.dumps(units),
        "source_units": json.dumps(source_units),  # before the transform (a forecast is written in these)
        "source": str(path),
        "transform": transform or "none",
        "transform_options": json.dumps(dict(o.transform_options or {})),
    }
    logger.info("xarray source %s: channels %s, %d steps of %dx%d (lazy: %s)", path, names,
                da.sizes["time"], da.sizes["y"], da.sizes["x"], da.chunks is not None)
    return SourceData(series=da, file_starts=file_starts)
