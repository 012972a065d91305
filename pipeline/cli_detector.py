"""``wastemap train | eval | detect``: the detector's commands (thin wrappers over ``models``)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from models.errors import (
    AnnotationError,
    BackboneWeightsError,
    CheckpointError,
    DatasetLayoutError,
    DeviceError,
    ModelNotFoundError,
    UnknownCategoryError,
    UnknownLabelError,
    WeightsUnavailableError,
)

USER_ERRORS = (
    AnnotationError,
    BackboneWeightsError,
    CheckpointError,
    DatasetLayoutError,
    DeviceError,
    ModelNotFoundError,
    UnknownCategoryError,
    UnknownLabelError,
    WeightsUnavailableError,
)

DataOpt = Annotated[Path, typer.Option("--data", help="Dataset folder (or COCO json file).")]
FormatOpt = Annotated[str, typer.Option("--format", help="coco | yolo | voc")]
ClassMapOpt = Annotated[
    list[str] | None,
    typer.Option("--class-map", help="NAME=CATEGORY for labels the taxonomy table lacks; repeat."),
]
SkipBadOpt = Annotated[
    bool, typer.Option("--skip-bad", help="Skip bad annotations with a warning instead of failing.")
]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu | cuda")]
# eval and detect run the detector as ingest, the workers and the dashboard do: unset options
# come from the WASTEMAP_MODEL_PATH, WASTEMAP_DEVICE and WASTEMAP_NUM_THREADS settings.
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", help="Checkpoint (default: WASTEMAP_MODEL_PATH, else the shipped model)."
    ),
]
DetectDeviceOpt = Annotated[
    str | None, typer.Option("--device", help="cpu | cuda (default: WASTEMAP_DEVICE, else cpu).")
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(help="torch CPU threads (default: WASTEMAP_NUM_THREADS, else all cores)."),
]


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


def _detector_options(
    model: Path | None, device: str | None, threads: int | None
) -> tuple[Path | None, str, int | None]:
    """The checkpoint, device and torch threads to run: each option, else its setting.

    The device is checked here (:class:`~models.errors.DeviceError` names the option or setting).
    """
    from models.detector import check_device
    from pipeline._cli_common import settings

    cfg = settings()
    name = "--device"
    if device is None:
        device, name = cfg.device, "WASTEMAP_DEVICE"
    check_device(device, name=name)
    return (
        model if model is not None else cfg.model_path,
        device,
        threads if threads is not None else cfg.num_threads,
    )


def _check_format(format: str) -> str:
    from models.datasets import FORMATS

    return _check_choice(format, FORMATS, "--format")


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> str:
    if value not in choices:
        raise typer.BadParameter(
            f"{value!r}: choose one of {', '.join(choices)}", param_hint=option
        )
    return value


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give comma-separated pixel sizes, e.g. 576,608,640"
        ) from None
    if not sizes:
        raise typer.BadParameter("give at least one size")
    return sizes


def train(
    data: Annotated[
        list[Path],
        typer.Option(
            "--data",
            help="Dataset folder (or COCO json file); repeat to train on several together "
            "(e.g. real photos + rendered scenes), all in --format with the same class names.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Run folder: checkpoints, metrics, log.")],
    format: FormatOpt = "yolo",
    epochs: Annotated[
        int | None,
        typer.Option(help="Epochs (default 24; with --resume: the new total, default unchanged)."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue RUN_DIR/last.pt.")] = False,
    device: DeviceOpt = "cpu",
    val: Annotated[
        Path | None, typer.Option("--val", help="Validation data (same format), scored each epoch.")
    ] = None,
    backbone: Annotated[
        str, typer.Option(help="shufflenet_v2_x0_5_fpn | mobilenet_v3_large_fpn | resnet50_fpn")
    ] = "shufflenet_v2_x0_5_fpn",
    backbone_weights: Annotated[
        str | None,
        typer.Option(
            "--backbone-weights",
            help="ShuffleNet: a Megvii-layout .pth (../shared/weights); torchvision: 'imagenet'.",
        ),
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="'coco': torchvision's COCO detector (needs internet once).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML/JSON detector config (the five modules).")
    ] = None,
    input_size: Annotated[int, typer.Option(help="Shorter side at inference, px.")] = 640,
    train_sizes: Annotated[
        str | None, typer.Option(help="Comma-separated training sizes (multi-scale), px.")
    ] = None,
    fpn_channels: Annotated[int, typer.Option(help="FPN channels (ShuffleNet).")] = 128,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 4,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 0.01,
    optimizer: Annotated[str, typer.Option(help="sgd | adamw")] = "sgd",
    warmup_iters: Annotated[int, typer.Option(help="Linear warm-up steps.")] = 300,
    weight_decay: Annotated[float, typer.Option(help="Weight decay (not on biases/norms).")] = 1e-4,
    vflip: Annotated[
        float, typer.Option(help="Probability of a top-bottom flip (photos taken from above).")
    ] = 0.0,
    rot90: Annotated[float, typer.Option(help="Probability of a quarter turn.")] = 0.0,
    repeat_factor: Annotated[
        float, typer.Option(help="LVIS repeat-factor threshold for rare classes (0 = off).")
    ] = 0.0,
    ema_decay: Annotated[
        float,
        typer.Option(
            "--ema-decay",
            help="Evaluate and ship a moving average of the weights (e.g. 0.999; 0 = off; "
            "--resume keeps the run's).",
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    workers: Annotated[int, typer.Option(help="Data-loading worker processes.")] = 0,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: all).")] = None,
    max_images_per_epoch: Annotated[
        int | None, typer.Option(help="Use only this many images per epoch (quick trials).")
    ] = None,
    class_map: ClassMapOpt = None,
    skip_bad: SkipBadOpt = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    init_weights: Annotated[
        Path | None,
        typer.Option(
            "--init-weights",
            help="Start from this checkpoint's weights and config (a new fine-tuning stage).",
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="At the end, write best.pt as a small fp16 file here."),
    ] = None,
) -> None:
    """Train the detector; checkpoint every epoch to RUN_DIR (last.pt resumable, best.pt)."""
    from models.config import BACKBONES, DetectorConfig
    from models.datasets import merge_datasets, read_dataset
    from models.detector import check_device, default_config
    from models.taxonomy import parse_class_map
    from models.training import TrainConfig
    from models.training import train as run_training
    from models.transforms import AugmentConfig

    _check_format(format)
    _check_choice(backbone, BACKBONES, "--backbone")
    try:
        check_device(device, name="--device")
        mapping = parse_class_map(class_map or [])
        train_index = merge_datasets([read_dataset(d, format, skip_bad=skip_bad) for d in data])
        val_index = (
            read_dataset(val, format, class_names=train_index.class_names, skip_bad=skip_bad)
            if val is not None
            else None
        )
        sizes = _sizes(train_sizes) if train_sizes else (input_size,)
        if config is not None:
            detector_config = DetectorConfig.from_dict(_read_config(config))
            detector_config = detector_config.with_classes(train_index.class_names)
        else:
            detector_config = default_config(
                train_index.class_names,
                backbone=backbone,
                train_sizes_px=sizes,
                test_size_px=input_size,
                fpn_channels=fpn_channels,
            )
        recipe = TrainConfig(
            epochs=epochs or 24,
            batch_size=batch_size,
            optimizer=optimizer,
            lr=lr,
            warmup_iters=warmup_iters,
            weight_decay=weight_decay,
            augment=AugmentConfig(vflip=vflip, rot90=rot90),
            seed=seed,
            num_workers=workers,
            num_threads=threads,
            device=device,
            repeat_factor_threshold=repeat_factor,
            max_images_per_epoch=max_images_per_epoch,
            ema_decay=ema_decay,
        )
        command = "wastemap " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        result = run_training(
            train_index,
            out_dir=out,
            config=detector_config,
            recipe=recipe,
            val_index=val_index,
            weights=weights,
            weights_backbone=backbone_weights,
            class_map=mapping,
            resume=resume,
            resume_epochs=epochs,
            init_weights=init_weights,
            progress=progress,
            metadata={
                "command": command,
                "backbone_weights": Path(backbone_weights).name if backbone_weights else None,
            },
            on_epoch=lambda r: typer.echo(
                json.dumps({k: v for k, v in r.items() if k != "per_class"}), err=True
            ),
        )
    except (*USER_ERRORS, ValueError) as exc:
        raise _fail(exc) from exc
    typer.echo(f"last checkpoint: {result.last}")
    if result.best is not None:
        typer.echo(f"best checkpoint: {result.best}")
        if export is not None:
            from models.checkpoint import export_checkpoint

            typer.echo(f"exported (fp16): {export_checkpoint(result.best, export)}")


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of the five modules' settings")
    return data


def evaluate(
    data: DataOpt,
    format: FormatOpt = "yolo",
    model: ModelOpt = None,
    class_map: ClassMapOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Write precision-recall curves (PNG) here.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 4,
    score_threshold: Annotated[
        float, typer.Option(help="Keep detections above this score (low = full PR curve).")
    ] = 0.01,
    skip_bad: SkipBadOpt = False,
    device: DetectDeviceOpt = None,
    threads: ThreadsOpt = None,
    at_score: Annotated[
        list[float] | None,
        typer.Option(
            "--at-score",
            help="Also give precision and recall of the detections scoring at least this "
            "(repeat for several; default: WASTEMAP_SITE_MIN_SCORE, what litter sites use).",
        ),
    ] = None,
) -> None:
    """Score a checkpoint on a dataset with COCO metrics (faster-coco-eval), and say what the
    detections above a score threshold are worth (precision and recall at IoU 0.5)."""
    from models.datasets import DetectionDataset, read_dataset
    from models.evaluation import evaluate_model, plot_pr_curves
    from models.inference import Detector
    from models.taxonomy import parse_class_map
    from models.transforms import eval_transforms
    from pipeline._cli_common import settings

    _check_format(format)
    try:
        model, device, threads = _detector_options(model, device, threads)
        mapping = parse_class_map(class_map or [])
        scores = at_score or [settings().site_min_score]
        if any(not 0.0 <= t <= 1.0 for t in scores):
            raise ValueError(f"--at-score {scores}: scores lie between 0 and 1")
        detector = Detector.load(model, device=device, num_threads=threads)
        index = read_dataset(data, format, skip_bad=skip_bad)
        result = evaluate_model(
            detector.model,
            DetectionDataset(index, eval_transforms()),
            model_classes=detector.class_names,
            class_map=mapping,
            batch_size=batch_size,
            device=device,
            score_threshold=score_threshold,
            at_scores=scores,
        )
    except (*USER_ERRORS, ValueError) as exc:
        raise _fail(exc) from exc
    payload = {**result.to_dict(), "model": detector.model_version, "data": str(data)}
    if plots is not None:
        payload["plots"] = [str(p) for p in plot_pr_curves(result, plots)]
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_eval(payload)


def _print_eval(payload: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from models.evaluation import SHARE_HEADINGS, shares_as_percent

    console = Console()
    console.print(
        f"[bold]{payload['model']}[/] on {payload['data']}: {payload['num_images']} images, "
        f"{payload['num_boxes']} boxes; mAP {payload['map']:.3f}, mAP@.5 {payload['map50']:.3f} "
        f"({payload['level']} level)"
    )
    for key in ("per_class", "per_category"):
        table = Table(key.replace("_", " "), "AP@.5")
        for name, ap in payload[key].items():
            table.add_row(name, "-" if ap is None else f"{ap:.3f}")
        console.print(table)
    table = Table("score >=", "detections", *SHARE_HEADINGS.values())
    for point in payload["at_score"]:
        table.add_row(f"{point['score']:g}", str(point["detections"]), *shares_as_percent(point))
    console.print(table)
    for plot in payload.get("plots", []):
        console.print(f"plot: {plot}")


def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    model: ModelOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write each image with its boxes drawn here.")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print JSON Lines: one object per image on its own line, however many images.",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Also draw anchors, proposals, what NMS kept and the final boxes."
        ),
    ] = False,
    score_threshold: Annotated[
        float | None, typer.Option(help="Override the model's score threshold.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 4,
    device: DetectDeviceOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Detect litter in images; draw the boxes and print JSON."""
    from PIL import UnidentifiedImageError

    from models.inference import Detector

    _check_detect_paths(images, out)
    try:
        model, device, threads = _detector_options(model, device, threads)
        detector = Detector.load(model, device=device, num_threads=threads)
        if score_threshold is not None:
            detector = detector.with_score_threshold(score_threshold)
        results = detector.detect_paths(images, batch_size=batch_size)
    except UnidentifiedImageError as exc:
        raise _fail(
            ValueError(f"{exc}: it is not an image PIL can read; give JPEG, PNG or HEIC photos")
        ) from exc
    except (*USER_ERRORS, ValueError, OSError) as exc:
        raise _fail(exc) from exc
    if explain and out is None:
        raise _fail(ValueError("--explain needs --out DIR to write its drawings into"))
    records = [
        _detect_record(detector, path, detections, out=out, explain=explain)
        for path, detections in zip(images, results, strict=True)
    ]
    if as_json:
        # the same shape for one image or many: a JSON object per line (JSON Lines)
        for record in records:
            typer.echo(json.dumps(record))
        return
    for record in records:
        typer.echo(f"{record['image']}: {len(record['detections'])} detections")
        for d in record["detections"]:
            box = ", ".join(f"{v:.0f}" for v in d["box"])
            typer.echo(f"  {d['label']:<10} {d['category']:<9} {d['score']:.2f}  [{box}]")
        for key in ("drawn", "explain"):
            if key in record:
                typer.echo(f"  {key}: {record[key]}")


