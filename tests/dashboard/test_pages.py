"""Page logic with Streamlit's AppTest (the app runs in this process, no browser)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from db import users as user_queries
from db.engine import transaction
from db.schema import Detection, Site, SiteDetection
from tests.dashboard.seed import PASSWORD, SURVEYS

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TIMEOUT_S = 120


@pytest.fixture
def app_env(db_url: str, seeded, monkeypatch: pytest.MonkeyPatch) -> str:
    """The dashboard pointed at the seeded test database, with empty caches."""
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", db_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    return db_url


def login_token(db_url: str, username: str) -> str:
    """A real login of ``username`` (what the login form starts), as its token."""
    engine = sa.create_engine(db_url)
    with transaction(engine) as session:
        user = user_queries.get_by_username(db_session=session, username=username)
        token = user_queries.start_session(
            db_session=session, user_id=user.id, lifetime=dt.timedelta(hours=1)
        )
    engine.dispose()
    return token


def app_as(db_url: str, role: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    if role is not None:
        at.session_state["auth_token"] = login_token(db_url, role)
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _texts(at: AppTest) -> str:
    parts = [
        e.value for e in (*at.markdown, *at.info, *at.warning, *at.error, *at.success, *at.caption)
    ]
    return "\n".join(str(p) for p in parts)


def test_login_refuses_a_wrong_password_and_accepts_the_right_one(app_env: str) -> None:
    at = app_as(app_env, None).run()
    assert not at.exception
    assert at.title[0].value == "WasteMap"
    assert not any(m.label == "Detections" for m in at.metric)  # no data before logging in
    at.text_input(key="login_username").input("reviewer")
    at.text_input(key="login_password").input("not-the-password")
    at.button[0].click().run()
    assert "Wrong username or password." in [e.value for e in at.error]
    assert "auth_user" not in at.session_state
    at.text_input(key="login_username").input("reviewer")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["auth_user"].role == "reviewer"
    assert _metric(at, "Detections") != "0"
    # the login is a row in login_sessions: a new session with the same token (what the browser's
    # cookie gives a reload) is logged in without a password
    again = app_as(app_env, None)
    again.session_state["auth_token"] = at.session_state["auth_token"]
    assert again.run().session_state["auth_user"].username == "reviewer"


def test_logout_deactivation_and_expiry_end_a_login(app_env: str) -> None:
    at = app_as(app_env, "viewer").run()
    token = at.session_state["auth_token"]
    next(b for b in at.button if b.key == "logout").click().run()
    assert not at.exception
    assert "auth_user" not in at.session_state
    assert at.title[0].value == "WasteMap"  # the login page
    # the token is dead everywhere, not only in this tab
    other = app_as(app_env, None)
    other.session_state["auth_token"] = token
    assert "auth_user" not in other.run().session_state

    at = app_as(app_env, "viewer").run()
    assert at.session_state["auth_user"].username == "viewer"
    engine = sa.create_engine(app_env)
    with transaction(engine) as session:
        user_queries.set_active(db_session=session, username="viewer", active=False)
    try:
        at.run()  # the next click: the account is gone
        assert "auth_user" not in at.session_state
    finally:
        with transaction(engine) as session:
            user_queries.set_active(db_session=session, username="viewer", active=True)
        engine.dispose()


def test_map_filters_change_what_is_shown(app_env: str) -> None:
    at = app_as(app_env, "viewer").run()
    assert not at.exception, at.exception
    everything = int(_metric(at, "Detections").replace(",", ""))
    assert everything > 0
    at.sidebar.multiselect(key="filters_categories").set_value(["plastic"]).run()
    plastic = int(_metric(at, "Detections").replace(",", ""))
    assert 0 < plastic < everything
    at.sidebar.radio(key="filters_recyclable").set_value("not recyclable").run()
    assert _metric(at, "Detections") == "0"  # plastic is recyclable
    assert "No detections match these filters" in _texts(at)
    at.sidebar.multiselect(key="filters_categories").set_value([]).run()
    at.sidebar.slider(key="filters_min_score").set_value(0.95).run()
    assert int(_metric(at, "Detections").replace(",", "")) < everything
    assert not at.exception


def test_map_shows_the_photo_of_a_detection(app_env: str) -> None:
    at = app_as(app_env, "viewer").run()
    picker = at.selectbox(key="map_pick")
    assert picker.options  # the detections shown as points
    picker.select_index(1).run()
    assert not at.exception
    assert at.image, "the detection's photo is shown"
    assert any(".jpg**" in str(m.value) for m in at.markdown)  # its file name
    chosen = int(picker.value.split(" ", 1)[0].lstrip("#"))
    assert chosen in set(at.dataframe[-1].value["detection_id"])


def test_viewer_cannot_review(app_env: str) -> None:
    at = app_as(app_env, "viewer").run()
    assert "app_pages/review.py" not in str(at.main)  # not in the navigation
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/review.py")
    # and the page refuses a viewer even when run directly
    page = AppTest.from_file(
        str(Path(APP).parent / "app_pages" / "review.py"), default_timeout=TIMEOUT_S
    )
    page.session_state["auth_token"] = login_token(app_env, "viewer")
    page.run()
    assert "needs the reviewer role" in _texts(page)
    assert not [b for b in at.button if b.key and b.key.startswith("review_accept_")]


def test_reviewer_accepts_and_relabels(app_env: str) -> None:
    at = app_as(app_env, "reviewer").run()
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception
    accept = next(b for b in at.button if b.key and b.key.startswith("review_accept_"))
    first = int(accept.key.rsplit("_", 1)[1])
    accept.click().run()
    assert not at.exception
    nxt = next(b for b in at.button if b.key and b.key.startswith("review_accept_"))
    second = int(nxt.key.rsplit("_", 1)[1])
    assert second != first
    at.selectbox(key=f"review_label_{second}").set_value("syringe").run()
    at.button(key=f"review_relabel_{second}").click().run()
    assert not at.exception
    engine = sa.create_engine(app_env)
    with transaction(engine) as s:
        a, b = s.get(Detection, first), s.get(Detection, second)
        assert a is not None and (a.review_status, a.reviewed_by) == ("accepted", "reviewer")
        assert b is not None and (b.review_status, b.reviewed_category) == (
            "relabelled",
            "hazardous",
        )
    engine.dispose()


def test_a_decision_after_the_reviewer_role_was_taken_away_is_not_stored(app_env: str) -> None:
    """A button's callback runs before the next run checks the login: it checks again."""
    at = app_as(app_env, "reviewer").run()
    at.switch_page("app_pages/review.py").run()
    accept = next(b for b in at.button if b.key and b.key.startswith("review_accept_"))
    detection = int(accept.key.rsplit("_", 1)[1])
    engine = sa.create_engine(app_env)
    try:
        with transaction(engine) as session:
            user_queries.set_role(db_session=session, username="reviewer", role="viewer")
        accept.click().run()
        with transaction(engine) as session:
            assert session.get(Detection, detection).review_status == "unreviewed"
        # told so on the page that comes next (Review is gone from a viewer's navigation)
        assert not at.exception, at.exception
        assert "was **not saved**: your login ended or no longer has the reviewer role" in (
            " ".join(w.value for w in at.warning)
        )
    finally:
        with transaction(engine) as session:
            user_queries.set_role(db_session=session, username="reviewer", role="reviewer")
        engine.dispose()


