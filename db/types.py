"""Column types that behave the same on PostGIS and on SQLite.

* :class:`UTCDateTime` stores timezone-aware datetimes (UTC) and always returns aware ones, also on
  SQLite, which has no timezone type.
* :class:`PointGeometry` is a GeoAlchemy2 ``POINT`` (SRID 4326) on PostgreSQL/PostGIS and EWKT text
  on SQLite. Its value is never written by the application: tables declare it as a generated column
  over ``longitude``/``latitude`` with :class:`make_point`, so the geometry can never disagree with
  the plain columns that the analytics read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SRID = 4326


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp stored in UTC; naive datetimes are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: WasteMap stores timezone-aware times only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class PointGeometry(sa.types.TypeDecorator[str]):
    """``geometry(POINT, 4326)`` on PostGIS; EWKT text (``SRID=4326;POINT(lon lat)``) on SQLite."""

    impl = sa.Text
    cache_ok = True
    #: Read by GeoAlchemy2's DDL events: the GiST index is created by the migration instead.
    spatial_index = False
    use_N_D_index = False  # noqa: N815 - GeoAlchemy2's attribute name

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect is not None and dialect.name == "postgresql":
            return dialect.type_descriptor(
                Geometry("POINT", srid=SRID, spatial_index=False, nullable=True)
            )
        # SQLite, and GeoAlchemy2's dialect-less checks: the column is created by plain DDL
        # (never "managed" through AddGeometryColumn) and its GiST index by the migration.
        return sa.Text() if dialect is None else dialect.type_descriptor(sa.Text())


class make_point(FunctionElement[Any]):  # noqa: N801 - SQL function style name
    """SQL expression for the point at ``(longitude, latitude)``, compiled per dialect."""

    inherit_cache = True
    name = "make_point"


@compiles(make_point, "postgresql")
def _make_point_postgresql(element: make_point, compiler: Any, **kw: Any) -> str:
    lon, lat = list(element.clauses)
    return (
        f"ST_SetSRID(ST_MakePoint({compiler.process(lon, **kw)}, "
        f"{compiler.process(lat, **kw)}), {SRID})"
    )


@compiles(make_point)
def _make_point_default(element: make_point, compiler: Any, **kw: Any) -> str:
    lon, lat = list(element.clauses)
    return (
        f"'SRID={SRID};POINT(' || {compiler.process(lon, **kw)} || ' ' || "
        f"{compiler.process(lat, **kw)} || ')'"
    )


def point_column(*, nullable: bool = True) -> sa.Column[Any]:
    """A generated ``geom`` column computed from the row's ``longitude`` and ``latitude``."""
    return sa.Column(
        "geom",
        PointGeometry(),
        sa.Computed(
            make_point(sa.literal_column("longitude"), sa.literal_column("latitude")),
            persisted=True,
        ),
        nullable=nullable,
    )
