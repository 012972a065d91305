# ruff: noqa: N803, N806  (X, Z, W, H: the camera geometry reads best in its usual symbols)
"""The sample survey: a SIMULATED vehicle drive with rendered street images and litter.

Nothing here is a photograph. :func:`build_sample_survey` drives a virtual survey vehicle along
real streets of central Helsinki (the road network from :mod:`analytics.network`), takes a frame
every ``spacing_m`` metres, renders a street-level image for it (sky, facades with windows, road
with lane markings in perspective, kerbs and sidewalks, lamp posts, litter on the ground) and
writes:

``images/frame_NNNN.jpg``
    JPEGs with EXIF GPS (latitude, longitude, altitude, image direction), capture time with its
    UTC offset, Make ``WasteMap``, Model ``Simulated survey camera`` and an ImageDescription that
    starts with ``SIMULATED``;
``labels/frame_NNNN.txt`` and ``data.yaml``
    the litter boxes as a YOLO dataset, classes in the order of the trash-filter data set
    (:data:`CLASSES`);
``ground_truth.json``
    per frame: file, lat, lon, captured_at, heading, street and boxes with their class.

:func:`render_litter_closeups` renders 416 x 416 close-ups of the same litter models on asphalt,
grass, soil, paving, gravel or sand, like the trash-filter photos, as extra training data.

Everything is seeded: the same arguments give byte-identical files.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import math
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import networkx as nx
import numpy as np
import pyproj
import shapely
from PIL import ExifTags, Image, ImageDraw, ImageFilter
from PIL.TiffImagePlugin import IFDRational
from shapely.geometry import LineString

__all__ = [
    "CLASSES",
    "CloseupSet",
    "LitterBox",
    "SampleSurvey",
    "SurveyFrame",
    "build_sample_survey",
    "render_litter_closeups",
]

#: Litter classes in id order, as in ``../shared/datasets/trash-filter/data.yaml``.
CLASSES: tuple[str, ...] = ("cardboard", "foam", "glass", "metal", "other", "paper", "plastic")
CAMERA_MAKE = "WasteMap"
CAMERA_MODEL = "Simulated survey camera"
SIMULATED_NOTE = (
    "SIMULATED: rendered by WasteMap's sample survey generator; not a photograph. Positions "
    "follow real streets of central Helsinki (OpenStreetMap); the scene and the litter are "
    "synthetic."
)
DEFAULT_START = datetime(2024, 5, 14, 9, 30, tzinfo=ZoneInfo("Europe/Helsinki"))

# Camera (metres, degrees, pixels). A dash camera behind the windscreen of a van.
_CAMERA_HEIGHT_M = 1.7
_HFOV_DEG = 62.0
_HORIZON = 0.36  # horizon row as a fraction of the image height (camera pitched down)
_PRINCIPAL_X = 0.42  # the lens is shifted so the camera looks a little towards the kerb
_SURVEY_SPEED_KMH = 30.0  # the vehicle never drives faster than this while surveying
_ALTITUDE_M = 12.0  # central Helsinki is 5-20 m above sea level

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


# --------------------------------------------------------------------------------------------
# Public results


@dataclass(frozen=True)
class LitterBox:
    """One litter object in an image: class and box ``(x0, y0, x1, y1)`` in pixels."""

    class_name: str
    xyxy: tuple[float, float, float, float]
    distance_m: float | None = None

    @property
    def class_id(self) -> int:
        return CLASSES.index(self.class_name)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "class": self.class_name,
            "class_id": self.class_id,
            "xyxy": [round(v, 2) for v in self.xyxy],
        }
        if self.distance_m is not None:
            out["distance_m"] = round(self.distance_m, 2)
        return out


@dataclass(frozen=True)
class SurveyFrame:
    """One simulated frame: where and when it was taken, and the litter in it."""

    file: Path
    lat: float
    lon: float
    captured_at: datetime
    heading_deg: float
    distance_m: float
    street: str | None
    boxes: tuple[LitterBox, ...]

    def as_dict(self, root: Path) -> dict[str, Any]:
        return {
            "file": self.file.relative_to(root).as_posix(),
            "lat": round(self.lat, 8),
            "lon": round(self.lon, 8),
            "captured_at": self.captured_at.isoformat(timespec="milliseconds"),
            "heading": round(self.heading_deg, 2),
            "distance_m": round(self.distance_m, 2),
            "street": self.street,
            "boxes": [b.as_dict() for b in self.boxes],
        }


@dataclass(frozen=True)
class SampleSurvey:
    """A simulated survey on disk: its folders, files and ground truth."""

    out_dir: Path
    images_dir: Path
    labels_dir: Path
    data_yaml: Path
    ground_truth_json: Path
    frames: tuple[SurveyFrame, ...]
    route_length_m: float
    seed: int
    simulated: bool = True

    @property
    def boxes(self) -> int:
        return sum(len(f.boxes) for f in self.frames)


@dataclass(frozen=True)
class CloseupSet:
    """Simulated close-up litter images as a YOLO dataset."""

    out_dir: Path
    images_dir: Path
    labels_dir: Path
    data_yaml: Path
    images: tuple[Path, ...]
    boxes: tuple[tuple[LitterBox, ...], ...] = field(default=())
    simulated: bool = True


# --------------------------------------------------------------------------------------------
# Noise (hash-based value noise, defined at any coordinate, so textures are stable in world space)


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    h = (ix * 374761393 + iy * 668265263 + (seed * 2246822519 & 0xFFFFFFFF)) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h ^= h >> 16
    return (h & 0xFFFFFF).astype(np.float32) / np.float32(0x1000000)


_LATTICE = np.random.default_rng(20240514).random((256, 256), dtype=np.float32)


def _value_noise(x: np.ndarray, y: np.ndarray, seed: int, period: int | None = None) -> np.ndarray:
    """Smooth value noise in [0, 1] on a unit lattice (tiles with ``period`` cells)."""
    x0 = np.floor(x)
    y0 = np.floor(y)
    sx = (x - x0).astype(np.float32)
    sy = (y - y0).astype(np.float32)
    sx = sx * sx * (3 - 2 * sx)
    sy = sy * sy * (3 - 2 * sy)
    ix = x0.astype(np.int64)
    iy = y0.astype(np.int64)
    ix1, iy1 = ix + 1, iy + 1
    if period:
        ix, ix1, iy, iy1 = ix % period, ix1 % period, iy % period, iy1 % period
    ox, oy = (seed * 7919) % 256, (seed * 104729 // 256) % 256
    ix, ix1 = (ix + ox) & 255, (ix1 + ox) & 255
    iy, iy1 = (iy + oy) & 255, (iy1 + oy) & 255
    a = _LATTICE[iy, ix]
    b = _LATTICE[iy, ix1]
    c = _LATTICE[iy1, ix]
    d = _LATTICE[iy1, ix1]
    top = a + (b - a) * sx
    bottom = c + (d - c) * sx
    return top + (bottom - top) * sy


def _fbm(
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    octaves: int = 4,
    gain: float = 0.5,
    period: int | None = None,
) -> np.ndarray:
    """Fractal value noise in [0, 1] (mean 0.5); ``period`` makes it tile (lattice cells)."""
    total = np.zeros(np.broadcast(x, y).shape, dtype=np.float32)
    amp, norm, scale = 1.0, 0.0, 1.0
    for o in range(octaves):
        p = int(period * scale) if period else None
        total += amp * _value_noise(x * scale, y * scale, seed + 101 * o, p)
        norm += amp
        amp *= gain
        scale *= 2.0
    return total / norm


def _blur_periodic(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return a
    ky = np.fft.fftfreq(a.shape[0])[:, None]
    kx = np.fft.fftfreq(a.shape[1])[None, :]
    g = np.exp(-2 * (np.pi * sigma) ** 2 * (kx**2 + ky**2))
    return np.real(np.fft.ifft2(np.fft.fft2(a) * g)).astype(np.float32)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a 2-D float array in [0, 1] (Pillow, 8-bit precision)."""
    if sigma <= 0.05:
        return a
    img = Image.fromarray(np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _box_overlap(x: np.ndarray, lo: float, hi: float, fp: np.ndarray) -> np.ndarray:
    """Fraction of the pixel footprint ``[x - fp/2, x + fp/2]`` inside ``[lo, hi]``."""
    a = np.maximum(x - fp / 2, lo)
    b = np.minimum(x + fp / 2, hi)
    return np.clip((b - a) / fp, 0.0, 1.0)


def _periodic_box(x: np.ndarray, period: float, on: float, fp: np.ndarray) -> np.ndarray:
    """Box-filtered square wave: 1 on ``[k*period, k*period + on)``, else 0."""

    def integral(t: np.ndarray) -> np.ndarray:
        k = np.floor(t / period)
        return k * on + np.minimum(t - k * period, on)

    return np.clip((integral(x + fp / 2) - integral(x - fp / 2)) / fp, 0.0, 1.0)


def _seed_of(*parts: Any) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------------------------
# Litter models: each maps object coordinates (a along the object, b across; metres) to a
# surface: coverage, albedo, height (for normals), transparency and how shiny or metallic it is.


@dataclass
class _Surface:
    cover: np.ndarray
    albedo: np.ndarray
    height: np.ndarray
    opacity: np.ndarray | float = 1.0
    spec: np.ndarray | float = 0.2
    gloss: float = 20.0
    metal: np.ndarray | float = 0.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class _Litter:
    """A litter object: class, model and its parameters, size and thickness (metres)."""

    class_name: str
    kind: str
    length_m: float
    width_m: float
    thickness_m: float
    seed: int
    params: dict[str, Any]
    frame: str = "flat"  # "flat" on the ground, "axis" (body of revolution) or "blob"


def _aa(sdf: np.ndarray, px_m: float) -> np.ndarray:
    """Anti-aliased coverage of the region where ``sdf`` (metres, positive inside) > 0."""
    return np.clip(sdf / px_m + 0.5, 0.0, 1.0).astype(np.float32)


def _lathe(
    a: np.ndarray, b: np.ndarray, length: float, profile: Callable[[np.ndarray], np.ndarray], px_m
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A body of revolution lying on the ground: t in [0, 1] along it, radius, cover, height."""
    t = a / length + 0.5
    r = profile(np.clip(t, 0.0, 1.0))
    inside = np.minimum(r - np.abs(b), np.minimum(t, 1.0 - t) * length)
    cover = _aa(inside, px_m)
    h = np.sqrt(np.clip(r * r - b * b, 0.0, None))
    theta = np.arcsin(np.clip(b / np.maximum(r, 1e-6), -1.0, 1.0))  # angle round the body
    return t, r, cover, h.astype(np.float32), theta.astype(np.float32)


def _print_pattern(
    u: np.ndarray, v: np.ndarray, seed: int, colours: Sequence[Sequence[float]]
) -> np.ndarray:
    """A printed-label look: colour fields, a band, a logo blob and rows of small 'text'."""
    rng = np.random.default_rng(seed)
    c0, c1, c2 = (np.asarray(c, dtype=np.float32) for c in colours[:3])
    out = np.empty((*u.shape, 3), dtype=np.float32)
    out[:] = c0
    band = _smoothstep(0.02, 0.0, np.abs(v - rng.uniform(-0.3, 0.3)) - rng.uniform(0.08, 0.2))
    out = out + (c1 - out) * band[..., None]
    logo = _smoothstep(0.03, 0.0, np.hypot((u - rng.uniform(-0.15, 0.15)) * 1.3, v) - 0.2)
    out = out + (c2 - out) * logo[..., None]
    text_rows = _periodic_box(v * 14 + rng.uniform(0, 1), 1.0, 0.35, np.full_like(v, 0.15))
    words = _value_noise(u * 28, np.floor(v * 14) * 3.1, seed + 7) > 0.45
    text = text_rows * words * (np.abs(u) < 0.35) * (1 - logo)
    ink = np.asarray(colours[3] if len(colours) > 3 else (0.1, 0.1, 0.12), dtype=np.float32)
    return out + (ink - out) * (0.8 * text)[..., None]


def _model_bottle(a, b, p: dict[str, Any], length: float, px_m: float) -> _Surface:
    glass = p["glass"]
    radius = p["radius"]
    neck = radius * (0.42 if glass else 0.4)
    shoulder, neck_start = p["shoulder"], p["shoulder"] + (0.2 if glass else 0.12)

    def profile(t: np.ndarray) -> np.ndarray:
        k = _smoothstep(shoulder, neck_start, t)
        r = radius + (neck - radius) * k
        r = r * (0.85 + 0.15 * _smoothstep(0.0, 0.05, t))
        lip = 0.93 if glass else 0.9
        r = np.where(t > lip, neck * (1.18 if glass else 1.25), r)
        return r

    t, r, cover, h, theta = _lathe(a, b, length, profile, px_m)
    if p.get("crushed"):
        dent = _fbm(t * 9, theta * 2.2, p["seed"], octaves=3)
        h = h * (0.55 + 0.7 * dent)
        r_scale = 0.7 + 0.3 * _fbm(t * 5, 0 * t, p["seed"] + 3, octaves=2)
        cover = cover * _aa(r * r_scale - np.abs(b), px_m)
    label = (t > p["label"][0]) & (t < p["label"][1])
    cap = t > (0.93 if glass else 0.9)
    body = np.asarray(p["colour"], dtype=np.float32)
    albedo = np.empty((*a.shape, 3), dtype=np.float32)
    albedo[:] = body
    if p["label_colours"] is not None:
        lab = _print_pattern(
            (t - np.mean(p["label"])) / (p["label"][1] - p["label"][0]),
            theta / 1.6,
            p["seed"],
            p["label_colours"],
        )
        albedo = np.where(label[..., None], lab, albedo)
    else:
        label = np.zeros_like(label)
    albedo = np.where(cap[..., None], np.asarray(p["cap"], dtype=np.float32), albedo)
    if not glass:  # PET ribs
        ribs = 0.0015 * np.sin(t * length / 0.011 * 2 * np.pi) * (t < p["shoulder"]) * ~label
        h = h + ribs.astype(np.float32)
    solid = label | cap
    opacity = np.where(solid, 1.0, p["opacity"]).astype(np.float32)
    return _Surface(
        cover=cover,
        albedo=albedo,
        height=h,
        opacity=opacity,
        spec=np.where(solid & ~cap, 0.25, 1.0 if glass else 0.8).astype(np.float32),
        gloss=120.0 if glass else 60.0,
        metal=np.where(solid, 0.0, 0.35 if glass else 0.15).astype(np.float32),
        tint=p["tint"],
    )


def _model_can(a, b, p: dict[str, Any], length: float, px_m: float) -> _Surface:
    radius = p["radius"]

    def profile(t: np.ndarray) -> np.ndarray:
        r = radius * (1 - 0.12 * _smoothstep(0.86, 0.97, t)) * (0.9 + 0.1 * _smoothstep(0, 0.05, t))
        return r

    t, r, cover, h, theta = _lathe(a, b, length, profile, px_m)
    if p.get("crushed"):
        crease = np.abs(_fbm(t * 7, theta * 1.5, p["seed"], octaves=3) - 0.5) * 2
        squeeze = 1 - 0.45 * np.exp(-(((t - p["crush_at"]) / 0.18) ** 2))
        cover = cover * _aa(r * squeeze - np.abs(b), px_m)
        h = h * squeeze * (0.5 + 0.6 * crease)
    bare = (t < 0.05) | (t > 0.9)
    albedo = _print_pattern(t - 0.45, theta / 1.6 + p["phase"], p["seed"], p["colours"])
    albedo = np.where(bare[..., None], np.float32(0.78), albedo)
    return _Surface(
        cover=cover,
        albedo=albedo,
        height=h,
        spec=1.0,
        gloss=70.0,
        metal=np.where(bare, 0.95, 0.55).astype(np.float32),
    )


def _model_cup(a, b, p: dict[str, Any], length: float, px_m: float) -> _Surface:
    """A tapered cup lying on its side (foam, paper coffee cup or clear plastic cup)."""
    r0, r1 = p["r_base"], p["r_rim"]

    def profile(t: np.ndarray) -> np.ndarray:
        return r0 + (r1 - r0) * t + 0.003 * (t > 0.95)

    t, r, cover, h, theta = _lathe(a, b, length, profile, px_m)
    albedo = np.empty((*a.shape, 3), dtype=np.float32)
    albedo[:] = np.asarray(p["colour"], dtype=np.float32)
    if p.get("sleeve"):
        sleeve = (t > 0.3) & (t < 0.7)
        albedo = np.where(sleeve[..., None], np.asarray(p["sleeve"], dtype=np.float32), albedo)
    if p.get("print"):
        pr = _print_pattern(t - 0.5, theta / 1.6, p["seed"], p["print"])
        mask = ((t > 0.15) & (t < 0.85))[..., None]
        albedo = np.where(mask, albedo * 0.3 + pr * 0.7, albedo)
    grain = _fbm(a / 0.002, b / 0.002, p["seed"], octaves=2)
    albedo = albedo * (0.93 + 0.1 * grain[..., None])
    # The open end shows the darker inside.
    inner = np.clip((t - 0.97) / 0.03, 0, 1) * (np.abs(b) < r * 0.85)
    albedo = albedo * (1 - 0.35 * inner[..., None])
    return _Surface(
        cover=cover,
        albedo=albedo,
        height=h,
        opacity=p.get("opacity", 1.0),
        spec=p.get("spec", 0.05),
        gloss=p.get("gloss", 8.0),
        tint=p.get("tint", (1.0, 1.0, 1.0)),
    )


def _outline_radius(phi: np.ndarray, seed: int, rough: float, lobes: float = 3.0) -> np.ndarray:
    c, s = np.cos(phi), np.sin(phi)
    return 1.0 + rough * (2 * _fbm(c * lobes + 10, s * lobes + 10, seed, octaves=3) - 1)


def _model_crumple(a, b, p: dict[str, Any], length: float, px_m: float) -> _Surface:
    """A crumpled ball or sheet (paper, wrapper, bag): rough outline, creased height field."""
    rx, ry = length / 2, p["width"] / 2
    rho = np.hypot(a / rx, b / ry)
    phi = np.arctan2(b / ry, a / rx)
    edge = _outline_radius(phi, p["seed"], p["rough"], p.get("lobes", 3.0))
    cover = _aa((edge - rho) * min(rx, ry), px_m)
    dome = np.sqrt(np.clip(1 - (rho / edge) ** 2, 0, 1)) * p["thickness"]
    scale = p["crease_m"]
    ridged = 1 - np.abs(2 * _fbm(a / scale, b / scale, p["seed"] + 5, octaves=3) - 1)
    h = dome * (0.6 + 0.4 * ridged) + p["creases"] * ridged**3
    if p.get("handles"):  # plastic bag handles: two loops beyond one end
        loop = np.abs(np.hypot((a - rx * 0.95) / (0.35 * rx), b / (0.35 * ry)) - 0.7)
        handles = _aa(0.045 * min(rx, ry) - loop * min(rx, ry), px_m)
        cover = np.maximum(cover, handles)
        h = np.maximum(h, handles * p["thickness"] * 0.2)
    albedo = np.empty((*a.shape, 3), dtype=np.float32)
    albedo[:] = np.asarray(p["colour"], dtype=np.float32)
    if p.get("print"):
        pr = _print_pattern(a / length, b / p["width"], p["seed"], p["print"])
        albedo = albedo * (1 - p["print_amount"]) + pr * p["print_amount"]
    if p.get("lines"):  # ruled or printed text lines on paper
        lines = _periodic_box(b / 0.008, 1.0, 0.18, np.full_like(b, px_m / 0.008 + 0.05))
        albedo = albedo * (1 - 0.35 * lines[..., None] * np.asarray(p["lines"], np.float32))
    dirt = _fbm(a / 0.03, b / 0.03, p["seed"] + 9, octaves=3)
    albedo = albedo * (1 - p.get("dirt", 0.1) * _smoothstep(0.5, 0.8, dirt))[..., None]
    return _Surface(
        cover=cover.astype(np.float32),
        albedo=albedo.astype(np.float32),
        height=h.astype(np.float32),
        opacity=p.get("opacity", 1.0),
        spec=p.get("spec", 0.1),
        gloss=p.get("gloss", 10.0),
        metal=p.get("metal", 0.0),
        tint=p.get("tint", (1.0, 1.0, 1.0)),
    )


def _model_board(a, b, p: dict[str, Any], length: float, px_m: float) -> _Surface:
    """Cardboard: a box (flat top, tape, print) or a flattened, torn piece with corrugation."""
    hl, hw = length / 2, p["width"] / 2
    if p["box"]:
        sdf = np.minimum(hl - np.abs(a), hw - np.abs(b))
        cover = _aa(sdf, px_m)
        h = np.full(a.shape, p["thickness"], np.float32)
        h = h - 0.01 * _smoothstep(0.015, 0.0, sdf)  # rounded edges
    else:
        torn = 0.06 * (2 * _fbm(a / 0.04, b / 0.04, p["seed"], octaves=3) - 1)
        sdf = np.minimum(hl * (1 + torn) - np.abs(a), hw * (1 - torn) - np.abs(b))
        cover = _aa(sdf, px_m)
        bend = 0.03 * np.sin(a / length * np.pi * p["bends"] + p["seed"] % 7)
        h = (bend - bend.min() + 0.004).astype(np.float32)
    flute = (0.0 if p["box"] else 0.0005) * np.sin(b / 0.005 * 2 * np.pi)
    h = h + flute.astype(np.float32)
    colour = np.asarray(p["colour"], dtype=np.float32)
    fibre = _fbm(a / 0.004, b / 0.02, p["seed"] + 2, octaves=3)
    albedo = colour * (0.88 + 0.22 * fibre[..., None])
    stain = _smoothstep(0.6, 0.8, _fbm(a / 0.06, b / 0.06, p["seed"] + 4, octaves=3))
    albedo = albedo * (1 - 0.3 * stain[..., None])
    spec = np.full(a.shape, 0.06, np.float32)
    if p["tape"]:
        tape = np.abs(b - p["tape_at"] * hw) < 0.024
        albedo = np.where(tape[..., None], albedo * 0.75 + 0.2, albedo)
        spec = np.where(tape, 0.9, spec)
    if p.get("print"):
        ink = np.asarray(p["print"], np.float32)
        # A printed logo (a ring) and a few lines of text, as on shipping boxes.
        ca = p["print_at"] * hl
        ring = np.abs(np.hypot(a - ca, b - hw * 0.25) - hw * 0.16) < hw * 0.035
        rows = _periodic_box(b / (hw * 0.09), 1.0, 0.45, np.full_like(b, 0.2))
        words = _value_noise((a - ca) / (hw * 0.05), np.floor(b / (hw * 0.09)) * 3.7, p["seed"])
        text = (
            rows
            * (words > 0.35)
            * (np.abs(a - ca) < hl * 0.3)
            * (b < -hw * 0.05)
            * (b > -hw * 0.55)
        )
        albedo = albedo + (ink - albedo) * (0.8 * np.maximum(ring, text))[..., None]
    return _Surface(cover=cover, albedo=albedo, height=h, spec=spec, gloss=25.0)


def _model_clamshell(a, b, p: dict[str, Any], length: float, px_m: float) -> _Surface:
    """A foam food box or meat tray: rounded rectangle, domed lid, hinge and ridges."""
    hl, hw = length / 2, p["width"] / 2
    rc = min(hl, hw) * 0.35
    qa = np.maximum(np.abs(a) - (hl - rc), 0)
    qb = np.maximum(np.abs(b) - (hw - rc), 0)
    outside = np.hypot(qa, qb) - rc + np.minimum(np.maximum(np.abs(a) - hl, np.abs(b) - hw), 0)
    cover = _aa(-outside, px_m)
    inner = np.clip(-outside / (0.25 * min(hl, hw)), 0, 1)
    h = p["thickness"] * np.sqrt(inner)
    groove = np.abs(-outside - 0.3 * min(hl, hw)) < 0.004
    h = h - 0.004 * groove
    if p.get("broken"):
        cut = a * math.cos(p["cut"]) + b * math.sin(p["cut"]) - 0.15 * length
        jag = 0.01 * (2 * _fbm(a / 0.01, b / 0.01, p["seed"], octaves=2) - 1)
        cover = cover * _aa(-(cut + jag), px_m)
    bead = _fbm(a / 0.0025, b / 0.0025, p["seed"], octaves=2)
    albedo = np.asarray(p["colour"], np.float32) * (0.94 + 0.08 * bead[..., None])
    dirt = _smoothstep(0.62, 0.8, _fbm(a / 0.04, b / 0.04, p["seed"] + 1, octaves=3))
    albedo = albedo * (1 - 0.25 * dirt[..., None] * np.asarray([0.6, 0.8, 1.0], np.float32))
    return _Surface(cover=cover, albedo=albedo, height=h.astype(np.float32), spec=0.04, gloss=6)


def _model_mask(a, b, p: dict[str, Any], length: float, px_m: float) -> _Surface:
    """A disposable face mask: pleated rectangle with ear loops ('other')."""
    hl, hw = length / 2, p["width"] / 2
    body = _aa(np.minimum(hl * 0.78 - np.abs(a), hw - np.abs(b)), px_m)
    loop = np.abs(np.hypot((np.abs(a) - hl * 0.78) / (hl * 0.22), b / (hw * 0.7)) - 1)
    loops = _aa(0.0015 - loop * hw * 0.25, px_m) * (np.abs(a) > hl * 0.78)
    cover = np.maximum(body, loops)
    pleats = 0.003 * (np.sin(b / hw * 3 * np.pi) > 0.6)
    h = (body * (0.008 + pleats) + loops * 0.002).astype(np.float32)
    albedo = np.empty((*a.shape, 3), dtype=np.float32)
    albedo[:] = np.asarray(p["colour"], np.float32)
    albedo = np.where((loops > body)[..., None], np.float32(0.92), albedo)
    return _Surface(cover=cover, albedo=albedo, height=h, spec=0.05, gloss=6)


_MODELS: dict[str, Callable[..., _Surface]] = {
    "bottle": _model_bottle,
    "can": _model_can,
    "cup": _model_cup,
    "crumple": _model_crumple,
    "board": _model_board,
    "clamshell": _model_clamshell,
    "mask": _model_mask,
}

_BRAND_COLOURS = [
    [(0.75, 0.08, 0.08), (0.95, 0.95, 0.95), (0.1, 0.1, 0.1)],
    [(0.1, 0.2, 0.55), (0.85, 0.8, 0.2), (0.95, 0.95, 0.95)],
    [(0.1, 0.45, 0.2), (0.95, 0.95, 0.9), (0.8, 0.1, 0.1)],
    [(0.9, 0.9, 0.88), (0.2, 0.4, 0.8), (0.85, 0.1, 0.1)],
    [(0.08, 0.08, 0.1), (0.85, 0.7, 0.2), (0.9, 0.9, 0.9)],
    [(0.95, 0.55, 0.1), (0.2, 0.1, 0.05), (0.95, 0.95, 0.9)],
    [(0.6, 0.75, 0.85), (0.15, 0.25, 0.45), (0.95, 0.95, 0.95)],
    [(0.55, 0.1, 0.45), (0.95, 0.8, 0.85), (0.1, 0.1, 0.1)],
]


def _random_litter(class_name: str, rng: np.random.Generator) -> _Litter:  # noqa: C901
    """Pick a model and its parameters for one object of ``class_name``."""
    seed = int(rng.integers(1 << 30))
    brand = _BRAND_COLOURS[int(rng.integers(len(_BRAND_COLOURS)))]
    u = float(rng.random())
    if class_name == "plastic":
        if u < 0.6:
            length = float(rng.choice([0.2, 0.23, 0.26, 0.31]))
            radius = 0.031 if length < 0.25 else 0.042
            p = dict(
                glass=False,
                radius=radius,
                shoulder=float(rng.uniform(0.55, 0.65)),
                colour=(0.82, 0.9, 0.95) if rng.random() < 0.7 else (0.55, 0.8, 0.6),
                opacity=float(rng.uniform(0.2, 0.35)),
                tint=(0.92, 0.96, 1.0),
                label=(0.3, float(rng.uniform(0.45, 0.55))),
                label_colours=brand if rng.random() < 0.85 else None,
                cap=brand[int(rng.integers(3))],
                crushed=bool(rng.random() < 0.4),
                seed=seed,
            )
            return _Litter(class_name, "bottle", length, 2 * radius, 2 * radius, seed, p, "axis")
        if u < 0.8:  # a clear plastic cup
            p = dict(
                r_base=0.025,
                r_rim=0.045,
                colour=(0.88, 0.92, 0.95),
                opacity=0.25,
                spec=0.8,
                gloss=60.0,
                tint=(0.93, 0.96, 1.0),
                seed=seed,
            )
            return _Litter(class_name, "cup", 0.11, 0.09, 0.09, seed, p, "axis")
        p = dict(  # a crinkled, shiny snack wrapper
            width=float(rng.uniform(0.08, 0.14)),
            rough=0.2,
            thickness=0.012,
            crease_m=0.025,
            creases=0.006,
            colour=brand[0],
            print=brand,
            print_amount=0.7,
            spec=0.9,
            gloss=40.0,
            metal=0.35,
            lobes=2.0,
            seed=seed,
        )
        return _Litter(
            class_name, "crumple", float(rng.uniform(0.14, 0.22)), p["width"], 0.015, seed, p
        )
    if class_name == "glass":
        colour = [(0.28, 0.13, 0.04), (0.07, 0.28, 0.1), (0.75, 0.82, 0.78)][int(rng.integers(3))]
        length = float(rng.choice([0.23, 0.25, 0.3]))
        radius = 0.032 if length < 0.28 else 0.038
        p = dict(
            glass=True,
            radius=radius,
            shoulder=float(rng.uniform(0.5, 0.6)),
            colour=colour,
            opacity=float(rng.uniform(0.55, 0.75)),
            tint=tuple(0.4 + 0.6 * c for c in colour),
            label=(0.2, float(rng.uniform(0.42, 0.5))),
            label_colours=brand if rng.random() < 0.75 else None,
            cap=(0.8, 0.75, 0.35) if rng.random() < 0.5 else colour,
            crushed=False,
            seed=seed,
        )
        return _Litter(class_name, "bottle", length, 2 * radius, 2 * radius, seed, p, "axis")
    if class_name == "metal":
        big = rng.random() < 0.35
        p = dict(
            radius=0.033 if not big else 0.034,
            colours=[*brand, (0.9, 0.9, 0.9)],
            phase=float(rng.uniform(-1, 1)),
            crushed=bool(rng.random() < 0.35),
            crush_at=float(rng.uniform(0.3, 0.7)),
            seed=seed,
        )
        length = 0.168 if big else 0.115
        return _Litter(class_name, "can", length, 0.066, 0.066, seed, p, "axis")
    if class_name == "paper":
        if u < 0.4:  # a crumpled ball of paper
            d = float(rng.uniform(0.06, 0.11))
            p = dict(
                width=d * float(rng.uniform(0.8, 1.0)),
                rough=0.22,
                thickness=d * 0.45,
                crease_m=0.02,
                creases=0.004,
                colour=(0.92, 0.92, 0.9),
                lines=(0.4, 0.4, 0.2) if rng.random() < 0.5 else None,
                lobes=4.0,
                seed=seed,
            )
            return _Litter(class_name, "crumple", d, p["width"], d * 0.7, seed, p, "blob")
        if u < 0.75:  # a sheet, receipt or flyer, a bit crumpled
            length = float(rng.choice([0.3, 0.21, 0.18]))
            p = dict(
                width=length * float(rng.uniform(0.45, 0.75)),
                rough=0.06,
                thickness=0.004,
                crease_m=0.03,
                creases=0.004,
                colour=(0.93, 0.93, 0.9) if rng.random() < 0.6 else (0.8, 0.78, 0.72),
                lines=(0.9, 0.9, 0.9) if rng.random() < 0.6 else None,
                print=brand if rng.random() < 0.3 else None,
                print_amount=0.6,
                lobes=1.5,
                seed=seed,
            )
            return _Litter(class_name, "crumple", length, p["width"], 0.008, seed, p)
        p = dict(  # a paper coffee cup
            r_base=0.026,
            r_rim=0.042,
            colour=(0.93, 0.92, 0.88) if rng.random() < 0.6 else (0.55, 0.38, 0.22),
            sleeve=(0.55, 0.38, 0.22) if rng.random() < 0.5 else None,
            print=brand if rng.random() < 0.5 else None,
            seed=seed,
        )
        return _Litter(class_name, "cup", 0.13, 0.084, 0.084, seed, p, "axis")
    if class_name == "cardboard":
        box = bool(rng.random() < 0.5)
        length = float(rng.uniform(0.25, 0.45) if box else rng.uniform(0.35, 0.7))
        width = length * float(rng.uniform(0.55, 0.85))
        thickness = float(rng.uniform(0.1, 0.25) if box else 0.01)
        p = dict(
            box=box,
            width=width,
            thickness=thickness,
            bends=float(rng.uniform(0.5, 2.0)),
            colour=(0.62, 0.45, 0.28) if rng.random() < 0.8 else (0.75, 0.68, 0.58),
            tape=bool(rng.random() < 0.6),
            tape_at=float(rng.uniform(-0.2, 0.2)),
            print=(0.12, 0.1, 0.1) if rng.random() < 0.6 else brand[0],
            print_at=float(rng.uniform(-0.4, 0.4)),
            seed=seed,
        )
        return _Litter(class_name, "board", length, width, max(thickness, 0.01), seed, p)
    if class_name == "foam":
        if u < 0.45:
            p = dict(r_base=0.027, r_rim=0.043, colour=(0.95, 0.95, 0.93), seed=seed)
            return _Litter(class_name, "cup", 0.095, 0.086, 0.086, seed, p, "axis")
        length = float(rng.uniform(0.15, 0.24))
        p = dict(
            width=length * float(rng.uniform(0.6, 1.0)),
            thickness=float(rng.uniform(0.02, 0.06)),
            colour=(0.95, 0.95, 0.93) if rng.random() < 0.8 else (0.93, 0.9, 0.82),
            broken=bool(rng.random() < 0.4),
            cut=float(rng.uniform(0, 2 * math.pi)),
            seed=seed,
        )
        return _Litter(class_name, "clamshell", length, p["width"], p["thickness"], seed, p, "blob")
    # other
    if u < 0.6:  # a plastic bag
        colour = [(0.06, 0.06, 0.07), (0.88, 0.88, 0.86), (0.2, 0.35, 0.7), (0.55, 0.55, 0.55)]
        c = colour[int(rng.integers(len(colour)))]
        length = float(rng.uniform(0.25, 0.45))
        p = dict(
            width=length * float(rng.uniform(0.6, 0.9)),
            rough=0.25,
            thickness=float(rng.uniform(0.04, 0.12)),
            crease_m=0.1,
            creases=0.008,
            colour=c,
            spec=0.6,
            gloss=25.0,
            opacity=0.85 if c[0] > 0.8 else 1.0,
            handles=bool(rng.random() < 0.6),
            lobes=2.5,
            dirt=0.15,
            seed=seed,
        )
        return _Litter(class_name, "crumple", length, p["width"], p["thickness"], seed, p, "blob")
    p = dict(
        width=0.095,
        colour=[(0.55, 0.75, 0.9), (0.92, 0.92, 0.92), (0.15, 0.15, 0.17)][int(rng.integers(3))],
        seed=seed,
    )
    return _Litter(class_name, "mask", 0.2, 0.095, 0.01, seed, p)


# --------------------------------------------------------------------------------------------
# Shading and compositing of litter sprites


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
    H, W = canvas.shape[:2]
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


# --------------------------------------------------------------------------------------------
# Close-ups: litter on the ground seen from about a metre, like the trash-filter photos


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


def _camera_finish(
    img: np.ndarray, rng: np.random.Generator, *, blur: float, noise: float, vignette: float
) -> Image.Image:
    """Exposure, vignetting, sensor noise, tone curve and lens softness; 8-bit RGB out."""
    H, W = img.shape[:2]
    y = ((np.arange(H, dtype=np.float32) - H / 2) / (H / 2)) ** 2
    x = ((np.arange(W, dtype=np.float32) - W / 2) / (W / 2)) ** 2
    gain = (1 - vignette * (y[:, None] + x[None, :]) / 2) * np.float32(
        255 * rng.uniform(0.92, 1.08)
    )
    white = np.asarray(rng.uniform(0.96, 1.04, 3), np.float32)
    lum = rng.standard_normal((H, W, 1), dtype=np.float32) * np.float32(noise * 160)
    chroma = rng.standard_normal(((H + 1) // 2, (W + 1) // 2, 3), dtype=np.float32)
    chroma = np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1)[:H, :W] * np.float32(noise * 60)
    out = img * white
    out *= gain[..., None]
    out += lum
    out += chroma
    np.clip(out, 0, 255, out=out)
    image = Image.fromarray(out.astype(np.uint8), "RGB")
    # Tone curve with a soft highlight roll-off: 1.25 * v / (1 + 0.25 v) on [0, 1].
    lut = [int(min(255, 255 * 1.25 * (v / 255) / (1 + 0.25 * v / 255) + 0.5)) for v in range(256)]
    image = image.point(lut * 3)
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur > 0 else image


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


# --------------------------------------------------------------------------------------------
# Street scenes: a pinhole camera over a straight street with facades on both sides. Ground,
# facades and the street's far end are found per pixel (ray against plane); everything is
# textured in world coordinates, so consecutive frames of a street show the same street.


@dataclass(frozen=True)
class _Camera:
    width: int
    height: int
    f_px: float
    cx: float
    horizon: float
    height_m: float = _CAMERA_HEIGHT_M

    @classmethod
    def for_size(cls, size: tuple[int, int]) -> _Camera:
        w, h = size
        f = w / 2 / math.tan(math.radians(_HFOV_DEG) / 2)
        return cls(w, h, f, w * _PRINCIPAL_X, h * _HORIZON)


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


# --------------------------------------------------------------------------------------------
# Litter on the street


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
            R = st.road_half_m
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
            LitterBox(p.obj.class_name, box, distance_m=math.hypot(p.z_m, p.x_m - st.camera_x_m))
        )
    image = _camera_finish(img, rng, blur=0.55, noise=0.012, vignette=0.3)
    return image, boxes


# --------------------------------------------------------------------------------------------
# The drive


@dataclass(frozen=True)
class _Route:
    line_m: LineString  # in a local UTM zone (metres)
    to_lonlat: pyproj.Transformer
    edges: tuple[dict[str, Any], ...]
    piece_end_m: np.ndarray  # distance along the route at the end of each edge
    node_m: np.ndarray  # distance along the route of each node passed (after the first)
    node_is_cross: np.ndarray  # that node joins three or more streets
    node_turn_deg: np.ndarray  # how much the route turns there


def _plan_route(G: nx.MultiDiGraph, length_m: float, rng: np.random.Generator) -> _Route:
    """Chain shortest paths between far-apart nodes until the drive is ``length_m`` long."""
    from analytics.errors import RoadNetworkError
    from analytics.network import utm_crs_for

    nodes = sorted(G.nodes)
    if len(nodes) < 2:
        raise RoadNetworkError("the road network has fewer than two nodes; cannot plan a drive")
    lon = np.array([G.nodes[n]["x"] for n in nodes])
    lat = np.array([G.nodes[n]["y"] for n in nodes])
    crs = utm_crs_for(float(lon.mean()), float(lat.mean()))
    to_m = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs, ys = to_m.transform(lon, lat)
    pos = {n: (x, y) for n, x, y in zip(nodes, xs, ys, strict=True)}
    path = [nodes[int(rng.integers(len(nodes)))]]
    total = 0.0
    for _leg in range(1000):
        if total >= length_m:
            break
        here = path[-1]
        picks = [
            nodes[int(i)] for i in rng.choice(len(nodes), size=min(12, len(nodes)), replace=False)
        ]
        picks.sort(key=lambda n: -math.dist(pos[n], pos[here]))
        for target in picks:
            if target == here:
                continue
            try:
                leg = nx.shortest_path(G, here, target, weight="length_m")
            except nx.NetworkXNoPath:
                continue
            if len(path) >= 2 and leg[1] == path[-2]:
                continue  # no U-turns
            break
        else:
            leg = nx.shortest_path(G, here, picks[0], weight="length_m")
        for u, v in itertools.pairwise(leg):
            total += min(d["length_m"] for d in G[u][v].values())
        path.extend(leg[1:])
    coords: list[tuple[float, float]] = []
    edges: list[dict[str, Any]] = []
    ends: list[float] = []
    node_m: list[float] = []
    run = 0.0
    for u, v in itertools.pairwise(path):
        data = min(G[u][v].values(), key=lambda d: d["length_m"])
        gx, gy = to_m.transform(*np.asarray(data["geometry"].coords).T)
        piece = list(zip(gx, gy, strict=True))
        if coords:
            piece = piece[1:]
        coords.extend(piece)
        run = LineString(coords).length if len(coords) > 1 else 0.0
        edges.append(data)
        ends.append(run)
        node_m.append(run)
    turns = []
    for i in range(len(path) - 2):
        a, b, c = pos[path[i]], pos[path[i + 1]], pos[path[i + 2]]
        h1 = math.atan2(b[1] - a[1], b[0] - a[0])
        h2 = math.atan2(c[1] - b[1], c[0] - b[0])
        turns.append(abs(math.degrees((h2 - h1 + math.pi) % (2 * math.pi) - math.pi)))
    turns.append(180.0)  # the drive ends here
    cross = [G.nodes[n].get("street_count", G.degree(n) // 2) >= 3 for n in path[1:]]
    return _Route(
        line_m=LineString(coords),
        to_lonlat=to_lonlat,
        edges=tuple(edges),
        piece_end_m=np.asarray(ends),
        node_m=np.asarray(node_m),
        node_is_cross=np.asarray(cross, bool),
        node_turn_deg=np.asarray(turns),
    )


def _view_at(route: _Route, s: float, heading: float) -> _View:
    ahead = route.node_m - s
    turn_at = [d for d, t in zip(ahead, route.node_turn_deg, strict=True) if d > 0 and t > 40]
    next_turn = min(turn_at) if turn_at else 400.0
    cross = tuple(
        float(d)
        for d, c in zip(ahead, route.node_is_cross, strict=True)
        if c and -6 < d <= next_turn + 1e-6 and d < 200
    )
    return _View(
        s_m=s, heading_deg=heading, cross_m=cross, end_m=float(np.clip(next_turn + 14, 30, 300))
    )


_GEOD = pyproj.Geod(ellps="WGS84")


def _sample_route(
    route: _Route, distances_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lon, lat, heading (degrees from true north) and edge index at each distance."""
    line = route.line_m
    pts = shapely.line_interpolate_point(line, distances_m)
    before = shapely.line_interpolate_point(line, np.maximum(distances_m - 3.0, 0))
    after = shapely.line_interpolate_point(line, np.minimum(distances_m + 3.0, line.length))
    lon, lat = route.to_lonlat.transform(shapely.get_x(pts), shapely.get_y(pts))
    lon_a, lat_a = route.to_lonlat.transform(shapely.get_x(before), shapely.get_y(before))
    lon_b, lat_b = route.to_lonlat.transform(shapely.get_x(after), shapely.get_y(after))
    az, _, _ = _GEOD.inv(lon_a, lat_a, lon_b, lat_b)
    edge = np.minimum(
        np.searchsorted(route.piece_end_m, distances_m, side="left"), len(route.edges) - 1
    )
    return np.asarray(lon), np.asarray(lat), np.mod(np.asarray(az), 360.0), edge


# --------------------------------------------------------------------------------------------
# Files: JPEG with EXIF, YOLO labels, data.yaml, ground truth


def _rational(value: float, denominator: int) -> IFDRational:
    return IFDRational(round(value * denominator), denominator)


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    sec = (v - d - m / 60) * 3600
    return IFDRational(d, 1), IFDRational(m, 1), _rational(sec, 1_000_000)


def _offset_text(when: datetime) -> str:
    off = when.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _exif(
    *,
    description: str,
    when: datetime | None = None,
    lat: float | None = None,
    lon: float | None = None,
    altitude_m: float | None = None,
    heading_deg: float | None = None,
    speed_kmh: float | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA_MAKE
    exif[ExifTags.Base.Model] = CAMERA_MODEL
    exif[ExifTags.Base.ImageDescription] = description
    exif[ExifTags.Base.Software] = "WasteMap pipeline.simulate (SIMULATED data)"
    if when is not None:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S")
        exif[ExifTags.Base.DateTime] = stamp
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeOriginal] = stamp
        sub[ExifTags.Base.DateTimeDigitized] = stamp
        sub[ExifTags.Base.SubsecTimeOriginal] = f"{when.microsecond // 1000:03d}"
        sub[ExifTags.Base.OffsetTimeOriginal] = _offset_text(when)
        sub[ExifTags.Base.OffsetTime] = _offset_text(when)
    if lat is not None and lon is not None:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSVersionID] = b"\x02\x03\x00\x00"
        gps[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        gps[ExifTags.GPS.GPSLatitude] = _dms(lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        gps[ExifTags.GPS.GPSLongitude] = _dms(lon)
        gps[ExifTags.GPS.GPSMapDatum] = "WGS-84"
        if altitude_m is not None:
            gps[ExifTags.GPS.GPSAltitudeRef] = b"\x00" if altitude_m >= 0 else b"\x01"
            gps[ExifTags.GPS.GPSAltitude] = _rational(abs(altitude_m), 100)
        if heading_deg is not None:
            gps[ExifTags.GPS.GPSImgDirectionRef] = "T"
            gps[ExifTags.GPS.GPSImgDirection] = _rational(heading_deg % 360.0, 100)
            gps[ExifTags.GPS.GPSTrackRef] = "T"
            gps[ExifTags.GPS.GPSTrack] = _rational(heading_deg % 360.0, 100)
        if speed_kmh is not None:
            gps[ExifTags.GPS.GPSSpeedRef] = "K"
            gps[ExifTags.GPS.GPSSpeed] = _rational(speed_kmh, 100)
        if when is not None:
            utc = when.astimezone(ZoneInfo("UTC"))
            gps[ExifTags.GPS.GPSDateStamp] = utc.strftime("%Y:%m:%d")
            gps[ExifTags.GPS.GPSTimeStamp] = (
                IFDRational(utc.hour, 1),
                IFDRational(utc.minute, 1),
                _rational(utc.second + utc.microsecond / 1e6, 1000),
            )
    return exif


def _write_yolo_labels(path: Path, boxes: Sequence[LitterBox], size: tuple[int, int]) -> None:
    W, H = size
    lines = []
    for b in boxes:
        x0, y0, x1, y1 = b.xyxy
        lines.append(
            f"{b.class_id} {(x0 + x1) / 2 / W:.6f} {(y0 + y1) / 2 / H:.6f} "
            f"{(x1 - x0) / W:.6f} {(y1 - y0) / H:.6f}"
        )
    path.write_text("".join(line + "\n" for line in lines))


def _write_data_yaml(path: Path, what: str) -> None:
    names = ", ".join(f"'{c}'" for c in CLASSES)
    path.write_text(
        f"# SIMULATED: {what} rendered by WasteMap (pipeline.simulate); not photographs.\n"
        "# Classes in the order of ../shared/datasets/trash-filter/data.yaml.\n"
        "path: .\ntrain: images\nval: images\n"
        f"nc: {len(CLASSES)}\nnames: [{names}]\n"
    )


def _prepare(out_dir: str | Path) -> tuple[Path, Path, Path]:
    root = Path(out_dir)
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    return root, images, labels


@dataclass(frozen=True)
class _FrameJob:
    """Everything one frame needs, small enough to send to another process."""

    index: int
    seed: int
    cam: _Camera
    style: _StreetStyle
    view: _View
    weather: _Weather
    litter_mean: float
    exif: bytes
    jpeg_quality: int


@functools.lru_cache(maxsize=4)
def _textures(seed: int) -> _Textures:
    return _Textures(_seed_of("textures", seed))


def _render_job(job: _FrameJob) -> tuple[bytes, list[LitterBox]]:
    rng = np.random.default_rng([job.seed, 1, job.index])
    tex = _textures(job.seed)
    image, boxes = _render_frame(
        job.cam, job.style, job.view, job.weather, tex, rng, job.litter_mean
    )
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=job.jpeg_quality, exif=job.exif)
    return buf.getvalue(), boxes


def _run_jobs(
    jobs: list[_FrameJob], workers: int | None
) -> Iterator[tuple[bytes, list[LitterBox]]]:
    """Render the frames in order, on a few threads (numpy and Pillow release the GIL)."""
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    if workers <= 1 or len(jobs) < 2:
        yield from map(_render_job, jobs)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="wastemap-simulate") as pool:
        yield from pool.map(_render_job, jobs)


# --------------------------------------------------------------------------------------------
# Public API


def build_sample_survey(
    out_dir: str | Path,
    *,
    frames: int = 40,
    spacing_m: float = 10.0,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    size: tuple[int, int] = (1280, 720),
    graph: nx.MultiDiGraph | None = None,
    litter_per_frame: float = 1.8,
    jpeg_quality: int = 90,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SampleSurvey:
    """Render a SIMULATED survey drive through central Helsinki with litter ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write to (created): ``images/``, ``labels/``, ``data.yaml``,
        ``ground_truth.json``. Files of an earlier run with the same names are replaced.
    frames : int
        Number of frames.
    spacing_m : float
        Metres driven between consecutive frames, measured along the route.
    seed : int
        Seeds the route, the scenes and the litter; the same arguments give the same files.
    start : datetime
        Capture time of the first frame; must be timezone-aware.
    size : (int, int)
        Image width and height in pixels.
    graph : networkx.MultiDiGraph, optional
        A road network from :func:`analytics.network.load_road_network`; default: the bundled
        Helsinki extract (parsed once, then cached).
    litter_per_frame : float
        Mean number of litter objects placed in a frame (Poisson).
    jpeg_quality : int
        JPEG quality, 1-95.
    workers : int, optional
        Threads rendering frames at once (numpy and Pillow release the GIL). Default: the CPU
        count, at most 4. The files do not depend on it.
    progress : callable, optional
        Called as ``progress(frames_done, frames)`` after each frame.

    Returns
    -------
    SampleSurvey
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if not spacing_m > 0:
        raise ValueError(f"spacing_m must be positive metres, got {spacing_m}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(
            f"start must be timezone-aware, got {start.isoformat()}; e.g. "
            "datetime(2024, 5, 14, 9, 30, tzinfo=ZoneInfo('Europe/Helsinki'))"
        )
    if size[0] < 160 or size[1] < 90:
        raise ValueError(f"size must be at least 160 x 90 pixels, got {size}")
    if graph is None:
        from analytics.network import load_road_network

        graph = load_road_network()
    root, images_dir, labels_dir = _prepare(out_dir)
    survey_rng = np.random.default_rng([seed, 0])
    offset_m = 5.0
    route = _plan_route(graph, offset_m + (frames - 1) * spacing_m + 1.0, survey_rng)
    distances = offset_m + spacing_m * np.arange(frames, dtype=float)
    lons, lats, headings, edge_idx = _sample_route(route, distances)
    weather = _Weather.draw(survey_rng)
    cam = _Camera.for_size(size)
    styles: dict[int, _StreetStyle] = {}
    when = start
    jobs: list[_FrameJob] = []
    meta: list[tuple[datetime, str | None]] = []
    for i in range(frames):
        data = route.edges[int(edge_idx[i])]
        style = styles.setdefault(id(data), _street_style(data, seed))
        if i > 0:
            speed = _speed_kmh(route.edges[int(edge_idx[i - 1])], seed)
            when = when + timedelta(milliseconds=round(spacing_m / (speed / 3.6) * 1000))
        street = _street_name(data)
        description = (
            f"SIMULATED WasteMap sample survey frame {i + 1} of {frames}"
            f"{f' on {street}' if street else ''}, Helsinki: rendered image with synthetic litter, "
            "not a photograph"
        )
        exif = _exif(
            description=description,
            when=when,
            lat=float(lats[i]),
            lon=float(lons[i]),
            altitude_m=_ALTITUDE_M,
            heading_deg=float(headings[i]),
            speed_kmh=_speed_kmh(data, seed),
        )
        view = _view_at(route, float(distances[i]), float(headings[i]))
        jobs.append(
            _FrameJob(
                i, seed, cam, style, view, weather, litter_per_frame, exif.tobytes(), jpeg_quality
            )
        )
        meta.append((when, street))
    out: list[SurveyFrame] = []
    for i, (jpeg, boxes) in enumerate(_run_jobs(jobs, workers)):
        name = f"frame_{i:04d}"
        path = images_dir / f"{name}.jpg"
        path.write_bytes(jpeg)
        _write_yolo_labels(labels_dir / f"{name}.txt", boxes, size)
        out.append(
            SurveyFrame(
                file=path,
                lat=float(lats[i]),
                lon=float(lons[i]),
                captured_at=meta[i][0],
                heading_deg=float(headings[i]),
                distance_m=float(distances[i]),
                street=meta[i][1],
                boxes=tuple(boxes),
            )
        )
        if progress is not None:
            progress(i + 1, frames)
    _write_data_yaml(root / "data.yaml", "sample survey frames")
    survey = SampleSurvey(
        out_dir=root,
        images_dir=images_dir,
        labels_dir=labels_dir,
        data_yaml=root / "data.yaml",
        ground_truth_json=root / "ground_truth.json",
        frames=tuple(out),
        route_length_m=float(distances[-1] - distances[0]),
        seed=seed,
    )
    _write_ground_truth(survey, graph, spacing_m, size, weather)
    return survey


def _street_name(edge: dict[str, Any]) -> str | None:
    name = edge.get("name")
    if isinstance(name, list):
        name = next((n for n in name if isinstance(n, str)), None)
    return name if isinstance(name, str) else None


def _speed_kmh(edge: dict[str, Any], seed: int) -> float:
    """The survey vehicle's speed on an edge: below the limit and at most 30 km/h."""
    limit = float(edge.get("speed_kmh") or 30.0)
    factor = 0.7 + 0.25 * (_seed_of("speed", edge.get("osmid"), seed) % 1000) / 1000
    return round(min(limit, _SURVEY_SPEED_KMH) * factor, 2)


def _write_ground_truth(
    survey: SampleSurvey,
    graph: nx.MultiDiGraph,
    spacing_m: float,
    size: tuple[int, int],
    weather: _Weather,
) -> None:
    streets: list[str] = []
    for f in survey.frames:
        if f.street and (not streets or streets[-1] != f.street):
            streets.append(f.street)
    doc = {
        "simulated": True,
        "note": SIMULATED_NOTE,
        "generator": "wastemap pipeline.simulate.build_sample_survey",
        "seed": survey.seed,
        "spacing_m": spacing_m,
        "image_size": list(size),
        "classes": list(CLASSES),
        "camera": {
            "make": CAMERA_MAKE,
            "model": CAMERA_MODEL,
            "height_m": _CAMERA_HEIGHT_M,
            "hfov_deg": _HFOV_DEG,
        },
        "weather": "sunny" if weather.sunny else "overcast",
        "road_network": Path(str(graph.graph.get("source_path", "unknown"))).name,
        "route": {"driven_m": round(survey.route_length_m, 2), "streets": streets},
        "frames": [f.as_dict(survey.out_dir) for f in survey.frames],
    }
    survey.ground_truth_json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


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
