"""``python -m models.card``: export a run's best epoch and write its MODEL_CARD.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from models.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def test_card_exports_scores_and_lists_extra_evaluations(tiny_run, tmp_path):
    run_dir = tiny_run.checkpoint.parent
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "models.card",
            str(run_dir),
            "--name",
            "tiny-model",
            "--eval-data",
            str(tiny_run.data),
            "--also-eval",
            f"the drawn scenes again={tiny_run.data}",
            "--limitation",
            "Knows only red squares and blue discs.",
            "--command",
            "wastemap train --data DS --out RUN",
            "--weights-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    shipped = tmp_path / "tiny-model.pt"
    assert Path(report["shipped"]) == shipped and shipped.is_file()
    assert load_checkpoint(shipped)["model"]  # fp16 export, loadable
    # the extra set is the same data: the same figures, listed in the card's table
    assert report["also"]["the drawn scenes again"]["map50"] == report["metrics"]["map50"]
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert f"**{report['metrics']['map50']:.3f}**" in card
    assert f"| the drawn scenes again | `{tiny_run.data}` | 8 |" in card
    assert "- Knows only red squares and blue discs." in card
    assert "wastemap train --data DS --out RUN" in card
    # without validation data every epoch is the best: the last one ships, and the card says so
    assert "| epoch shipped | 50 of 50, the last (the schedule's end, not picked on" in card
    # what the detections litter sites use are worth, on every set measured
    (point,) = report["metrics"]["at_score"]
    assert point["score"] == 0.2 and point["objects"] == report["metrics"]["num_boxes"]
    row = (
        f"| 0.2 | {point['detections']} | {point['objects']} | {point['precision']:.0%} | "
        f"{point['recall']:.0%} |"
    )
    assert f"| `valid` {row}" in card and f"| the drawn scenes again {row}" in card


def test_card_refuses_an_extra_set_without_a_label(tiny_run, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "models.card",
            str(tiny_run.checkpoint.parent),
            "--name",
            "tiny-model",
            "--eval-data",
            str(tiny_run.data),
            "--also-eval",
            str(tiny_run.data),
            "--weights-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "give LABEL=DIR" in out.stderr
    assert not (tmp_path / "tiny-model.pt").exists()  # refused before writing anything
