"""Mistakes a user can make with ``wastemap train | eval | detect``: one line naming the input at
fault and what to do, exit code 2, never a traceback (the real CLI through Typer's CliRunner)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.models.scenes import draw_scenes, write_yolo

runner = CliRunner()


def _fails(args: list[str], *expected: str) -> str:
    """Run the CLI; it must exit with code 2, no traceback, and say each of ``expected``."""
    result = runner.invoke(app, args)
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # unwrap Typer's panels
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in text
    for part in expected:
        assert part in text, f"{part!r} not in {text!r}"
    return text


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return tmp_path / "images" / draw_scenes(tmp_path / "images", 1)[0].name


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_yolo(tmp_path / "ds", draw_scenes(tmp_path / "ds" / "images", 2))


def _commands(image: Path, data: Path) -> dict[str, list[str]]:
    return {
        "detect": ["detect", str(image)],
        "eval": ["eval", "--data", str(data)],
        "train": ["train", "--data", str(data), "--out", str(data.parent / "run")],
    }


@pytest.mark.parametrize("command", ["detect", "eval", "train"])
def test_device_that_is_not_one(command, image, dataset):
    args = _commands(image, dataset)[command]
    _fails([*args, "--device", "gpu"], "--device 'gpu' is not a device; use cpu or cuda")


@pytest.mark.parametrize("command", ["detect", "eval", "train"])
def test_cuda_without_a_gpu(command, image, dataset, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    args = _commands(image, dataset)[command]
    _fails(
        [*args, "--device", "cuda"],
        "--device cuda: CUDA is not available on this machine; use --device cpu",
    )


def test_device_from_the_settings_is_named(image, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setenv("WASTEMAP_DEVICE", "cuda")
    _fails(["detect", str(image)], "WASTEMAP_DEVICE cuda", "use WASTEMAP_DEVICE=cpu")


def test_detect_out_is_a_file(image, tmp_path):
    out = tmp_path / "somefile.pt"
    out.write_text("x")
    _fails(["detect", str(image), "--out", str(out)], f"--out {out} is a file; give a folder")


def test_detect_a_folder(image):
    _fails(["detect", str(image.parent)], f"{image.parent} is a folder; give image files")


def test_detect_a_file_that_is_not_an_image(tmp_path):
    text = tmp_path / "notimage.jpg"
    text.write_text("hello")
    _fails(
        ["detect", str(text), "--threads", "1"],
        "notimage.jpg",
        "it is not an image PIL can read; give JPEG, PNG or HEIC photos",
    )


def test_train_unknown_backbone_lists_the_valid_ones(dataset):
    args = _commands(dataset, dataset)["train"]
    _fails(
        [*args, "--backbone", "vgg"],
        "--backbone",
        "'vgg'",
        "shufflenet_v2_x0_5_fpn, mobilenet_v3_large_fpn, resnet50_fpn",
    )


@pytest.mark.parametrize("made", [False, True])
def test_train_resume_without_a_run(dataset, tmp_path, made):
    run = tmp_path / "run"
    if made:
        run.mkdir()
    _fails(
        ["train", "--data", str(dataset), "--out", str(run), "--resume"],
        str(run / "last.pt"),
        "drop --resume to start a new run",
    )
    assert run.is_dir() == made  # nothing written


@pytest.mark.parametrize("command", ["train", "eval"])
def test_dataset_without_images(command, dataset, image):
    for picture in (dataset / "images").iterdir():
        picture.unlink()
    for label in (dataset / "labels").iterdir():
        label.unlink()
    args = [*_commands(image, dataset)[command], "--threads", "1"]
    _fails(args, f"{dataset / 'images'} holds no images")


@pytest.mark.parametrize("command", ["train", "eval"])
def test_coco_dataset_without_images(command, image, tmp_path):
    coco = tmp_path / "empty.json"
    coco.write_text('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "can"}]}')
    args = [*_commands(image, coco)[command], "--format", "coco", "--threads", "1"]
    _fails(args, f"{coco} holds no images: give a COCO dataset with its images")


@pytest.mark.parametrize("command", ["detect", "eval"])
def test_model_that_is_not_a_checkpoint(command, image, dataset, tmp_path):
    model = tmp_path / "notmodel.pt"
    model.write_text("hello world\n")
    text = _fails(
        [*_commands(image, dataset)[command], "--model", str(model)],
        f"{model} is not a WasteMap checkpoint",
        "Pass RUN_DIR/best.pt from `wastemap train` as --model, or leave --model out",
    )
    assert "weights_only" not in text


def test_eval_data_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fails(["eval", "--data", "nope", "--threads", "1"], "nope does not exist")


def test_eval_yolo_without_data_yaml(dataset, tmp_path, monkeypatch):
    (dataset / "data.yaml").unlink()
    monkeypatch.chdir(dataset.parent)
    _fails(
        ["eval", "--data", dataset.name, "--threads", "1"],
        f"no data.yaml with the class names in {dataset.name} or {Path.cwd()}",
        f"add {Path(dataset.name) / 'data.yaml'} with `names: [...]`",
    )


def test_eval_coco_file_that_is_not_json(tmp_path):
    broken = tmp_path / "annotations.json"
    broken.write_text('{"images": [\n  oops\n]}')
    text = _fails(
        ["eval", "--data", str(broken), "--format", "coco", "--threads", "1"],
        f"{broken} is not a COCO JSON file",
        "line 2, column 3",
    )
    assert "--skip-bad" not in text
