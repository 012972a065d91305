"""Detection on CPU: the naive way vs the project's fast path, on the same 50 large images.

Generates 50 street-size 12 MP JPEGs (4000 x 3000) into a temporary folder: the shared
Trash-Filter ``valid`` photos upscaled with sensor-like noise when ``../shared`` is present (so
there is litter to find), otherwise drawn scenes. Then runs, with the same model and threads:

- **naive**: the checkpoint's torchvision model as trained, ``Image.open(...).convert("RGB")``
  (full decode), ``to_tensor``, ``model([image])`` one image at a time under ``torch.no_grad``;
- **fast**: ``Detector.detect_paths`` (JPEG draft-mode decode straight to about the model's
  input size, exact resize, the next batch decoded on a thread while the model runs, batches,
  ``torch.inference_mode``, frozen batch norms and the BGR flip folded into the convolutions,
  channels-last convolutions).

Prints images/s for both, the ratio, and how much the detections differ between them (boxes
matched per image by label and IoU; coordinates in original pixels). They are not bit-identical:
the naive path's resize of the 12 MP image to the model's input (torchvision's bilinear
interpolation, no antialiasing) and the draft decode (DCT scaling averages the pixels) give the
model slightly different pixels, which moves weak, large boxes most.

    python benchmarks/detect.py [--model CKPT] [--images 50] [--batch-size 4] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torchvision.transforms.functional import to_tensor

from models.checkpoint import load_checkpoint, model_from_checkpoint
from models.inference import Detection, Detector

REPO = Path(__file__).resolve().parents[1]
SHARED_VALID = Path(os.environ.get("WASTEMAP_SHARED", REPO.parent / "shared")) / (
    "datasets/trash-filter/valid/images"
)
SIZE = (4000, 3000)


def generate_images(folder: Path, count: int, *, seed: int = 0) -> list[Path]:
    """``count`` 12 MP JPEGs in ``folder``."""
    rng = np.random.default_rng(seed)
    sources = sorted(SHARED_VALID.glob("*.jpg")) if SHARED_VALID.is_dir() else []
    paths = []
    for i in range(count):
        if sources:
            base = Image.open(sources[i % len(sources)]).convert("RGB")
            # crop to 4:3 then upscale to the street camera's size
            w, h = base.size
            base = base.crop((0, (h - w * 3 // 4) // 2, w, (h + w * 3 // 4) // 2))
            image = base.resize(SIZE, Image.Resampling.BICUBIC)
        else:
            image = Image.new("RGB", SIZE, (120, 120, 115))
            draw = ImageDraw.Draw(image)
            for _ in range(6):
                x, y = rng.integers(0, SIZE[0] - 400), rng.integers(0, SIZE[1] - 400)
                colour = tuple(int(v) for v in rng.integers(0, 255, 3))
                draw.rectangle((x, y, x + rng.integers(80, 400), y + rng.integers(80, 400)), colour)
            image = image.filter(ImageFilter.GaussianBlur(2))
        noise = rng.normal(0, 6, (SIZE[1], SIZE[0], 3))
        pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        path = folder / f"street_{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def naive(model: torch.nn.Module, detector: Detector, paths: list[Path]) -> list[list[Detection]]:
    """Full decode, to_tensor, model([image]) one by one (``detector`` only names the labels)."""
    results = []
    with torch.no_grad():
        for path in paths:
            image = Image.open(path).convert("RGB")
            out = model([to_tensor(image)])[0]
            results.append(
                [
                    detector._detection(box, int(label), float(score))
                    for box, label, score in zip(
                        out["boxes"].tolist(), out["labels"], out["scores"], strict=True
                    )
                ]
            )
    return results


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def compare(
    a: list[list[Detection]], b: list[list[Detection]], *, min_score: float
) -> dict[str, float]:
    """How far the detections of two runs differ: over the matched pairs (same label, IoU at
    least 0.5, best first) the median and the largest box-coordinate difference, the lowest IoU
    and the largest score difference; and how many were left unmatched.

    Only detections scoring at least ``min_score`` in either run are compared (lower ones come and
    go with the tiniest pixel change).
    """
    box_diffs, ious, max_score, unmatched = [], [], 0.0, 0
    for dets_a, dets_b in zip(a, b, strict=True):
        left = [d for d in dets_b]
        for d in sorted(dets_a, key=lambda d: -d.score):
            candidates = [e for e in left if e.label == d.label]
            best = max(candidates, key=lambda e: _iou(d.box, e.box), default=None)
            if best is None or _iou(d.box, best.box) < 0.5:
                unmatched += d.score >= min_score
                continue
            left.remove(best)
            if max(d.score, best.score) >= min_score:
                box_diffs.append(max(abs(p - q) for p, q in zip(d.box, best.box, strict=True)))
                ious.append(_iou(d.box, best.box))
                max_score = max(max_score, abs(d.score - best.score))
        unmatched += sum(e.score >= min_score for e in left)
    return {
        "matched": len(box_diffs),
        "median_box_diff_px": round(float(np.median(box_diffs)), 2) if box_diffs else 0.0,
        "max_box_diff_px": round(max(box_diffs, default=0.0), 2),
        "min_iou": round(min(ious, default=1.0), 3),
        "max_score_diff": round(max_score, 4),
        "unmatched": unmatched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: shipped)")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    detector = Detector.load(args.model, num_threads=args.threads)
    plain_model = model_from_checkpoint(load_checkpoint(detector.path))[0].eval()
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="wastemap-bench-") as tmp:
        paths = generate_images(Path(tmp), args.images)
        # warm both paths up on one image so one-time costs are not timed
        naive(plain_model, detector, paths[:1])
        detector.detect_paths(paths[:1])
        start = time.perf_counter()
        slow = naive(plain_model, detector, paths)
        naive_s = time.perf_counter() - start
        start = time.perf_counter()
        fast = detector.detect_paths(paths, batch_size=args.batch_size)
        fast_s = time.perf_counter() - start
    report = {
        "model": detector.model_version,
        "images": len(paths),
        "image_size": f"{SIZE[0]}x{SIZE[1]}",
        "model_input_px": detector.input_min_size,
        "threads": threads,
        "batch_size": args.batch_size,
        "naive_images_per_s": round(len(paths) / naive_s, 3),
        "fast_images_per_s": round(len(paths) / fast_s, 3),
        "ratio": round(naive_s / fast_s, 2),
        "detections_naive": sum(len(r) for r in slow),
        "detections_fast": sum(len(r) for r in fast),
        **compare(slow, fast, min_score=args.min_score),
        "compared_min_score": args.min_score,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"model {report['model']}, {report['images']} images {report['image_size']}, "
        f"input {report['model_input_px']} px, {threads} threads, batch {args.batch_size}"
    )
    print(
        f"naive (full decode, to_tensor, one by one): {report['naive_images_per_s']:.2f} images/s"
    )
    print(
        f"fast  (draft decode, batched, inference_mode): {report['fast_images_per_s']:.2f} images/s"
    )
    print(f"ratio fast/naive: {report['ratio']:.2f}x")
    print(
        f"difference over {report['matched']} matched detections (score >= {args.min_score}): "
        f"box median {report['median_box_diff_px']} px, largest {report['max_box_diff_px']} px "
        f"(lowest IoU {report['min_iou']}), score largest {report['max_score_diff']}; "
        f"unmatched: {report['unmatched']}"
    )


if __name__ == "__main__":
    main()
