"""Self-describing detector checkpoints: weights plus config, classes, taxonomy, data and metrics.

Like torchvision's weight enums, a checkpoint carries its metadata beside its weights:

``format``       ``"wastemap-detector/1"``
``config``       :meth:`DetectorConfig.to_dict` (class names and the five modules)
``taxonomy``     class name -> platform category
``metrics``      last evaluation (``map``, ``map50``, ``per_class`` ...)
``data``         training data (path, format, sha256, images, boxes per class)
``recipe``       training settings (epochs, optimizer, augmentation, seed, command)
``model``        the ``state_dict`` (fp32, or fp16 in exported files); with ``--ema-decay``, the
                 moving average of the weights (what was evaluated and is shipped)
``training``     optimizer/scheduler/RNG state and epoch, only in resumable run checkpoints;
                 with EMA also ``raw_model`` (the weights the optimizer trains) and
                 ``ema_updates`` (the average's step count)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection import FasterRCNN

from models.config import DetectorConfig
from models.detector import build_detector
from models.errors import CheckpointError, ModelNotFoundError

FORMAT = "wastemap-detector/1"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (a kill while saving never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path, *, hint: str = "") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (CPU tensors).

    ``hint`` (what to do instead) ends the message when the file is missing or not a checkpoint.
    """
    path = Path(path)
    hint = hint or "Use a checkpoint written by `wastemap train` (RUN_DIR/best.pt)."
    if not path.is_file():
        raise ModelNotFoundError(path, hint)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch.load's own messages run to a paragraph of advice on weights_only: keep one clause
        cause = str(exc).strip().split("\n")[0].split(". ")[0][:120]
        cause = f"{type(exc).__name__}: {cause}" if cause else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a WasteMap checkpoint (torch cannot read it: {cause}). {hint}"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a WasteMap checkpoint (no format {FORMAT!r} in it). {hint}"
        )
    return data


def model_from_checkpoint(data: dict[str, Any]) -> tuple[FasterRCNN, DetectorConfig]:
    """Build the detector a checkpoint describes and load its weights (fp32, eval mode)."""
    config = DetectorConfig.from_dict(data["config"])
    model = build_detector(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in data["model"].items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, config


def export_checkpoint(src: str | Path, dst: str | Path, *, half: bool = True) -> Path:
    """Copy a run checkpoint without training state, weights in fp16 when ``half``."""
    data = load_checkpoint(src)
    data.pop("training", None)
    if half:
        data["model"] = {
            k: v.half() if v.is_floating_point() else v for k, v in data["model"].items()
        }
    data.pop("format", None)
    return save_checkpoint(dst, data)
