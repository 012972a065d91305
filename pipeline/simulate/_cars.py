"""Cars parked along the left kerb, drawn over the street scene."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipeline.simulate._camera import _Camera
from pipeline.simulate._noise import _seed_of
from pipeline.simulate._scene import _StreetStyle, _View, _Weather

_CAR_COLOURS = np.float32(
    [
        (0.75, 0.76, 0.78),
        (0.12, 0.12, 0.13),
        (0.9, 0.9, 0.9),
        (0.35, 0.37, 0.4),
        (0.55, 0.08, 0.08),
        (0.1, 0.18, 0.38),
        (0.45, 0.47, 0.5),
        (0.6, 0.6, 0.62),
    ]
)


def _draw_cars(
    img: np.ndarray, cam: _Camera, st: _StreetStyle, view: _View, weather: _Weather
) -> list[tuple[float, float, float, float, float]]:
    """Cars parked along the left kerb (one every 6 m slot, most slots taken), far to near.

    Returns their screen boxes ``(x0, y0, x1, y1, z_near)`` so litter is not drawn behind them.
    """
    f, h = cam.f_px, cam.height_m
    x_right = -st.road_half_m + 1.95  # the car's side that faces the camera
    slot = 6.2
    first = math.floor((view.s_m + 3.0) / slot)
    layer = Image.new("RGBA", (cam.width, cam.height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    boxes = []
    ambient = np.asarray(weather.ambient_rgb, np.float32)
    sun = np.asarray(weather.sun_rgb, np.float32) * (0.9 if weather.sunny else 0.0)

    def proj(x: float, y: float, z: float) -> tuple[float, float]:
        return cam.cx + f * (x - st.camera_x_m) / z, cam.horizon + f * (h - y) / z

    def rgba(c: np.ndarray) -> tuple[int, int, int, int]:
        r, g, b = (int(v) for v in np.clip(c * 255, 0, 255))
        return r, g, b, 255

    for k in range(first + 24, first - 1, -1):
        key = _seed_of("car", st.seed, k)
        if key % 100 < 30 or any(abs(k * slot - (view.s_m + c)) < 12 for c in view.cross_m):
            continue
        length = 4.2 + (key % 7) * 0.1
        z0 = k * slot + (key % 5) * 0.1 - view.s_m
        z1 = z0 + length
        if z0 < 2.0 or z1 > view.end_m - 8:
            continue
        body = _CAR_COLOURS[key % len(_CAR_COLOURS)]
        xl, xr = x_right - 1.8, x_right
        lit_side = ambient * 0.9 + sun * 0.4
        lit_back = ambient * 1.0 + sun * 0.3
        lit_top = ambient * 1.15 + sun * 0.6
        glass = np.float32([0.06, 0.07, 0.09]) + 0.12 * np.asarray(weather.sky_horizon, np.float32)
        # Lower body: side (facing the camera's side of the road), back, top.
        side = [proj(xr, 0.3, z0), proj(xr, 0.95, z0), proj(xr, 0.95, z1), proj(xr, 0.3, z1)]
        back = [proj(xl, 0.3, z0), proj(xl, 0.95, z0), proj(xr, 0.95, z0), proj(xr, 0.3, z0)]
        top = [proj(xl, 0.95, z0), proj(xl, 0.95, z1), proj(xr, 0.95, z1), proj(xr, 0.95, z0)]
        draw.polygon(top, fill=rgba(body * lit_top))
        draw.polygon(side, fill=rgba(body * lit_side))
        draw.polygon(back, fill=rgba(body * lit_back))
        # Shoulder-line reflection and the dark sill along the side.
        draw.line(
            [proj(xr, 0.88, z0 + 0.2), proj(xr, 0.88, z1 - 0.2)],
            fill=rgba(body * lit_side * 1.35),
            width=max(1, int(f * 0.04 / z0)),
        )
        draw.polygon(
            [proj(xr, 0.3, z0), proj(xr, 0.4, z0), proj(xr, 0.4, z1), proj(xr, 0.3, z1)],
            fill=rgba(body * lit_side * 0.5),
        )
        # Cabin: shorter and narrower, mostly glass.
        c0, c1 = z0 + 0.7, z1 - 1.1
        xi0, xi1 = xl + 0.12, xr - 0.12
        cab_side = [
            proj(xi1, 0.95, c0),
            proj(xi1, 1.45, c0 + 0.35),
            proj(xi1, 1.45, c1 - 0.3),
            proj(xi1, 0.95, c1),
        ]
        cab_back = [
            proj(xi0, 0.95, c0),
            proj(xi0, 1.45, c0 + 0.35),
            proj(xi1, 1.45, c0 + 0.35),
            proj(xi1, 0.95, c0),
        ]
        roof = [
            proj(xi0, 1.45, c0 + 0.35),
            proj(xi0, 1.45, c1 - 0.3),
            proj(xi1, 1.45, c1 - 0.3),
            proj(xi1, 1.45, c0 + 0.35),
        ]
        draw.polygon(roof, fill=rgba(body * lit_top))
        draw.polygon(cab_back, fill=rgba(glass))
        draw.polygon(cab_side, fill=rgba(glass * 1.3))
        pillar = max(1, int(f * 0.08 / z0))
        draw.line(
            [proj(xi1, 0.95, (c0 + c1) / 2), proj(xi1, 1.45, (c0 + c1) / 2)],
            fill=rgba(body * lit_side),
            width=pillar,
        )
        # Tail lights, plate, wheels.
        for xa, xb in ((xl + 0.1, xl + 0.35), (xr - 0.35, xr - 0.1)):
            draw.polygon(
                [proj(xa, 0.75, z0), proj(xa, 0.9, z0), proj(xb, 0.9, z0), proj(xb, 0.75, z0)],
                fill=(150, 20, 20, 255),
            )
        xm = (xl + xr) / 2
        draw.polygon(
            [
                proj(xm - 0.26, 0.45, z0),
                proj(xm - 0.26, 0.57, z0),
                proj(xm + 0.26, 0.57, z0),
                proj(xm + 0.26, 0.45, z0),
            ],
            fill=(215, 215, 210, 255),
        )
        for zw in (z0 + 0.8, z1 - 0.8):
            pts = [
                proj(xr + 0.01, 0.32 + 0.32 * math.sin(a), zw + 0.32 * math.cos(a))
                for a in np.linspace(0, 2 * math.pi, 14)
            ]
            draw.polygon(pts, fill=(22, 22, 24, 255))
        # Shadow under the car on the road.
        under = [
            proj(xl, 0.0, z0),
            proj(xl, 0.0, z1),
            proj(xr + 0.15, 0.0, z1),
            proj(xr + 0.15, 0.0, z0),
        ]
        shadow = Image.new("L", (cam.width, cam.height), 0)
        ImageDraw.Draw(shadow).polygon(under, fill=150)
        pts = np.asarray(side + back + top + cab_side + roof)
        box = (
            float(pts[:, 0].min()),
            float(pts[:, 1].min()),
            float(pts[:, 0].max()),
            float(pts[:, 1].max()),
            z0,
        )
        x0, y0, x1, y1 = (int(max(0, v)) for v in box[:4])
        x1, y1 = min(x1 + 2, cam.width), min(y1 + 2, cam.height)
        if x1 > x0 and y1 > y0:
            sh = (
                np.asarray(
                    shadow.crop((x0, y0, x1, y1)).filter(ImageFilter.GaussianBlur(2)), np.float32
                )
                / 255
            )
            img[y0:y1, x0:x1] *= (1 - 0.7 * sh)[..., None]
        boxes.append(box)
    arr = np.asarray(layer, np.float32) / 255
    a = arr[..., 3:4]
    img[:] = img * (1 - a) + arr[..., :3] * a
    return boxes
