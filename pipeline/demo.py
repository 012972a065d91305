"""``wastemap demo``: the whole job on the embedded default, on a SIMULATED sample survey.

Builds the sample survey (a simulated drive through central Helsinki with rendered litter, see
:mod:`pipeline.simulate`), migrates the configured database (default: the SQLite file
``wastemap.db``), ingests the survey in-process with the shipped detector, prints what was stored
and found, then clusters the detections into litter sites and plans collection routes on the
Helsinki streets, exported for the crews (GeoJSON, GPX, KML, CSV).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from pipeline._cli_common import reports_errors, settings
from pipeline.cli_routes import print_plan

# The database, the detector, the batches and the routes are imported by the command, so that
# ``wastemap --help`` starts fast.
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

console = Console()
SURVEY_NAME = "helsinki-sample (SIMULATED)"


@reports_errors
def demo(
    out: Path = typer.Option(Path("demo"), "--out", help="Folder for the sample survey."),
    frames: int = typer.Option(40, "--frames", help="Frames in the simulated drive."),
) -> None:
    """Build the SIMULATED sample survey, store it in the embedded database, print the result."""
    from db import surveys as survey_queries
    from db import users as user_queries
    from db.engine import redacted_url, transaction
    from pipeline import database as dbm
    from pipeline.batches import ingest_files
    from pipeline.detection import load_detector
    from pipeline.ingest import IngestOptions, discover
    from pipeline.simulate import build_sample_survey
    from pipeline.sites import demo_routes

    cfg = settings()
    console.rule("[bold]WasteMap demo: a SIMULATED survey of central Helsinki")
    console.print(f"database: {redacted_url(cfg.database_url)}")
    dbm.upgrade(cfg.database_url)

    survey_dir = out / "sample-survey"
    with console.status("rendering the simulated drive (real Helsinki streets, drawn litter)"):
        survey = build_sample_survey(survey_dir, frames=frames)
    console.print(
        f"sample survey: {len(survey.frames)} SIMULATED frames, "
        f"{survey.route_length_m / 1000:.2f} km of Helsinki streets, "
        f"{survey.boxes} litter objects drawn (ground truth: {survey.ground_truth_json})"
    )

    engine = dbm.open_database(cfg.database_url)
    try:
        with transaction(engine) as session:
            survey_queries.get_or_create(
                db_session=session,
                name=SURVEY_NAME,
                simulated=True,
                description="SIMULATED drive rendered by WasteMap's sample-survey generator",
            )
        files, _ = discover(survey.images_dir)
        detector = load_detector(cfg.model_path, device=cfg.device, num_threads=cfg.num_threads)
        console.print(f"detector: {detector.model_version}")
        with console.status("ingesting and detecting (in-process, no services)"):
            report = ingest_files(
                files,
                engine=engine,
                survey=SURVEY_NAME,
                options=IngestOptions.from_settings(cfg),
                detector=detector,
                detect_batch_size=cfg.detect_batch_size,
            )
        console.print(
            f"ingested {report.ingested}, duplicates {report.duplicates} (already stored), "
            f"quarantined {sum(report.quarantined.values())}, detections {report.detections}"
        )
        with transaction(engine) as session:
            _print_stored(session)
        with console.status("litter sites and collection routes on the Helsinki streets"):
            plan, paths = demo_routes(engine, survey=SURVEY_NAME, out_dir=out / "routes")
        print_plan(plan, plan.summary() | {"out": str(paths[0])})
        console.print("routes for the crews: " + ", ".join(str(p) for p in paths))
        password = user_queries.generate_password()
        with transaction(engine) as session:
            accounts = user_queries.ensure_demo_users(db_session=session, password=password)
        console.rule("[bold]dashboard")
        console.print(
            "start it with: .venv/bin/wastemap dashboard   (then open http://localhost:8501)"
        )
        for username, role in accounts.items():
            console.print(f"  demo login: {username} / {password}   ({role})", highlight=False)
    finally:
        engine.dispose()


def _print_stored(session: Session) -> None:
    from db import detections as detection_queries
    from db import images as image_queries
    from db import quarantine as quarantine_queries
    from db import surveys as survey_queries

    frame = image_queries.frame(db_session=session, survey=SURVEY_NAME)
    table = Table(title=f"stored images of {SURVEY_NAME!r} (first 5 of {len(frame)})")
    for column in ("file_name", "captured_at", "latitude", "longitude", "heading_deg", "h3_r9"):
        table.add_column(column)
    for row in frame.head(5).itertuples():
        table.add_row(
            row.file_name,
            row.captured_at.isoformat(timespec="seconds"),
            f"{row.latitude:.6f}",
            f"{row.longitude:.6f}",
            f"{row.heading_deg:.0f}" if row.heading_deg == row.heading_deg else "",
            row.h3_r9,
        )
    console.print(table)
    if len(frame):
        console.print(
            f"captured {frame.captured_at.min():%Y-%m-%d %H:%M} to "
            f"{frame.captured_at.max():%H:%M} UTC, within lat {frame.latitude.min():.5f}.."
            f"{frame.latitude.max():.5f}, lon {frame.longitude.min():.5f}.."
            f"{frame.longitude.max():.5f}"
        )
    surveys = survey_queries.list_with_counts(db_session=session)
    console.print(
        "surveys in the database: "
        + ", ".join(f"{s['name']} ({s['images']} images)" for s in surveys)
    )
    survey_id = survey_queries.get_or_create(db_session=session, name=SURVEY_NAME).id
    by_category = detection_queries.counts_by_category(db_session=session, survey_id=survey_id)
    table = Table("category", "detections", title="detections by category (SIMULATED survey)")
    for category, n in sorted(by_category.items(), key=lambda kv: -kv[1]):
        table.add_row(category, str(n))
    console.print(table)
    open_quarantine = quarantine_queries.counts_by_reason(db_session=session)
    if open_quarantine:
        console.print(f"quarantine: {open_quarantine}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
