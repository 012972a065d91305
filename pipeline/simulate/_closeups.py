# ruff: noqa: N806  (W, H: image width and height)
"""Close-ups: litter on the ground seen from about a metre, like the trash-filter photos."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipeline.simulate._camera import _camera_finish
from pipeline.simulate._files import _exif, _prepare, _write_data_yaml, _write_yolo_labels
from pipeline.simulate._litter import _random_litter
from pipeline.simulate._noise import _fbm, _hash01, _smoothstep
from pipeline.simulate._results import CLASSES, CloseupSet, LitterBox
from pipeline.simulate._sprite import _composite, _Light, _render_sprite

_GROUNDS = ("asphalt", "grass", "leaves", "paving", "gravel", "sand", "needles")


def _noise_img(shape: tuple[int, int], scale_px: float, seed: int, octaves: int = 4) -> np.ndarray:
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    return _fbm(x / scale_px, y / scale_px, seed, octaves=octaves)


def _draw_strokes(
    img: Image.Image,
    rng: np.random.Generator,
    n: int,
    *,
    length: tuple[float, float],
    width: tuple[int, int],
    colours: Sequence[Sequence[float]],
    angle: tuple[float, float] = (0.0, 2 * math.pi),
    jitter: float = 0.12,
) -> None:
    draw = ImageDraw.Draw(img)
    W, H = img.size
    cols = np.asarray(colours, dtype=np.float32)
    for _ in range(n):
        x, y = rng.uniform(-10, W + 10), rng.uniform(-10, H + 10)
        ang = rng.uniform(*angle)
        ln = rng.uniform(*length)
        c = cols[rng.integers(len(cols))] * rng.uniform(0.75, 1.2)
        pts = [(x, y)]
        for _k in range(3):
            ang += rng.normal(0, jitter)
            x, y = x + math.cos(ang) * ln / 3, y + math.sin(ang) * ln / 3
            pts.append((x, y))
        fill = tuple(int(v) for v in np.clip(c * 255, 0, 255))
        draw.line(pts, fill=fill, width=int(rng.integers(width[0], width[1] + 1)))


def _closeup_ground(kind: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A ground texture (float RGB in [0, 1], H x W x 3) about 0.5-1 m across."""
    W, H = size
    seed = int(rng.integers(1 << 30))
    fine = _noise_img((H, W), 2.5, seed, 2)[..., None]
    mid = _noise_img((H, W), 25, seed + 1, 3)[..., None]
    big = _noise_img((H, W), 160, seed + 2, 3)[..., None]
    if kind == "asphalt":
        base = np.asarray([0.36, 0.36, 0.37]) * rng.uniform(0.75, 1.25)
        img = base * (0.55 + 0.45 * fine + 0.3 * (mid - 0.5) + 0.25 * (big - 0.5))
        stones = _smoothstep(0.72, 0.8, _noise_img((H, W), 3.5, seed + 3, 1))[..., None]
        img = img * (1 - 0.4 * stones) + 0.62 * stones * np.asarray([1.0, 0.97, 0.93]) * 0.7
        pil = Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8))
        for _ in range(int(rng.integers(0, 3))):  # cracks
            _draw_strokes(
                pil, rng, 1, length=(80, 300), width=(1, 3), colours=[(0.12,) * 3], jitter=0.5
            )
        return np.asarray(pil, np.float32) / 255
    if kind == "paving":
        ang = rng.uniform(0, math.pi)
        y, x = np.mgrid[0:H, 0:W].astype(np.float32)
        u = (x * math.cos(ang) + y * math.sin(ang)) / rng.uniform(60, 110)
        v = (-x * math.sin(ang) + y * math.cos(ang)) / rng.uniform(45, 80)
        row = np.floor(v)
        u = u + 0.5 * (row % 2)
        col = np.floor(u)
        joint = np.minimum(
            np.minimum(u - col, 1 - (u - col)) * 3, np.minimum(v - row, 1 - (v - row))
        )
        jmask = _smoothstep(0.035, 0.0, joint)[..., None]
        tone = _hash01(col.astype(np.int64), row.astype(np.int64), seed)[..., None]
        base = np.asarray([[0.55, 0.54, 0.52], [0.6, 0.38, 0.3], [0.45, 0.45, 0.46]])[
            rng.integers(3)
        ]
        img = base * (0.8 + 0.35 * tone) * (0.75 + 0.4 * fine + 0.2 * (mid - 0.5))
        joint_col = (
            np.asarray([0.22, 0.22, 0.18]) if rng.random() < 0.6 else np.asarray([0.2, 0.32, 0.12])
        )
        img = img * (1 - 0.3 * _smoothstep(0.55, 0.75, big) - 0.15 * _smoothstep(0.6, 0.8, mid))
        return (img * (1 - jmask) + joint_col * jmask * (0.7 + 0.6 * fine)).astype(np.float32)
    if kind == "sand":
        base = np.asarray([0.72, 0.64, 0.5]) * rng.uniform(0.8, 1.1)
        img = base * (0.75 + 0.35 * fine + 0.25 * (mid - 0.5) + 0.2 * (big - 0.5))
        return img.astype(np.float32)
    soil = np.asarray([0.28, 0.22, 0.15]) * (0.6 + 0.5 * fine + 0.4 * (mid - 0.5))
    pil = Image.fromarray(np.clip(soil * 255, 0, 255).astype(np.uint8))
    area = W * H / (416 * 416)
    if kind == "grass":
        greens = [(0.18, 0.32, 0.08), (0.28, 0.42, 0.12), (0.42, 0.5, 0.18), (0.55, 0.5, 0.28)]
        main = rng.uniform(0, 2 * math.pi)
        for layer in range(3):
            _draw_strokes(
                pil,
                rng,
                int(1400 * area),
                length=(10, 45),
                width=(1, 3),
                colours=[tuple(c * (0.6 + 0.2 * layer) for c in g) for g in greens],
                angle=(main - 0.9, main + 0.9),
            )
    elif kind == "leaves":
        draw = ImageDraw.Draw(pil)
        cols = np.asarray(
            [(0.6, 0.45, 0.15), (0.45, 0.25, 0.1), (0.7, 0.6, 0.2), (0.3, 0.35, 0.12)]
        )
        for _ in range(int(220 * area)):
            x, y, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(6, 18)
            ang = rng.uniform(0, 2 * math.pi)
            t = np.linspace(0, 2 * math.pi, 14)
            lx, ly = r * np.cos(t), 0.45 * r * np.sin(t) * np.abs(np.cos(t / 2)) ** 0.3
            pts = [
                (
                    x + px * math.cos(ang) - py * math.sin(ang),
                    y + px * math.sin(ang) + py * math.cos(ang),
                )
                for px, py in zip(lx, ly, strict=True)
            ]
            c = cols[rng.integers(len(cols))] * rng.uniform(0.6, 1.2)
            draw.polygon(pts, fill=tuple(int(v) for v in np.clip(c * 255, 0, 255)))
        _draw_strokes(
            pil,
            rng,
            int(25 * area),
            length=(30, 120),
            width=(2, 5),
            colours=[(0.3, 0.22, 0.14)],
            jitter=0.2,
        )
    elif kind == "gravel":
        draw = ImageDraw.Draw(pil)
        tones = np.asarray(
            [(0.55, 0.53, 0.5), (0.62, 0.56, 0.48), (0.45, 0.45, 0.46), (0.7, 0.68, 0.64)]
        )
        for _ in range(int(2200 * area)):
            x, y, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(2.5, 8)
            k = int(rng.integers(5, 8))
            ang = np.sort(rng.uniform(0, 2 * math.pi, k))
            rad = r * rng.uniform(0.6, 1.0, k)
            g = tones[rng.integers(len(tones))] * rng.uniform(0.7, 1.15)
            pts = [
                (x + q * math.cos(t), y + q * 0.85 * math.sin(t))
                for q, t in zip(rad, ang, strict=True)
            ]
            dark = tuple(int(v * 255 * 0.35) for v in g)
            draw.polygon([(px + 1.2, py + 1.5) for px, py in pts], fill=dark)
            draw.polygon(pts, fill=tuple(int(min(v, 1) * 255) for v in g))
            top = [(x + (px - x) * 0.55 - r * 0.2, y + (py - y) * 0.5 - r * 0.25) for px, py in pts]
            draw.polygon(top, fill=tuple(int(min(v * 1.15, 1) * 255) for v in g))
    else:  # pine needles on soil
        _draw_strokes(
            pil,
            rng,
            int(1800 * area),
            length=(15, 40),
            width=(1, 2),
            colours=[(0.45, 0.32, 0.18), (0.55, 0.42, 0.25), (0.35, 0.25, 0.15)],
            jitter=0.05,
        )
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(0.6)), np.float32) / 255


