# ruff: noqa: N803, N806  (X, Z, W, H: the camera geometry reads best in its usual symbols)
"""Street scenes: a pinhole camera over a straight street with facades on both sides.

Ground, facades and the street's far end are found per pixel (ray against plane); everything is
textured in world coordinates, so consecutive frames of a street show the same street.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from pipeline.simulate._camera import _Camera
from pipeline.simulate._noise import (
    _LATTICE,
    _blur_periodic,
    _box_overlap,
    _fbm,
    _periodic_box,
    _smoothstep,
    _value_noise,
)
from pipeline.simulate._scene import (
    _B_B,
    _B_BAY,
    _B_FLOOR,
    _B_GROUND,
    _B_HEIGHT,
    _B_R,
    _B_SIGN,
    _B_START,
    _B_WIDTH,
    _B_WIN_H,
    _B_WIN_W,
    _building_at,
    _in_cross,
    _StreetStyle,
    _sun_rel,
    _View,
    _Weather,
)


class _Textures:
    """Tiling noise textures with pre-blurred levels (a poor man's mipmap), made once."""

    def __init__(self, seed: int) -> None:
        n = 256
        y, x = np.mgrid[0:n, 0:n].astype(np.float32)
        fine = _fbm(x / 8, y / 8, seed, octaves=5, period=n // 8)
        grit = _value_noise(x / 1.5, y / 1.5, seed + 1, period=int(n / 1.5))
        speck = _smoothstep(
            0.7, 0.85, _value_noise(x / 2.2, y / 2.2, seed + 2, period=int(n / 2.2))
        )
        base = 0.55 * fine + 0.3 * grit + 0.35 * speck
        base = (base - base.mean()) / base.std()
        self.fine = np.stack([_blur_periodic(base, s) for s in (0.0, 1.0, 3.0, 9.0, 27.0)])
        self.fine_texel_m = 0.006
        large = _fbm(x / 16, y / 16, seed + 3, octaves=4, period=n // 16)
        large = (large - large.mean()) / large.std()
        self.large = np.stack([_blur_periodic(large, s) for s in (0.0, 2.0, 6.0)])
        self.large_texel_m = 0.25

    @staticmethod
    def sample(
        stack: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        texel_m: float,
        fp_m: np.ndarray,
        *,
        bilinear: bool = False,
    ) -> np.ndarray:
        """Texture value at ``(u, v)`` metres, blurred to the pixel footprint ``fp_m``."""
        n = stack.shape[1]
        lev = np.clip(np.log(np.maximum(fp_m / texel_m, 1.0)) / math.log(3.0), 0, len(stack) - 1)
        l0 = np.floor(lev).astype(np.int64)
        l1 = np.minimum(l0 + 1, len(stack) - 1)
        t = (lev - l0).astype(np.float32)
        fu, fv = u / texel_m, v / texel_m
        iu, iv = np.floor(fu), np.floor(fv)
        flat = stack.reshape(-1)
        if not bilinear:
            cell = (iv.astype(np.int64) & (n - 1)) * n + (iu.astype(np.int64) & (n - 1))
            return flat.take(l0 * (n * n) + cell) * (1 - t) + flat.take(l1 * (n * n) + cell) * t
        wu, wv = (fu - iu).astype(np.float32), (fv - iv).astype(np.float32)
        iu, iv = iu.astype(np.int64) % n, iv.astype(np.int64) % n
        ju, jv = (iu + 1) % n, (iv + 1) % n
        out = 0.0
        for lev_idx, weight in ((l0, 1 - t), (l1, t)):
            top = stack[lev_idx, iv, iu] * (1 - wu) + stack[lev_idx, iv, ju] * wu
            bottom = stack[lev_idx, jv, iu] * (1 - wu) + stack[lev_idx, jv, ju] * wu
            out = out + (top * (1 - wv) + bottom * wv) * weight
        return out


def _render_sky(cam: _Camera, weather: _Weather) -> np.ndarray:
    H, W = cam.height, cam.width
    y = (np.arange(H, dtype=np.float32) + 0.5)[:, None, None]
    t = np.clip(1 - y / cam.horizon, 0, 1) ** 0.6
    top, hor = np.asarray(weather.sky_top, np.float32), np.asarray(weather.sky_horizon, np.float32)
    sky = hor + (top - hor) * t
    sky = np.broadcast_to(sky, (H, W, 3)).copy()
    if weather.clouds > 0:  # computed at a quarter of the resolution: clouds are soft
        hs, ws = max(int(cam.horizon) // 4 + 1, 2), W // 4
        yy, xx = np.mgrid[0:hs, 0:ws].astype(np.float32) * 4
        depth = np.maximum(cam.horizon - yy, 8.0)
        c = _fbm((xx - W / 2) / depth * 2.5, 300 / depth, weather.seed, octaves=5)
        c = np.asarray(
            Image.fromarray(c).resize((W, hs * 4), Image.Resampling.BILINEAR), np.float32
        )[:H]
        cover = _smoothstep(0.55 - 0.2 * weather.clouds, 0.8, c)[..., None]
        cloud = np.float32(0.93) if weather.sunny else np.float32(0.8)
        rows = c.shape[0]
        sky[:rows] = sky[:rows] * (1 - cover) + cloud * (1 - 0.15 * c[..., None]) * cover
    return sky


def _ground_albedo(st: _StreetStyle, view: _View, tex: _Textures, X, Zw, fpx, fpz) -> np.ndarray:
    fp = np.sqrt(fpx * fpz)
    R = st.road_half_m
    ax = np.abs(X)
    facade = np.where(X < 0, st.facade_m(-1), st.facade_m(1))
    fine = _Textures.sample(tex.fine, X, Zw, tex.fine_texel_m, fp)
    large = _Textures.sample(tex.large, X, Zw, tex.large_texel_m, fp, bilinear=True)
    cross = _in_cross(Zw, view) & (ax > R)
    out = np.empty((*X.shape, 3), np.float32)
    # Road asphalt: grain, repaired patches, wheel tracks, a darker gutter by the kerb.
    asphalt = 0.29 * (1 + 0.12 * fine + 0.08 * large)
    asphalt = asphalt * np.where(large > 1.1, 0.84, 1.0)  # patched stretches
    # Crack sealant: thin dark lines along an iso-line of the large-scale noise.
    line_w = 0.025 + fp * 1.5
    tar = np.clip(1 - np.abs(large - 0.35) / line_w, 0, 1) * np.minimum(1.0, 0.05 / (fp + 0.02))
    tar = tar * (_value_noise(X / 7.0, Zw / 7.0, st.seed) > 0.55)  # here and there, not everywhere
    asphalt = asphalt * (1 - 0.4 * tar)
    # Manhole covers in the driving lane, every few tens of metres.
    period = 41.0 + st.seed % 17
    zc = np.round((Zw - st.seed % 23) / period) * period + st.seed % 23
    rr = np.hypot(X - (st.camera_x_m - 2.0), Zw - zc)
    cover = np.clip((0.33 - rr) / np.maximum(fp, 0.01) + 0.5, 0, 1)
    ring = np.clip((0.035 - np.abs(rr - 0.3)) / np.maximum(fp, 0.01) + 0.5, 0, 1)
    grid = _periodic_box(X * 1.0 + Zw * 0.0, 0.06, 0.02, fpx) * 0.5
    asphalt = asphalt * (1 - cover * (0.35 + 0.2 * grid)) + ring * 0.12
    lane_x = st.camera_x_m
    for c in (lane_x - 0.8, lane_x + 0.8, -lane_x - 0.8, -lane_x + 0.8):
        asphalt = asphalt * (1 - 0.05 * np.exp(-(((X - c) / 0.35) ** 2)))
    asphalt = asphalt * (1 - 0.25 * np.exp(-np.clip(R - ax, 0, 50) / 0.3) * (ax <= R))
    paint = np.zeros(X.shape, np.float32)
    if not st.oneway:
        paint += _box_overlap(X, -0.06, 0.06, fpx) * _periodic_box(Zw, 12.0, 3.0, fpz)
    for k in range(1, st.lanes // (1 if st.oneway else 2)):
        off = k * st.lane_m if not st.oneway else -st.lanes * st.lane_m / 2 + k * st.lane_m
        for sgn in (1, -1) if not st.oneway else (1,):
            paint += _box_overlap(X, sgn * off - 0.05, sgn * off + 0.05, fpx) * _periodic_box(
                Zw + 4, 12.0, 3.0, fpz
            )
    for c in view.cross_m:  # zebra crossing before each intersection
        z0 = view.s_m + c - 8.0 - 4.0
        band = _box_overlap(Zw, z0, z0 + 3.0, fpz) * (ax < R - 0.3)
        paint += band * _periodic_box(X + 0.25, 1.0, 0.5, fpx)
    paint = np.clip(paint, 0, 1) * (0.75 + 0.08 * fine) * ~cross
    asphalt = asphalt + (0.8 - asphalt) * paint
    out[:] = asphalt[..., None] * np.float32([1.0, 1.0, 1.03])
    if st.tram:
        for tc in (-1.6, 1.6):
            for rail in (tc - 0.5, tc + 0.5):
                groove = _box_overlap(X, rail - 0.05, rail, fpx)
                steel = _box_overlap(X, rail, rail + 0.06, fpx)
                out = out * (1 - 0.6 * groove)[..., None]
                out = out + (np.float32([0.55, 0.55, 0.58]) - out) * (0.8 * steel)[..., None]
    # Kerb (granite) and sidewalk (asphalt or concrete tiles).
    kerb = (ax > R) & (ax <= R + 0.2) & ~cross
    walk = (ax > R + 0.2) & ~cross
    granite = 0.42 * (1 + 0.15 * fine)
    out = np.where(kerb[..., None], (granite[..., None] * np.float32([1.0, 0.99, 0.97])), out)
    if st.tiles:
        tx, tz = (ax - R - 0.2) / 0.6, Zw / 0.6
        tone = _value_noise(np.floor(tx) * 3.1, np.floor(tz) * 2.7, st.seed) - 0.5
        joints = np.maximum(
            _periodic_box(tx * 0.6, 0.6, 0.015, fpx), _periodic_box(Zw, 0.6, 0.015, fpz)
        )
        pave = 0.5 * (1 + 0.2 * tone + 0.08 * fine) * (1 - 0.35 * joints)
    else:
        pave = 0.34 * (1 + 0.1 * fine + 0.06 * large)
    out = np.where(walk[..., None], pave[..., None] * np.float32([1.0, 0.99, 0.97]), out)
    # Dirt collects against the facades.
    near_wall = np.exp(-np.clip(facade - ax, 0, 50) / 0.4) * walk
    out = out * (1 - 0.25 * near_wall)[..., None]
    return out


def _facade_albedo(
    rows: np.ndarray,
    bid: np.ndarray,
    u: np.ndarray,
    yw: np.ndarray,
    fp_u: np.ndarray,
    fp_y: np.ndarray,
    tex: _Textures,
) -> tuple[np.ndarray, np.ndarray]:
    """Facade colours. Per column: the building (``rows`` of a building table, ``bid`` its
    number), ``u`` metres from the building's start, footprints ``fp_u``/``fp_y`` (m/pixel).
    Per pixel: ``yw``, the height above the ground (m). Returns the albedo (rows x columns x 3)
    and where the sky shows above the roof."""
    col = {k: rows[:, k][None, :] for k in range(rows.shape[1])}
    height, ground = col[_B_HEIGHT], col[_B_GROUND]
    fu, fy = fp_u[None, :], fp_y[None, :]
    above = yw > height + 1.2
    colour = np.broadcast_to(rows[:, _B_R : _B_B + 1][None, :, :], (*yw.shape, 3))
    plaster = _Textures.sample(tex.fine, u[None, :] * 0.4, yw * 0.4, tex.fine_texel_m, fu * 0.4)
    streak = _value_noise(u * 1.7, bid * 3.3, 17)[None, :] - 0.5  # rain streaks, per column
    shade = (1 + 0.05 * plaster + 0.08 * streak) * (1 - 0.22 * _smoothstep(3.0, 0.0, yw))
    colour = colour * shade[..., None]
    # Upper floors: windows with light frames and dark, sky-reflecting glass.
    bay_w, ww, wh, floor_h = rows[:, _B_BAY], rows[:, _B_WIN_W], col[_B_WIN_H], col[_B_FLOOR]
    margin = 1.2
    n_bays = np.maximum(np.floor((rows[:, _B_WIDTH] - 2 * margin) / bay_w), 1)
    bay = (rows[:, _B_WIDTH] - 2 * margin) / n_bays
    uu = u - margin
    in_x = ((uu > 0) & (uu < rows[:, _B_WIDTH] - 2 * margin))[None, :]
    frame_u = _periodic_box(uu - (bay - ww) / 2 + 0.09, bay, ww + 0.18, fp_u)[None, :]
    glass_u = _periodic_box(uu - (bay - ww) / 2, bay, ww, fp_u)[None, :]
    yy = yw - ground
    upper = (yw > ground) & (yw < height - 1.2) & in_x
    frame = frame_u * _periodic_box(yy - 0.66, floor_h, wh + 0.18, fy) * upper
    glass = glass_u * _periodic_box(yy - 0.75, floor_h, wh, fy) * upper
    win_col = np.floor(uu / bay).astype(np.int64)[None, :]
    colour = np.ascontiguousarray(colour, dtype=np.float32)

    def blend(mask: np.ndarray, value: Any, amount: np.ndarray | float = 1.0) -> None:
        """colour <- colour + (value - colour) * amount, only where ``mask`` (in place)."""
        idx = np.nonzero(mask)
        if not len(idx[0]):
            return
        v = value(idx) if callable(value) else value
        a = amount[idx][:, None] if isinstance(amount, np.ndarray) else amount
        colour[idx] += (v - colour[idx]) * a

    def pane(idx: tuple[np.ndarray, ...]) -> np.ndarray:
        y = yy[idx]
        in_pane = np.mod(y - 0.75, floor_h[0, idx[1]])
        t = np.clip(in_pane / wh[0, idx[1]], 0, 1)
        p = np.float32([0.09, 0.11, 0.14]) + (0.05 + 0.12 * t)[:, None] * np.float32(
            [0.8, 0.9, 1.0]
        )
        row = np.floor(y / floor_h[0, idx[1]]).astype(np.int64)
        lit = _LATTICE[(row * 7 + bid[idx[1]] * 13) & 255, (win_col[0, idx[1]] * 11 + 5) & 255]
        p = p + ((lit > 0.82) * 0.3)[:, None] * np.float32([0.95, 0.85, 0.7])
        return p * (1 - 0.5 * _smoothstep(0.25, 0.0, wh[0, idx[1]] - in_pane))[:, None]

    blend(frame > 0, np.float32(0.88), 0.85 * frame)
    blend(glass > 0, pane, glass)
    # Ground floor: shop windows, a sign board on some, a granite plinth.
    shop_u = _periodic_box(uu - 0.5, 5.0, 4.0, fp_u)[None, :]
    shop = ((yw > 0.6) & (yw < ground - 0.9) & in_x) * shop_u

    def shop_pane(idx: tuple[np.ndarray, ...]) -> np.ndarray:
        t = np.clip((yw[idx] - 0.6) / np.maximum(ground[0, idx[1]] - 1.5, 1.0), 0, 1)
        return np.float32([0.07, 0.08, 0.09]) + (0.08 + 0.18 * t)[:, None] * np.float32(
            [0.75, 0.8, 0.85]
        )

    blend(shop > 0, shop_pane, shop)
    bars = _periodic_box(uu - 0.5, 4.0 / 3, 0.07, fp_u)[None, :] * shop_u * (shop > 0)
    blend(bars > 0, np.float32([0.32, 0.32, 0.33]), bars)
    sign = (col[_B_SIGN] > 0) & (yw > ground - 0.75) & (yw < ground - 0.2) & in_x
    palette = np.float32([[0.6, 0.1, 0.1], [0.1, 0.2, 0.4], [0.1, 0.1, 0.1], [0.2, 0.35, 0.2]])
    sign_colour = palette[np.mod(rows[:, _B_SIGN].astype(np.int64), 4)]
    blend(sign, lambda idx: sign_colour[idx[1]])
    blend(yw < 0.6, lambda idx: np.float32([0.36, 0.35, 0.34]) * shade[idx][:, None])
    # Cornice, roof, the seam between buildings and a drainpipe.
    cornice = (yw > height - 0.6) & (yw <= height)
    colour[cornice] *= 1.12
    ledge = _box_overlap(yw, height - 0.75, height - 0.6, fy)
    blend(ledge > 0, np.float32(0.0), 0.4 * ledge)
    colour[(yw > height) & ~above] = np.float32([0.2, 0.19, 0.19])
    seam = np.broadcast_to(_box_overlap(u, 0.0, 0.08, fp_u)[None, :], yw.shape)
    blend(seam > 0, np.float32(0.0), 0.3 * seam)
    pipe = _box_overlap(u, 0.25, 0.37, fp_u)[None, :] * (yw < height)
    blend(pipe > 0, np.float32([0.3, 0.3, 0.31]), 0.9 * pipe)
    return colour.astype(np.float32), above


def _render_street(
    cam: _Camera, st: _StreetStyle, view: _View, weather: _Weather, tex: _Textures
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The street without litter: RGB (H, W, 3) in [0, 1], ground depth Z (m), sun mask."""
    H, W, f, h = cam.height, cam.width, cam.f_px, cam.height_m
    img = _render_sky(cam, weather)
    depth = np.full((H, W), np.inf, np.float32)
    sunlit = np.zeros((H, W), np.float32)
    xs = np.arange(W, dtype=np.float32) + 0.5
    ys = np.arange(H, dtype=np.float32) + 0.5
    X_c = st.camera_x_m
    sin_rel, _cos_rel = _sun_rel(weather, view)
    el = math.radians(weather.sun_elevation_deg)
    sun_side = 1 if sin_rel > 0 else -1
    sun_rgb = np.asarray(weather.sun_rgb, np.float32)
    amb = np.asarray(weather.ambient_rgb, np.float32)

    # Ground.
    y0 = math.floor(cam.horizon + 1)
    gy = ys[y0:]
    Z = (f * h / (gy - cam.horizon))[:, None]
    Zg = np.broadcast_to(Z, (len(gy), W))
    X = X_c + (xs[None, :] - cam.cx) * Z / f
    Zw = Zg + view.s_m
    fpx = np.broadcast_to(Z / f, X.shape)
    fpz = np.broadcast_to(Z * Z / (f * h), X.shape)
    # Only the ground in front of the facades and the far end can be seen.
    far_x = max(st.facade_m(-1), st.facade_m(1)) + 0.5
    vis = ((np.abs(X) <= far_x) | _in_cross(Zw, view)) & (Zg < view.end_m + 1)
    X, Zw, fpx, fpz = X[vis], Zw[vis], fpx[vis], fpz[vis]
    ground = _ground_albedo(st, view, tex, X, Zw, fpx, fpz)
    if weather.sunny:
        table = st.buildings[0 if sun_side < 0 else 1]
        bh = table[_building_at(table, Zw), _B_HEIGHT]
        reach = bh * abs(sin_rel) / math.tan(el)
        edge = st.facade_m(sun_side) - reach
        cross = _in_cross(Zw, view)
        soft = np.clip((sun_side * X - edge) / np.maximum(fpx * 2, 0.05), -0.5, 0.5) + 0.5
        shade = np.where(cross, 0.0, soft)
        light = (1 - shade)[..., None] * sun_rgb * math.sin(el) * 1.6 + amb
        sunlit[y0:][vis] = 1 - shade
    else:
        light = amb
    img[y0:][vis] = ground * light
    depth[y0:] = Zg

    # Facades: one plane each side at X = +-facade (set back where a street crosses), and a
    # building across the far end.
    dxs = (xs - cam.cx) / f
    side = np.where(dxs < 0, -1, 1)
    Xf = np.where(side < 0, -st.facade_m(-1), st.facade_m(1))
    with np.errstate(divide="ignore"):
        Zf = np.where(np.abs(dxs) > 1e-6, (Xf - X_c) / dxs, np.inf)
    Zf = np.where(Zf > 0, Zf, np.inf)
    gap = _in_cross(Zf + view.s_m, view)
    Zf2 = np.where(gap, (Xf + side * 22.0 - X_c) / np.where(np.abs(dxs) > 1e-6, dxs, 1e-6), Zf)
    Zf = np.where(gap, Zf2, Zf)
    Zf = np.minimum(Zf, np.float32(view.end_m))
    is_end = Zf >= view.end_m
    # Per column: which building, where along it, and the pixel footprint.
    u_world = np.where(is_end, X_c + dxs * Zf + 1000.0, Zf + view.s_m)
    u_world = np.where(gap & ~is_end, u_world + 500.0, u_world)
    right = side > 0
    rows = np.empty((W, st.buildings[0].shape[1]), np.float32)
    bid = np.empty(W, np.int64)
    for k, sel in ((0, ~right), (1, right)):
        table = st.buildings[k]
        bid[sel] = _building_at(table, u_world[sel])
        rows[sel] = table[bid[sel]]
    total = np.where(right, *(t[-1, _B_START] + t[-1, _B_WIDTH] for t in st.buildings[::-1]))
    u_col = np.mod(u_world, total) - rows[:, _B_START]
    fp_y = Zf / f
    fp_u = np.where(is_end, fp_y, Zf * Zf / (f * np.maximum(np.abs(Xf - X_c), 1.0)))
    bottom = int(min(H, math.ceil(cam.horizon + f * h / float(Zf.min()) + 1)))
    yw = h - (ys[:bottom, None] - cam.horizon) * Zf[None, :] / f
    colour, above = _facade_albedo(rows, bid + 100 * right, u_col, yw, fp_u, fp_y, tex)
    # Light on the facades: the side facing the sun is lit above the opposite roofs' shadow.
    if weather.sunny:
        facing = (-side * sin_rel) > 0
        width = st.facade_m(-1) + st.facade_m(1)
        opp = st.buildings[0 if sun_side < 0 else 1]
        opp_h = opp[_building_at(opp, Zf + view.s_m), _B_HEIGHT]
        shadow_top = (opp_h - width * math.tan(el) / max(abs(sin_rel), 0.2))[None, :]
        lit = (facing & ~is_end)[None, :] & (yw > shadow_top)
        k_sun = abs(sin_rel) * math.cos(el) * 1.5
        light = amb * 1.05 + lit[..., None] * sun_rgb * k_sun
        light = np.where(is_end[None, :, None], amb * 1.05 + sun_rgb * 0.3, light)
        colour = colour * light
    else:
        colour = colour * amb
    show = (yw >= 0) & ~above
    img[:bottom] = np.where(show[..., None], colour, img[:bottom])
    depth[:bottom] = np.where(show, Zf[None, :], depth[:bottom])
    # Aerial perspective: far things fade towards the horizon sky.
    far = np.nonzero(np.isfinite(depth) & (depth > 15.0))  # nearer, the haze is under 3 %
    haze = (1 - np.exp(-depth[far] / 600.0))[:, None]
    img[far] = img[far] * (1 - haze) + np.asarray(weather.sky_horizon, np.float32) * haze
    return img, depth, sunlit


def _draw_poles(img: np.ndarray, cam: _Camera, st: _StreetStyle, view: _View, sunny: bool) -> None:
    """Lamp posts by the kerbs and, on tram streets, the overhead wires."""
    f, h = cam.f_px, cam.height_m
    for side in (-1, 1):
        x_m = side * (st.road_half_m + 0.6)
        phase = (st.seed % 997) / 997 * st.pole_spacing_m + (
            0 if side < 0 else st.pole_spacing_m / 2
        )
        k0 = math.ceil((view.s_m + 2.5 - phase) / st.pole_spacing_m)
        for k in range(k0 + 12, k0 - 1, -1):  # far to near
            z = phase + k * st.pole_spacing_m - view.s_m
            if (
                z < 2.5
                or z > view.end_m
                or abs(z - min(view.cross_m, key=lambda c: abs(c - z), default=1e9)) < 8
            ):
                continue
            x = cam.cx + f * (x_m - st.camera_x_m) / z
            half = max(0.5, f * 0.08 / z)
            if x + half < 0 or x - half > cam.width:
                continue
            y_bottom = cam.horizon + f * h / z
            y_top = cam.horizon - f * (8.0 - h) / z
            xa, xb = int(max(0, round(x - half))), int(min(cam.width, round(x + half)))
            ya, yb = int(max(0, y_top)), int(min(cam.height, y_bottom))
            if xb <= xa or yb <= ya:
                continue
            shade = np.linspace(0.16, 0.3 if sunny else 0.22, xb - xa, dtype=np.float32)[
                None, :, None
            ]
            img[ya:yb, xa:xb] = shade * np.float32([1.0, 1.0, 1.05])
            arm = int(max(1, f * 1.2 / z))  # the lamp arm reaching over the road
            ax0, ax1 = (xa - arm, xa) if side > 0 else (xb, xb + arm)
            ay = int(max(0, y_top))
            img[ay : ay + max(1, int(f * 0.1 / z)), max(0, ax0) : max(0, min(cam.width, ax1))] = (
                0.18
            )
