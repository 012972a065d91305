"""The dashboard's SQL (db.map_queries, db.reviews, db.users) on PostGIS and SQLite."""

from __future__ import annotations

import datetime as dt
import hashlib

import h3
import pandas as pd
import pytest
import sqlalchemy as sa

from db import map_queries as q
from db import reviews
from db import users as user_queries
from db.engine import transaction
from db.map_queries import MapFilter
from db.schema import Detection, LoginSession, User, utcnow
from tests.dashboard.seed import CLASSES, PASSWORD, SURVEYS

ALL = MapFilter(review_statuses=None)


def _frame(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            sa.select(
                Detection.id,
                Detection.image_id,
                Detection.survey_id,
                Detection.category,
                Detection.label,
                Detection.score,
                Detection.captured_at,
                Detection.h3_r9,
                Detection.h3_r10,
                Detection.review_status,
            ),
            conn,
        )


def test_counts_match_pandas(db_engine: sa.Engine, seeded) -> None:
    rows = _frame(db_engine)
    assert len(rows) == seeded.detections > 20
    with transaction(db_engine) as s:
        summary = q.summary(db_session=s, filt=ALL)
        cells = q.cell_counts(db_session=s, filt=ALL, resolution=10)
        by_category = q.category_counts(db_session=s, filt=ALL)
        mix = q.cell_category_counts(
            db_session=s, filt=ALL, resolution=9, categories=sorted(CLASSES.values())
        )
        plastic = q.cell_category_counts(
            db_session=s, filt=MapFilter(categories=("plastic",)), categories=["plastic", "glass"]
        )
    assert summary["detections"] == len(rows)
    assert summary["images"] == rows["image_id"].nunique()
    assert summary["first"] == rows["captured_at"].min()
    expected = rows.groupby("h3_r10").size()
    assert dict(zip(cells["cell"], cells["detections"], strict=True)) == expected.to_dict()
    assert list(cells["detections"]) == sorted(cells["detections"], reverse=True)
    assert dict(zip(by_category["category"], by_category["detections"], strict=True)) == (
        rows.groupby("category").size().to_dict()
    )
    assert mix["detections"].sum() == len(rows)
    expected_mix = rows.groupby(["h3_r9", "category"]).size()
    assert mix.set_index(["cell", "category"])["detections"].to_dict() == expected_mix.to_dict()
    assert set(plastic["category"]) == {"plastic"}
    assert plastic["detections"].sum() == (rows["category"] == "plastic").sum()


def test_filters(db_engine: sa.Engine, seeded) -> None:
    rows = _frame(db_engine)
    with transaction(db_engine) as s:
        options = q.filter_options(db_session=s)
        first_survey = next(x["id"] for x in options["surveys"] if x["name"] == SURVEYS[0])

        def n(**kwargs: object) -> int:
            filt = MapFilter(**{"review_statuses": None, **kwargs})  # type: ignore[arg-type]
            return int(q.summary(db_session=s, filt=filt)["detections"])

        assert options["first_day"] == dt.date(2026, 11, 2)
        assert n(survey_ids=(first_survey,)) == (rows["survey_id"] == first_survey).sum()
        assert (
            n(categories=("plastic", "glass")) == rows["category"].isin(["plastic", "glass"]).sum()
        )
        assert n(categories=()) == 0
        assert n(min_score=0.8) == (rows["score"] >= 0.8).sum()
        # whole UTC days, both ends included
        day = dt.date(2026, 11, 3)
        on_day = rows["captured_at"].dt.date == day
        assert n(start=day, end=day) == on_day.sum()
        assert (
            n(start=dt.date(2026, 11, 10))
            == (rows["captured_at"].dt.date >= dt.date(2026, 11, 10)).sum()
        )
        assert n(label_contains="CARD") == (rows["label"] == "cardboard").sum()
        assert n(label_contains="%") == 0  # LIKE wildcards are escaped
        assert n(review_statuses=("rejected",)) == 0


def test_trend_by_day_and_week(db_engine: sa.Engine, seeded) -> None:
    rows = _frame(db_engine)
    with transaction(db_engine) as s:
        daily = q.trend(db_session=s, filt=ALL, period="day")
        weekly = q.trend(db_session=s, filt=ALL, period="week")
    assert daily["detections"].sum() == weekly["detections"].sum() == len(rows)
    expected_days = rows["captured_at"].dt.tz_convert("UTC").dt.date.value_counts().to_dict()
    assert daily.groupby("period_start")["detections"].sum().to_dict() == expected_days
    # ISO weeks start on Monday: 2026-11-02 and 2026-11-16 are Mondays
    assert set(weekly["period_start"]) <= {
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 9),
        dt.date(2026, 11, 16),
    }
    assert all(d.weekday() == 0 for d in weekly["period_start"])


