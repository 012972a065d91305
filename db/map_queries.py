"""The dashboard's read queries: filtered counts of detections by H3 cell, category and time.

Every function takes a :class:`MapFilter` and runs one ``SELECT`` built with SQLAlchemy, its
values bound as parameters, grouped in the database. Only the ``detections`` table is read for
the map (its time and survey are copied from the image at write time, its position and H3 cells
are the object's: on the ground ahead of the camera where that could be estimated, see
:class:`db.schema.Detection`), so no map query needs a join. Where the photos were taken, the
``images`` table, says what was looked at (:func:`hotspot_input`, :func:`period_comparison`).

A detection's *category* here is its reviewed category when a reviewer relabelled it, else the
detector's (:data:`effective_category`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from db.schema import H3_RESOLUTIONS, Detection, Image, Survey

#: The review states of a detection.
REVIEW_STATUSES: tuple[str, ...] = ("unreviewed", "accepted", "relabelled", "rejected")
#: What the map shows unless asked otherwise: everything a reviewer has not rejected.
DEFAULT_REVIEW_STATUSES: tuple[str, ...] = ("unreviewed", "accepted", "relabelled")
PERIODS = ("day", "week")

effective_category = sa.func.coalesce(Detection.reviewed_category, Detection.category)
effective_label = sa.func.coalesce(Detection.reviewed_label, Detection.label)


@dataclass(frozen=True)
class MapFilter:
    """What the map and the patterns show. Hashable, so results can be cached per filter.

    ``None`` in a field means "no restriction". Dates are whole UTC days, both ends included.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    survey_ids: tuple[int, ...] | None = None
    categories: tuple[str, ...] | None = None
    min_score: float = 0.0
    review_statuses: tuple[str, ...] | None = DEFAULT_REVIEW_STATUSES
    label_contains: str | None = field(default=None)

    def with_period(self, start: dt.date | None, end: dt.date | None) -> MapFilter:
        return MapFilter(
            start=start,
            end=end,
            survey_ids=self.survey_ids,
            categories=self.categories,
            min_score=self.min_score,
            review_statuses=self.review_statuses,
            label_contains=self.label_contains,
        )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def detection_conditions(filt: MapFilter) -> list[Any]:
    """The ``WHERE`` conditions of ``filt`` on the detections table (all values bound)."""
    conditions: list[Any] = []
    if filt.start is not None:
        conditions.append(Detection.captured_at >= _day_start(filt.start))
    if filt.end is not None:
        conditions.append(Detection.captured_at < _day_start(filt.end + dt.timedelta(days=1)))
    if filt.survey_ids is not None:
        conditions.append(Detection.survey_id.in_(list(filt.survey_ids)))
    if filt.categories is not None:
        conditions.append(effective_category.in_(list(filt.categories)))
    if filt.min_score > 0:
        conditions.append(Detection.score >= float(filt.min_score))
    if filt.review_statuses is not None:
        conditions.append(Detection.review_status.in_(list(filt.review_statuses)))
    if filt.label_contains:
        conditions.append(
            sa.func.lower(effective_label).contains(
                filt.label_contains.strip().lower(), autoescape=True
            )
        )
    return conditions


def _image_conditions(filt: MapFilter) -> list[Any]:
    """The survey and date parts of ``filt`` on the images table (where we looked)."""
    conditions: list[Any] = []
    if filt.start is not None:
        conditions.append(Image.captured_at >= _day_start(filt.start))
    if filt.end is not None:
        conditions.append(Image.captured_at < _day_start(filt.end + dt.timedelta(days=1)))
    if filt.survey_ids is not None:
        conditions.append(Image.survey_id.in_(list(filt.survey_ids)))
    return conditions


def h3_column(table: Any, resolution: int) -> Any:
    if resolution not in H3_RESOLUTIONS:
        stored = ", ".join(map(str, H3_RESOLUTIONS))
        raise ValueError(f"H3 resolution {resolution} is not stored; use one of {stored}")
    return getattr(table, f"h3_r{resolution}")


def _frame(db_session: Session, stmt: Any) -> pd.DataFrame:
    result = db_session.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


# --------------------------------------------------------------------------------------------
# What there is to filter on


def filter_options(*, db_session: Session) -> dict[str, Any]:
    """Surveys (id, name) and the first and last capture day (UTC) of any detection."""
    surveys = [
        {"id": int(i), "name": n}
        for i, n in db_session.execute(sa.select(Survey.id, Survey.name).order_by(Survey.name))
    ]
    first, last = db_session.execute(
        sa.select(sa.func.min(Detection.captured_at), sa.func.max(Detection.captured_at))
    ).one()
    return {
        "surveys": surveys,
        "first_day": first.date() if first else None,
        "last_day": last.date() if last else None,
    }


