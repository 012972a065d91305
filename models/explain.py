"""Drawings: detections on an image, and the paper's "inside the detector" view.

The explain view runs the model one torchvision component at a time on the user's image
(transform -> backbone -> anchor generator + RPN head -> RPN proposal filtering/NMS -> RoI heads
-> postprocess), calling torchvision's own modules and methods, and draws four panels: a sample
of anchors (Candidate Object Locator), the top proposals coloured by objectness before NMS
(Foreground-Background Classification Score), the proposals NMS kept (Regression-Based Proposal
Selector) and the final detections (Object Localization).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.models.detection.rpn import concat_box_prediction_layers

from models.taxonomy import CATEGORIES

if TYPE_CHECKING:
    from models.inference import Detection, Detector

#: One colour per platform category, in :data:`models.taxonomy.CATEGORIES` order.
CATEGORY_COLOURS = dict(
    zip(
        CATEGORIES,
        ("#1f77b4", "#bcbd22", "#7f7f7f", "#17becf", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e"),
        strict=True,
    )
)


def draw_detections(
    image: str | Path | Image.Image, detections: Sequence[Detection], out_path: str | Path
) -> Path:
    """Write ``image`` with each detection's box, label and score drawn (PNG or JPEG)."""
    from models.inference import load_image

    picture = load_image(image)[0] if not isinstance(image, Image.Image) else image.convert("RGB")
    draw = ImageDraw.Draw(picture)
    width = max(2, round(max(picture.size) / 400))
    font = _font(max(12, round(max(picture.size) / 50)))
    for d in detections:
        colour = CATEGORY_COLOURS.get(d.category, "#ff7f0e")
        draw.rectangle(d.box, outline=colour, width=width)
        text = f"{d.label} {d.score:.2f}"
        left, top, right, bottom = draw.textbbox((d.box[0], d.box[1]), text, font=font)
        y = max(0.0, d.box[1] - (bottom - top) - 2 * width)
        draw.rectangle((left, y, right + 2 * width, y + bottom - top + 2 * width), fill=colour)
        draw.text((d.box[0] + width, y + width), text, fill="white", font=font)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out)
    return out


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


@dataclass
class DetectorInternals:
    """What each module produced on one image, boxes in the original image's pixels."""

    anchors: torch.Tensor  # (A, 4) a sample of anchors
    anchor_levels: torch.Tensor  # (A,) feature-map index of each sampled anchor
    proposals_pre_nms: torch.Tensor  # (P, 4) top proposals by objectness, before NMS
    objectness_pre_nms: torch.Tensor  # (P,) their objectness probability
    proposals_kept: torch.Tensor  # (K, 4) proposals NMS kept (the RoI heads' input)
    objectness_kept: torch.Tensor  # (K,)
    detections: list[Any]


@torch.inference_mode()
def detector_internals(
    detector: Detector, image: Image.Image, *, anchors_per_level: int = 12, top_proposals: int = 100
) -> DetectorInternals:
    """Run ``detector.model`` step by step on ``image`` and keep each module's output."""
    model = detector.model
    tensor = detector._prepare(image, image.size).to(detector.device)
    images, _ = model.transform([tensor])
    features = model.backbone(images.tensors)
    feature_list = list(features.values())
    rpn = model.rpn
    anchors = rpn.anchor_generator(images, feature_list)[0]
    objectness, deltas = rpn.head(feature_list)
    per_level = [o[0].numel() for o in objectness]
    flat_objectness, flat_deltas = concat_box_prediction_layers(objectness, deltas)
    proposals = rpn.box_coder.decode(flat_deltas.detach(), [anchors]).view(1, -1, 4)
    kept_boxes, kept_scores = rpn.filter_proposals(
        proposals, flat_objectness.detach(), images.image_sizes, per_level
    )
    probability = flat_objectness.detach().sigmoid().view(-1)
    top = probability.topk(min(top_proposals, probability.numel())).indices
    # a spread sample of anchors per level, from the image's centre row outwards
    generator = torch.Generator().manual_seed(0)
    sample, levels, start = [], [], 0
    for level, count in enumerate(per_level):
        idx = start + torch.randperm(count, generator=generator)[:anchors_per_level]
        sample.append(idx)
        levels.append(torch.full((len(idx),), level))
        start += count
    sample_idx = torch.cat(sample)
    detections = detector._run([tensor.cpu()], [image.size])[0]
    scale = torch.tensor(
        [image.size[0] / images.image_sizes[0][1], image.size[1] / images.image_sizes[0][0]] * 2
    )
    return DetectorInternals(
        anchors=anchors[sample_idx].cpu() * scale,
        anchor_levels=torch.cat(levels),
        proposals_pre_nms=proposals[0, top].cpu() * scale,
        objectness_pre_nms=probability[top].cpu(),
        proposals_kept=kept_boxes[0][:top_proposals].cpu() * scale,
        objectness_kept=kept_scores[0][:top_proposals].cpu(),
        detections=detections,
    )


def explain_image(detector: Detector, image_path: str | Path, out_path: str | Path) -> Path:
    """Draw the four-panel "inside the detector" view of ``image_path`` to ``out_path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from models.inference import load_image

    image, _ = load_image(image_path)
    if max(image.size) > 1600:  # the drawing does not need more pixels
        image.thumbnail((1600, 1600))
    inside = detector_internals(detector, image)
    fig, axes = plt.subplots(2, 2, figsize=(12, 12 * image.height / image.width + 1), dpi=100)
    panels = [
        ("1. Candidate Object Locator: a sample of anchors (colour = feature map)", "anchors"),
        ("2. Foreground/background score: top proposals before NMS", "pre_nms"),
        ("3. Regression-Based Proposal Selector: proposals NMS kept", "kept"),
        ("4. Object localization: final detections", "final"),
    ]
    cmap = plt.get_cmap("viridis")
    level_colours = plt.get_cmap("tab10")
    for ax, (title, kind) in zip(axes.flat, panels, strict=True):
        ax.imshow(image)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
        if kind == "anchors":
            boxes = zip(inside.anchors.tolist(), inside.anchor_levels.tolist(), strict=True)
            for box, level in boxes:
                _rect(ax, Rectangle, box, level_colours(level), 1.0)
        elif kind in ("pre_nms", "kept"):
            boxes_t = inside.proposals_pre_nms if kind == "pre_nms" else inside.proposals_kept
            scores = inside.objectness_pre_nms if kind == "pre_nms" else inside.objectness_kept
            for box, score in reversed(list(zip(boxes_t.tolist(), scores.tolist(), strict=True))):
                _rect(ax, Rectangle, box, cmap(score), 0.8)
            if kind == "pre_nms":
                mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
                fig.colorbar(mappable, ax=ax, fraction=0.03, label="objectness")
            ax.set_title(f"{title} ({len(boxes_t)} shown)", fontsize=10)
        else:
            for d in inside.detections:
                colour = CATEGORY_COLOURS.get(d.category, "#ff7f0e")
                _rect(ax, Rectangle, d.box, colour, 2.0)
                ax.text(
                    d.box[0],
                    d.box[1],
                    f"{d.label} {d.score:.2f}",
                    color="white",
                    fontsize=8,
                    bbox={"facecolor": colour, "pad": 1, "linewidth": 0},
                )
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _rect(ax: Any, rectangle: Any, box: Sequence[float], colour: Any, width: float) -> None:
    x1, y1, x2, y2 = box
    ax.add_patch(
        rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=width)
    )
