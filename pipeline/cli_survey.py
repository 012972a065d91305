"""``wastemap survey``: SIMULATED sample surveys (see :mod:`pipeline.simulate`).

``wastemap survey simulate OUT_DIR`` renders a simulated drive through central Helsinki: JPEGs
with EXIF GPS and time, the litter drawn in them as a YOLO dataset, and ``ground_truth.json``.
Everything it writes, and everything it prints, says that the data is SIMULATED.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeline._cli_common import err_console, fail

if TYPE_CHECKING:
    from rich.progress import Progress

survey_app = typer.Typer(
    name="survey",
    help="SIMULATED sample surveys: rendered drives through real Helsinki streets.",
    no_args_is_help=True,
)

BANNER = (
    "[bold yellow]SIMULATED DATA[/]: rendered images of a virtual drive along real streets of "
    "central Helsinki, with drawn litter. Not photographs; for demos, tests and training."
)


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise fail(
            f"--start {text!r} is not an ISO 8601 time; use e.g. 2024-05-14T09:30:00+03:00"
        ) from None
    if start.tzinfo is None:
        raise fail(f"--start {text!r} has no UTC offset; add one, e.g. {text}+03:00")
    return start


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise fail(f"--size {text!r} is not WIDTHxHEIGHT; use e.g. 1280x720") from None
    return w, h


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


@survey_app.command("simulate")
def simulate(
    out_dir: Path = typer.Argument(..., help="Folder to write the simulated survey to."),
    frames: int = typer.Option(40, "--frames", min=1, help="Frames in the drive."),
    spacing_m: float = typer.Option(
        10.0, "--spacing-m", min=0.1, help="Metres driven between frames."
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same survey (byte for byte)."),
    closeups: int = typer.Option(
        0, "--closeups", min=0, help="Also render this many 416x416 litter close-ups."
    ),
    start: str | None = typer.Option(
        None, "--start", help="Capture time of the first frame, ISO 8601 with UTC offset."
    ),
    size: str = typer.Option("1280x720", "--size", help="Frame size, WIDTHxHEIGHT pixels."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Render a SIMULATED survey drive (JPEG + EXIF GPS/time, YOLO labels, ground truth)."""
    from pipeline.simulate import DEFAULT_START, build_sample_survey, render_litter_closeups

    begin = _parse_start(start) or DEFAULT_START
    width, height = _parse_size(size)
    err_console.print(BANNER)
    try:
        with _progress() as bar:
            task = bar.add_task("rendering SIMULATED frames", total=frames)
            survey = build_sample_survey(
                out_dir,
                frames=frames,
                spacing_m=spacing_m,
                seed=seed,
                start=begin,
                size=(width, height),
                progress=lambda done, _total: bar.update(task, completed=done),
            )
            closeup_set = None
            if closeups:
                task = bar.add_task("rendering SIMULATED close-ups", total=closeups)
                closeup_set = render_litter_closeups(
                    out_dir / "closeups",
                    n=closeups,
                    seed=seed,
                    progress=lambda done, _total: bar.update(task, completed=done),
                )
    except ValueError as exc:  # bad arguments or an unusable road network
        raise fail(str(exc)) from None
    streets = []
    for f in survey.frames:
        if f.street and (not streets or streets[-1] != f.street):
            streets.append(f.street)
    summary = {
        "simulated": True,
        "frames": len(survey.frames),
        "boxes": survey.boxes,
        "distance_m": round(survey.route_length_m, 1),
        "streets": streets,
        "images": str(survey.images_dir),
        "labels": str(survey.labels_dir),
        "data_yaml": str(survey.data_yaml),
        "ground_truth": str(survey.ground_truth_json),
        "closeups": len(closeup_set.images) if closeup_set else 0,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    err_console.print(
        f"SIMULATED survey: {summary['frames']} frames over {summary['distance_m']:.0f} m of "
        f"{', '.join(streets) or 'Helsinki streets'}; {summary['boxes']} litter objects drawn"
    )
    err_console.print(f"images (EXIF GPS + time): {survey.images_dir}")
    err_console.print(f"YOLO dataset: {survey.data_yaml}; ground truth: {survey.ground_truth_json}")
    if closeup_set:
        err_console.print(
            f"SIMULATED close-ups: {len(closeup_set.images)} in {closeup_set.images_dir}"
        )
    err_console.print(f"ingest it with: wastemap ingest {survey.images_dir}")


def register(app: typer.Typer) -> None:
    app.add_typer(survey_app, name="survey")
