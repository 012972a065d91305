"""Map-page queries in PostGIS vs loading every row into pandas, on 1,000,000 detections.

Creates a scratch PostGIS database, migrates it, loads generated surveys, images and detections
with ``COPY`` (a city of ~20 x 20 km around Helsinki, twelve weeks, hotspots, eight categories),
then times the queries the map and patterns pages run (``db.map_queries``, values bound) against
the alternative: read the detections into a pandas frame and aggregate there. Prints each
query's median time, the pandas time and their ratio. The scratch database is dropped at the end
unless ``--keep``.

    python benchmarks/dashboard_queries.py            # 1,000,000 detections
    python benchmarks/dashboard_queries.py --detections 100000 --repeat 3

Target: every map query under 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import h3
import numpy as np
import pandas as pd
import sqlalchemy as sa

from db import map_queries as q
from db.engine import create_engine, transaction
from db.map_queries import MapFilter
from pipeline import database as dbm

ADMIN_URL = os.environ.get(
    "WASTEMAP_BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
CATEGORIES = ("plastic", "paper", "metal", "glass", "organic", "e-waste", "hazardous", "other")
CATEGORY_P = (0.34, 0.22, 0.12, 0.1, 0.08, 0.03, 0.05, 0.06)
LABELS = {c: c for c in CATEGORIES}
CENTRE = (60.19, 24.95)
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def _copy(engine: sa.Engine, table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {table} ({', '.join(frame.columns)}) "
                "FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                buffer,
            )
        raw.commit()
    finally:
        raw.close()


def generate(engine: sa.Engine, *, detections: int, per_image: int = 4, seed: int = 0) -> None:
    """Surveys, one model version, images and their detections (positions, cells, times)."""
    rng = np.random.default_rng(seed)
    n_images = detections // per_image
    n_surveys = 24
    now = pd.Timestamp.now(tz="UTC")
    surveys = pd.DataFrame(
        {
            "id": np.arange(1, n_surveys + 1),
            "name": [f"route-{i % 6 + 1} week-{i // 6 + 1}" for i in range(n_surveys)],
            "simulated": True,
            "created_at": now,
        }
    )
    _copy(engine, "surveys", surveys)
    _copy(
        engine,
        "model_versions",
        pd.DataFrame(
            {
                "id": [1],
                "version": ["bench"],
                "class_names": ['["plastic"]'],
                "details": ["{}"],
                "created_at": [now],
            }
        ),
    )
    # positions: 70 % spread over the city, 30 % around twenty litter hotspots
    hot_centres = np.column_stack(
        [CENTRE[0] + rng.normal(0, 0.04, 20), CENTRE[1] + rng.normal(0, 0.08, 20)]
    )
    hot = rng.random(n_images) < 0.3
    lat = np.where(hot, 0, CENTRE[0] + rng.uniform(-0.09, 0.09, n_images))
    lon = np.where(hot, 0, CENTRE[1] + rng.uniform(-0.18, 0.18, n_images))
    which = rng.integers(0, 20, n_images)
    lat[hot] = hot_centres[which[hot], 0] + rng.normal(0, 0.002, hot.sum())
    lon[hot] = hot_centres[which[hot], 1] + rng.normal(0, 0.004, hot.sum())
    survey_id = rng.integers(1, n_surveys + 1, n_images)
    captured = (
        START
        + pd.to_timedelta((survey_id - 1) // 6 * 21, unit="D")
        + pd.to_timedelta(rng.uniform(0, 14 * 86400, n_images), unit="s")
    )
    cells = {
        r: [h3.latlng_to_cell(a, b, r) for a, b in zip(lat, lon, strict=True)] for r in (8, 9, 10)
    }
    image_ids = np.arange(1, n_images + 1)
    images = pd.DataFrame(
        {
            "id": image_ids,
            "sha256": [uuid.UUID(int=int(i)).hex + uuid.UUID(int=int(i)).hex for i in image_ids],
            "original_path": [f"/data/bench/{i}.jpg" for i in image_ids],
            "file_name": [f"{i}.jpg" for i in image_ids],
            "survey_id": survey_id,
            "captured_at": captured,
            "latitude": lat,
            "longitude": lon,
            "position_source": "exif",
            "h3_r8": cells[8],
            "h3_r9": cells[9],
            "h3_r10": cells[10],
            "width": 1920,
            "height": 1080,
            "image_format": "JPEG",
            "orientation": 1,
            "status": "detected",
            "ingested_at": now,
        }
    )
    _copy(engine, "images", images)
    _copy(
        engine,
        "detection_runs",
        pd.DataFrame(
            {
                "id": image_ids,
                "image_id": image_ids,
                "model_version_id": 1,
                "detections_count": per_image,
                "detected_at": now,
            }
        ),
    )
    rows = n_images * per_image
    image_of = np.repeat(image_ids, per_image)
    category = rng.choice(CATEGORIES, size=rows, p=CATEGORY_P)
    x1 = rng.uniform(0, 1800, rows)
    y1 = rng.uniform(500, 1000, rows)
    status = rng.choice(
        ["unreviewed", "accepted", "rejected", "relabelled"], size=rows, p=[0.9, 0.06, 0.03, 0.01]
    )
    index = image_of - 1
    frame = pd.DataFrame(
        {
            "run_id": image_of,
            "image_id": image_of,
            "model_version_id": 1,
            "survey_id": survey_id[index],
            "label": category,
            "category": category,
            "score": np.round(rng.beta(5, 2, rows), 4),
            "x1": x1,
            "y1": y1,
            "x2": x1 + rng.uniform(10, 120, rows),
            "y2": y1 + rng.uniform(10, 80, rows),
            "captured_at": captured[index],
            "latitude": lat[index],
            "longitude": lon[index],
            "h3_r8": np.asarray(cells[8])[index],
            "h3_r9": np.asarray(cells[9])[index],
            "h3_r10": np.asarray(cells[10])[index],
            "review_status": status,
        }
    )
    for start in range(0, rows, 250_000):
        _copy(engine, "detections", frame.iloc[start : start + 250_000])
    with engine.begin() as conn:
        for table in ("surveys", "model_versions", "images", "detection_runs", "detections"):
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm the cache, as a page shown twice would be
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def load_all(engine: sa.Engine) -> pd.DataFrame:
    """The pandas way: every detection's filter and cell columns into memory."""
    with engine.connect() as conn:
        return pd.read_sql(
            sa.text(
                "SELECT image_id, survey_id, category, reviewed_category, score, captured_at, "
                "review_status, h3_r9, h3_r10 FROM detections"
            ),
            conn,
        )


