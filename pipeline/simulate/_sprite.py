"""Shading and compositing of litter sprites: a model rendered as seen from the camera, with
its transparency, highlights and the shadow it casts, drawn onto a scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.simulate._litter import _MODELS, _Litter, _Surface
from pipeline.simulate._noise import _blur, _smoothstep


@dataclass(frozen=True)
class _Light:
    """Light in the sprite's ground frame (x right, y towards the viewer, z up)."""

    sun: tuple[float, float, float]  # unit vector towards the sun
    sun_rgb: tuple[float, float, float]
    ambient_rgb: tuple[float, float, float]
    view: tuple[float, float, float]  # unit vector towards the camera
    sky_rgb: tuple[float, float, float]
    ground_rgb: tuple[float, float, float]
    shadow_strength: float  # 0: no cast shadow (overcast or in the shade)


def _shade(s: _Surface, n: np.ndarray, light: _Light) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse + reflected colour, and the specular highlight (added over transparency).

    ``n`` holds unit normals in the ground frame (x right, y towards the viewer, z up).
    """
    sun = np.asarray(light.sun, np.float32)
    view = np.asarray(light.view, np.float32)
    ndl = np.clip(n @ sun, 0.0, 1.0)[..., None]
    ndv = np.clip(n @ view, 0.0, 1.0)
    refl = 2 * ndv[..., None] * n - view  # the view ray mirrored in the surface
    sky = _smoothstep(-0.15, 0.45, refl[..., 2])[..., None]
    ground_rgb = np.asarray(light.ground_rgb, np.float32)
    env = ground_rgb + (np.asarray(light.sky_rgb, np.float32) - ground_rgb) * sky
    amb = np.asarray(light.ambient_rgb, np.float32) * (0.55 + 0.45 * n[..., 2:3])
    diffuse = s.albedo * (amb + np.asarray(light.sun_rgb, np.float32) * ndl)
    metal = np.asarray(s.metal, np.float32)[..., None] if np.ndim(s.metal) else s.metal
    colour = diffuse * (1 - metal) + s.albedo * env * 1.1 * metal
    rdl = np.clip(refl @ sun, 0.0, 1.0)
    fresnel = 0.3 + 0.7 * (1 - ndv) ** 3
    strength = np.asarray(s.spec, np.float32)
    spec = strength * (rdl**s.gloss) * fresnel * 2.5 + 0.15 * strength * fresnel * sky[..., 0]
    sun_tint = np.asarray(light.sun_rgb, np.float32) / max(max(light.sun_rgb), 0.5)
    return colour.astype(np.float32), (spec[..., None] * sun_tint).astype(np.float32)


@dataclass(frozen=True)
class _Sprite:
    rgb: np.ndarray  # premultiplied by alpha
    alpha: np.ndarray
    transmit: np.ndarray  # (h, w, 3) multiplies what is behind
    shadow: np.ndarray  # darkening of the ground, 0..1
    anchor: tuple[float, float]  # where the object's ground centre lies in the sprite


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _object_frame(obj: _Litter, rotation: float, view: np.ndarray) -> tuple[np.ndarray, ...]:
    """The plane a model is drawn on: axes e1, e2, normal e3 and its origin (ground frame).

    Flat things lie on the ground (e3 up). Bodies of revolution are drawn on the plane through
    their axis that faces the viewer, so a bottle keeps its full diameter however low the
    camera is. Blobs (a paper ball, a bag) face half-way between up and the viewer.
    """
    up = np.array([0.0, 0.0, 1.0])
    axis = np.array([math.cos(rotation), math.sin(rotation), 0.0])
    if obj.frame == "axis":
        e2 = _unit(np.cross(view, axis))
        e3 = np.cross(axis, e2)
        if e3 @ view < 0:
            e2, e3 = -e2, -e3
        return axis, e2, e3, up * obj.width_m / 2
    if obj.frame == "blob":
        e3 = _unit(up + 0.8 * view)
        e1 = _unit(axis - (axis @ e3) * e3)
        return e1, np.cross(e3, e1), e3, up * obj.thickness_m * 0.4
    return axis, np.cross(up, axis), up, up * (obj.thickness_m if obj.params.get("box") else 0)


def _sweep_down(rgb: np.ndarray, alpha: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The sides of a thick object: each pixel takes the colour of the nearest object pixel at
    most ``steps`` rows above it, darker further down."""
    h = alpha.shape[0]
    side_rgb = np.zeros_like(rgb)
    side_a = np.zeros_like(alpha)
    dist = np.full(alpha.shape[1], steps + 1.0, np.float32)
    carry_rgb = np.zeros_like(rgb[0])
    carry_a = np.zeros_like(alpha[0])
    for y in range(1, h):
        src = alpha[y - 1] > 0.5
        carry_rgb = np.where(
            src[:, None], rgb[y - 1] / np.maximum(alpha[y - 1], 1e-3)[:, None], carry_rgb
        )
        carry_a = np.where(src, 1.0, carry_a)
        dist = np.where(src, 1.0, dist + 1.0)
        keep = dist <= steps
        dark = 0.5 + 0.25 * (1 - dist / max(steps, 1))
        side_rgb[y] = carry_rgb * (dark * keep)[:, None]
        side_a[y] = carry_a * keep
    return side_rgb * side_a[..., None], side_a