def summary(*, db_session: Session, filt: MapFilter) -> dict[str, Any]:
    """``detections`` and ``images`` matched by ``filt``, ``first`` and ``last`` capture time.

    (The number of cells is the length of :func:`cell_counts`, which a map needs anyway.)
    """
    stmt = sa.select(
        sa.func.count().label("detections"),
        sa.func.count(sa.distinct(Detection.image_id)).label("images"),
        sa.func.min(Detection.captured_at).label("first"),
        sa.func.max(Detection.captured_at).label("last"),
    ).where(*detection_conditions(filt))
    row = db_session.execute(stmt).one()._mapping
    return {
        "detections": int(row["detections"] or 0),
        "images": int(row["images"] or 0),
        "first": row["first"],
        "last": row["last"],
    }


# --------------------------------------------------------------------------------------------
# Map layers


def cell_counts(*, db_session: Session, filt: MapFilter, resolution: int = 10) -> pd.DataFrame:
    """Detections per H3 cell: columns ``cell``, ``detections``, most first.

    The heatmap's and the hexagon layer's input.
    """
    cell = h3_column(Detection, resolution)
    stmt = (
        sa.select(cell.label("cell"), sa.func.count().label("detections"))
        .where(*detection_conditions(filt))
        .group_by(cell)
        .order_by(sa.func.count().desc(), cell)
    )
    return _frame(db_session, stmt)


def cell_category_counts(
    *,
    db_session: Session,
    filt: MapFilter,
    categories: Sequence[str],
    resolution: int = 9,
) -> pd.DataFrame:
    """Detections per H3 cell and category: columns ``cell``, ``category``, ``detections``
    (only non-zero pairs).

    One row per cell comes back from the database (a count per category side by side), which
    keeps the hash table and the transfer small on a city-wide view. ``categories`` are the
    ones to count (the taxonomy's); ``filt.categories`` narrows them further.
    """
    cell = h3_column(Detection, resolution)
    categories = list(dict.fromkeys(categories))
    if filt.categories is not None:
        categories = [c for c in categories if c in filt.categories]
    columns = [
        sa.func.sum(sa.case((effective_category == c, 1), else_=0)).label(f"c{i}")
        for i, c in enumerate(categories)
    ]
    stmt = sa.select(cell.label("cell"), *columns).where(*detection_conditions(filt)).group_by(cell)
    wide = _frame(db_session, stmt)
    if wide.empty or not categories:
        return pd.DataFrame({"cell": [], "category": [], "detections": []})
    wide = wide.rename(columns={f"c{i}": c for i, c in enumerate(categories)})
    long = wide.melt(id_vars="cell", var_name="category", value_name="detections")
    long["detections"] = long["detections"].astype(int)
    return long[long["detections"] > 0].sort_values(["cell", "category"], ignore_index=True)


def tune_session(*, db_session: Session) -> None:
    """Settings for the aggregation queries of one dashboard transaction (PostgreSQL only):
    enough ``work_mem`` to hash-aggregate a city's cells in memory instead of sorting on disk,
    and no JIT compilation (it costs more than it saves on queries of well under a second)."""
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
        db_session.execute(sa.text("SET LOCAL jit = off"))


def detection_points(*, db_session: Session, filt: MapFilter, limit: int = 1500) -> pd.DataFrame:
    """Individual detections for the map's point layer, the most confident first, at most
    ``limit``: ``detection_id``, ``image_id``, ``latitude``, ``longitude``, ``category``,
    ``label``, ``score``, ``captured_at``, ``review_status``."""
    stmt = (
        sa.select(
            Detection.id.label("detection_id"),
            Detection.image_id,
            Detection.latitude,
            Detection.longitude,
            effective_category.label("category"),
            effective_label.label("label"),
            Detection.score,
            Detection.captured_at,
            Detection.review_status,
        )
        .where(*detection_conditions(filt))
        .order_by(Detection.score.desc(), Detection.id)
        .limit(int(limit))
    )
    return _frame(db_session, stmt)


def detection_at(
    *, db_session: Session, latitude: float, longitude: float, filt: MapFilter
) -> int | None:
    """The id of the matched detection nearest to a clicked point (degrees), or ``None``."""
    distance = sa.func.abs(Detection.latitude - float(latitude)) + sa.func.abs(
        Detection.longitude - float(longitude)
    )
    stmt = (
        sa.select(Detection.id)
        .where(*detection_conditions(filt))
        .where(distance < 0.0005)
        .order_by(distance, Detection.score.desc())
        .limit(1)
    )
    return db_session.scalar(stmt)


