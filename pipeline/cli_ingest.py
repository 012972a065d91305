"""``wastemap ingest`` and ``wastemap export``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from analytics.exports import write_points
from db import detections as detection_queries
from db import images as image_queries
from db.engine import transaction
from pipeline._cli_common import database, err_console, reports_errors, settings
from pipeline.ingest import REASONS, IngestOptions, IngestReport, discover, ingest_files
from pipeline.tracks import read_track


@reports_errors
def ingest(
    path: Path = typer.Argument(..., help="A folder (walked recursively) or one image file."),
    survey: str = typer.Option(None, "--survey", help="Survey name (default: the folder name)."),
    track: Path = typer.Option(
        None, "--track", help="GPX or CSV (timestamp,lat,lon) track for photos without GPS."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Store every JPEG/PNG/HEIC image under PATH with its position and time.

    Files already stored are counted as duplicates; files that cannot be stored go to the
    quarantine with a reason. Nothing is stored twice when the command is run again.
    """
    cfg = settings()
    options = IngestOptions.from_settings(cfg)
    gps_track = read_track(track, default_timezone=ZoneInfo(cfg.camera_timezone)) if track else None
    engine = database(cfg)
    files, others = discover(path)
    survey_name = survey or (path.resolve().name if path.is_dir() else path.resolve().parent.name)
    report = IngestReport(survey=survey_name, skipped=[str(p) for p in others])
    try:
        with Progress(
            TextColumn("[bold]ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=as_json or not err_console.is_terminal,
        ) as progress:
            task = progress.add_task("ingest", total=len(files))
            ingest_files(
                files,
                engine=engine,
                survey=survey_name,
                options=options,
                track=gps_track,
                on_progress=lambda n: progress.advance(task, n),
                report=report,
            )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        print_report(report)


def print_report(report: IngestReport) -> None:
    """The human summary of an ingestion run (stderr)."""
    table = Table(title=f"survey {report.survey!r}", show_header=False)
    table.add_row("ingested", str(report.ingested))
    table.add_row("duplicates (already stored)", str(report.duplicates))
    for reason, count in sorted(report.quarantined.items()):
        table.add_row(f"quarantined: {reason}", f"{count}  ({REASONS.get(reason, '')})")
    if report.skipped:
        table.add_row("skipped (not image files)", str(len(report.skipped)))
    err_console.print(table)
    for problem in report.problems[:20]:
        err_console.print(f"  [yellow]{problem.reason}[/]: {problem.message}", highlight=False)
    if len(report.problems) > 20:
        err_console.print(f"  ... and {len(report.problems) - 20} more (see the quarantine)")


class ExportWhat(StrEnum):
    images = "images"
    detections = "detections"


class ExportFormat(StrEnum):
    geojson = "geojson"
    csv = "csv"
    gpkg = "gpkg"


@reports_errors
def export(
    what: ExportWhat = typer.Argument(..., help="images or detections"),
    file_format: ExportFormat = typer.Option(None, "--format", help="Default: from --out."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    survey: str = typer.Option(None, "--survey", help="Only this survey."),
) -> None:
    """Export stored images or detections as points (GeoJSON RFC 7946, CSV or GeoPackage)."""
    engine = database()
    try:
        with transaction(engine) as session:
            if what is ExportWhat.images:
                frame = image_queries.frame(db_session=session, survey=survey)
            else:
                frame = detection_queries.frame(db_session=session, survey=survey)
    finally:
        engine.dispose()
    written = write_points(
        frame, out, file_format=file_format.value if file_format else None, layer=what.value
    )
    err_console.print(f"wrote {len(frame)} {what.value} to {written}")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("export")(export)
