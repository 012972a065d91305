"""Ship a trained run: export its best epoch as fp16, score it, write ``MODEL_CARD.md``.

One command, run from the repository root after ``wastemap train`` finished::

    python -m models.card runs/NAME --name wastemap-frcnn-shufflenet-YYYY-MM-DD \\
        --eval-data ../shared/datasets/trash-filter/valid --format yolo

writes ``models/weights/NAME.pt`` (fp16, no optimizer state) and ``models/weights/MODEL_CARD.md``
with the data and backbone attributions, the config of the five modules, the training commands,
time and hardware, and per-class AP@.5 measured by the same code as ``wastemap eval``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from models.checkpoint import export_checkpoint, load_checkpoint
from models.evaluation import SHARE_HEADINGS, shares_as_percent
from models.inference import WEIGHTS_DIR, Detector, file_sha256

DATA_ATTRIBUTION = (
    'Trained on "Trash-Filter" v4 from Roboflow Universe (object-detection/trash-filter, exported '
    "2022-07-26), licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). The model "
    "is a derived work of that dataset and carries this attribution."
)
BACKBONE_ATTRIBUTION = (
    "The backbone starts from the ShuffleNetV2 0.5x weights published in the FastestDet project "
    "(BSD 3-Clause licence, copyright (c) 2022 xuehao.ma), in the layout of Megvii's original "
    "ShuffleNetV2 implementation. Redistributions of this model keep this notice."
)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _table(rows: list[tuple[str, str]], head: tuple[str, str]) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def _row(cells: list[str]) -> str:
    """One Markdown table row, with its line end."""
    return f"| {' | '.join(cells)} |\n"


def _fmt(v: float | None) -> str:
    return "n/a (no box of this class in the data)" if v is None else f"{v:.3f}"


def render_card(
    data: dict[str, Any],
    *,
    file: Path,
    metrics: dict[str, Any],
    eval_command: str,
    history: list[dict[str, Any]],
    commands: list[str],
    notes: str = "",
    also_measured: list[tuple[str, str, dict[str, Any]]] | None = None,
    limitations: list[str] | None = None,
) -> str:
    """The Markdown of ``MODEL_CARD.md`` for the exported checkpoint ``data`` at ``file``."""
    config = data["config"]
    recipe = data["recipe"]
    train_s = sum(h.get("train_s", 0.0) for h in history)
    parts = {
        "High-Performance Feature Map Generator": config["feature_map_generator"],
        "Candidate Object Locator": config["candidate_object_locator"],
        "Foreground-Background Classification Score": config["foreground_background_score"],
        "Regression-Based Proposal Selector": config["regression_proposal_selector"],
        "Object Localization": config["object_localization"],
    }
    per_class = [(n, _fmt(metrics["per_class"].get(n))) for n in data["class_names"]]
    per_category = [(n, _fmt(v)) for n, v in metrics["per_category"].items()]
    shipped = data["metrics"].get("epoch")
    epochs = [
        (
            f"{h['epoch']} (shipped)" if h["epoch"] == shipped else str(h["epoch"]),
            f"loss {h['loss']:.3f}, mAP@.5 {h.get('map50', float('nan')):.3f}, "
            f"mAP {h.get('map', float('nan')):.3f}, {h.get('train_s', 0) / 60:.0f} min",
        )
        for h in history
    ]
    taxonomy = [(k, v) for k, v in data["taxonomy"].items()]
    threads = recipe.get("num_threads")
    thread_text = f"{threads} torch thread{'s' if threads != 1 else ''}" if threads else "all cores"
    also = "".join(
        f"| {label} | `{path}` | {m['num_images']} | {m['num_boxes']} | {m['map50']:.3f} | "
        f"{m['map']:.3f} |\n"
        for label, path, m in also_measured or []
    )
    also_section = (
        "\nAlso measured with the same code (`wastemap eval --data DIR --format yolo --json`):\n\n"
        "| data | folder | images | boxes | mAP@.5 | mAP |\n|---|---|---|---|---|---|\n" + also
        if also
        else ""
    )
    points = [
        (label, point)
        for label, m in [("`valid`", metrics), *((a, m) for a, _, m in also_measured or [])]
        for point in m.get("at_score", [])
    ]
    points_section = (
        "\nWhat the detections above a score are worth (`wastemap eval --at-score S`; litter "
        "sites are made from those scoring at least `WASTEMAP_SITE_MIN_SCORE`, 0.2 by default): "
        "precision is the share of the detections matched to an object (IoU 0.5, one detection "
        "per object: a second box on it is a false alarm), recall the share of the objects "
        "found; with the class, and whatever the class; *on an object* is the share of the "
        "detections overlapping some object, duplicates included (is there litter where the "
        "box is).\n\n"
        + _row(["data", "score >=", "detections", "objects", *SHARE_HEADINGS.values()])
        + _row(["---"] * (4 + len(SHARE_HEADINGS)))
        + "".join(
            _row(
                [
                    label,
                    f"{p['score']:g}",
                    str(p["detections"]),
                    str(p["objects"]),
                    *shares_as_percent(p),
                ]
            )
            for label, p in points
        )
        if points
        else ""
    )
    if history and shipped == history[-1]["epoch"]:
        epoch_text = (
            f"{shipped} of {len(history)}, the last (the schedule's end, not picked on `valid`)"
        )
    else:
        epoch_text = f"{shipped} (the best mAP@.5 on `valid`, the set it is also measured on)"
    extra_limits = "".join(f"- {text}\n" for text in limitations or [])
    absent = [n for n in data["class_names"] if metrics["per_class"].get(n) is None]
    unmeasured = (
        f"{', '.join(f'`{n}`' for n in absent)} have no boxes in the evaluation data, so their "
        "accuracy is unmeasured here."
        if absent
        else "Every class has boxes in the evaluation data, but few: read per-class AP loosely."
    )
    out = f"""# {file.stem}: WasteMap's litter detector