def image_of_detection(*, db_session: Session, detection_id: int) -> dict[str, Any] | None:
    """The image a detection was found on, and every box found on that image.

    Returns ``None`` for an unknown id; else a dict with the image's ``image_id``,
    ``original_path``, ``file_name``, ``width``, ``height``, ``captured_at``, ``latitude``,
    ``longitude``, ``survey`` and ``detections`` (a data frame of boxes in displayed-image pixels).
    """
    image_id = db_session.scalar(sa.select(Detection.image_id).where(Detection.id == detection_id))
    if image_id is None:
        return None
    image = db_session.execute(
        sa.select(
            Image.id.label("image_id"),
            Image.original_path,
            Image.file_name,
            Image.width,
            Image.height,
            Image.captured_at,
            Image.latitude,
            Image.longitude,
            Survey.name.label("survey"),
        )
        .join(Survey, Survey.id == Image.survey_id)
        .where(Image.id == image_id)
    ).one()
    boxes = _frame(
        db_session,
        sa.select(
            Detection.id.label("detection_id"),
            effective_label.label("label"),
            effective_category.label("category"),
            Detection.score,
            Detection.x1,
            Detection.y1,
            Detection.x2,
            Detection.y2,
            Detection.review_status,
        )
        .where(Detection.image_id == image_id)
        .order_by(Detection.score.desc(), Detection.id),
    )
    return {**dict(image._mapping), "detections": boxes}


# --------------------------------------------------------------------------------------------
# Patterns


def category_counts(*, db_session: Session, filt: MapFilter) -> pd.DataFrame:
    """Detections per category: columns ``category``, ``detections``, most first."""
    stmt = (
        sa.select(effective_category.label("category"), sa.func.count().label("detections"))
        .where(*detection_conditions(filt))
        .group_by(effective_category)
        .order_by(sa.func.count().desc(), effective_category)
    )
    return _frame(db_session, stmt)


class day_start(FunctionElement[str]):  # noqa: N801 - SQL function style name
    """The UTC day (``YYYY-MM-DD``) of a timestamp."""

    inherit_cache = True
    name = "day_start"


class week_start(FunctionElement[str]):  # noqa: N801 - SQL function style name
    """The Monday (UTC, ``YYYY-MM-DD``) of the ISO week of a timestamp."""

    inherit_cache = True
    name = "week_start"


@compiles(day_start, "postgresql")
@compiles(week_start, "postgresql")
def _period_start_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    unit = "day" if isinstance(element, day_start) else "week"
    return f"to_char(date_trunc('{unit}', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"


@compiles(day_start, "sqlite")
def _day_start_sqlite(element: day_start, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(next(iter(element.clauses)), **kw)})"


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: Any, **kw: Any) -> str:
    column = compiler.process(next(iter(element.clauses)), **kw)
    # the next Sunday (or the day itself when a Sunday), then back six days to its Monday
    return f"date({column}, 'weekday 0', '-6 days')"


def period_start(column: Any, period: str) -> Any:
    """SQL for the first day of the ``period`` (``"day"`` or ``"week"``) holding ``column``."""
    if period == "day":
        return day_start(column)
    if period == "week":
        return week_start(column)
    raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def trend(*, db_session: Session, filt: MapFilter, period: str = "day") -> pd.DataFrame:
    """Detections per day or week and category: ``period_start`` (date), ``category``,
    ``detections``. Detections without a capture time are left out."""
    bucket = period_start(Detection.captured_at, period)
    stmt = (
        sa.select(
            bucket.label("period_start"),
            effective_category.label("category"),
            sa.func.count().label("detections"),
        )
        .where(*detection_conditions(filt), Detection.captured_at.is_not(None))
        .group_by(bucket, effective_category)
        .order_by(bucket, effective_category)
    )
    frame = _frame(db_session, stmt)
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    return frame


def top_cells(
    *, db_session: Session, filt: MapFilter, resolution: int = 9, limit: int = 10
) -> pd.DataFrame:
    """The cells with most detections: ``cell``, ``detections``, ``images``, ``latitude``,
    ``longitude`` (mean position of the detections), ``top_category`` is added by the caller."""
    cell = h3_column(Detection, resolution)
    stmt = (
        sa.select(
            cell.label("cell"),
            sa.func.count().label("detections"),
            sa.func.count(sa.distinct(Detection.image_id)).label("images"),
            sa.func.avg(Detection.latitude).label("latitude"),
            sa.func.avg(Detection.longitude).label("longitude"),
        )
        .where(*detection_conditions(filt))
        .group_by(cell)
        .order_by(sa.func.count().desc(), cell)
        .limit(int(limit))
    )
    return _frame(db_session, stmt)