def _render_sprite(obj: _Litter, *, px_per_m: float, rotation: float, light: _Light) -> _Sprite:
    """Render one litter object (orthographic view from ``light.view``), supersampled."""
    size_px = px_per_m * obj.length_m
    ss = 3 if size_px < 60 else 2 if size_px < 160 else 1
    ppm = px_per_m * ss
    view = np.asarray(light.view, float)
    screen_x = np.array([1.0, 0.0, 0.0])
    screen_down = np.array([0.0, view[2], -view[1]])
    e1, e2, e3, origin = _object_frame(obj, rotation, view)
    # Screen offset (pixels from the ground anchor) -> point on the plane -> (a, b) metres.
    k = view / (view @ e3)
    m = (
        np.array(
            [
                [
                    (screen_x - k * (screen_x @ e3)) @ e1,
                    (screen_down - k * (screen_down @ e3)) @ e1,
                ],
                [
                    (screen_x - k * (screen_x @ e3)) @ e2,
                    (screen_down - k * (screen_down @ e3)) @ e2,
                ],
            ]
        )
        / ppm
    )
    o_px = np.array([origin @ screen_x, origin @ screen_down]) * ppm
    # Canvas: the object's box on its plane, lifted by its thickness, plus a shadow margin.
    corners = [
        sa * obj.length_m / 2 * e1 + sb * obj.width_m / 2 * e2 + lift * e3 + origin
        for sa in (-1, 1)
        for sb in (-1, 1)
        for lift in (0.0, obj.thickness_m)
    ]
    xs = [c @ screen_x * ppm for c in corners] + [0.0]
    ys = [c @ screen_down * ppm for c in corners] + [0.0]
    reach_m = obj.thickness_m * 0.6 / max(light.sun[2], 0.3)
    shadow_m = reach_m * math.hypot(light.sun[0], light.sun[1]) if light.shadow_strength else 0.0
    pad = (shadow_m + 0.005) * ppm + 4 * ss
    steps = 0
    if obj.frame == "flat" and obj.params.get("box"):
        steps = round(obj.thickness_m * view[2] * ppm)  # vertical sides: cos(elevation)
    x0, x1 = min(xs) - pad, max(xs) + pad
    y0, y1 = min(ys) - pad, max(ys) + pad + steps
    w, h = math.ceil((x1 - x0) / ss) * ss, math.ceil((y1 - y0) / ss) * ss
    py, px = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = px + 0.5 + x0 - o_px[0]
    dy = py + 0.5 + y0 - o_px[1]
    a = (m[0, 0] * dx + m[0, 1] * dy).astype(np.float32)
    b = (m[1, 0] * dx + m[1, 1] * dy).astype(np.float32)
    px_m = 1.0 / (ppm * max(abs(float(np.linalg.det(m * ppm))) ** -0.5, 1e-3))
    px_m = max(1.0 / ppm, min(px_m, 4.0 / ppm))
    surf = _MODELS[obj.kind](a, b, obj.params, obj.length_m, px_m)
    # Normals: gradient in pixels -> gradient on the plane (chain rule) -> ground frame.
    gy, gx = np.gradient(surf.height)
    inv_t = np.linalg.inv(m).T
    ha = np.clip(inv_t[0, 0] * gx + inv_t[0, 1] * gy, -6, 6)
    hb = np.clip(inv_t[1, 0] * gx + inv_t[1, 1] * gy, -6, 6)
    n = -ha[..., None] * e1.astype(np.float32) - hb[..., None] * e2.astype(np.float32)
    n = n + e3.astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    colour, highlight = _shade(surf, n, light)
    opacity = np.asarray(surf.opacity, np.float32) * np.ones_like(surf.cover)
    alpha = surf.cover
    rgb = colour * (alpha * opacity)[..., None] + highlight * alpha[..., None]
    transmit = (alpha * (1 - opacity))[..., None] * np.asarray(surf.tint, np.float32)
    foot = alpha * np.maximum(opacity, 0.5)
    if steps > 0:  # the sides of a box, below its top
        side_rgb, side_a = _sweep_down(rgb, alpha, steps)
        top = (alpha * opacity)[..., None]
        rgb = rgb + side_rgb * (1 - top)
        alpha = alpha + side_a * (1 - alpha)
        transmit = transmit * (1 - side_a[..., None])
        foot = _shift(foot, 0, steps)
    lift_px = -(origin @ screen_down) * ppm  # the footprint lies this far below the drawing
    foot = _shift(foot, 0, lift_px)
    shadow = _blur(foot, 1.5 * ss) * 0.5
    if light.shadow_strength > 0:
        sun = np.asarray(light.sun, float)
        sx, sy = -sun[0] * reach_m * ppm, -sun[1] * reach_m * ppm * view[2]
        cast = _blur(_shift(foot, sx, sy), max(0.8 * ss, obj.thickness_m * ppm * 0.08))
        shadow = np.maximum(shadow, cast * light.shadow_strength)
    anchor = (-x0 / ss, -y0 / ss)
    if ss > 1:
        rgb, alpha, transmit, shadow = (_downsample(v, ss) for v in (rgb, alpha, transmit, shadow))
    return _Sprite(rgb, alpha, transmit, shadow, anchor)


