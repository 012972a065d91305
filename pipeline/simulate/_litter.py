"""Litter models, and the random choice of one for a class.

Each model maps object coordinates (a along the object, b across; metres) to a surface: coverage,
albedo, height (for normals), transparency and how shiny or metallic it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.simulate._noise import _fbm, _periodic_box, _smoothstep, _value_noise

_RGB = tuple[float, float, float]  # a colour, linear RGB in [0, 1]


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


def _pick_plastic(
    class_name: str, rng: np.random.Generator, seed: int, brand: Sequence[_RGB], u: float
) -> _Litter:
    """A PET bottle, a clear plastic cup or a shiny snack wrapper."""
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


def _pick_glass(
    class_name: str, rng: np.random.Generator, seed: int, brand: Sequence[_RGB], u: float
) -> _Litter:
    """A glass bottle, brown, green or clear."""
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


def _pick_metal(
    class_name: str, rng: np.random.Generator, seed: int, brand: Sequence[_RGB], u: float
) -> _Litter:
    """A drinks can, whole or crushed."""
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


def _pick_paper(
    class_name: str, rng: np.random.Generator, seed: int, brand: Sequence[_RGB], u: float
) -> _Litter:
    """A crumpled ball of paper, a sheet or receipt, or a paper coffee cup."""
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


def _pick_cardboard(
    class_name: str, rng: np.random.Generator, seed: int, brand: Sequence[_RGB], u: float
) -> _Litter:
    """A cardboard box, or a flattened, torn piece."""
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


def _pick_foam(
    class_name: str, rng: np.random.Generator, seed: int, brand: Sequence[_RGB], u: float
) -> _Litter:
    """A foam cup, food box or tray."""
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


def _pick_other(
    class_name: str, rng: np.random.Generator, seed: int, brand: Sequence[_RGB], u: float
) -> _Litter:
    """A plastic bag or a face mask (any class not named above ends up here too)."""
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


_PICKERS: dict[str, Callable[..., _Litter]] = {
    "plastic": _pick_plastic,
    "glass": _pick_glass,
    "metal": _pick_metal,
    "paper": _pick_paper,
    "cardboard": _pick_cardboard,
    "foam": _pick_foam,
    "other": _pick_other,
}


def _random_litter(class_name: str, rng: np.random.Generator) -> _Litter:
    """Pick a model and its parameters for one object of ``class_name``."""
    seed = int(rng.integers(1 << 30))
    brand = _BRAND_COLOURS[int(rng.integers(len(_BRAND_COLOURS)))]
    u = float(rng.random())
    pick = _PICKERS.get(class_name, _pick_other)
    return pick(class_name, rng, seed, brand, u)