def hotspot_input(*, db_session: Session, filt: MapFilter, resolution: int = 9) -> pd.DataFrame:
    """The input of the hotspot statistics: every surveyed cell with its detections.

    One row per H3 cell where at least one image matching the survey/date filter was taken, or
    where a matched detection lies (litter seen ahead of the camera, in a cell it never
    entered): ``cell``, ``images``, ``detections`` (0 where nothing matched). ``images`` counts
    the photos taken in the cell, or in a cell where none was taken, the photos that found the
    litter in it. Cells nobody photographed are absent: zero there would mean "not looked", not
    "clean".
    """
    image_cell = h3_column(Image, resolution)
    det_cell = h3_column(Detection, resolution)
    surveyed = (
        sa.select(image_cell.label("cell"), sa.func.count().label("images"))
        .where(*_image_conditions(filt))
        .group_by(image_cell)
        .cte("surveyed")  # each read twice: a CTE, so that each is grouped once
    )
    found = (
        sa.select(det_cell.label("cell"), sa.func.count().label("detections"))
        .where(*detection_conditions(filt))
        .group_by(det_cell)
        .cte("found")
    )
    # the photos that saw litter lying in a cell none was taken in (few cells: counting distinct
    # images over every detection would double the query's time)
    unphotographed = (
        sa.select(
            det_cell.label("cell"),
            sa.func.count(sa.distinct(Detection.image_id)).label("images"),
        )
        .where(*detection_conditions(filt), det_cell.not_in(sa.select(surveyed.c.cell)))
        .group_by(det_cell)
        .subquery()
    )
    cells = sa.union(sa.select(surveyed.c.cell), sa.select(found.c.cell)).subquery()
    stmt = (
        sa.select(
            cells.c.cell,
            sa.func.coalesce(surveyed.c.images, unphotographed.c.images).label("images"),
            sa.func.coalesce(found.c.detections, 0).label("detections"),
        )
        .select_from(cells)
        .outerjoin(surveyed, surveyed.c.cell == cells.c.cell)
        .outerjoin(found, found.c.cell == cells.c.cell)
        .outerjoin(unphotographed, unphotographed.c.cell == cells.c.cell)
        .order_by(cells.c.cell)
    )
    return _frame(db_session, stmt)


def period_comparison(
    *,
    db_session: Session,
    filt: MapFilter,
    before: tuple[dt.date, dt.date],
    after: tuple[dt.date, dt.date],
    resolution: int = 9,
) -> dict[str, pd.DataFrame]:
    """Detections and images by category and by cell in two periods (e.g. before and after a
    clean-up), each period ``(first day, last day)``.

    Returns ``categories`` (``category``, ``before``, ``after``), ``cells`` (``cell``,
    ``before``, ``after``) and ``images`` (``period``, ``images``: how much was looked at, to
    judge whether a change is more than a change of effort).
    """
    parts: dict[str, dict[str, pd.DataFrame]] = {"categories": {}, "cells": {}}
    images: list[dict[str, Any]] = []
    for name, (first, last) in (("before", before), ("after", after)):
        period_filter = filt.with_period(first, last)
        parts["categories"][name] = category_counts(db_session=db_session, filt=period_filter)
        parts["cells"][name] = cell_counts(
            db_session=db_session, filt=period_filter, resolution=resolution
        )[["cell", "detections"]]
        n_images = db_session.scalar(
            sa.select(sa.func.count(Image.id)).where(*_image_conditions(period_filter))
        )
        images.append({"period": name, "images": int(n_images or 0)})
    return {
        "categories": _merge(parts["categories"], "category"),
        "cells": _merge(parts["cells"], "cell"),
        "images": pd.DataFrame(images),
    }


def _merge(frames: dict[str, pd.DataFrame], key: str) -> pd.DataFrame:
    before = frames["before"].rename(columns={"detections": "before"}).set_index(key)
    after = frames["after"].rename(columns={"detections": "after"}).set_index(key)
    merged = before.join(after, how="outer").fillna(0).astype(int).reset_index()
    return merged.sort_values(["before", "after"], ascending=False, ignore_index=True)


def export_cells(*, db_session: Session, filt: MapFilter, resolution: int = 10) -> pd.DataFrame:
    """What a standalone heatmap needs: ``cell``, ``detections`` (as :func:`cell_counts`)."""
    return cell_counts(db_session=db_session, filt=filt, resolution=resolution)


def survey_ids_by_name(*, db_session: Session, names: Sequence[str]) -> tuple[int, ...]:
    """The ids of the surveys called ``names`` (unknown names are ignored)."""
    if not names:
        return ()
    stmt = sa.select(Survey.id).where(Survey.name.in_(list(names))).order_by(Survey.id)
    return tuple(int(i) for i in db_session.scalars(stmt))