def test_hotspot_input_counts_surveyed_cells(db_engine: sa.Engine, seeded) -> None:
    with transaction(db_engine) as s:
        frame = q.hotspot_input(db_session=s, filt=ALL, resolution=10)
        n_images = s.scalar(sa.text("SELECT count(*) FROM images"))
    assert frame["images"].sum() == n_images
    assert frame["detections"].sum() == seeded.detections
    assert (frame["detections"] == 0).any()  # photographed, nothing found


def test_period_comparison(db_engine: sa.Engine, seeded) -> None:
    before = (dt.date(2026, 11, 1), dt.date(2026, 11, 10))
    after = (dt.date(2026, 11, 11), dt.date(2026, 11, 30))
    with transaction(db_engine) as s:
        out = q.period_comparison(db_session=s, filt=ALL, before=before, after=after)
    assert out["categories"]["before"].sum() + out["categories"]["after"].sum() == seeded.detections
    assert set(out["images"]["period"]) == {"before", "after"}
    assert out["images"]["images"].sum() == seeded.images


def test_detection_photo_and_click(db_engine: sa.Engine, seeded) -> None:
    with transaction(db_engine) as s:
        points = q.detection_points(db_session=s, filt=ALL, limit=5)
        assert len(points) == 5 and points["score"].is_monotonic_decreasing
        first = points.iloc[0]
        found = q.detection_at(
            db_session=s, latitude=first["latitude"], longitude=first["longitude"], filt=ALL
        )
        photo = q.image_of_detection(db_session=s, detection_id=int(first["detection_id"]))
        assert q.image_of_detection(db_session=s, detection_id=10**9) is None
        assert q.detection_at(db_session=s, latitude=0.0, longitude=0.0, filt=ALL) is None
    assert found is not None
    assert photo is not None and photo["width"] == 480
    assert int(first["detection_id"]) in set(photo["detections"]["detection_id"])


def test_unknown_resolution_is_refused(db_engine: sa.Engine) -> None:
    with transaction(db_engine) as s, pytest.raises(ValueError, match="resolution 7"):
        q.cell_counts(db_session=s, filt=ALL, resolution=7)


def test_review_relabel_and_reviewed_set(db_engine: sa.Engine, seeded) -> None:
    with transaction(db_engine) as s:
        queue = reviews.queue(db_session=s, filt=MapFilter(review_statuses=("unreviewed",)))
        assert queue["score"].is_monotonic_increasing
        image_id = int(queue.iloc[0]["image_id"])
        ids = [
            int(i) for i in s.scalars(sa.select(Detection.id).where(Detection.image_id == image_id))
        ]
        reviews.review(
            db_session=s,
            detection_ids=ids[:1],
            status="relabelled",
            reviewer="rita",
            label="syringe",
            category="hazardous",
        )
        reviews.review(db_session=s, detection_ids=ids[1:], status="accepted", reviewer="rita")
    with transaction(db_engine) as s:
        counts = reviews.status_counts(db_session=s)
        hazardous = q.summary(db_session=s, filt=MapFilter(categories=("hazardous",)))
        reviewed = reviews.reviewed_set(db_session=s)
        row = s.get(Detection, ids[0])
        assert row is not None and row.label != "syringe"  # what the detector said is kept
        assert row.reviewed_by == "rita" and row.reviewed_at is not None
    assert counts["relabelled"] == 1 and counts["accepted"] == len(ids) - 1
    assert hazardous["detections"] == 1
    assert list(reviewed["images"]["image_id"]) == [image_id]
    assert set(reviewed["boxes"]["label"]) >= {"syringe"}
    with transaction(db_engine) as s:
        reviews.review(db_session=s, detection_ids=ids, status="rejected", reviewer="rita")
        assert reviews.reviewed_set(db_session=s)["boxes"].empty
        assert q.summary(db_session=s, filt=MapFilter())["detections"] == seeded.detections - len(
            ids
        )
        reviews.review(db_session=s, detection_ids=ids, status="unreviewed", reviewer="rita")
        assert reviews.status_counts(db_session=s)["unreviewed"] == seeded.detections
    with transaction(db_engine) as s, pytest.raises(reviews.ReviewError):
        reviews.review(db_session=s, detection_ids=ids, status="relabelled", reviewer="rita")


def test_users_hash_and_authenticate(db_engine: sa.Engine) -> None:
    with transaction(db_engine) as s:
        user_queries.create(
            db_session=s, username="ana", password="a-long-password", role="reviewer"
        )
    with transaction(db_engine) as s:
        stored = s.scalar(sa.select(User.password_hash).where(User.username == "ana"))
        assert (
            stored is not None
            and stored.startswith("$argon2id$")
            and "a-long-password" not in stored
        )
        ok = user_queries.authenticate(db_session=s, username="ana", password="a-long-password")
        assert ok is not None and ok.role == "reviewer" and ok.can("viewer") and not ok.can("admin")
        assert (
            user_queries.authenticate(db_session=s, username="ana", password="wrong-password")
            is None
        )
        assert user_queries.authenticate(db_session=s, username="nobody", password="x") is None
        assert (
            user_queries.authenticate(db_session=s, username="' OR '1'='1", password="' OR '1'='1")
            is None
        )
        with pytest.raises(user_queries.UserError, match="exists already"):
            user_queries.create(db_session=s, username="ana", password="another-password")
        with pytest.raises(user_queries.UserError, match="too short"):
            user_queries.create(db_session=s, username="bob", password="short")
        with pytest.raises(user_queries.UserError, match="unknown role"):
            user_queries.create(db_session=s, username="bob", password="long-enough", role="root")
        user_queries.set_active(db_session=s, username="ana", active=False)
        assert (
            user_queries.authenticate(db_session=s, username="ana", password="a-long-password")
            is None
        )


