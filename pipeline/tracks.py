"""GPS tracks (GPX or CSV) and geotagging by interpolation at a capture time."""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import gpxpy
import gpxpy.gpx
import numpy as np

from pipeline.errors import TrackError

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class TrackFix:
    """A position interpolated from a track at one time."""

    latitude: float
    longitude: float
    heading_deg: float | None


class Track:
    """Time-stamped positions, sorted by time, with linear interpolation between fixes.

    Parameters
    ----------
    times_s
        POSIX seconds (UTC), one per fix.
    latitudes, longitudes
        WGS84 degrees.
    source
        Where the fixes came from (a file name), for messages.
    """

    def __init__(
        self,
        times_s: np.ndarray,
        latitudes: np.ndarray,
        longitudes: np.ndarray,
        *,
        source: str = "track",
        path: Path | None = None,
    ) -> None:
        order = np.argsort(times_s, kind="stable")
        self.times_s = np.asarray(times_s, dtype=float)[order]
        self.latitudes = np.asarray(latitudes, dtype=float)[order]
        self.longitudes = np.asarray(longitudes, dtype=float)[order]
        self.source = source
        self.path = path
        if len(self.times_s) < 2:
            raise TrackError(f"{source}: a track needs at least two timed points to interpolate")

    def __len__(self) -> int:
        return len(self.times_s)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.times_s[0], dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.times_s[-1], dt.UTC)

    def locate(self, when: dt.datetime, *, max_gap_s: float) -> TrackFix | str:
        """The interpolated position at ``when``, or the reason there is none.

        A time outside the track, or between two fixes more than ``max_gap_s`` seconds apart,
        has no position (a vehicle may have stopped logging, so guessing would be wrong).
        """
        t = when.timestamp()
        if t < self.times_s[0] or t > self.times_s[-1]:
            return (
                f"capture time {when.isoformat()} is outside the track {self.source} "
                f"({self.start.isoformat()} to {self.end.isoformat()})"
            )
        i = int(np.searchsorted(self.times_s, t, side="left"))
        exact = i < len(self.times_s) and self.times_s[i] == t
        i = min(max(i, 1), len(self.times_s) - 1)
        t0, t1 = self.times_s[i - 1], self.times_s[i]
        if not exact and t1 - t0 > max_gap_s:
            return (
                f"the track {self.source} has a {t1 - t0:.0f} s gap around {when.isoformat()} "
                f"(longer than the {max_gap_s:.0f} s limit, WASTEMAP_MAX_TRACK_GAP_S)"
            )
        w = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
        lat = self.latitudes[i - 1] + w * (self.latitudes[i] - self.latitudes[i - 1])
        lon = self.longitudes[i - 1] + w * (self.longitudes[i] - self.longitudes[i - 1])
        heading = bearing_deg(
            self.latitudes[i - 1], self.longitudes[i - 1], self.latitudes[i], self.longitudes[i]
        )
        return TrackFix(float(lat), float(lon), heading)


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float | None:
    """Initial bearing from point 1 to point 2 in degrees clockwise from north (None if equal)."""
    if lat1 == lat2 and lon1 == lon2:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def read_track(path: Path, *, default_timezone: dt.tzinfo = dt.UTC) -> Track:
    """Read a GPX 1.0/1.1 file (track, route or waypoints with times) or a CSV with the columns
    ``timestamp,lat,lon`` (ISO 8601 times; times without an offset are in ``default_timezone``).
    """
    path = Path(path)
    if path.is_dir():
        raise TrackError(f"track {path} is a folder; give a .gpx or .csv track file")
    if not path.is_file():
        raise TrackError(f"track file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".gpx":
        return _read_gpx(path, default_timezone)
    if suffix == ".csv":
        return _read_csv(path, default_timezone)
    raise TrackError(f"track file {path}: use a .gpx file or a .csv with timestamp,lat,lon")


def _aware(when: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def _read_gpx(path: Path, tz: dt.tzinfo) -> Track:
    try:
        gpx = gpxpy.parse(path.read_text(encoding="utf-8"))
    except (gpxpy.gpx.GPXException, ValueError, UnicodeDecodeError) as exc:
        raise TrackError(f"track file {path} is not valid GPX: {exc}") from exc
    points = [p for t in gpx.tracks for s in t.segments for p in s.points]
    points += [p for r in gpx.routes for p in r.points]
    points += list(gpx.waypoints)
    timed = [p for p in points if p.time is not None]
    if len(timed) < 2:
        raise TrackError(
            f"track file {path} has {len(timed)} points with a time; at least two are needed"
        )
    times = np.array([_aware(p.time, tz).timestamp() for p in timed])
    return Track(
        times,
        np.array([p.latitude for p in timed]),
        np.array([p.longitude for p in timed]),
        source=path.name,
        path=path.absolute(),
    )


def _read_csv(path: Path, tz: dt.tzinfo) -> Track:
    times, lats, lons = [], [], []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"timestamp", "lat", "lon"} - set(reader.fieldnames or [])
        if missing:
            raise TrackError(
                f"track file {path} lacks the column(s) {', '.join(sorted(missing))}; "
                "expected a header line timestamp,lat,lon"
            )
        for line_no, row in enumerate(reader, start=2):
            try:
                when = _aware(dt.datetime.fromisoformat(row["timestamp"].strip()), tz)
                lat, lon = float(row["lat"]), float(row["lon"])
            except (ValueError, AttributeError) as exc:
                raise TrackError(f"{path}, line {line_no}: cannot read {row!r} ({exc})") from exc
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise TrackError(f"{path}, line {line_no}: position {lat}, {lon} is out of range")
            times.append(when.timestamp())
            lats.append(lat)
            lons.append(lon)
    return Track(
        np.array(times), np.array(lats), np.array(lons), source=path.name, path=path.absolute()
    )
