"""What every page shares: settings, the database engine, the logged-in user, cached queries.

The engine and the settings are process-wide resources (``st.cache_resource``); query results
are cached per database and filter set for :data:`QUERY_TTL_S` seconds (``st.cache_data``).
User state lives in ``st.session_state`` only (never at module level: that is shared by every
browser session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from db import map_queries, reviews
from db import users as user_queries
from db.engine import transaction
from db.map_queries import MapFilter
from db.users import AuthenticatedUser
from models.taxonomy import CATEGORIES
from pipeline.database import open_database
from pipeline.settings import Settings, get_settings

#: How long a query result is reused for the same filters (seconds).
QUERY_TTL_S = 60
USER_KEY = "auth_user"

T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    return get_settings()


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return open_database(url)


def database_url() -> str:
    return settings().database_url


def engine() -> Engine:
    """The configured database, checked to be at the latest migration."""
    return _engine(database_url())


def current_user() -> AuthenticatedUser | None:
    return st.session_state.get(USER_KEY)


def require(role: str) -> AuthenticatedUser:
    """The logged-in user if they have ``role``; otherwise the page stops with a message."""
    user = current_user()
    if user is None:
        st.warning("Please log in.")
        st.stop()
    if not user.can(role):
        st.error(
            f"Your role ({user.role}) cannot use this page; it needs the {role} role. "
            "Ask an administrator."
        )
        st.stop()
    return user


def _read(fn: Callable[..., T], **kwargs: Any) -> T:
    with transaction(engine()) as session:
        map_queries.tune_session(db_session=session)
        return fn(db_session=session, **kwargs)


# Cached reads: the database URL is part of each key, so two databases never share results.


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def filter_options(url: str) -> dict[str, Any]:
    return _read(map_queries.filter_options)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def summary(url: str, filt: MapFilter) -> dict[str, Any]:
    return _read(map_queries.summary, filt=filt)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def cell_counts(url: str, filt: MapFilter, resolution: int) -> pd.DataFrame:
    return _read(map_queries.cell_counts, filt=filt, resolution=resolution)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def cell_category_counts(url: str, filt: MapFilter, resolution: int) -> pd.DataFrame:
    return _read(
        map_queries.cell_category_counts,
        filt=filt,
        resolution=resolution,
        categories=list(CATEGORIES),
    )


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def detection_points(url: str, filt: MapFilter, limit: int) -> pd.DataFrame:
    return _read(map_queries.detection_points, filt=filt, limit=limit)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def category_counts(url: str, filt: MapFilter) -> pd.DataFrame:
    return _read(map_queries.category_counts, filt=filt)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def trend(url: str, filt: MapFilter, period: str) -> pd.DataFrame:
    return _read(map_queries.trend, filt=filt, period=period)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def top_cells(url: str, filt: MapFilter, resolution: int, limit: int) -> pd.DataFrame:
    return _read(map_queries.top_cells, filt=filt, resolution=resolution, limit=limit)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def hotspot_input(url: str, filt: MapFilter, resolution: int) -> pd.DataFrame:
    return _read(map_queries.hotspot_input, filt=filt, resolution=resolution)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def period_comparison(
    url: str, filt: MapFilter, before: tuple[Any, Any], after: tuple[Any, Any]
) -> dict[str, pd.DataFrame]:
    return _read(map_queries.period_comparison, filt=filt, before=before, after=after)


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def review_counts(url: str) -> dict[str, int]:
    return _read(reviews.status_counts)


def clear_query_cache() -> None:
    """Forget cached results (after a review changed what the queries return)."""
    st.cache_data.clear()


def authenticate(username: str, password: str) -> AuthenticatedUser | None:
    with transaction(engine()) as session:
        return user_queries.authenticate(db_session=session, username=username, password=password)


def user_count() -> int:
    return _read(user_queries.count)
