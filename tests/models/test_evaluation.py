"""COCO metrics through faster-coco-eval: perfect predictions score 1, shifted boxes less."""

from __future__ import annotations

import math

import pytest
import torch

from models.evaluation import EvalResult, evaluate_predictions, plot_pr_curves

NAMES = ("cardboard", "plastic", "metal")


def _targets() -> list[dict]:
    return [
        {
            "boxes": torch.tensor([[10.0, 10, 60, 50], [100, 80, 150, 160]]),
            "labels": torch.tensor([1, 2]),
        },
        {"boxes": torch.tensor([[30.0, 40, 90, 100]]), "labels": torch.tensor([2])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)},
    ]


def _perfect(targets: list[dict], shift: float = 0.0) -> list[dict]:
    out = []
    for t in targets:
        boxes = t["boxes"].clone()
        boxes[:, [0, 2]] += shift
        out.append(
            {"boxes": boxes, "labels": t["labels"], "scores": torch.full((len(boxes),), 0.9)}
        )
    return out


def test_perfect_predictions_score_one():
    result = evaluate_predictions(_targets(), _perfect(_targets()), dataset_classes=NAMES)
    assert result.map == pytest.approx(1.0) and result.map50 == pytest.approx(1.0)
    assert result.per_class == {
        "cardboard": pytest.approx(1.0),
        "plastic": pytest.approx(1.0),
        "metal": None,
    }
    assert result.per_category["paper"] == pytest.approx(1.0)
    assert result.per_category["plastic"] == pytest.approx(1.0)
    assert result.per_category["glass"] is None
    assert result.level == "class" and result.num_boxes == 3 and result.num_images == 3


def test_shifted_boxes_score_lower():
    perfect = evaluate_predictions(_targets(), _perfect(_targets()), dataset_classes=NAMES)
    # a 10 px shift keeps IoU > 0.5 for these boxes but not > 0.75: AP@.5 stays, mAP drops
    shifted = evaluate_predictions(_targets(), _perfect(_targets(), 10.0), dataset_classes=NAMES)
    assert shifted.map50 == pytest.approx(1.0)
    assert shifted.map < perfect.map
    far = evaluate_predictions(_targets(), _perfect(_targets(), 40.0), dataset_classes=NAMES)
    assert far.map50 < 0.5 and far.map < shifted.map


def test_wrong_class_and_no_predictions():
    preds = _perfect(_targets())
    preds[0]["labels"] = torch.tensor([2, 1])  # swapped classes
    assert evaluate_predictions(_targets(), preds, dataset_classes=NAMES).map50 < 1.0
    empty = [
        {
            "boxes": torch.zeros((0, 4)),
            "labels": torch.zeros(0, dtype=torch.int64),
            "scores": torch.zeros(0),
        }
    ] * 3
    result = evaluate_predictions(_targets(), empty, dataset_classes=NAMES)
    assert result.map == 0.0 and result.map50 == 0.0


def test_other_dataset_names_are_scored_per_category():
    """A VOC-style dataset ("Plastic-bottle", "Can") against a model with platform-ish classes."""
    dataset_classes = ("Plastic-bottle", "Can")
    targets = [
        {
            "boxes": torch.tensor([[10.0, 10, 60, 50], [100, 80, 150, 160]]),
            "labels": torch.tensor([1, 2]),
        }
    ]
    preds = [
        {
            "boxes": targets[0]["boxes"],
            "labels": torch.tensor([2, 3]),
            "scores": torch.tensor([0.8, 0.7]),
        }
    ]
    result = evaluate_predictions(
        targets, preds, dataset_classes=dataset_classes, model_classes=NAMES
    )
    assert result.level == "category"
    assert result.map50 == pytest.approx(1.0)
    assert result.per_category["plastic"] == pytest.approx(1.0) and result.per_category[
        "metal"
    ] == pytest.approx(1.0)
    assert result.per_class == {"Plastic-bottle": None, "Can": None}


def test_class_map_for_unknown_dataset_labels():
    targets = [{"boxes": torch.tensor([[10.0, 10, 60, 50]]), "labels": torch.tensor([1])}]
    preds = [
        {"boxes": targets[0]["boxes"], "labels": torch.tensor([3]), "scores": torch.tensor([0.8])}
    ]
    result = evaluate_predictions(
        targets,
        preds,
        dataset_classes=("Alu tray",),
        model_classes=NAMES,
        class_map={"Alu tray": "metal"},
    )
    assert result.per_category["metal"] == pytest.approx(1.0)


def test_pr_plot(tmp_path):
    result = evaluate_predictions(_targets(), _perfect(_targets(), 10.0), dataset_classes=NAMES)
    paths = plot_pr_curves(result, tmp_path / "plots")
    assert [p.name for p in paths] == ["pr_curve_class.png", "pr_curve_category.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert isinstance(result, EvalResult) and not math.isnan(result.map)
