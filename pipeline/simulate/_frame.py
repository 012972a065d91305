"""One survey frame: the street, its lamp posts and parked cars, and litter on the ground,
placed where a camera would see it and labelled where it can be made out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from pipeline.simulate._camera import _Camera, _camera_finish
from pipeline.simulate._cars import _draw_cars
from pipeline.simulate._litter import _Litter, _random_litter
from pipeline.simulate._results import LitterBox
from pipeline.simulate._scene import _StreetStyle, _sun_rel, _View, _Weather
from pipeline.simulate._sprite import _composite, _Light, _render_sprite
from pipeline.simulate._street import _draw_poles, _render_street, _Textures

# Real sizes of the litter models (metres) and how often each class appears on the street.
_CLASS_WEIGHTS = {
    "cardboard": 0.12,
    "foam": 0.10,
    "glass": 0.14,
    "metal": 0.16,
    "other": 0.12,
    "paper": 0.16,
    "plastic": 0.20,
}


@dataclass(frozen=True)
class _Placed:
    obj: _Litter
    x_m: float  # across the street, from its centre line (right positive)
    z_m: float  # ahead of the camera
    rotation: float


def _place_litter(
    rng: np.random.Generator, cam: _Camera, st: _StreetStyle, view: _View, mean: float
) -> list[_Placed]:
    n = int(min(rng.poisson(mean), 6))
    classes = list(_CLASS_WEIGHTS)
    weights = np.asarray(list(_CLASS_WEIGHTS.values()))
    placed: list[_Placed] = []
    spots: list[tuple[float, float, float]] = []
    for _ in range(n):
        obj = _random_litter(classes[int(rng.choice(len(classes), p=weights / weights.sum()))], rng)
        for _try in range(12):
            side = 1 if rng.random() < 0.7 else -1
            where = rng.random()
            R = st.road_half_m  # noqa: N806 (as in _street: R, the road half-width)
            if where < 0.5:  # in the gutter, against the kerb
                x = side * (R - rng.uniform(0.12, 0.6))
            elif where < 0.85:  # on the sidewalk
                x = side * (R + 0.4 + rng.uniform(0.0, max(st.sidewalk_m[side > 0] - 1.2, 0.2)))
            else:  # on the road
                x = rng.uniform(-R + 2.0, R - 2.0)
            z = 4.5 + 8.0 * float(rng.random()) ** 1.6  # more often near: litter is small
            if z > view.end_m - 10:
                continue
            u = cam.cx + cam.f_px * (x - st.camera_x_m) / z
            if not 0.05 * cam.width < u < 0.95 * cam.width:
                continue
            r_px = cam.f_px * obj.length_m / z * 0.7 + 4
            v = cam.horizon + cam.f_px * cam.height_m / z
            if any(abs(u - pu) < r_px + pr and abs(v - pv) < r_px + pr for pu, pv, pr in spots):
                continue
            spots.append((u, v, r_px))
            placed.append(_Placed(obj, float(x), z, float(rng.uniform(0, 2 * math.pi))))
            break
    return sorted(placed, key=lambda p: -p.z_m)


def _street_light_for(
    weather: _Weather, view: _View, cam: _Camera, z_m: float, in_sun: bool
) -> _Light:
    el_view = math.atan2(cam.height_m, z_m)
    sin_rel, cos_rel = _sun_rel(weather, view)
    el = math.radians(weather.sun_elevation_deg)
    sun = (math.cos(el) * sin_rel, -math.cos(el) * cos_rel, math.sin(el))
    strength = 1.6 if (weather.sunny and in_sun) else 0.0
    sun_rgb = tuple(c * strength for c in weather.sun_rgb) if strength else (0.0, 0.0, 0.0)
    return _Light(
        sun=sun,
        sun_rgb=sun_rgb,
        ambient_rgb=weather.ambient_rgb,
        view=(0.0, math.cos(el_view), math.sin(el_view)),
        sky_rgb=tuple(min(1.0, c * 1.15) for c in weather.sky_horizon),
        ground_rgb=(0.2, 0.2, 0.21),
        shadow_strength=0.6 if strength else 0.0,
    )


def _render_frame(
    cam: _Camera,
    st: _StreetStyle,
    view: _View,
    weather: _Weather,
    tex: _Textures,
    rng: np.random.Generator,
    litter_mean: float,
) -> tuple[Image.Image, list[LitterBox]]:
    img, _depth, sunlit = _render_street(cam, st, view, weather, tex)
    _draw_poles(img, cam, st, view, weather.sunny)
    cars = _draw_cars(img, cam, st, view, weather)
    boxes: list[LitterBox] = []
    for p in _place_litter(rng, cam, st, view, litter_mean):
        u = cam.cx + cam.f_px * (p.x_m - st.camera_x_m) / p.z_m
        v = cam.horizon + cam.f_px * cam.height_m / p.z_m
        r = cam.f_px * p.obj.length_m / p.z_m
        if any(
            x0 - r < u < x1 + r and y0 - r < v < y1 + r and zc < p.z_m
            for x0, y0, x1, y1, zc in cars
        ):
            continue  # it would lie behind a parked car
        row = min(max(int(v), 0), cam.height - 1)
        col = min(max(int(u), 0), cam.width - 1)
        light = _street_light_for(weather, view, cam, p.z_m, bool(sunlit[row, col] > 0.5))
        sprite = _render_sprite(p.obj, px_per_m=cam.f_px / p.z_m, rotation=p.rotation, light=light)
        box = _composite(img, sprite, u, v)
        if box is None:
            continue
        if min(box[2] - box[0], box[3] - box[1]) < 4 or max(box[2] - box[0], box[3] - box[1]) < 10:
            continue  # too small to label (it is still drawn: tiny litter exists)
        boxes.append(
            LitterBox(
                p.obj.class_name,
                box,
                distance_m=math.hypot(p.z_m, p.x_m - st.camera_x_m),
                offset_m=(p.x_m, p.z_m),
            )
        )
    image = _camera_finish(img, rng, blur=0.55, noise=0.012, vignette=0.3)
    return image, boxes