def _sighting(engine: sa.Engine, detection_id: int) -> tuple[str, int | None, int | None]:
    """The detection's review status, the site it is a sighting of, and that site's detections."""
    with transaction(engine) as s:
        status = s.scalar(sa.select(Detection.review_status).where(Detection.id == detection_id))
        site_id = s.scalar(
            sa.select(SiteDetection.site_id).where(SiteDetection.detection_id == detection_id)
        )
        site = s.get(Site, site_id) if site_id is not None else None
        return status, site_id, site.detections if site is not None else None


def test_a_review_and_its_effect_on_the_sites_are_one_transaction(
    app_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rejection that cannot update the litter sites stores nothing (no review, the sighting
    kept) and says so; the same rejection then goes through and takes the sighting off its site."""
    from db.engine import create_engine
    from pipeline import sites as site_pipeline

    engine = create_engine(app_env)
    try:
        site_pipeline.update_sites(engine)  # the seed stores detections only
        at = app_as(app_env, "reviewer").run()
        at.switch_page("app_pages/review.py").run()
        at.selectbox(key="review_order").set_value("most confident first").run()
        assert not at.exception, at.exception
        reject = next(b for b in at.button if b.key and b.key.startswith("review_reject_"))
        detection = int(reject.key.rsplit("_", 1)[1])
        status, site, site_detections = _sighting(engine, detection)
        assert status == "unreviewed" and site is not None and site_detections

        real_update = site_pipeline._update

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the site update broke")

        monkeypatch.setattr(site_pipeline, "_update", broken)  # after the sighting was removed
        reject.click().run()
        # neither half stored: the detection is unreviewed and still a sighting of its site
        assert _sighting(engine, detection) == ("unreviewed", site, site_detections)
        # and the reviewer is told so, with what to do
        assert not at.exception, at.exception
        errors = " ".join(e.value for e in at.error)
        assert f"detection {detection} (rejected) was **not saved**" in errors
        assert "the site update broke" in errors and "Try again" in errors

        monkeypatch.setattr(site_pipeline, "_update", real_update)
        at.button(key=f"review_reject_{detection}").click().run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        status, now_site, _ = _sighting(engine, detection)
        assert (status, now_site) == ("rejected", None)  # no longer a sighting
        with transaction(engine) as s:
            left = s.get(Site, site)
            assert left is None or left.detections == site_detections - 1
    finally:
        engine.dispose()


def test_a_page_run_checks_the_login_once(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """app.py checks the login token and the page's state.require reuses that check: one lookup
    per run (per click), and still one on every run, so a changed role applies on the next click."""
    from dashboard import state

    lookups: list[str] = []
    real = user_queries.session_user

    def counting(**kwargs: object) -> object:
        lookups.append(str(kwargs["token"]))
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(user_queries, "session_user", counting)
    at = app_as(app_env, "reviewer").run()
    assert len(lookups) == 1
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Review detections"
    assert len(lookups) == 2
    lookups.clear()
    at.run()  # a click
    assert at.title[0].value == "Review detections"
    assert len(lookups) == 1, lookups
    assert state.RUN_USER_KEY not in at.session_state  # forgotten when the run ends
    lookups.clear()
    at.selectbox(key="review_order").set_value("newest first").run()
    assert len(lookups) == 1, lookups

    # a page run on its own (no app.py before it) checks the login itself, once
    page = AppTest.from_file(
        str(Path(APP).parent / "app_pages" / "review.py"), default_timeout=TIMEOUT_S
    )
    page.session_state["auth_token"] = login_token(app_env, "reviewer")
    lookups.clear()
    page.run()
    assert not page.exception, page.exception
    assert page.title[0].value == "Review detections"
    assert len(lookups) == 1, lookups

    # every run still checks: a changed role applies on the next click
    engine = sa.create_engine(app_env)
    try:
        with transaction(engine) as session:
            user_queries.set_role(db_session=session, username="reviewer", role="viewer")
        lookups.clear()
        at.run()
        assert len(lookups) == 1, lookups
        assert at.session_state["auth_user"].role == "viewer"
        assert not any(t.value == "Review detections" for t in at.title)
        page.run()
        assert "needs the reviewer role" in _texts(page)
    finally:
        with transaction(engine) as session:
            user_queries.set_role(db_session=session, username="reviewer", role="reviewer")
        engine.dispose()


def test_patterns_page(app_env: str) -> None:
    at = app_as(app_env, "viewer").run()
    at.switch_page("app_pages/patterns.py").run()
    assert not at.exception, at.exception
    labels = {m.label for m in at.metric}
    assert {"Hot spots", "Cold spots", "Hexagons tested", "Detections before"} <= labels
    assert int(_metric(at, "Hexagons tested")) > 0
    assert len(at.dataframe) >= 4


def test_sites_and_routes_page(app_env: str) -> None:
    at = app_as(app_env, "viewer").run()
    at.switch_page("app_pages/routes.py").run()
    assert not at.exception, at.exception
    assert _metric(at, "Sites") == "0"  # the seed stores detections only
    assert "ask a reviewer to update the sites" in _texts(at)
    assert not [b for b in at.button if b.key == "routes_update_sites"]  # viewers cannot

    at = app_as(app_env, "reviewer").run()
    at.switch_page("app_pages/routes.py").run()
    next(b for b in at.button if b.key == "routes_update_sites").click().run()
    assert not at.exception, at.exception
    assert "new sites" in " ".join(s.value for s in at.success)
    sites = int(_metric(at, "Sites").replace(",", ""))
    assert sites > 0
    at.number_input(key="routes_seconds").set_value(1)
    at.text_input(key="routes_depot_input").set_value("60.1699, 24.9384")
    next(b for b in at.button if b.label == "Plan routes").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    served, of = _metric(at, "Sites served").split(" of ")
    assert int(of) == sites and int(served) > 0
    assert _metric(at, "Routes") in ("1", "2")
    # a plan belongs to the sites it was made for: other filters drop it
    at.selectbox(key="routes_survey").set_value(SURVEYS[0]).run()
    assert not at.exception, at.exception
    assert not any(m.label == "Routes" for m in at.metric)
    # a depot that is not a position gives the error a user can act on
    at.text_input(key="routes_depot_input").set_value("Helsinki")
    next(b for b in at.button if b.label == "Plan routes").click().run()
    assert "Depot 'Helsinki': write the latitude and longitude" in at.error[0].value
    # cleared sites are listed but not routed
    at.segmented_control(key="routes_status").set_value("cleared").run()
    assert not at.exception, at.exception


def test_ingestion_page(app_env: str) -> None:
    at = app_as(app_env, "viewer").run()
    at.switch_page("app_pages/ingestion.py").run()
    assert not at.exception, at.exception
    assert _metric(at, "Version") == "test-detector-1"
    assert "No file is waiting in quarantine." in _texts(at)


def test_ingestion_page_with_batches_and_quarantine(app_env: str) -> None:
    from db import batches, quarantine, surveys

    engine = sa.create_engine(app_env)
    with transaction(engine) as s:
        survey = surveys.get_or_create(db_session=s, name="inbox 2026-11-20")
        batch = batches.create(
            db_session=s,
            survey_id=survey.id,
            source="/inbox",
            paths=["a.jpg", "b.jpg"],
            chunk_size=1,
            kind="inbox",
        )
        first = batches.chunk_items(db_session=s, batch_id=batch.id, chunk=0)[0]
        batches.set_item_states(db_session=s, updates=[{"id": first.id, "state": "stored"}])
        quarantine.record(
            db_session=s,
            path="/inbox/c.jpg",
            reason="no_position",
            message="c.jpg: no GPS position and no track; ingest it with --track",
        )
    engine.dispose()
    at = app_as(app_env, "viewer").run()
    at.switch_page("app_pages/ingestion.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["survey"]) == ["inbox 2026-11-20"]
    assert float(table["progress"].iloc[0]) == 0.5
    assert _metric(at, "no position") == "1"
    assert "ingest it with --track" in at.dataframe[1].value["message"].iloc[0]


def test_admin_adds_a_user(app_env: str) -> None:
    at = app_as(app_env, "admin").run()
    at.switch_page("app_pages/users.py").run()
    assert not at.exception, at.exception
    at.text_input(key="users_new_name").input("planner")
    at.text_input(key="users_new_password").input("planner-password")
    at.selectbox(key="users_new_role").set_value("viewer")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert "Added planner (viewer)." in [s.value for s in at.success]


def test_reviewer_cannot_manage_users(app_env: str) -> None:
    at = app_as(app_env, "reviewer").run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/users.py")
    page = AppTest.from_file(
        str(Path(APP).parent / "app_pages" / "users.py"), default_timeout=TIMEOUT_S
    )
    page.session_state["auth_token"] = login_token(app_env, "reviewer")
    page.run()
    assert "needs the admin role" in _texts(page)


@dataclass
class FakeDetection:
    box: tuple[float, float, float, float]
    label: str
    category: str
    score: float


class FakeDetector:
    """Stands in for models.inference.Detector: one confident and one weak box per image."""

    def detect_images(self, images: list[Image.Image]) -> list[list[FakeDetection]]:
        return [
            [
                FakeDetection((10, 10, 60, 50), "plastic-bottle", "plastic", 0.91),
                FakeDetection((70, 20, 90, 40), "can", "metal", 0.2),
            ]
            for _ in images
        ]


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (90, 90, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_detect_page_boxes_and_table(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.views import detect

    monkeypatch.setattr(detect, "load_detector", lambda path, device, threads=None: FakeDetector())
    at = app_as(app_env, "viewer").run()
    at.switch_page("app_pages/detect.py").run()
    assert not at.exception, at.exception
    if not hasattr(at, "file_uploader"):
        pytest.skip("this Streamlit's AppTest cannot upload files")
    at.file_uploader(key="detect_uploads").upload("street.jpg", _jpeg(), "image/jpeg").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["label"]) == ["plastic-bottle"]  # the weak box is below the 0.5 slider
    at.slider(key="detect_min_score").set_value(0.1).run()
    assert len(at.dataframe[0].value) == 2


def test_detect_page_without_a_model(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.views import detect

    def missing(path: str | None, device: str, threads: int | None = None) -> None:
        raise detect.DetectorUnavailableError("no trained detector is available")

    monkeypatch.setattr(detect, "load_detector", missing)
    at = app_as(app_env, "viewer").run()
    at.switch_page("app_pages/detect.py").run()
    assert not at.exception
    assert "The detector is not available" in _texts(at)


def test_frames_detections_from_the_detector_contract() -> None:
    from dashboard.views.detect import detections_frame

    frame = detections_frame(FakeDetector().detect_images([Image.new("RGB", (4, 4))])[0])
    assert list(frame.columns[:3]) == ["label", "category", "score"]
    assert frame.loc[0, "width_px"] == 50


def test_inside_the_detector_panels(untrained_checkpoint: Path) -> None:
    """The four stages of a real (untrained) detector drawn on an image."""
    from dashboard.views.detect import explain_panels
    from models.inference import Detector

    detector = Detector.load(untrained_checkpoint, num_threads=1)
    panels = explain_panels(detector, Image.new("RGB", (320, 240), (100, 110, 120)))
    assert [title.split(".")[0] for title, _, _ in panels] == ["1", "2", "3", "4"]
    assert all(picture.size == (320, 240) for _, picture, _ in panels)


def test_shareable_map_is_one_offline_file(app_env: str) -> None:
    import re

    from dashboard.views.map_page import shareable_map_html
    from db.map_queries import MapFilter

    html = shareable_map_html(MapFilter(categories=("plastic",)), {})
    assert "L.heatLayer" in html and "categories plastic" in html
    assert not re.findall(r"<script[^>]+src=", html)
    assert not re.findall(r"<link[^>]+href=\"https?:", html)