def _shift(a: np.ndarray, dx: float, dy: float) -> np.ndarray:
    out = np.zeros_like(a)
    ix, iy = round(dx), round(dy)
    h, w = a.shape
    ys, yd = (slice(0, h - iy), slice(iy, h)) if iy >= 0 else (slice(-iy, h), slice(0, h + iy))
    xs, xd = (slice(0, w - ix), slice(ix, w)) if ix >= 0 else (slice(-ix, w), slice(0, w + ix))
    out[yd, xd] = a[ys, xs]
    return out


def _downsample(a: np.ndarray, k: int) -> np.ndarray:
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    a = a[:h, :w]
    return a.reshape(h // k, k, w // k, k, *a.shape[2:]).mean(axis=(1, 3))


def _composite(
    canvas: np.ndarray, sprite: _Sprite, x: float, y: float
) -> tuple[float, float, float, float] | None:
    """Draw ``sprite`` with its anchor at pixel ``(x, y)``; return its visible box or None."""
    H, W = canvas.shape[:2]  # noqa: N806 (canvas height, width)
    ox = round(x - sprite.anchor[0])
    oy = round(y - sprite.anchor[1])
    h, w = sprite.alpha.shape
    x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, W), min(oy + h, H)
    if x0 >= x1 or y0 >= y1:
        return None
    sl = (slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox))
    region = canvas[y0:y1, x0:x1]
    region *= (1 - sprite.shadow[sl])[..., None]
    a = sprite.alpha[sl][..., None]
    region[:] = region * (1 - a) + sprite.rgb[sl] + region * sprite.transmit[sl]
    visible = sprite.alpha[sl] > 0.35
    if not visible.any():
        return None
    rows = np.flatnonzero(visible.any(axis=1))
    cols = np.flatnonzero(visible.any(axis=0))
    return (
        float(x0 + cols[0]),
        float(y0 + rows[0]),
        float(x0 + cols[-1] + 1),
        float(y0 + rows[-1] + 1),
    )
