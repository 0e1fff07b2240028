"""Named regions, so narratives can say *where* in words a sentence encoder separates.

Each known domain is a list of latitude/longitude boxes, checked in order (the first box that holds a
point names it): specific boxes first, broad catch-all boxes (ocean basins, polar caps) last, so
every point of the domain gets a name. Boxes are written with longitudes in ``-180..180`` (easier to
read) and matched in ``0..360``; a box whose west edge is east of its east edge wraps across 180.

Domains:

- ``global``: continents, ocean basins and the polar regions (about 35 boxes, every point named).
- ``north_america``: the NCEP reanalysis domain, 15-75 N and 200-330 E (160-30 W), in about 45
  boxes from Alaska to Greenland and the Caribbean; a point outside every box of a domain falls back
  to the ``global`` table.

Grids that are not geographic (traffic flows, radar images in pixels) use :func:`compass_name`.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

logger = logging.getLogger(__name__)

#: (name, lat_min, lat_max, lon_min, lon_max), longitudes in -180..180; first match wins.
Box = tuple[str, float, float, float, float]

GLOBAL: tuple[Box, ...] = (
    ("Antarctica", -90, -64, -180, 180),
    ("Greenland", 60, 84, -73, -12),
    ("the Arctic Ocean", 75, 90, -180, 180),
    ("Alaska", 54, 75, -170, -141),
    ("Canada", 49, 75, -141, -52),
    ("the United States", 25, 49, -125, -67),
    ("the Gulf of Mexico", 18, 30, -98, -81),
    ("Mexico and Central America", 7, 25, -118, -77),
    ("the Caribbean", 10, 25, -77, -59),
    ("the Amazon", -15, 12, -81, -34),
    ("southern South America", -56, -15, -76, -40),
    ("the Mediterranean", 30, 45, -6, 36),
    ("Scandinavia", 55, 72, 4, 32),
    ("western Europe", 36, 72, -11, 15),
    ("eastern Europe", 45, 72, 15, 60),
    ("the Sahara", 15, 30, -17, 35),
    ("the Middle East", 12, 45, 35, 62),
    ("tropical Africa", -10, 15, -18, 43),
    ("southern Africa", -36, -10, 10, 42),
    ("Siberia", 50, 75, 60, 180),
    ("Central Asia", 35, 50, 45, 90),
    ("India", 5, 35, 62, 92),
    ("East Asia", 20, 50, 90, 146),
    ("Southeast Asia", -10, 20, 92, 150),
    ("Australia", -45, -10, 112, 155),
    ("New Zealand", -48, -33, 165, 180),
    ("the Southern Ocean", -64, -45, -180, 180),
    ("the Arctic Ocean", 66, 75, -180, 180),
    ("the North Pacific", 0, 66, 100, -100),
    ("the North Pacific", 0, 18, -100, -80),
    ("the South Pacific", -45, 0, 120, -70),
    ("the North Atlantic", 0, 66, -100, 20),
    ("the South Atlantic", -45, 0, -70, 20),
    ("the Indian Ocean", -45, 30, 20, 120),
    ("Central Asia", 30, 66, 20, 100),
)

NORTH_AMERICA: tuple[Box, ...] = (
    ("Hawaii", 17, 24, -162, -153),
    ("Baffin Island", 62, 73, -82, -61),
    ("Greenland", 59, 84, -61, -12),
    ("the Canadian Arctic", 66, 80, -141, -61),
    ("the Gulf of Alaska", 48, 59, -160, -133),
    ("Alaska", 54, 75, -170, -141),
    ("the Bering Sea", 50, 66, -180, -160),
    ("the Yukon", 58, 70, -141, -124),
    ("the Northwest Territories", 60, 66, -124, -95),
    ("Hudson Bay", 55, 66, -95, -76),
    ("British Columbia", 48.5, 60, -133, -118),
    ("the Canadian Prairies", 49, 60, -118, -95),
    ("the Great Lakes", 41, 49, -92.5, -76),
    ("Ontario", 46, 55, -95, -79),
    ("Labrador", 51, 62, -64, -55),
    ("Quebec", 45, 62, -79, -64),
    ("the Labrador Sea", 50, 62, -61, -40),
    ("New England", 41, 47.5, -76, -66),
    ("Newfoundland and the Maritimes", 43, 52, -68, -52),
    ("the Pacific Northwest", 42, 48.5, -126, -116),
    ("California", 32, 42, -126, -117.5),
    ("the Great Basin", 36, 42, -117.5, -111),
    ("Texas", 26, 34, -106.5, -93.5),
    ("the Southwest", 31, 36.5, -117.5, -103),
    ("the Rockies", 36.5, 49, -116, -103),
    ("the Great Plains", 30, 49, -103, -94.5),
    ("the Midwest", 36.5, 49, -94.5, -84),
    ("the Mid-Atlantic", 36.5, 41, -84, -72),
    ("the Gulf of Mexico", 18, 29.5, -98, -81),
    ("the Southeast", 24.5, 36.5, -94.5, -75),
    ("the Pacific off Mexico", 8, 23, -126, -106),
    ("Central America", 7, 18, -92.5, -83),
    ("Mexico", 14, 32.5, -118, -86),
    ("the Caribbean", 8, 23, -88, -59),
    ("the northeast Pacific", 30, 48.5, -180, -117),
    ("the subtropical Pacific", 0, 30, -180, -106),
    ("the tropical Atlantic", 0, 25, -59, -10),
    ("the North Atlantic", 23, 60, -83, -10),
)

DOMAINS: dict[str, tuple[Box, ...]] = {"global": GLOBAL, "north_america": NORTH_AMERICA}

#: The lat/lon bounds (lat_min, lat_max, lon_min, lon_max in 0..360) a grid must lie within to use a
#: regional domain; ``global`` is the fallback.
DOMAIN_BOUNDS: dict[str, tuple[float, float, float, float]] = {"north_america": (15.0, 75.0, 200.0, 330.0)}

_TOL = 1e-6


def _lon360(lon: float | np.ndarray) -> float | np.ndarray:
    return np.mod(lon, 360.0)


def _in_box(lat: float, lon360: float, box: Box) -> bool:
    _, la0, la1, lo0, lo1 = box
    if not (la0 - _TOL <= lat <= la1 + _TOL):
        return False
    a, b = float(_lon360(lo0)), float(_lon360(lo1))
    if lo0 == -180 and lo1 == 180:
        return True
    if a <= b:
        return a - _TOL <= lon360 <= b + _TOL
    return lon360 >= a - _TOL or lon360 <= b + _TOL  # wraps across 0 (in 0..360)


def pick_domain(lat: np.ndarray | None, lon: np.ndarray | None) -> str:
    """The most specific known domain that holds the whole grid.

    Args:
        lat: latitudes of the grid rows (degrees).
        lon: longitudes of the grid columns (degrees east, 0..360 or -180..180).

    Returns:
        ``north_america`` when every grid point lies within 15-75 N, 200-330 E (with half a degree of
        slack), else ``global`` (also when ``lat``/``lon`` are missing).
    """
    if lat is None or lon is None or np.size(lat) == 0 or np.size(lon) == 0:
        return "global"
    lat = np.asarray(lat, dtype=float)
    lon360 = np.asarray(_lon360(np.asarray(lon, dtype=float)))
    for name, (la0, la1, lo0, lo1) in DOMAIN_BOUNDS.items():
        if (lat.min() >= la0 - 0.5 and lat.max() <= la1 + 0.5 and lon360.min() >= lo0 - 0.5
                and lon360.max() <= lo1 + 0.5):
            return name
    return "global"


def region_name(lat: float, lon: float, domain: str = "global") -> str:
    """The name of the region holding a point, e.g. ``"Hudson Bay"`` or ``"the North Atlantic"``.

    Args:
        lat: latitude in degrees (clipped to +-90).
        lon: longitude in degrees east, 0..360 or -180..180.
        domain: a key of :data:`DOMAINS`; an unknown name uses ``global``.

    Returns:
        The first box of the domain's table that holds the point; a point outside every box of a
        regional table is named from the ``global`` table, which names every point on Earth.
    """
    lat = float(np.clip(lat, -90.0, 90.0))
    lon360 = float(_lon360(float(lon)))
    boxes = DOMAINS.get(domain, GLOBAL)
    for box in boxes:
        if _in_box(lat, lon360, box):
            return box[0]
    if boxes is not GLOBAL:
        for box in GLOBAL:
            if _in_box(lat, lon360, box):
                return box[0]
    return "the open ocean"  # unreachable: the global table covers the sphere


@lru_cache(maxsize=32)
def _region_map_cached(lat_bytes: bytes, lon_bytes: bytes, domain: str) -> tuple[np.ndarray, tuple[str, ...]]:
    lat = np.frombuffer(lat_bytes, dtype=float)
    lon = np.frombuffer(lon_bytes, dtype=float)
    names: list[str] = []
    index: dict[str, int] = {}
    out = np.empty((lat.size, lon.size), dtype=np.int32)
    for i, la in enumerate(lat):
        for j, lo in enumerate(lon):
            n = region_name(float(la), float(lo), domain)
            if n not in index:
                index[n] = len(names)
                names.append(n)
            out[i, j] = index[n]
    out.setflags(write=False)
    return out, tuple(names)


def region_map(lat: np.ndarray, lon: np.ndarray, domain: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Region of every grid point, as an index map ``(H, W)`` into a tuple of names (cached per grid)."""
    lat = np.ascontiguousarray(lat, dtype=float)
    lon = np.ascontiguousarray(lon, dtype=float)
    return _region_map_cached(lat.tobytes(), lon.tobytes(), domain)


_COMPASS = (
    ("the north-west", "the north", "the north-east"),
    ("the west", "the centre", "the east"),
    ("the south-west", "the south", "the south-east"),
)


def compass_name(row: float, col: float, height: int, width: int, *, north_up: bool = True) -> str:
    """A compass name for a position on a non-geographic grid ("the north-west", "the centre", ...).

    The grid is cut into thirds along each axis.

    Args:
        row: row of the point (may be fractional, e.g. a centroid).
        col: column of the point.
        height: rows of the grid.
        width: columns of the grid.
        north_up: ``True`` when row 0 is the top (north) of the array, as in an image; ``False``
            when row 0 is the south (a grid with latitudes ascending).

    Returns:
        One of nine names: the north-west, the north, the north-east, the west, the centre, the east,
        the south-west, the south, the south-east.
    """
    fr = (float(row) + 0.5) / max(int(height), 1)
    fc = (float(col) + 0.5) / max(int(width), 1)
    if not north_up:
        fr = 1.0 - fr
    r = min(2, max(0, int(fr * 3)))
    c = min(2, max(0, int(fc * 3)))
    return _COMPASS[r][c]
