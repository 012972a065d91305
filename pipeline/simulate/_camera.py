"""The survey camera: a pinhole camera behind a van's windscreen, and the sensor's finish
(exposure, vignetting, noise, tone curve, lens softness) shared by street frames and close-ups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from analytics.ground import DASH_CAMERA

# Camera (metres, degrees, pixels). A dash camera behind the windscreen of a van: the camera
# model that WasteMap places detections on the ground with, by default.
_CAMERA_HEIGHT_M = DASH_CAMERA.height_m
_HFOV_DEG = DASH_CAMERA.hfov_deg
_HORIZON = DASH_CAMERA.horizon  # horizon row as a fraction of the image height
_PRINCIPAL_X = DASH_CAMERA.principal_x  # the lens is shifted: the camera looks towards the kerb


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


def _camera_finish(
    img: np.ndarray, rng: np.random.Generator, *, blur: float, noise: float, vignette: float
) -> Image.Image:
    """Exposure, vignetting, sensor noise, tone curve and lens softness; 8-bit RGB out."""
    H, W = img.shape[:2]  # noqa: N806 (image height, width)
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
