"""Filter inputs that try SQL injection change nothing and raise no server error."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from db import map_queries as q
from db import reviews
from db import users as user_queries
from db.engine import transaction
from db.map_queries import MapFilter
from tests.dashboard.test_pages import APP, TIMEOUT_S, app_as

ATTACKS = [
    "'; DROP TABLE detections; --",
    "plastic' OR '1'='1",
    '" OR 1=1 --',
    "%' UNION SELECT password_hash FROM users --",
    "x'); DELETE FROM users; --",
    "\\'; UPDATE detections SET score = 0; --",
]


def _table_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.scalar(sa.text(f"SELECT count(*) FROM {t}")))  # fixed names, not input
            for t in ("detections", "images", "users", "surveys")
        }


def test_queries_bind_every_filter_value(db_engine: sa.Engine, seeded) -> None:
    before = _table_counts(db_engine)
    for attack in ATTACKS:
        _attack_queries(db_engine, attack)
    assert _table_counts(db_engine) == before


def _attack_queries(db_engine: sa.Engine, attack: str) -> None:
    filters = [
        MapFilter(categories=(attack,)),
        MapFilter(review_statuses=(attack,)),
        MapFilter(label_contains=attack),
        MapFilter(categories=("plastic", attack), label_contains=attack),
    ]
    with transaction(db_engine) as s:
        for filt in filters:
            assert q.summary(db_session=s, filt=filt)["detections"] == 0
            assert q.cell_counts(db_session=s, filt=filt, resolution=9).empty
            assert q.trend(db_session=s, filt=filt, period="week").empty
            assert q.hotspot_input(db_session=s, filt=filt)["detections"].sum() == 0
            assert reviews.queue(db_session=s, filt=filt).empty
        assert q.survey_ids_by_name(db_session=s, names=[attack]) == ()
        assert user_queries.authenticate(db_session=s, username=attack, password=attack) is None


@pytest.fixture
def sqlite_app(tmp_path, monkeypatch: pytest.MonkeyPatch):
    from db.engine import create_engine
    from pipeline import database as dbm
    from tests.dashboard.seed import seed

    url = f"sqlite:///{tmp_path / 'wastemap.db'}"
    dbm.upgrade(url)
    engine = create_engine(url)
    seed(engine, tmp_path / "photos", n_images=24)
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", url)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield url, engine
    engine.dispose()


def test_injection_through_the_pages_changes_nothing(sqlite_app) -> None:
    url, engine = sqlite_app
    before = _table_counts(engine)
    login = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    for attack in ATTACKS:
        login.text_input(key="login_username").input(attack)
        login.text_input(key="login_password").input(attack)
        login.button[0].click().run()
        assert not login.exception
        assert "auth_user" not in login.session_state
    at = app_as(url, "viewer").run()
    for attack in ATTACKS:
        at.sidebar.text_input(key="filters_label").input(attack).run()
        assert not at.exception, at.exception
        assert next(m.value for m in at.metric if m.label == "Detections") == "0"
    at.sidebar.text_input(key="filters_label").input("").run()
    assert next(m.value for m in at.metric if m.label == "Detections") != "0"
    assert _table_counts(engine) == before
