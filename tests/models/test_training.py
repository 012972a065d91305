"""Training: overfits a tiny drawn set, checkpoints describe themselves, resume is exact."""

from __future__ import annotations

import math

import pytest
import torch

from models.checkpoint import export_checkpoint, load_checkpoint, model_from_checkpoint
from models.config import DetectorConfig
from models.datasets import DetectionDataset, read_yolo
from models.evaluation import evaluate_model
from models.training import EpochSampler, TrainConfig, lr_factor, train
from models.transforms import (
    AugmentConfig,
    RandomHorizontalFlip,
    RandomRotate90,
    RandomVerticalFlip,
    RandomZoomCrop,
    eval_transforms,
    train_transforms,
)
from tests.models.scenes import draw_scenes, tiny_config_dict, write_yolo


def test_overfits_tiny_synthetic_set(tiny_run):
    data = load_checkpoint(tiny_run.checkpoint)
    model, config = model_from_checkpoint(data)
    index = read_yolo(tiny_run.data)
    result = evaluate_model(
        model, DetectionDataset(index, eval_transforms()), model_classes=config.class_names
    )
    assert result.map50 > 0.9, result


def test_checkpoint_is_self_describing(tiny_run, tmp_path):
    data = load_checkpoint(tiny_run.checkpoint)
    assert data["class_names"] == ["plastic", "metal"]
    assert data["taxonomy"] == {"plastic": "plastic", "metal": "metal"}
    assert len(data["data"]["sha256"]) == 64 and data["data"]["images"] == 8
    assert data["data"]["boxes_per_class"] == {"plastic": 8, "metal": 8}
    assert data["recipe"]["epochs"] == 50 and data["recipe"]["seed"] == 0
    assert DetectorConfig.from_dict(data["config"]).feature_map_generator.fpn_channels == 32
    exported = export_checkpoint(tiny_run.checkpoint, tmp_path / "small.pt")
    small = load_checkpoint(exported)
    assert "training" not in small
    assert all(v.dtype != torch.float32 for v in small["model"].values())
    assert exported.stat().st_size < tiny_run.checkpoint.stat().st_size / 2


def _tiny_train(root, out, epochs, *, resume=False, resume_epochs=None, ema_decay=0.0):
    index = read_yolo(root)
    config = DetectorConfig.from_dict({"class_names": index.class_names, **tiny_config_dict()})
    recipe = TrainConfig(
        epochs=epochs,
        batch_size=2,
        optimizer="adamw",
        lr=0.005,
        warmup_iters=2,
        ema_decay=ema_decay,
        ema_ramp_iters=2,
    )
    return train(
        index,
        out_dir=out,
        config=config,
        recipe=recipe,
        resume=resume,
        resume_epochs=resume_epochs,
        progress=False,
    )


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path):
    scenes = draw_scenes(tmp_path / "ds" / "images", 4)
    root = write_yolo(tmp_path / "ds", scenes)
    straight = _tiny_train(root, tmp_path / "straight", 2)
    _tiny_train(root, tmp_path / "killed", 1)  # as if killed after epoch 1 was saved
    resumed = _tiny_train(root, tmp_path / "killed", 1, resume=True, resume_epochs=2)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    a = load_checkpoint(straight.last)["model"]
    b = load_checkpoint(resumed.last)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert "resuming" in (tmp_path / "killed" / "train.log").read_text()
    with pytest.raises(ValueError, match="fewer than the 2 epochs"):
        _tiny_train(root, tmp_path / "killed", 1, resume=True, resume_epochs=1)


