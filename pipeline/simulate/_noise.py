"""Noise and small numeric helpers.

Hash-based value noise is defined at any coordinate, so textures are stable in world space; the
box filters give anti-aliased stripes and squares for a pixel's footprint.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from PIL import Image, ImageFilter


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