Faster R-CNN (torchvision's, configured, never re-implemented) on a ShuffleNetV2 0.5x + FPN
backbone, trained on real photos of litter. The default model of every `wastemap` command and of
`models.inference.Detector.load()`.

| | |
|---|---|
| file | `models/weights/{file.name}` ({file.stat().st_size / 1e6:.1f} MB, fp16 weights) |
| sha256 | `{file_sha256(file)}` |
| classes | {", ".join(data["class_names"])} |
| mAP@.5 on `valid` | **{metrics["map50"]:.3f}** (mAP@[.5:.95] {metrics["map"]:.3f}) |
| epoch shipped | {epoch_text} |

## Data

{DATA_ATTRIBUTION}

- train: `{data["data"]["path"]}`, {data["data"]["images"]} images, sha256
  `{data["data"]["sha256"]}`; boxes per class: {json.dumps(data["data"]["boxes_per_class"])}
- measured on `valid` ({metrics["num_images"]} images, {metrics["num_boxes"]} boxes; only the
  classes listed with a number below have boxes there, so the mean is over those classes and a
  50-image set makes every figure noisy: one box is about 3% of the AP of its class)

## Pretrained backbone

{BACKBONE_ATTRIBUTION} File used: `{
        data.get("metadata", {}).get("backbone_weights") or "fastestdet_shufflenet_v2_x0_5_coco.pth"
    }` (its `backbone.` keys, loaded with `strict=True`).

## Taxonomy

{_table(taxonomy, ("class", "platform category"))}

## Config (the paper's five modules)

{_table([(k, "`" + json.dumps(v) + "`") for k, v in parts.items()], ("module", "settings"))}

## Training

Recipe: `{json.dumps({k: v for k, v in recipe.items() if k != "augment"})}`;
augmentation: `{json.dumps(recipe["augment"])}`.

Commands, from the repository root (`../shared` beside it):

```
{chr(10).join(commands)}
```

{notes}

Time and hardware: {train_s / 3600:.2f} h of training ({len(history)} epochs, plus about a
minute of evaluation on `valid` per epoch) on {os.cpu_count()} cores of an {_cpu()} CPU,
{thread_text}, no GPU.

{_table(epochs, ("epoch", "after the epoch"))}

## Metrics

Measured by

```
{eval_command}
```

(faster-coco-eval, COCO bbox metrics, detections above score 0.01):

{_table(per_class, ("class", "AP@.5"))}

{_table(per_category, ("category", "AP@.5"))}
{also_section}{points_section}
## Limitations

{extra_limits}- {unmeasured}
- The accuracy is below what a GPU-length schedule would reach: the whole run had a few CPU hours.
"""
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="run folder from `wastemap train` (best.pt)")
    parser.add_argument("--name", required=True, help="file stem, e.g. wastemap-frcnn-...-DATE")
    parser.add_argument("--eval-data", type=Path, required=True)
    parser.add_argument("--format", default="yolo")
    parser.add_argument(
        "--checkpoint",
        default="best.pt",
        help="file in RUN to ship: best.pt (best mAP@.5 on the validation data) or last.pt",
    )
    parser.add_argument("--command", action="append", default=[], help="training command(s)")
    parser.add_argument("--notes", default="", help="extra paragraph for the training section")
    parser.add_argument(
        "--also-eval",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="another dataset (--format) to measure and list in the card; repeat",
    )
    parser.add_argument("--limitation", action="append", default=[], help="a limitation; repeat")
    parser.add_argument(
        "--at-score",
        type=float,
        action="append",
        default=None,
        help="score threshold(s) to give precision and recall at (default 0.2, the default "
        "WASTEMAP_SITE_MIN_SCORE); repeat",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="where to write")
    args = parser.parse_args()
    extra_sets = []
    for item in args.also_eval:
        label, sep, folder = item.partition("=")
        if not sep or not label or not folder:
            parser.error(f"--also-eval {item!r}: give LABEL=DIR")
        extra_sets.append((label, folder))

    from models.datasets import DetectionDataset, read_dataset
    from models.evaluation import evaluate_model
    from models.transforms import eval_transforms

    source = args.run / args.checkpoint
    history = load_checkpoint(args.run / "last.pt")["training"]["history"]
    target = export_checkpoint(source, args.weights_dir / f"{args.name}.pt")
    detector = Detector.load(target, num_threads=args.threads)

    def measure(folder: Path) -> dict[str, Any]:
        return evaluate_model(
            detector.model,
            DetectionDataset(read_dataset(folder, args.format), eval_transforms()),
            model_classes=detector.class_names,
            at_scores=args.at_score or [0.2],
        ).to_dict()

    metrics = measure(args.eval_data)
    also_measured = [(label, folder, measure(Path(folder))) for label, folder in extra_sets]
    data = load_checkpoint(target)
    commands = args.command or [data.get("metadata", {}).get("command", "(unknown)")]
    eval_command = f"wastemap eval --data {args.eval_data} --format {args.format} --json"
    card = render_card(
        data,
        file=target,
        metrics=metrics,
        eval_command=eval_command,
        history=history,
        commands=commands,
        notes=args.notes,
        also_measured=also_measured,
        limitations=args.limitation,
    )
    (args.weights_dir / "MODEL_CARD.md").write_text(card)
    also = {label: m for label, _, m in also_measured}
    print(json.dumps({"shipped": str(target), "metrics": metrics, "also": also}, indent=2))


if __name__ == "__main__":
    main()