def _closeup_light(rng: np.random.Generator, tilt: float) -> _Light:
    sunny = rng.random() < 0.6
    el = rng.uniform(0.45, 1.1)
    az = rng.uniform(0, 2 * math.pi)
    sun = (math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el))
    view = (0.0, math.sin(tilt), math.cos(tilt))
    if sunny:
        return _Light(
            sun,
            (1.0, 0.96, 0.88),
            (0.42, 0.45, 0.52),
            view,
            (0.75, 0.85, 1.0),
            (0.35, 0.32, 0.28),
            0.55,
        )
    return _Light(
        sun, (0.25, 0.25, 0.25), (0.78, 0.8, 0.84), view, (0.85, 0.87, 0.9), (0.3, 0.3, 0.3), 0.0
    )


def _render_closeup(
    size: tuple[int, int], rng: np.random.Generator
) -> tuple[Image.Image, list[LitterBox]]:
    W, H = size
    kind = _GROUNDS[int(rng.integers(len(_GROUNDS)))]
    ground = _closeup_ground(kind, size, rng)
    tilt = float(rng.uniform(0.0, 0.6))
    light = _closeup_light(rng, tilt)
    # Light on the ground: sunlit, or dappled by tree shade, or overcast.
    lit = np.asarray(light.ambient_rgb) + np.asarray(light.sun_rgb) * light.sun[2]
    canvas = (ground * lit).astype(np.float32)
    if light.shadow_strength > 0 and rng.random() < 0.35:
        shade = _smoothstep(
            0.45, 0.55, _noise_img((H, W), rng.uniform(40, 120), int(rng.integers(1 << 30)), 3)
        )
        canvas = canvas * (1 - 0.55 * shade[..., None] * np.asarray([1.0, 0.95, 0.85]))
    n_obj = int(rng.choice([1, 1, 1, 2, 2, 3]))
    px_per_m = float(rng.uniform(500, 1300)) * W / 416
    boxes: list[LitterBox] = []
    taken: list[tuple[float, float, float, float]] = []
    for _ in range(n_obj):
        cls = CLASSES[int(rng.integers(len(CLASSES)))]
        obj = _random_litter(cls, rng)
        scale = px_per_m
        if obj.length_m * scale > 0.6 * W:
            scale = 0.6 * W / obj.length_m
        rotation = float(rng.uniform(0, 2 * math.pi))
        sprite = _render_sprite(obj, px_per_m=scale, rotation=rotation, light=light)
        for _try in range(15):
            x, y = rng.uniform(0.12 * W, 0.88 * W), rng.uniform(0.15 * H, 0.88 * H)
            r = 0.5 * obj.length_m * scale
            if all(abs(x - tx) > r + tr or abs(y - ty) > r + tr for tx, ty, tr, _ in taken):
                break
        box = _composite(canvas, sprite, x, y)
        if box is not None and (box[2] - box[0]) >= 6 and (box[3] - box[1]) >= 6:
            boxes.append(LitterBox(cls, box))
            taken.append((x, y, r, 0.0))
    if kind == "grass":  # a few blades in front of the litter, as in long grass
        over = Image.fromarray(np.clip(canvas * 255, 0, 255).astype(np.uint8))
        greens = [
            tuple(c * 0.9 for c in lit[:3] * np.asarray(g))
            for g in [(0.22, 0.36, 0.1), (0.35, 0.45, 0.15)]
        ]
        _draw_strokes(
            over, rng, int(120 * W * H / 416**2), length=(10, 35), width=(1, 2), colours=greens
        )
        canvas = np.asarray(over, np.float32) / 255
    image = _camera_finish(
        canvas, rng, blur=float(rng.uniform(0.3, 0.9)), noise=0.02, vignette=0.25
    )
    if rng.random() < 0.25:  # salt-and-pepper pixels, as in part of the trash-filter export
        arr = np.asarray(image).copy()
        m = rng.random(arr.shape[:2])
        arr[m < 0.004] = 0
        arr[m > 0.996] = 255
        image = Image.fromarray(arr)
    return image, boxes