def test_login_sessions_last_until_expiry_logout_or_deactivation(db_engine: sa.Engine) -> None:
    hour = dt.timedelta(hours=1)
    with transaction(db_engine) as s:
        ana = user_queries.create(db_session=s, username="ana", password="a-long-password")
        tokens = [user_queries.start_session(db_session=s, user_id=ana.id, lifetime=hour)]
        tokens.append(user_queries.start_session(db_session=s, user_id=ana.id, lifetime=hour))
    assert tokens[0] != tokens[1] and len(tokens[0]) >= 40
    with transaction(db_engine) as s:
        stored = s.scalars(sa.select(LoginSession.token_sha256)).all()
        assert sorted(stored) == sorted(hashlib.sha256(t.encode()).hexdigest() for t in tokens)
        assert user_queries.session_user(db_session=s, token=tokens[0]).username == "ana"
        assert user_queries.session_user(db_session=s, token="not-a-token") is None
        assert user_queries.session_user(db_session=s, token="") is None
        user_queries.set_role(db_session=s, username="ana", role="reviewer")
        assert user_queries.session_user(db_session=s, token=tokens[1]).role == "reviewer"
        assert user_queries.end_session(db_session=s, token=tokens[0])
        assert not user_queries.end_session(db_session=s, token=tokens[0])
        assert user_queries.session_user(db_session=s, token=tokens[0]) is None
        assert user_queries.session_user(db_session=s, token=tokens[1]) is not None
        # expired: refused, and cleared out when the next login starts
        s.execute(sa.update(LoginSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        assert user_queries.session_user(db_session=s, token=tokens[1]) is None
        fresh = user_queries.start_session(db_session=s, user_id=ana.id, lifetime=hour)
        assert s.scalar(sa.select(sa.func.count(LoginSession.id))) == 1
        # deactivating the account or changing its password ends its logins
        user_queries.set_password(db_session=s, username="ana", password="another-password")
        assert user_queries.session_user(db_session=s, token=fresh) is None
        fresh = user_queries.start_session(db_session=s, user_id=ana.id, lifetime=hour)
        user_queries.set_active(db_session=s, username="ana", active=False)
        assert user_queries.session_user(db_session=s, token=fresh) is None
        assert s.scalar(sa.select(sa.func.count(LoginSession.id))) == 0
        with pytest.raises(ValueError, match="positive"):
            user_queries.start_session(db_session=s, user_id=ana.id, lifetime=dt.timedelta(0))


def test_demo_users_are_idempotent(db_engine: sa.Engine) -> None:
    hour = dt.timedelta(hours=1)
    with transaction(db_engine) as s:
        user_queries.ensure_demo_users(db_session=s, password="first-demo-password")
        admin = user_queries.get_by_username(db_session=s, username="admin")
        old_login = user_queries.start_session(db_session=s, user_id=admin.id, lifetime=hour)
        ana = user_queries.create(db_session=s, username="ana", password="a-long-password")
        other_login = user_queries.start_session(db_session=s, user_id=ana.id, lifetime=hour)
    with transaction(db_engine) as s:
        assert user_queries.session_user(db_session=s, token=old_login).username == "admin"
        created = user_queries.ensure_demo_users(db_session=s, password="second-demo-password")
    assert created == {"viewer": "viewer", "reviewer": "reviewer", "admin": "admin"}
    with transaction(db_engine) as s:
        # the reset password ends the demo account's logins; other accounts keep theirs
        assert user_queries.session_user(db_session=s, token=old_login) is None
        assert user_queries.session_user(db_session=s, token=other_login).username == "ana"
        assert user_queries.count(db_session=s) == 4  # the three demo accounts, once, and ana
        for username, role in created.items():
            user = user_queries.authenticate(
                db_session=s, username=username, password="second-demo-password"
            )
            assert user is not None and user.role == role
        assert (
            user_queries.authenticate(
                db_session=s, username="admin", password="first-demo-password"
            )
            is None
        )


def test_seeded_cells_are_valid_h3(db_engine: sa.Engine, seeded) -> None:
    with transaction(db_engine) as s:
        cells = q.cell_counts(db_session=s, filt=ALL, resolution=9)
    assert all(h3.is_valid_cell(c) and h3.get_resolution(c) == 9 for c in cells["cell"])
    assert PASSWORD
