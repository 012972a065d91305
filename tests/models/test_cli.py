"""``wastemap train | eval | detect`` through Typer's CliRunner on the real app."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from tests.models.scenes import draw_scenes, tiny_config_dict, write_yolo

runner = CliRunner()


def _stdout(result) -> str:
    return getattr(result, "stdout", result.output)


def test_train_then_resume(tmp_path):
    root = write_yolo(tmp_path / "ds", draw_scenes(tmp_path / "ds" / "images", 4))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict()))
    run = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(root),
        "--format",
        "yolo",
        "--out",
        str(run),
        "--config",
        str(config),
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--no-progress",
        "--val",
        str(root),
    ]
    first = runner.invoke(app, [*args, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    assert "last checkpoint" in _stdout(first)
    second = runner.invoke(app, [*args, "--epochs", "2", "--resume"])
    assert second.exit_code == 0, second.output
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert {"map", "map50", "per_class"} <= set(lines[1])
    assert "resuming" in (run / "train.log").read_text()
    assert (run / "best.pt").is_file()


def test_train_bad_annotation_names_file_and_line(tmp_path):
    root = write_yolo(tmp_path / "ds", draw_scenes(tmp_path / "ds" / "images", 2))
    (root / "labels" / "scene000.txt").write_text("0 0.5 0.5 0 0.1\n")
    result = runner.invoke(app, ["train", "--data", str(root), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "scene000.txt:1: zero-area box" in result.output and "--skip-bad" in result.output


def test_eval_json_and_plots(tiny_run, tmp_path):
    result = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(tiny_run.data),
            "--format",
            "yolo",
            "--model",
            str(tiny_run.checkpoint),
            "--json",
            "--plots",
            str(tmp_path / "plots"),
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(_stdout(result))
    assert {"map", "map50", "per_class", "per_category"} <= set(payload)
    assert payload["map50"] > 0.9
    assert set(payload["per_class"]) == {"plastic", "metal"}
    assert payload["per_category"]["plastic"] > 0.9 and payload["per_category"]["glass"] is None
    assert (tmp_path / "plots" / "pr_curve_class.png").is_file()
    # what the detections litter sites are made from are worth (WASTEMAP_SITE_MIN_SCORE, 0.2)
    (point,) = payload["at_score"]
    assert point["score"] == 0.2 and point["objects"] == payload["num_boxes"]
    assert point["recall"] > 0.8 and point["precision_any_class"] >= point["precision"] > 0.5

    several = runner.invoke(
        app,
        [
            *("eval", "--data", str(tiny_run.data), "--model", str(tiny_run.checkpoint)),
            *("--at-score", "0.5", "--at-score", "0.9", "--threads", "1", "--json"),
        ],
    )
    assert several.exit_code == 0, several.output
    half, most = json.loads(_stdout(several))["at_score"]
    assert (half["score"], most["score"]) == (0.5, 0.9)
    assert most["detections"] <= half["detections"] and most["recall"] <= half["recall"]


def test_eval_other_names_with_class_map(tiny_run, tmp_path):
    """A dataset whose names the model lacks is scored per category through --class-map."""
    scenes = draw_scenes(tmp_path / "ds" / "images", 4, seed=0)
    root = write_yolo(tmp_path / "ds", scenes, names=("Red thing", "Blue thing"))
    base = [
        "eval",
        "--data",
        str(root),
        "--model",
        str(tiny_run.checkpoint),
        "--json",
        "--threads",
        "1",
    ]
    unknown = runner.invoke(app, base)
    assert unknown.exit_code == 2 and "--class-map" in unknown.output
    mapped = runner.invoke(
        app, [*base, "--class-map", "Red thing=plastic", "--class-map", "Blue thing=metal"]
    )
    assert mapped.exit_code == 0, mapped.output
    payload = json.loads(_stdout(mapped))
    assert payload["level"] == "category" and payload["map50"] > 0.8


def test_detect_json_drawing_and_explain(tiny_run, tmp_path):
    image = tiny_run.data / "images" / tiny_run.scenes[0].name
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "detect",
            str(image),
            "--model",
            str(tiny_run.checkpoint),
            "--out",
            str(out),
            "--json",
            "--explain",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(_stdout(result))
    assert payload["image"] == str(image)
    labels = sorted(d["label"] for d in payload["detections"] if d["score"] > 0.5)
    assert labels == ["metal", "plastic"]
    for d in payload["detections"]:
        assert set(d) == {"box", "label", "category", "score"} and len(d["box"]) == 4
    assert (out / "scene000.detections.png").is_file()
    assert (out / "scene000.explain.png").stat().st_size > 10_000


def test_detect_missing_model_says_what_to_do(tmp_path, tiny_run):
    image = tiny_run.data / "images" / tiny_run.scenes[0].name
    result = runner.invoke(app, ["detect", str(image), "--model", str(tmp_path / "nope.pt")])
    assert result.exit_code == 2
    assert "nope.pt" in result.output and "wastemap train" in result.output


def test_detect_missing_model_from_the_settings_names_it(tmp_path, tiny_run, monkeypatch):
    image = tiny_run.data / "images" / tiny_run.scenes[0].name
    monkeypatch.setenv("WASTEMAP_MODEL_PATH", str(tmp_path / "configured.pt"))
    result = runner.invoke(app, ["detect", str(image)])
    assert result.exit_code == 2
    assert "configured.pt" in result.output and "wastemap train" in result.output


def test_detect_runs_the_model_in_the_settings(tiny_run, monkeypatch):
    image = tiny_run.data / "images" / tiny_run.scenes[0].name
    monkeypatch.setenv("WASTEMAP_MODEL_PATH", str(tiny_run.checkpoint))
    monkeypatch.setenv("WASTEMAP_NUM_THREADS", "1")
    result = runner.invoke(app, ["detect", str(image), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(_stdout(result))
    assert payload["model"].startswith(f"{tiny_run.checkpoint.stem}-")
    assert sorted(d["label"] for d in payload["detections"] if d["score"] > 0.5) == [
        "metal",
        "plastic",
    ]


def test_detect_json_is_one_object_per_image_per_line(tiny_run):
    images = [tiny_run.data / "images" / s.name for s in tiny_run.scenes[:3]]
    args = ["--model", str(tiny_run.checkpoint), "--threads", "1", "--json"]
    one = runner.invoke(app, ["detect", str(images[0]), *args])
    several = runner.invoke(app, ["detect", *map(str, images), *args])
    assert one.exit_code == 0 and several.exit_code == 0, one.output + several.output
    one_lines = _stdout(one).strip().splitlines()
    lines = [json.loads(line) for line in _stdout(several).strip().splitlines()]
    assert len(one_lines) == 1 and json.loads(one_lines[0])["image"] == str(images[0])
    assert [r["image"] for r in lines] == [str(p) for p in images]
    assert lines[0]["detections"] == json.loads(one_lines[0])["detections"]


@pytest.mark.parametrize("command", ["detect", "eval"])
def test_detector_options_default_to_the_settings(command, tiny_run, tmp_path, monkeypatch):
    """--model, --device and --threads come from WASTEMAP_MODEL_PATH, WASTEMAP_DEVICE and
    WASTEMAP_NUM_THREADS, as for ingest and the workers; an explicit option still wins."""
    from models.errors import CheckpointError
    from models.inference import Detector

    loads = []

    def fake_load(path=None, *, device="cpu", num_threads=None):
        loads.append((path, device, num_threads))
        raise CheckpointError("stop here")

    monkeypatch.setattr(Detector, "load", fake_load)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # WASTEMAP_DEVICE=cuda is checked
    monkeypatch.setenv("WASTEMAP_MODEL_PATH", str(tmp_path / "configured.pt"))
    monkeypatch.setenv("WASTEMAP_DEVICE", "cuda")
    monkeypatch.setenv("WASTEMAP_NUM_THREADS", "3")
    image = tiny_run.data / "images" / tiny_run.scenes[0].name
    base = ["detect", str(image)] if command == "detect" else ["eval", "--data", str(tiny_run.data)]
    explicit = ["--model", str(tmp_path / "given.pt"), "--device", "cpu", "--threads", "1"]
    for args in (base, [*base, *explicit]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "stop here" in result.output
    assert loads == [(tmp_path / "configured.pt", "cuda", 3), (tmp_path / "given.pt", "cpu", 1)]


@pytest.mark.parametrize("command", ["train", "eval", "detect"])
def test_commands_are_registered(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and command in result.output
