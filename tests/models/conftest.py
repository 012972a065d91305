"""Fixtures for the detector tests: tiny drawn datasets in each format, one tiny trained model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.models.scenes import (
    Scene,
    draw_scenes,
    tiny_config_dict,
    write_coco,
    write_voc,
    write_yolo,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a shared 2-core machine two threads can be ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def yolo_dir(tmp_path: Path) -> tuple[Path, list[Scene]]:
    scenes = draw_scenes(tmp_path / "ds" / "images", 3)
    return write_yolo(tmp_path / "ds", scenes), scenes


@pytest.fixture
def coco_file(tmp_path: Path) -> tuple[Path, list[Scene]]:
    scenes = draw_scenes(tmp_path / "coco" / "images", 3)
    return write_coco(tmp_path / "coco", scenes), scenes


@pytest.fixture
def voc_dir(tmp_path: Path) -> tuple[Path, list[Scene]]:
    scenes = draw_scenes(tmp_path / "voc", 3)
    return write_voc(tmp_path / "voc", scenes), scenes


@dataclass
class TinyRun:
    """A tiny detector trained (from scratch) to overfit 8 drawn scenes."""

    data: Path
    scenes: list[Scene]
    checkpoint: Path
    history: list[dict]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    from models.config import DetectorConfig
    from models.datasets import read_yolo
    from models.training import TrainConfig, train
    from models.transforms import AugmentConfig

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    scenes = draw_scenes(root / "ds" / "images", 8, seed=0)
    write_yolo(root / "ds", scenes)
    index = read_yolo(root / "ds")
    config = DetectorConfig.from_dict({"class_names": index.class_names, **tiny_config_dict()})
    recipe = TrainConfig(
        epochs=50,
        batch_size=2,
        optimizer="adamw",
        lr=0.005,
        warmup_iters=10,
        seed=0,
        augment=AugmentConfig(
            hflip=0.0, crop_prob=0.0, brightness=0, contrast=0, saturation=0, hue=0
        ),
    )
    result = train(index, out_dir=root / "run", config=config, recipe=recipe, progress=False)
    return TinyRun(root / "ds", scenes, result.last, result.history)