def pandas_filter(frame: pd.DataFrame, filt: MapFilter) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    category = frame["reviewed_category"].fillna(frame["category"])
    if filt.categories is not None:
        mask &= category.isin(filt.categories).to_numpy()
    if filt.review_statuses is not None:
        mask &= frame["review_status"].isin(filt.review_statuses).to_numpy()
    if filt.min_score:
        mask &= (frame["score"] >= filt.min_score).to_numpy()
    if filt.start is not None:
        mask &= (frame["captured_at"] >= pd.Timestamp(filt.start, tz="UTC")).to_numpy()
    if filt.end is not None:
        end = pd.Timestamp(filt.end + dt.timedelta(days=1), tz="UTC")
        mask &= (frame["captured_at"] < end).to_numpy()
    return frame[mask]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detections", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--url", help="time an already loaded database (from --keep) instead")
    args = parser.parse_args()

    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"wastemap_bench_{uuid.uuid4().hex[:8]}"
    url = args.url or ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    keep = args.keep or bool(args.url)
    if not args.url:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(url)
    try:
        if not args.url:
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
            dbm.upgrade(url)
            t0 = time.perf_counter()
            generate(engine, detections=args.detections)
            print(
                f"loaded {args.detections:,} detections into PostGIS in "
                f"{time.perf_counter() - t0:.1f} s"
            )

        default = MapFilter(min_score=0.3)
        narrow = MapFilter(
            start=dt.date(2026, 10, 13),
            end=dt.date(2026, 10, 26),
            categories=("plastic", "glass"),
            min_score=0.5,
        )
        queries: list[tuple[str, MapFilter, Callable[..., Any], Callable[[pd.DataFrame], Any]]] = [
            (
                "heatmap cells, city-wide (r9)",
                default,
                lambda s, f: q.cell_counts(db_session=s, filt=f, resolution=9),
                lambda d: d.groupby("h3_r9").size(),
            ),
            (
                "heatmap cells, city-wide (r10)",
                default,
                lambda s, f: q.cell_counts(db_session=s, filt=f, resolution=10),
                lambda d: d.groupby("h3_r10").size(),
            ),
            (
                "hexagons by category (r9)",
                default,
                lambda s, f: q.cell_category_counts(
                    db_session=s, filt=f, resolution=9, categories=CATEGORIES
                ),
                lambda d: d.groupby(["h3_r9", d["reviewed_category"].fillna(d["category"])]).size(),
            ),
            (
                "category + 2-week filter (r10)",
                narrow,
                lambda s, f: q.cell_counts(db_session=s, filt=f, resolution=10),
                lambda d: d.groupby("h3_r10").size(),
            ),
            (
                "hotspot input (r9, with images)",
                default,
                lambda s, f: q.hotspot_input(db_session=s, filt=f, resolution=9),
                lambda d: d.groupby("h3_r9").size(),
            ),
            (
                "summary metrics",
                default,
                lambda s, f: q.summary(db_session=s, filt=f),
                lambda d: (len(d), d["image_id"].nunique(), d["h3_r9"].nunique()),
            ),
            (
                "1,000 most confident points",
                default,
                lambda s, f: q.detection_points(db_session=s, filt=f, limit=1000),
                lambda d: d.nlargest(1000, "score"),
            ),
        ]
        load_s, frame = timed(lambda: load_all(engine), max(1, args.repeat // 2))
        print(
            f"pandas: reading all {len(frame):,} detections takes {load_s:.2f} s "
            f"({frame.memory_usage(deep=True).sum() / 1e6:.0f} MB in memory)\n"
        )
        print(
            f"{'query':34} {'SQL (s)':>8} {'pandas agg (s)':>15} {'pandas total (s)':>17} "
            f"{'ratio':>7}  rows"
        )
        worst = 0.0
        for label, filt, sql_fn, pandas_fn in queries:

            def run_sql(fn: Callable[..., Any] = sql_fn, f: MapFilter = filt) -> Any:
                with transaction(engine) as session:
                    q.tune_session(db_session=session)
                    return fn(session, f)

            sql_s, result = timed(run_sql, args.repeat)
            agg_s, _ = timed(lambda fn=pandas_fn, f=filt: fn(pandas_filter(frame, f)), args.repeat)
            total = load_s + agg_s
            worst = max(worst, sql_s)
            rows = len(result) if hasattr(result, "__len__") else 1
            print(
                f"{label:34} {sql_s:8.3f} {agg_s:15.3f} {total:17.2f} "
                f"{total / sql_s:6.1f}x  {rows:,}"
            )
        print(
            f"\nslowest map query: {worst:.3f} s (target: under 1 s) -> "
            f"{'met' if worst < 1 else 'NOT met'}"
        )
        print("ratio = (read every row into pandas + aggregate there) / (aggregate in PostGIS)")
    finally:
        engine.dispose()
        if not keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            print(f"kept {url}")
        admin.dispose()


if __name__ == "__main__":
    main()
