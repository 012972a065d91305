"""End to end in headless Chromium: log in, the map renders and filters, a click shows the photo,
a wrong password is refused, a viewer cannot review, Detect boxes an uploaded photo, and no page
asks for anything outside this machine.

One Streamlit server for the module (see ``conftest.py``); screenshots go to
``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image

from tests.dashboard.conftest import shot
from tests.dashboard.seed import PASSWORD

pytestmark = pytest.mark.slow


def login(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def logged_in(page: Any, base: str, username: str) -> None:
    login(page, base, username)
    page.get_by_text(f"Logged in as {username}").wait_for()
    # the browser keeps the login once the page's script has set the cookie (a moment later)
    page.wait_for_function("() => document.cookie.includes('wastemap_login=')")


def map_frame(page: Any) -> Any:
    """The Leaflet map inside the streamlit-folium iframe, once drawn."""
    page.locator("iframe[title*='st_folium']").first.wait_for()
    frame = page.frame_locator("iframe[title*='st_folium']").first
    frame.locator(".leaflet-container").wait_for()
    frame.locator(".wastemap-legend").wait_for()
    return frame


def metric(page: Any, label: str) -> str:
    box = page.locator("[data-testid=stMetric]", has_text=label).first
    return box.locator("[data-testid=stMetricValue]").inner_text().strip()


def wait_idle(page: Any) -> None:
    """Until Streamlit has finished the current run: no "running" widget and no stale
    (faded) elements left from the previous run."""
    page.wait_for_timeout(300)  # the running indicator appears after a short delay
    page.wait_for_function(
        """() => !document.querySelector('[data-testid=stStatusWidget]')
                 && !document.querySelector('[data-stale=true]')""",
        timeout=60_000,
    )


def test_wrong_password_is_refused(page: Any, dashboard_url: str) -> None:
    login(page, dashboard_url, "admin", "not-the-password")
    page.get_by_text("Wrong username or password.").wait_for()
    assert page.get_by_text("Logged in as").count() == 0
    assert page.locator("[data-testid=stMetric]").count() == 0  # no data shown
    shot(page, "01-login-refused")
    assert page.external_requests == []


def test_login_survives_a_reload_and_a_new_tab_until_logout(page: Any, dashboard_url: str) -> None:
    logged_in(page, dashboard_url, "viewer")
    wait_idle(page)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "wastemap_login"]
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0  # kept when the tab closes
    page.reload()
    page.get_by_text("Logged in as viewer").wait_for()  # no password asked again
    other = page.context.new_page()  # a second tab of the same browser
    other.goto(dashboard_url)
    other.get_by_text("Logged in as viewer").wait_for()
    map_frame(other)
    wait_idle(other)
    shot(other, "00-login-kept-in-a-new-tab")
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()
    page.wait_for_function("() => !document.cookie.includes('wastemap_login=')")
    page.reload()
    page.get_by_role("button", name="Log in").wait_for()
    # the other tab's session is over too: its next page load asks for the password
    other.reload()
    other.get_by_role("button", name="Log in").wait_for()
    assert other.get_by_text("Logged in as").count() == 0
    other.close()
    assert page.external_requests == []


def test_map_renders_filters_and_shows_a_photo(page: Any, dashboard_url: str) -> None:
    logged_in(page, dashboard_url, "viewer")
    frame = map_frame(page)
    wait_idle(page)
    assert frame.locator("path.leaflet-interactive").count() > 10  # hexagons, points, streets
    assert frame.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert "Detections per hexagon" in frame.locator(".wastemap-legend").inner_text()
    everything = int(metric(page, "Detections").replace(",", ""))
    assert everything > 0
    shot(page, "02-map")

    # a click on a detection shows its photo with the boxes
    points = frame.locator("path.leaflet-interactive[stroke='#ffffff']")
    assert points.count() > 0
    points.last.hover(force=True)
    tooltip = frame.locator(".leaflet-tooltip").first
    tooltip.wait_for()
    detection_id = re.search(r"Detection (\d+):", tooltip.inner_text()).group(1)  # type: ignore[union-attr]
    points.last.click(force=True)
    page.get_by_text(f"detection {detection_id} drawn thicker").wait_for()
    page.locator("[data-testid=stImage] img").first.wait_for()
    wait_idle(page)
    shot(page, "03-map-detection-photo")

    # a filter changes what is shown
    categories = page.locator("[data-testid=stMultiSelect]", has_text="Category")
    categories.locator("input").click()
    page.get_by_role("option", name="glass", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function(
        """([label, before]) => {
            const box = [...document.querySelectorAll('[data-testid=stMetric]')]
                .find(m => m.innerText.includes(label));
            return box && !box.innerText.includes(String(before));
        }""",
        arg=["Detections", everything],
    )
    wait_idle(page)
    glass = int(metric(page, "Detections").replace(",", ""))
    assert 0 < glass < everything
    map_frame(page)
    shot(page, "04-map-filtered-glass")
    assert page.external_requests == [], page.external_requests


def test_viewer_cannot_review_but_a_reviewer_can(page: Any, dashboard_url: str) -> None:
    logged_in(page, dashboard_url, "viewer")
    nav = page.locator("[data-testid=stSidebarNav]")
    nav.get_by_role("link", name="Map").wait_for()
    assert nav.get_by_role("link", name="Review").count() == 0
    assert nav.get_by_role("link", name="Users").count() == 0
    # typing the page's address (a new page load, the login kept): no Review page for a viewer
    page.goto(f"{dashboard_url}/review")
    page.get_by_text("Page not found").wait_for()
    page.get_by_text("Logged in as viewer").wait_for()
    assert page.get_by_text("Review detections").count() == 0
    page.keyboard.press("Escape")  # close the notice
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()

    logged_in(page, dashboard_url, "reviewer")
    page.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Review").click()
    page.get_by_text("Review detections").wait_for()
    wait_idle(page)
    before = int(metric(page, "Accepted"))
    page.get_by_role("button", name="Accept").click()
    page.wait_for_function(
        """(before) => {
            const box = [...document.querySelectorAll('[data-testid=stMetric]')]
                .find(m => m.innerText.includes('Accepted'));
            return box && box.innerText.trim().endsWith(String(before + 1));
        }""",
        arg=before,
    )
    wait_idle(page)
    shot(page, "05-review")
    assert page.external_requests == []


def test_patterns_and_ingestion_pages(page: Any, dashboard_url: str) -> None:
    logged_in(page, dashboard_url, "admin")
    nav = page.locator("[data-testid=stSidebarNav]")
    nav.get_by_role("link", name="Patterns").click()
    page.get_by_role("tab", name="Hotspots").click()
    page.get_by_text("Hexagons tested").wait_for()
    map_frame(page)
    wait_idle(page)
    shot(page, "06-patterns-hotspots")
    page.get_by_role("tab", name="Trend").click()
    wait_idle(page)
    shot(page, "07-patterns-trend")
    nav.get_by_role("link", name="Ingestion").click()
    page.get_by_text("Model in use").wait_for()
    wait_idle(page)
    shot(page, "08-ingestion")
    nav.get_by_role("link", name="Users").click()
    page.get_by_text("Add a user").wait_for()
    wait_idle(page)
    shot(page, "09-users")
    assert page.external_requests == []


def test_sites_and_routes_page(page: Any, dashboard_url: str, tmp_path: Any) -> None:
    """A reviewer updates the sites, plans routes over them (with a time-windows file) and
    downloads them as GPX with arrival times."""
    logged_in(page, dashboard_url, "reviewer")
    page.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Sites & routes").click()
    page.get_by_text("Litter sites and collection routes").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Update sites").click()
    page.get_by_text("new sites").wait_for()
    wait_idle(page)
    assert int(metric(page, "Sites").replace(",", "")) > 0
    page.get_by_role("spinbutton", name="Search time (seconds)").fill("1")
    page.get_by_role("textbox", name="Depot (latitude, longitude)").fill("60.1699, 24.9384")
    windows = tmp_path / "windows.csv"
    windows.write_text("site,opens,closes\n999999,07:00,08:00\n")  # no such site
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(windows))
    page.get_by_role("button", name="Plan routes").click()
    page.get_by_text("Sites served").wait_for(timeout=90_000)
    wait_idle(page)
    page.get_by_text("are not among the open sites planned").wait_for()  # the file was read
    frame = page.frame_locator("iframe[title*='st_folium']").first
    frame.locator(".wastemap-depot").wait_for()
    assert frame.locator(".wastemap-stop").count() > 0  # numbered stops along the routes
    shot(page, "10-sites-and-routes")
    with page.expect_download() as download:
        page.get_by_role("button", name="GPX").click()
    gpx = download.value.path().read_text()
    assert gpx.lstrip().startswith("<?xml") and ("<rte" in gpx or "<trk" in gpx)
    assert "arrive at 0" in gpx  # the shift starts at 06:00: stops say when to get there
    assert page.external_requests == []


def test_detect_page(page: Any, dashboard_url: str, tmp_path: Any) -> None:
    """Upload a photo: the (untrained, randomly initialised) detector runs and its boxes are
    drawn with a table. The boxes mean nothing; the path from upload to drawing is real."""
    logged_in(page, dashboard_url, "viewer")
    page.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Detect").click()
    page.get_by_text("Detect waste in a photo").wait_for()
    wait_idle(page)
    photo = tmp_path / "street.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 120, 120)).save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(str(photo))
    page.get_by_role("heading", name="street.jpg").wait_for(timeout=120_000)
    wait_idle(page)
    slider = page.locator("[data-testid=stSlider]", has_text="confidence at least")
    slider.get_by_role("slider").focus()
    page.keyboard.press("Home")  # confidence 0: every box the model returned
    page.get_by_text(re.compile(r"\d+ detection\(s\) at confidence ≥ 0.00")).wait_for()
    wait_idle(page)
    caption = page.get_by_text(re.compile(r"detection\(s\) at confidence")).inner_text()
    assert int(caption.split(" ", 1)[0]) > 0, caption
    page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=60_000)  # the table
    shot(page, "10-detect")
    page.get_by_text("Inside the detector: street.jpg").click()
    page.get_by_text("Show the detector's stages").click()
    page.get_by_text(re.compile("Candidate Object Locator")).first.wait_for(timeout=120_000)
    wait_idle(page)
    shot(page, "11-detect-inside")
    assert page.external_requests == []
