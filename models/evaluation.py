"""COCO detection metrics computed by faster-coco-eval (a maintained pycocotools rewrite).

``map`` is AP@[.5:.95], ``map50`` AP@.5, ``per_class`` AP@.5 per dataset class and
``per_category`` AP@.5 per platform category (labels of the dataset and of the model both mapped
through :mod:`models.taxonomy`, so a dataset with other class names can be scored). Classes with
no ground-truth box have AP ``None`` and do not enter the means.

Besides the COCO metrics, :func:`operating_point` says what a user of the detections sees at one
score threshold (the one litter sites are made from, say): of the detections scoring at least
that, how many lie on an object (precision), and how many objects they find (recall), each box
matched to at most one object at IoU 0.5, with the class and regardless of it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.taxonomy import CATEGORIES, category_for, normalise_label

Prediction = Mapping[str, Any]  # {"boxes": (N, 4) xyxy px, "labels": (N,) 1-based, "scores": (N,)}
Target = Mapping[str, Any]  # {"boxes": (N, 4) xyxy px, "labels": (N,) 1-based}


@dataclass
class CocoScores:
    """Output of one faster-coco-eval run over a label space."""

    map: float
    map50: float
    ap50: dict[str, float | None]
    precision50: dict[str, np.ndarray] = field(repr=False)  # name -> precision at 101 recalls


@dataclass
class OperatingPoint:
    """Precision and recall of the detections scoring at least ``score`` (IoU 0.5, one object
    per detection): with the class (``precision``/``recall``), and whatever the class
    (``precision_any_class``/``recall_any_class``, "is there litter here"). ``None`` where
    there is nothing to divide by (no detection, or no object)."""

    score: float
    detections: int
    objects: int
    precision: float | None
    recall: float | None
    precision_any_class: float | None
    recall_any_class: float | None
    #: share of the detections lying on some object (IoU 0.5, any class), two boxes on one
    #: object both counting: "is there litter where the box is", what a crew sees
    on_object: float | None = None


#: The shares an :class:`OperatingPoint` gives, with the heading a table prints each under.
SHARE_HEADINGS = {
    "precision": "precision",
    "recall": "recall",
    "precision_any_class": "precision, any class",
    "recall_any_class": "recall, any class",
    "on_object": "on an object",
}


def shares_as_percent(point: Mapping[str, Any]) -> list[str]:
    """The :data:`SHARE_HEADINGS` shares of an operating point (as a dict) as whole percents,
    ``-`` where there was nothing to divide by."""
    return ["-" if point[k] is None else f"{point[k]:.0%}" for k in SHARE_HEADINGS]


@dataclass
class EvalResult:
    """What ``wastemap eval --json`` prints (plus the curves for ``--plots``)."""

    map: float
    map50: float
    per_class: dict[str, float | None]
    per_category: dict[str, float | None]
    level: str  # "class" when the model knows every dataset class name, else "category"
    num_images: int
    num_boxes: int
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    at_score: list[OperatingPoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the curves left out)."""
        return {
            "map": self.map,
            "map50": self.map50,
            "per_class": self.per_class,
            "per_category": self.per_category,
            "level": self.level,
            "num_images": self.num_images,
            "num_boxes": self.num_boxes,
            "at_score": [asdict(point) for point in self.at_score],
        }


def _as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return (
            value.detach().cpu().float().numpy()
            if value.is_floating_point()
            else value.cpu().numpy()
        )
    return np.asarray(value)