def test_ema_weights_are_stored_and_a_resumed_run_keeps_averaging(tmp_path):
    scenes = draw_scenes(tmp_path / "ds" / "images", 4)
    root = write_yolo(tmp_path / "ds", scenes)
    straight = _tiny_train(root, tmp_path / "straight", 2, ema_decay=0.9)
    data = load_checkpoint(straight.last)
    assert data["training"]["ema_updates"] == 4  # 2 epochs of 2 steps
    raw, avg = data["training"]["raw_model"], data["model"]
    moved = [k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], avg[k])]
    assert moved, "the stored model should be the average, not the raw weights"
    # killed after epoch 1, resumed: the same average and the same raw weights
    _tiny_train(root, tmp_path / "killed", 1, ema_decay=0.9)
    resumed = _tiny_train(root, tmp_path / "killed", 1, resume=True, resume_epochs=2, ema_decay=0.9)
    again = load_checkpoint(resumed.last)
    for key in raw:
        torch.testing.assert_close(again["model"][key], avg[key], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(
            again["training"]["raw_model"][key], raw[key], rtol=1e-4, atol=1e-5
        )


def test_ema_decay_outside_0_1_is_refused_before_training(tmp_path):
    root = write_yolo(tmp_path / "ds", draw_scenes(tmp_path / "ds" / "images", 2))
    with pytest.raises(ValueError, match=r"--ema-decay 1\.5: give a decay between 0 and 1"):
        _tiny_train(root, tmp_path / "run", 1, ema_decay=1.5)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_model_ema_follows_the_decay_ramp():
    from models.training import ModelEMA

    layer = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(layer.weight)
    ema = ModelEMA(layer, decay=0.5, ramp=1)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    ema.update(layer)
    d = 0.5 * (1 - math.exp(-1))
    assert ema.state["weight"].item() == pytest.approx(1 - d)
    ema.update(layer)
    d2 = 0.5 * (1 - math.exp(-2))
    assert ema.state["weight"].item() == pytest.approx(1 - d2 * d)


def test_lr_schedule_warmup_then_cosine():
    assert lr_factor(0, total=100, warmup=10, min_ratio=0.0) == pytest.approx(0.001)
    assert lr_factor(10, total=100, warmup=10, min_ratio=0.0) == pytest.approx(1.0)
    assert lr_factor(55, total=100, warmup=10, min_ratio=0.0) == pytest.approx(0.5)
    assert lr_factor(100, total=100, warmup=10, min_ratio=0.1) == pytest.approx(0.1)


def test_repeat_factor_sampling_favours_rare_classes(tmp_path):
    scenes = draw_scenes(tmp_path / "ds" / "images", 4)
    for s in scenes[1:]:  # class 1 ("metal") only in the first image
        s.classes = [0, 0]
    index = read_yolo(write_yolo(tmp_path / "ds", scenes))
    sampler = EpochSampler(index, seed=0, threshold=1.0, limit=None)
    assert sampler.weights[0] == pytest.approx(math.sqrt(4))
    assert sampler.weights[1:].tolist() == [1.0, 1.0, 1.0]
    sampler.set_epoch(3)
    assert list(sampler) == list(sampler)  # seeded


def test_flip_and_zoom_crop_keep_boxes_on_the_pixels():
    from PIL import Image

    image = Image.new("RGB", (100, 50))
    target = {"boxes": torch.tensor([[10.0, 5, 30, 25]]), "labels": torch.tensor([1])}
    flipped, t = RandomHorizontalFlip(1.0)(image, target)
    assert t["boxes"].tolist() == [[70.0, 5, 90, 25]] and flipped.size == (100, 50)
    torch.manual_seed(0)
    for _ in range(20):
        cropped, t = RandomZoomCrop(1.0, min_scale=0.5)(image, target)
        assert len(t["boxes"]) == 1  # never drops every box
        box = t["boxes"][0]
        assert 0 <= box[0] < box[2] <= cropped.width and 0 <= box[1] < box[3] <= cropped.height


def _white_box_bbox(image) -> tuple[int, int, int, int]:
    return image.convert("L").point(lambda v: 255 if v > 127 else 0).getbbox()


def test_vertical_flip_and_quarter_turns_move_boxes_with_the_pixels():
    from PIL import Image, ImageDraw

    # a white rectangle whose pixels span [10, 50) x [20, 40) on a 200 x 100 image
    image = Image.new("RGB", (200, 100))
    ImageDraw.Draw(image).rectangle((10, 20, 49, 39), fill="white")
    target = {"boxes": torch.tensor([[10.0, 20, 50, 40]]), "labels": torch.tensor([1])}
    flipped, t = RandomVerticalFlip(1.0)(image, target)
    assert t["boxes"].tolist() == [[10.0, 60, 50, 80]]
    assert _white_box_bbox(flipped) == (10, 60, 50, 80)
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        turned, t = RandomRotate90(1.0)(image, target)
        assert turned.size == (100, 200)
        assert tuple(t["boxes"][0].tolist()) == _white_box_bbox(turned)
        seen.add(tuple(t["boxes"][0].tolist()))
    assert len(seen) == 2  # both directions happen
    # p=0 leaves everything alone, and the recipe's switches decide which steps run
    assert RandomRotate90(0.0)(image, target)[0] is image
    names = _step_names(AugmentConfig())
    assert "RandomRotate90" not in names and "RandomVerticalFlip" not in names
    names = _step_names(AugmentConfig(vflip=0.5, rot90=0.5))
    assert "RandomRotate90" in names and "RandomVerticalFlip" in names


def _step_names(config: AugmentConfig) -> list[str]:
    return [type(step).__name__ for step in train_transforms(config).transforms]


def test_augment_config_round_trips():
    recipe = TrainConfig(augment=AugmentConfig(hflip=0.2))
    assert TrainConfig.from_dict(recipe.to_dict()) == recipe


def test_init_weights_starts_a_new_stage_from_a_checkpoint(tiny_run, tmp_path):
    index = read_yolo(tiny_run.data)
    recipe = TrainConfig(epochs=1, batch_size=2, optimizer="adamw", lr=1e-4, warmup_iters=0)
    result = train(
        index,
        out_dir=tmp_path / "stage2",
        config=DetectorConfig(),
        recipe=recipe,
        init_weights=tiny_run.checkpoint,
        val_index=index,
        progress=False,
    )
    assert result.history[0]["map50"] > 0.8  # it kept what the first stage learned
    data = load_checkpoint(result.last)
    assert data["metadata"]["init_weights"] == str(tiny_run.checkpoint)
    other = read_yolo(tiny_run.data, class_names=("paper", "glass"))
    with pytest.raises(ValueError, match="same classes"):
        train(
            other,
            out_dir=tmp_path / "x",
            config=DetectorConfig(),
            recipe=recipe,
            init_weights=tiny_run.checkpoint,
            progress=False,
        )
