"""Training augmentation on (PIL image, target) pairs, boxes kept consistent with the pixels.

Scale jitter comes from two places: :class:`RandomZoomCrop` here (a random crop, which enlarges
the objects it keeps) and multi-scale resizing in the model's ``GeneralizedRCNNTransform``
(``FeatureMapGenerator.train_sizes_px``). All randomness comes from torch's global generator, so
``torch.manual_seed`` makes an epoch reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms import ColorJitter
from torchvision.transforms import functional as F

Target = dict[str, Any]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings (probabilities in 0-1; ``crop_min_scale`` is a side fraction)."""

    hflip: float = 0.5
    vflip: float = 0.0
    rot90: float = 0.0
    crop_prob: float = 0.5
    crop_min_scale: float = 0.5
    min_visible: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.02


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


class _RandomFlip:
    """Mirror along one axis with probability ``p``; the boxes follow the pixels."""

    #: the box columns (x1, x2) or (y1, y2) that swap, and the PIL transpose that mirrors
    columns: tuple[int, int]
    transpose: Image.Transpose

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: Image.Image, target: Target) -> tuple[Image.Image, Target]:
        if float(torch.rand(())) >= self.p:
            return image, target
        low, high = self.columns
        side = image.size[low]  # width for x columns (0, 2), height for y columns (1, 3)
        boxes = target["boxes"].clone()
        boxes[:, [low, high]] = side - target["boxes"][:, [high, low]]
        return image.transpose(self.transpose), {**target, "boxes": boxes}


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability ``p``."""

    columns = (0, 2)
    transpose = Image.Transpose.FLIP_LEFT_RIGHT


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability ``p`` (litter photographed from above has no "up")."""

    columns = (1, 3)
    transpose = Image.Transpose.FLIP_TOP_BOTTOM


class RandomRotate90:
    """With probability ``p`` turn the image a quarter turn, clockwise or not (even odds).

    With both flips this reaches all eight orientations of a top-down photo.
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: Image.Image, target: Target) -> tuple[Image.Image, Target]:
        if float(torch.rand(())) >= self.p:
            return image, target
        width, height = image.size
        x1, y1, x2, y2 = target["boxes"].unbind(-1)
        if float(torch.rand(())) < 0.5:
            # counter-clockwise: (x, y) -> (y, width - x)
            boxes = torch.stack([y1, width - x2, y2, width - x1], dim=-1)
            turned = image.transpose(Image.Transpose.ROTATE_90)
        else:
            # clockwise: (x, y) -> (height - y, x)
            boxes = torch.stack([height - y2, x1, height - y1, x2], dim=-1)
            turned = image.transpose(Image.Transpose.ROTATE_270)
        return turned, {**target, "boxes": boxes.reshape(-1, 4)}


class RandomZoomCrop:
    """With probability ``p`` crop a random window (side ``min_scale``-1 of the image's).

    Boxes are clipped to the window; a box keeping less than ``min_visible`` of its area is
    dropped. Windows that would drop every box of an image that has boxes are re-drawn (10
    tries, then the image is left as it is).
    """

    def __init__(self, p: float = 0.5, *, min_scale: float = 0.5, min_visible: float = 0.5) -> None:
        self.p = p
        self.min_scale = min_scale
        self.min_visible = min_visible

    def __call__(self, image: Image.Image, target: Target) -> tuple[Image.Image, Target]:
        if float(torch.rand(())) >= self.p:
            return image, target
        width, height = image.size
        boxes, labels = target["boxes"], target["labels"]
        for _ in range(10):
            scale = _uniform(self.min_scale, 1.0)
            aspect = _uniform(0.75, 1.333)
            w = min(width, round(width * scale * aspect**0.5))
            h = min(height, round(height * scale / aspect**0.5))
            x0 = int(torch.randint(0, width - w + 1, ()))
            y0 = int(torch.randint(0, height - h + 1, ()))
            clipped = boxes.clone()
            clipped[:, [0, 2]] = (clipped[:, [0, 2]] - x0).clamp(0, w)
            clipped[:, [1, 3]] = (clipped[:, [1, 3]] - y0).clamp(0, h)
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
            keep = kept_area >= self.min_visible * area.clamp(min=1e-6)
            keep &= (clipped[:, 2] - clipped[:, 0] >= 1) & (clipped[:, 3] - clipped[:, 1] >= 1)
            if len(boxes) and not bool(keep.any()):
                continue
            cropped = image.crop((x0, y0, x0 + w, y0 + h))
            return cropped, {**target, "boxes": clipped[keep], "labels": labels[keep]}
        return image, target


class ColourJitter:
    """torchvision's ``ColorJitter`` on the image only."""

    def __init__(self, brightness: float, contrast: float, saturation: float, hue: float) -> None:
        self.jitter = ColorJitter(brightness, contrast, saturation, hue)

    def __call__(self, image: Image.Image, target: Target) -> tuple[Image.Image, Target]:
        return self.jitter(image), target


class ToTensor:
    """PIL image -> float tensor in 0-1 (C, H, W)."""

    def __call__(self, image: Image.Image, target: Target) -> tuple[torch.Tensor, Target]:
        return F.to_tensor(image), target


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: list[Any]) -> None:
        self.transforms = transforms

    def __call__(self, image: Any, target: Target) -> tuple[Any, Target]:
        for transform in self.transforms:
            image, target = transform(image, target)
        return image, target


def train_transforms(config: AugmentConfig | None = None) -> Compose:
    """The training augmentation: zoom crop, flips, quarter turns, colour jitter, to tensor."""
    c = config or AugmentConfig()
    steps: list[Any] = []
    if c.crop_prob > 0:
        steps.append(
            RandomZoomCrop(c.crop_prob, min_scale=c.crop_min_scale, min_visible=c.min_visible)
        )
    if c.hflip > 0:
        steps.append(RandomHorizontalFlip(c.hflip))
    if c.vflip > 0:
        steps.append(RandomVerticalFlip(c.vflip))
    if c.rot90 > 0:
        steps.append(RandomRotate90(c.rot90))
    if max(c.brightness, c.contrast, c.saturation, c.hue) > 0:
        steps.append(ColourJitter(c.brightness, c.contrast, c.saturation, c.hue))
    steps.append(ToTensor())
    return Compose(steps)


def eval_transforms() -> Compose:
    """No augmentation, just the tensor conversion."""
    return Compose([ToTensor()])