def render_litter_closeups(
    out_dir: str | Path,
    *,
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (416, 416),
    jpeg_quality: int = 90,
    progress: Callable[[int, int], None] | None = None,
) -> CloseupSet:
    """Render ``n`` SIMULATED close-ups of litter on the ground as a YOLO dataset.

    Each image shows one to three objects of the classes in :data:`CLASSES` on asphalt, grass,
    leaves, paving, gravel, sand or pine needles, seen from about a metre, lit by sun or
    overcast sky, with the camera's noise and softness, like the trash-filter photos.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write ``images/``, ``labels/`` and ``data.yaml`` to (created).
    n : int
        Number of images.
    seed : int
        The same seed gives the same images.
    size : (int, int)
        Width and height in pixels.
    jpeg_quality : int
        JPEG quality, 1-95.
    progress : callable, optional
        Called as ``progress(images_done, n)``.

    Returns
    -------
    CloseupSet
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    root, images_dir, labels_dir = _prepare(out_dir)
    paths: list[Path] = []
    all_boxes: list[tuple[LitterBox, ...]] = []
    for i in range(n):
        rng = np.random.default_rng([seed, 2, i])
        image, boxes = _render_closeup(size, rng)
        path = images_dir / f"closeup_{i:05d}.jpg"
        exif = _exif(
            description=f"SIMULATED WasteMap litter close-up {i + 1} of {n}: rendered image, "
            "not a photograph"
        )
        image.save(path, "JPEG", quality=jpeg_quality, exif=exif)
        _write_yolo_labels(labels_dir / f"closeup_{i:05d}.txt", boxes, size)
        paths.append(path)
        all_boxes.append(tuple(boxes))
        if progress is not None:
            progress(i + 1, n)
    _write_data_yaml(root / "data.yaml", "litter close-ups")
    return CloseupSet(
        out_dir=root,
        images_dir=images_dir,
        labels_dir=labels_dir,
        data_yaml=root / "data.yaml",
        images=tuple(paths),
        boxes=tuple(all_boxes),
    )
