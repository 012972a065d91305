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


def test_operating_point_counts_what_a_user_sees_above_a_score():
    targets = _targets()  # 3 objects in 3 images
    perfect = evaluate_predictions(
        targets, _perfect(targets), dataset_classes=NAMES, at_scores=[0.5]
    )
    (point,) = perfect.at_score
    assert (point.detections, point.objects) == (3, 3)
    assert (point.precision, point.recall) == (1.0, 1.0)
    assert (point.precision_any_class, point.recall_any_class) == (1.0, 1.0)
    assert point.on_object == 1.0
    doubled = [  # every box twice: the second of each is a false alarm, yet on litter
        {k: torch.cat([v, v]) for k, v in p.items()} for p in _perfect(targets)
    ]
    (twice,) = evaluate_predictions(
        targets, doubled, dataset_classes=NAMES, at_scores=[0.5]
    ).at_score
    assert (twice.detections, twice.precision, twice.recall) == (6, 0.5, 1.0)
    assert twice.on_object == 1.0

    preds = _perfect(targets)
    preds[0]["labels"] = torch.tensor([2, 1])  # the first image's two objects swapped
    preds[0]["scores"] = torch.tensor([0.9, 0.3])  # and one of them weak
    preds[1]["boxes"] = preds[1]["boxes"] + 40.0  # off its object: IoU under 0.5
    preds[2] = {  # a detection where there is nothing
        "boxes": torch.tensor([[5.0, 5, 25, 25]]),
        "labels": torch.tensor([3]),
        "scores": torch.tensor([0.8]),
    }
    low, high = evaluate_predictions(
        targets, preds, dataset_classes=NAMES, at_scores=[0.2, 0.5]
    ).at_score
    # score >= 0.2: 4 detections; both of image 0 lie on an object, with the wrong class
    assert (low.detections, low.objects) == (4, 3)
    assert (low.precision, low.recall) == (0.0, 0.0)
    assert (low.precision_any_class, low.recall_any_class) == (0.5, pytest.approx(2 / 3))
    # score >= 0.5: the weak one goes
    assert high.detections == 3
    assert (high.precision_any_class, high.recall_any_class) == (
        pytest.approx(1 / 3),
        pytest.approx(1 / 3),
    )
    nothing = evaluate_predictions(targets, preds, dataset_classes=NAMES, at_scores=[0.95])
    assert nothing.at_score[0].detections == 0 and nothing.at_score[0].precision is None
    assert nothing.to_dict()["at_score"][0]["recall"] == 0.0


def test_detections_of_classes_the_dataset_lacks_are_false_alarms_at_a_score():
    """A model that knows glass, scored on a dataset without it: its glass boxes count."""
    targets = _targets()
    preds = _perfect(targets)
    preds[2] = {
        "boxes": torch.tensor([[5.0, 5, 25, 25]]),
        "labels": torch.tensor([4]),  # glass: the model's fourth class
        "scores": torch.tensor([0.9]),
    }
    result = evaluate_predictions(
        targets, preds, dataset_classes=NAMES, model_classes=(*NAMES, "glass"), at_scores=[0.5]
    )
    assert result.level == "class"
    (point,) = result.at_score
    assert point.detections == 4
    assert point.precision == point.precision_any_class == 0.75 and point.recall == 1.0
