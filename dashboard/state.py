"""What every page shares: settings, the database engine, the logged-in user, cached queries.

The engine and the settings are process-wide resources (``st.cache_resource``); query results
are cached per database and filter set for :data:`QUERY_TTL_S` seconds (``st.cache_data``).
User state lives in ``st.session_state`` only (never at module level: that is shared by every
browser session).

A login lasts ``WASTEMAP_DASHBOARD_LOGIN_HOURS`` (12 by default) in that browser, over reloads and
new tabs: the browser keeps a random token in the ``wastemap_login`` cookie, the database only its
SHA-256 (``login_sessions``). Every run checks the token, so logging out, deactivating the account
or changing its password ends the login at once, and a changed role applies on the next click.
It is checked once per run: ``app.py`` resolves the login in :func:`login_for_this_run` and the
page's :func:`require` reuses that answer; it is forgotten when the run ends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
TOKEN_KEY = "auth_token"
#: The login as resolved for the script run in progress (present only while it runs).
RUN_USER_KEY = "auth_user_this_run"
#: The browser cookie that carries the login token.
COOKIE_NAME = "wastemap_login"
_COOKIE_SCRIPT_KEY = "auth_cookie_script"

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
    """Who is logged in: this session's login, or the browser's (its cookie: a reload or a new
    tab), checked against the database now (a run checks once: :func:`login_for_this_run`)."""
    token = st.session_state.get(TOKEN_KEY) or _cookie_token()
    user = None
    if token:
        with transaction(engine()) as session:
            user = user_queries.session_user(db_session=session, token=token)
    if user is None:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state.pop(USER_KEY, None)
    else:
        st.session_state[TOKEN_KEY] = token
        st.session_state[USER_KEY] = user
    return user


@contextmanager
def login_for_this_run() -> Iterator[AuthenticatedUser | None]:
    """The logged-in user (or None), checked against the database once for the whole script
    run: ``app.py`` runs the page inside this block and the page's :func:`require` reuses the
    answer. It is forgotten when the block ends (also by ``st.stop()``, ``st.rerun()`` or an
    error), so the next run (the next click) checks the login again, and so does a run that does
    not pass through ``app.py`` (a widget callback, a fragment rerun)."""
    user = current_user()
    st.session_state[RUN_USER_KEY] = user
    try:
        yield user
    finally:
        st.session_state.pop(RUN_USER_KEY, None)


def _user_this_run() -> AuthenticatedUser | None:
    """The login resolved for this run by :func:`login_for_this_run`, else checked now."""
    if RUN_USER_KEY in st.session_state:
        user: AuthenticatedUser | None = st.session_state[RUN_USER_KEY]
        return user
    return current_user()


FLASH_KEY = "flash_message"


def flash(message: str) -> None:
    """Show ``message`` as a warning at the top of the next run's page, whichever it is (the
    login page included): for callbacks whose user may not see the page they clicked on."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    """Show (once) the message :func:`flash` left for this run, if any."""
    if message := st.session_state.pop(FLASH_KEY, None):
        st.warning(message, icon=":material/warning:")


def log_in(user: AuthenticatedUser) -> None:
    """Start a login for ``user`` (who just gave their password) and have the browser keep it."""
    hours = settings().dashboard_login_hours
    with transaction(engine()) as session:
        token = user_queries.start_session(
            db_session=session, user_id=user.id, lifetime=dt.timedelta(hours=hours)
        )
    st.session_state[TOKEN_KEY] = token
    st.session_state[USER_KEY] = user
    st.session_state[_COOKIE_SCRIPT_KEY] = _cookie_script(token, max_age_s=round(hours * 3600))


def log_out() -> None:
    """End this browser's login in the database and delete its cookie."""
    token = st.session_state.pop(TOKEN_KEY, None) or _cookie_token()
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop(RUN_USER_KEY, None)
    if token:
        with transaction(engine()) as session:
            user_queries.end_session(db_session=session, token=token)
    st.session_state[_COOKIE_SCRIPT_KEY] = _cookie_script("", max_age_s=0)


def write_login_cookie() -> None:
    """Set or delete the login cookie after :func:`log_in` / :func:`log_out` (their own run ends
    with ``st.rerun()``, so the browser is told on the next one)."""
    script = st.session_state.pop(_COOKIE_SCRIPT_KEY, None)
    if script:
        st.html(script, unsafe_allow_javascript=True)


def _cookie_token() -> str | None:
    """The login token the browser sent when this session connected, if any."""
    token = st.context.cookies.get(COOKIE_NAME)
    return token if isinstance(token, str) and token else None  # (AppTest has no browser)


def _cookie_script(token: str, *, max_age_s: int) -> str:
    # A script can set no HttpOnly cookie; the token is random and only its hash is stored.
    cookie = json.dumps(f"{COOKIE_NAME}={token}; Path=/; Max-Age={max_age_s}; SameSite=Strict")
    secure = 'window.location.protocol === "https:" ? "; Secure" : ""'
    return f"<script>document.cookie = {cookie} + ({secure});</script>"


def require(role: str) -> AuthenticatedUser:
    """The logged-in user if they have ``role``; otherwise the page stops with a message. The
    login is the one ``app.py`` checked in this run (:func:`login_for_this_run`), or checked now
    when the page runs on its own."""
    user = _user_this_run()
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