def coco_scores(
    targets: Sequence[Target], predictions: Sequence[Prediction], names: Sequence[str]
) -> CocoScores:
    """COCO bbox metrics for 1-based ``labels`` over classes ``names``."""
    from faster_coco_eval import COCO, COCOeval_faster

    images, gt_anns, dt_anns = [], [], []
    for image_id, (target, pred) in enumerate(zip(targets, predictions, strict=True)):
        images.append({"id": image_id, "width": 0, "height": 0})
        for box, label in zip(
            _as_numpy(target["boxes"]).reshape(-1, 4), _as_numpy(target["labels"]), strict=True
        ):
            x1, y1, x2, y2 = (float(v) for v in box)
            gt_anns.append(
                {
                    "id": len(gt_anns) + 1,
                    "image_id": image_id,
                    "category_id": int(label),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        boxes = _as_numpy(pred["boxes"]).reshape(-1, 4)
        for box, label, score in zip(
            boxes, _as_numpy(pred["labels"]), _as_numpy(pred["scores"]), strict=True
        ):
            x1, y1, x2, y2 = (float(v) for v in box)
            dt_anns.append(
                {
                    "id": len(dt_anns) + 1,
                    "image_id": image_id,
                    "category_id": int(label),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "score": float(score),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(names)]
    has_gt = {a["category_id"] for a in gt_anns}
    empty = CocoScores(
        0.0 if gt_anns else float("nan"),
        0.0 if gt_anns else float("nan"),
        {n: (0.0 if i + 1 in has_gt else None) for i, n in enumerate(names)},
        {},
    )
    if not gt_anns or not dt_anns:
        return empty
    gt = COCO({"images": images, "annotations": gt_anns, "categories": categories})
    dt = COCO({"images": images, "annotations": dt_anns, "categories": categories})
    evaluator = COCOeval_faster(gt, dt, iouType="bbox", print_function=lambda *a, **k: None)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    precision = evaluator.eval["precision"]  # [T, R, K, A, M]
    cat_ids = list(evaluator.params.catIds)
    ap50: dict[str, float | None] = {}
    curves: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        if i + 1 not in has_gt:
            ap50[name] = None
            continue
        k = cat_ids.index(i + 1)
        curve = precision[0, :, k, 0, -1]
        valid = curve[curve > -1]
        ap50[name] = float(valid.mean()) if valid.size else 0.0
        curves[name] = np.where(curve > -1, curve, 0.0)
    return CocoScores(max(float(stats[0]), 0.0), max(float(stats[1]), 0.0), ap50, curves)


def _relabel(
    items: Sequence[Mapping[str, Any]], mapping: Mapping[int, int]
) -> list[dict[str, Any]]:
    """Map 1-based labels through ``mapping``; labels not in it are dropped."""
    out = []
    for item in items:
        labels = _as_numpy(item["labels"]).astype(np.int64).reshape(-1)
        keep = np.array([int(v) in mapping for v in labels], dtype=bool)
        new = {
            k: _as_numpy(v)[keep] if k in ("boxes", "scores") else v
            for k, v in item.items()
            if k != "labels"
        }
        new["boxes"] = _as_numpy(item["boxes"]).reshape(-1, 4)[keep]
        new["labels"] = np.array([mapping[int(v)] for v in labels[keep]], dtype=np.int64)
        out.append(new)
    return out


def evaluate_predictions(
    targets: Sequence[Target],
    predictions: Sequence[Prediction],
    *,
    dataset_classes: Sequence[str],
    model_classes: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
    at_scores: Sequence[float] = (),
) -> EvalResult:
    """Score ``predictions`` (model label space) against ``targets`` (dataset label space).

    When every dataset class name is one of ``model_classes`` (compared case- and
    separator-insensitively) the headline ``map``/``map50`` are class-level; otherwise they are
    computed over platform categories (``level == "category"``), with ``class_map`` naming the
    category of labels the taxonomy table does not know. ``at_scores``: the score thresholds to
    give an :func:`operating_point` at, in the headline's label space.
    """
    model_classes = list(model_classes if model_classes is not None else dataset_classes)
    model_index = {normalise_label(n): i + 1 for i, n in enumerate(model_classes)}
    to_dataset = {}
    for j, name in enumerate(dataset_classes):
        if normalise_label(name) in model_index:
            to_dataset[model_index[normalise_label(name)]] = j + 1
    class_scores = coco_scores(targets, _relabel(predictions, to_dataset), dataset_classes)
    matched = set(to_dataset.values())
    per_class = {
        n: (class_scores.ap50[n] if j + 1 in matched else None)
        for j, n in enumerate(dataset_classes)
    }

    category_ids = {c: i + 1 for i, c in enumerate(CATEGORIES)}
    gt_to_cat = {
        j + 1: category_ids[category_for(n, class_map)] for j, n in enumerate(dataset_classes)
    }
    dt_to_cat = {
        i + 1: category_ids[category_for(n, class_map)] for i, n in enumerate(model_classes)
    }
    cat_scores = coco_scores(
        _relabel(targets, gt_to_cat), _relabel(predictions, dt_to_cat), CATEGORIES
    )

    all_matched = len(matched) == len(dataset_classes)
    headline = class_scores if all_matched else cat_scores
    if all_matched:
        # a detection of a class the dataset lacks is a false alarm, never dropped: a label of
        # its own (negative) that no object has
        own = {i + 1: -(i + 1) for i in range(len(model_classes))}
        scored_targets, scored_predictions = targets, _relabel(predictions, {**own, **to_dataset})
    else:
        scored_targets = _relabel(targets, gt_to_cat)
        scored_predictions = _relabel(predictions, dt_to_cat)
    return EvalResult(
        map=headline.map,
        map50=headline.map50,
        per_class=per_class,
        per_category=cat_scores.ap50,
        level="class" if all_matched else "category",
        num_images=len(targets),
        num_boxes=int(sum(len(_as_numpy(t["labels"]).reshape(-1)) for t in targets)),
        curves={"class": class_scores.precision50, "category": cat_scores.precision50},
        at_score=[operating_point(scored_targets, scored_predictions, score=t) for t in at_scores],
    )


def operating_point(
    targets: Sequence[Target],
    predictions: Sequence[Prediction],
    *,
    score: float,
    iou: float = 0.5,
) -> OperatingPoint:
    """Precision and recall of the predictions scoring at least ``score`` (labels of targets and
    predictions in one label space). In each image the detections, highest score first, each
    take the free object they overlap most, if by ``iou`` or more: with the same label for
    ``precision``/``recall``, any label for the ``_any_class`` pair. ``on_object`` counts the
    detections overlapping any object by ``iou``, taken or not."""
    from torchvision.ops import box_iou

    found = {True: 0, False: 0}  # same class -> matched detections
    detections = objects = on_object = 0
    for target, pred in zip(targets, predictions, strict=True):
        gt_boxes = torch.as_tensor(_as_numpy(target["boxes"]), dtype=torch.float64).reshape(-1, 4)
        gt_labels = _as_numpy(target["labels"]).reshape(-1)
        scores = _as_numpy(pred["scores"]).reshape(-1)
        keep = np.flatnonzero(scores >= score)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        boxes = torch.as_tensor(_as_numpy(pred["boxes"]), dtype=torch.float64).reshape(-1, 4)
        labels = _as_numpy(pred["labels"]).reshape(-1)
        detections += len(keep)
        objects += len(gt_labels)
        if not len(keep) or not len(gt_labels):
            continue
        overlaps = box_iou(boxes[keep], gt_boxes).numpy()
        on_object += int((overlaps.max(axis=1) >= iou).sum())
        for same_class in (True, False):
            free = np.ones(len(gt_labels), dtype=bool)
            for row, index in enumerate(keep):
                allowed = free & (gt_labels == labels[index] if same_class else True)
                candidates = np.where(allowed, overlaps[row], -1.0)
                best = int(candidates.argmax())
                if candidates[best] >= iou:
                    free[best] = False
                    found[same_class] += 1

    def ratio(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    return OperatingPoint(
        score=float(score),
        detections=detections,
        objects=objects,
        precision=ratio(found[True], detections),
        recall=ratio(found[True], objects),
        precision_any_class=ratio(found[False], detections),
        recall_any_class=ratio(found[False], objects),
        on_object=ratio(on_object, detections),
    )


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    images: Sequence[torch.Tensor],
    *,
    batch_size: int = 4,
    device: str = "cpu",
) -> list[dict[str, torch.Tensor]]:
    """Run a torchvision detection model in eval mode over float 0-1 image tensors."""
    was_training = model.training
    model.eval()
    out: list[dict[str, torch.Tensor]] = []
    try:
        for start in range(0, len(images), batch_size):
            batch = [im.to(device) for im in images[start : start + batch_size]]
            out.extend({k: v.cpu() for k, v in p.items()} for p in model(batch))
    finally:
        model.train(was_training)
    return out


def evaluate_model(
    model: torch.nn.Module,
    dataset: Any,
    *,
    model_classes: Sequence[str],
    class_map: Mapping[str, str] | None = None,
    batch_size: int = 4,
    device: str = "cpu",
    score_threshold: float | None = 0.01,
    at_scores: Sequence[float] = (),
) -> EvalResult:
    """Evaluate a torchvision detection model on a :class:`~models.datasets.DetectionDataset`.

    ``score_threshold`` temporarily replaces the model's (a low one gives the full PR curve);
    ``at_scores`` as in :func:`evaluate_predictions`.
    """
    roi_heads = getattr(model, "roi_heads", None)
    saved = roi_heads.score_thresh if roi_heads is not None else None
    if roi_heads is not None and score_threshold is not None:
        roi_heads.score_thresh = score_threshold
    targets, predictions = [], []
    try:
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            predictions.extend(
                predict(model, [im for im, _ in items], batch_size=batch_size, device=device)
            )
            targets.extend(t for _, t in items)
    finally:
        if roi_heads is not None:
            roi_heads.score_thresh = saved
    return evaluate_predictions(
        targets,
        predictions,
        dataset_classes=dataset.index.class_names,
        model_classes=model_classes,
        class_map=class_map,
        at_scores=at_scores,
    )


def plot_pr_curves(result: EvalResult, out_dir: str | Path) -> list[Path]:
    """Write precision-recall curves at IoU 0.5 (per class and per category) as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    recall = np.linspace(0.0, 1.0, 101)
    written = []
    for level, curves in result.curves.items():
        scores = result.per_class if level == "class" else result.per_category
        fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
        for name, precision in curves.items():
            ap = scores.get(name)
            ax.plot(recall, precision, label=f"{name} (AP@.5 {ap:.2f})" if ap is not None else name)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"Precision-recall at IoU 0.5, per {level} (mAP@.5 {result.map50:.3f})")
        if curves:
            ax.legend(loc="lower left", fontsize=8)
        ax.grid(alpha=0.3)
        path = out / f"pr_curve_{level}.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