def _check_detect_paths(images: list[Path], out: Path | None) -> None:
    """Fail before loading the model when an image is a folder or missing, or --out is a file."""
    folders = [str(p) for p in images if p.is_dir()]
    if folders:
        raise _fail(
            IsADirectoryError(
                f"{', '.join(folders)} {'is a folder' if len(folders) == 1 else 'are folders'}; "
                f"give image files, e.g. {Path(folders[0]) / '*.jpg'}"
            )
        )
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        raise _fail(FileNotFoundError(f"image not found: {', '.join(missing)}"))
    if out is not None and out.exists() and not out.is_dir():
        raise _fail(FileExistsError(f"--out {out} is a file; give a folder for the drawn images"))


def _detect_record(
    detector: Any, path: Path, detections: list[Any], *, out: Path | None, explain: bool
) -> dict[str, Any]:
    from models.explain import draw_detections, explain_image

    record: dict[str, Any] = {
        "image": str(path),
        "model": detector.model_version,
        "detections": [d.to_dict() for d in detections],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        record["drawn"] = str(
            draw_detections(path, detections, out / f"{path.stem}.detections.png")
        )
        if explain:
            record["explain"] = str(explain_image(detector, path, out / f"{path.stem}.explain.png"))
    return record


def register(app: typer.Typer) -> None:
    """Add the detector commands to ``app``."""
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("detect")(detect)
