"""Fast batched CPU detection: the path the workers use.

:class:`Detector` wraps a checkpoint's torchvision model. ``detect_paths`` decodes each JPEG
straight to about the model's input size (PIL draft mode: the JPEG decoder's DCT scaling), resizes
it to exactly the size the model would resize it to, runs the batch under
``torch.inference_mode`` and maps boxes back to the original image's pixels. The next batch is
decoded on a thread while the model runs (PIL releases the GIL while it decodes), and the model
itself is folded for inference on load (:mod:`models.fusion`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps
from torchvision.transforms.functional import pil_to_tensor

from models.checkpoint import load_checkpoint, model_from_checkpoint
from models.errors import ModelNotFoundError
from models.fusion import optimize_for_inference
from models.taxonomy import category_for

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Detection:
    """One detected object: ``box`` is (x1, y1, x2, y2) in the original image's pixels."""

    box: tuple[float, float, float, float]
    label: str
    category: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"box": [x1, y1, x2, y2], "label", "category", "score"}``."""
        return {
            "box": [round(v, 2) for v in self.box],
            "label": self.label,
            "category": self.category,
            "score": round(self.score, 4),
        }


def shipped_model_path() -> Path | None:
    """The newest ``models/weights/*.pt`` (names carry the date), or ``None``."""
    candidates = sorted(WEIGHTS_DIR.glob("*.pt"))
    return candidates[-1] if candidates else None


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_input_size(width: int, height: int, *, min_size: int, max_size: int) -> tuple[int, int]:
    """(width, height) that torchvision's ``GeneralizedRCNNTransform`` resizes an image to."""
    scale = min(min_size / min(width, height), max_size / max(width, height))
    # torchvision: interpolate(scale_factor=scale, recompute_scale_factor=True) -> floor(side*scale)
    return int(width * scale), int(height * scale)


def load_image(
    path: str | Path, *, size_hint: int | None = None
) -> tuple[Image.Image, tuple[int, int]]:
    """Open an image upright (EXIF orientation applied) as RGB.

    With ``size_hint``, JPEGs are decoded at the smallest DCT scale whose shorter side is still at
    least ``size_hint`` (draft mode), much faster than a full decode. Returns the image and the
    original upright (width, height).
    """
    _register_heif()
    image = Image.open(path)
    width, height = image.size
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if size_hint is not None and image.format == "JPEG":
        image.draft("RGB", (size_hint, size_hint))
    image = ImageOps.exif_transpose(image) if orientation != 1 else image
    return image.convert("RGB"), (width, height)


def _register_heif() -> None:
    """Let PIL open HEIC/HEIF phone photos when pillow-heif is installed."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - optional at runtime
        return
    pillow_heif.register_heif_opener()


class Detector:
    """A loaded detector checkpoint; use :meth:`load`."""

    def __init__(
        self, model: torch.nn.Module, data: dict[str, Any], path: Path, *, device: str = "cpu"
    ) -> None:
        self.model = optimize_for_inference(model.to(device))
        self.device = device
        self.path = path
        self.class_names: tuple[str, ...] = tuple(data["class_names"])
        self.metadata: dict[str, Any] = {
            k: v for k, v in data.items() if k not in ("model", "training")
        }
        taxonomy = data.get("taxonomy") or {}
        self.categories = {n: taxonomy.get(n) or category_for(n) for n in self.class_names}
        sha256 = file_sha256(path)
        self.metadata["checkpoint_sha256"] = sha256
        self.metadata["checkpoint_path"] = str(path)
        self.model_version = f"{path.stem}-{sha256[:12]}"
        transform = self.model.transform
        self.input_min_size = int(transform.min_size[-1])
        self.input_max_size = int(transform.max_size)

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, device: str = "cpu", num_threads: int | None = None
    ) -> Detector:
        """Load a checkpoint (``None``: the shipped model in ``models/weights/``).

        ``num_threads`` sets torch's CPU threads (default: every core of the machine).
        """
        hint = (
            "Pass RUN_DIR/best.pt from `wastemap train` as --model, or leave --model out (and "
            "WASTEMAP_MODEL_PATH unset) for the shipped model."
        )
        if path is None:
            path, hint = shipped_model_path(), ""
            if path is None:
                raise ModelNotFoundError(
                    WEIGHTS_DIR / "*.pt",
                    "No shipped model is installed in models/weights/. Pass --model with a "
                    "checkpoint from `wastemap train` (RUN_DIR/best.pt).",
                )
        path = Path(path)
        torch.set_num_threads(num_threads or os.cpu_count() or 1)
        data = load_checkpoint(path, hint=hint)
        model, _ = model_from_checkpoint(data)
        return cls(model, data, path, device=device)

    @property
    def score_threshold(self) -> float:
        """Detections scoring lower are dropped (``roi_heads.score_thresh``)."""
        return float(self.model.roi_heads.score_thresh)

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        self.model.roi_heads.score_thresh = float(value)

    def with_score_threshold(self, value: float) -> Detector:
        """Set the score threshold and return the detector (for chaining)."""
        self.score_threshold = value
        return self

    def _prepare(self, image: Image.Image, original: tuple[int, int]) -> torch.Tensor:
        """Resize to the exact size the model would resize the original image to."""
        size = model_input_size(
            *original, min_size=self.input_min_size, max_size=self.input_max_size
        )
        if image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
        return pil_to_tensor(image).float().div_(255.0)

    @torch.inference_mode()
    def _run(
        self, tensors: list[torch.Tensor], originals: list[tuple[int, int]]
    ) -> list[list[Detection]]:
        outputs = self.model([t.to(self.device) for t in tensors])
        results = []
        for tensor, (width, height), out in zip(tensors, originals, outputs, strict=True):
            sx, sy = width / tensor.shape[-1], height / tensor.shape[-2]
            boxes = out["boxes"].cpu() * torch.tensor([sx, sy, sx, sy])
            results.append(
                [
                    self._detection(box, int(label), float(score))
                    for box, label, score in zip(
                        boxes.tolist(), out["labels"], out["scores"], strict=True
                    )
                ]
            )
        return results

    def _detection(self, box: Sequence[float], label: int, score: float) -> Detection:
        name = self.class_names[label - 1]
        return Detection((box[0], box[1], box[2], box[3]), name, self.categories[name], score)

    def detect_images(
        self, images: Sequence[Image.Image], *, batch_size: int = 4
    ) -> list[list[Detection]]:
        """Detect in PIL images (already decoded); boxes in each image's own pixels."""
        results: list[list[Detection]] = []
        for start in range(0, len(images), batch_size):
            batch = [im.convert("RGB") for im in images[start : start + batch_size]]
            results.extend(
                self._run([self._prepare(im, im.size) for im in batch], [im.size for im in batch])
            )
        return results

    def detect_paths(
        self, paths: Iterable[str | Path], *, batch_size: int = 4
    ) -> list[list[Detection]]:
        """Detect in image files, decoding each JPEG straight to about the model's input size.

        Batch ``n + 1`` is decoded on a second thread while the model runs on batch ``n``.
        """
        paths = list(paths)
        batches = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
        results: list[list[Detection]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wastemap-decode") as pool:
            pending = pool.submit(self._load_batch, batches[0]) if batches else None
            for index in range(len(batches)):
                tensors, originals = pending.result()
                if index + 1 < len(batches):
                    pending = pool.submit(self._load_batch, batches[index + 1])
                results.extend(self._run(tensors, originals))
        return results

    def _load_batch(
        self, paths: Sequence[str | Path]
    ) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
        tensors, originals = [], []
        for path in paths:
            image, original = load_image(path, size_hint=self.input_min_size)
            tensors.append(self._prepare(image, original))
            originals.append(original)
        return tensors, originals
