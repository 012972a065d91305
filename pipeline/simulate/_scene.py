"""What a street scene is made of: the weather, how a street looks (widths, markings,
sidewalks, its buildings) and where the camera is on it in one frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.simulate._noise import _seed_of


@dataclass(frozen=True)
class _Weather:
    sunny: bool
    sun_azimuth_deg: float
    sun_elevation_deg: float
    sky_top: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    sun_rgb: tuple[float, float, float]
    ambient_rgb: tuple[float, float, float]
    clouds: float
    seed: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Weather:
        sunny = bool(rng.random() < 0.6)
        if sunny:
            return cls(
                True,
                float(rng.uniform(90, 270)),
                float(rng.uniform(25, 50)),
                (0.32, 0.5, 0.8),
                (0.72, 0.8, 0.88),
                (1.0, 0.95, 0.85),
                (0.42, 0.47, 0.58),
                float(rng.uniform(0.0, 0.5)),
                int(rng.integers(1 << 30)),
            )
        return cls(
            False,
            180.0,
            30.0,
            (0.62, 0.65, 0.7),
            (0.82, 0.83, 0.85),
            (0.15, 0.15, 0.15),
            (0.78, 0.8, 0.84),
            1.0,
            int(rng.integers(1 << 30)),
        )


@dataclass(frozen=True)
class _StreetStyle:
    """How one street looks: widths (metres), markings, sidewalks, and its buildings."""

    road_half_m: float
    lanes: int
    oneway: bool
    lane_m: float
    sidewalk_m: tuple[float, float]  # left, right
    tram: bool
    tiles: bool
    pole_spacing_m: float
    seed: int
    buildings: tuple[np.ndarray, np.ndarray]  # per side: table of building parameters

    @property
    def camera_x_m(self) -> float:
        """The survey vehicle drives along the right kerb (Finland drives on the right)."""
        return self.road_half_m - 1.7

    def facade_m(self, side: int) -> float:
        return self.road_half_m + self.sidewalk_m[0 if side < 0 else 1]


_FACADE_COLOURS = np.array(
    [
        (0.80, 0.66, 0.42),
        (0.86, 0.80, 0.58),
        (0.80, 0.56, 0.45),
        (0.70, 0.70, 0.67),
        (0.62, 0.69, 0.58),
        (0.82, 0.74, 0.62),
        (0.56, 0.32, 0.26),
        (0.86, 0.85, 0.80),
        (0.48, 0.47, 0.45),
        (0.74, 0.62, 0.50),
        (0.66, 0.72, 0.76),
        (0.88, 0.72, 0.52),
    ],
    dtype=np.float32,
)
# Columns of a building table.
_B_START, _B_WIDTH, _B_HEIGHT, _B_BAY, _B_WIN_W, _B_WIN_H, _B_GROUND, _B_R, _B_G, _B_B = range(10)
_B_SIGN, _B_FLOOR = 10, 11
_N_BUILDINGS = 48


def _building_table(rng: np.random.Generator) -> np.ndarray:
    t = np.zeros((_N_BUILDINGS, 12), np.float32)
    t[:, _B_WIDTH] = rng.uniform(14, 36, _N_BUILDINGS)
    t[:, _B_START] = np.concatenate([[0.0], np.cumsum(t[:-1, _B_WIDTH])])
    t[:, _B_FLOOR] = rng.uniform(3.1, 3.6, _N_BUILDINGS)
    floors = rng.integers(4, 8, _N_BUILDINGS)
    t[:, _B_GROUND] = rng.uniform(3.8, 4.8, _N_BUILDINGS)
    t[:, _B_HEIGHT] = (
        t[:, _B_GROUND] + floors * t[:, _B_FLOOR] + rng.uniform(0.6, 1.5, _N_BUILDINGS)
    )
    t[:, _B_BAY] = rng.uniform(2.6, 3.8, _N_BUILDINGS)
    t[:, _B_WIN_W] = t[:, _B_BAY] * rng.uniform(0.38, 0.52, _N_BUILDINGS)
    t[:, _B_WIN_H] = rng.uniform(1.5, 2.0, _N_BUILDINGS)
    colours = _FACADE_COLOURS[rng.integers(len(_FACADE_COLOURS), size=_N_BUILDINGS)]
    t[:, _B_R : _B_B + 1] = colours * rng.uniform(0.88, 1.08, (_N_BUILDINGS, 1))
    t[:, _B_SIGN] = rng.integers(0, 4, _N_BUILDINGS)  # 0: no shop sign
    return t


def _street_style(edge: dict[str, Any], survey_seed: int) -> _StreetStyle:
    name = edge.get("name")
    key = name if isinstance(name, str) else str(edge.get("osmid"))
    seed = _seed_of("street", key, survey_seed)
    rng = np.random.default_rng(seed)
    lanes = _lane_count(edge.get("lanes"), edge.get("highway"))
    oneway = bool(edge.get("oneway", False))
    lane_m = float(rng.uniform(3.0, 3.5))
    highway = edge.get("highway")
    major = (highway[0] if isinstance(highway, list) else highway) in {"primary", "secondary"}
    road_half = lanes * lane_m / 2 + 1.0  # a metre of shoulder by each kerb
    return _StreetStyle(
        road_half_m=road_half,
        lanes=lanes,
        oneway=oneway,
        lane_m=lane_m,
        sidewalk_m=(float(rng.uniform(3.0, 5.5)), float(rng.uniform(3.0, 5.5))),
        tram=bool(major and not oneway and lanes >= 2 and rng.random() < 0.6),
        tiles=bool(rng.random() < 0.35),
        pole_spacing_m=float(rng.uniform(22, 34)),
        seed=seed,
        buildings=(_building_table(rng), _building_table(rng)),
    )


def _lane_count(lanes: Any, highway: Any) -> int:
    values = lanes if isinstance(lanes, list) else [lanes]
    counts = []
    for v in values:
        try:
            counts.append(int(float(str(v).split(";")[0])))
        except ValueError:
            continue
    if counts:
        return int(np.clip(max(set(counts), key=counts.count), 1, 4))
    h = highway[0] if isinstance(highway, list) else highway
    return 4 if h == "primary" else 2


@dataclass(frozen=True)
class _View:
    """One frame: distance along the route, heading, the streets crossing ahead, far end."""

    s_m: float
    heading_deg: float
    cross_m: tuple[float, ...]  # distances ahead of the camera to intersections
    end_m: float  # distance to the building that closes the view


def _sun_rel(weather: _Weather, view: _View) -> tuple[float, float]:
    rel = math.radians(weather.sun_azimuth_deg - view.heading_deg)
    return math.sin(rel), math.cos(rel)


def _in_cross(zw: np.ndarray, view: _View, half_width: float = 8.0) -> np.ndarray:
    out = np.zeros(zw.shape, bool)
    for d in view.cross_m:
        c = view.s_m + d
        out |= np.abs(zw - c) < half_width
    return out


def _building_at(table: np.ndarray, zw: np.ndarray) -> np.ndarray:
    total = table[-1, _B_START] + table[-1, _B_WIDTH]
    return np.clip(
        np.searchsorted(table[:, _B_START], np.mod(zw, total), side="right") - 1, 0, None
    )
