"""Fixtures of the dashboard tests: seeded databases, a Streamlit server, headless Chromium.

Browser tests start one ``streamlit run dashboard/app.py`` per test module, on a free port,
against a SQLite file seeded with generated detections, and drive Debian's Chromium with
Playwright (``executable_path=/usr/bin/chromium``; Playwright's own browser download is never
used). Screenshots go to ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from db.engine import create_engine
from pipeline import database as dbm
from pipeline.cli_dashboard import streamlit_command
from tests.dashboard.seed import Seeded, seed

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
CHROMIUM = os.environ.get("WASTEMAP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def seeded(db_engine, tmp_path: Path) -> Seeded:
    """The test database (each backend in turn) with generated surveys, detections and users."""
    return seed(db_engine, tmp_path / "photos")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not start in {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Seeded]:
    """A seeded SQLite database for one browser-test module."""
    folder = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{folder / 'wastemap.db'}"
    dbm.upgrade(url)
    engine = create_engine(url)
    try:
        data = seed(engine, folder / "photos", n_images=80)
    finally:
        engine.dispose()
    return url, data


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small detector checkpoint with random weights (no training, no downloads): enough for
    the Detect page to run the real model code end to end. Its boxes mean nothing."""
    import torch

    from models.checkpoint import save_checkpoint
    from models.detector import build_detector, default_config

    torch.manual_seed(0)
    classes = ("cardboard", "plastic", "glass")
    config = default_config(classes, test_size_px=320, train_sizes_px=(320,), max_size_px=640)
    model = build_detector(config)
    path = tmp_path_factory.mktemp("model") / "untrained.pt"
    return save_checkpoint(
        path,
        {
            "config": config.to_dict(),
            "class_names": list(classes),
            "taxonomy": {"cardboard": "paper", "plastic": "plastic", "glass": "glass"},
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
    )


@pytest.fixture(scope="module")
def dashboard_url(
    server_db: tuple[str, Seeded],
    untrained_checkpoint: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a dashboard serving :func:`server_db` with an untrained
    detector on the Detect page."""
    url, _ = server_db
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASTEMAP_")}
    env.update(
        {
            "WASTEMAP_DATABASE_URL": url,
            "WASTEMAP_MODEL_PATH": str(untrained_checkpoint),
            "WASTEMAP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            streamlit_command(port=port, address="127.0.0.1"),
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log, timeout_s=90)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, ARTIFACTS / f"streamlit-{port}.log")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


class ExternalRequests(list[str]):
    """URLs the page asked for outside this machine."""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: object, dashboard_url: str, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser tab (own cookies) that records requests leaving 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1440, "height": 1800})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.set_default_timeout(45_000)
    external = ExternalRequests()

    def record(request: object) -> None:
        host = urlparse(request.url).hostname  # type: ignore[attr-defined]
        if request.url.startswith(("http://", "https://")) and host not in (
            "127.0.0.1",
            "localhost",
        ):  # type: ignore[attr-defined]
            external.append(request.url)  # type: ignore[attr-defined]

    context.on("request", record)
    tab.external_requests = external  # type: ignore[attr-defined]
    yield tab
    if request.node.stash.get(_FAILED, False):
        shot(tab, f"FAILED-{request.node.name}")
    context.close()


def shot(page: object, name: str) -> Path:
    """Save a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def pytest_configure(config: pytest.Config) -> None:
    sys.path.insert(0, str(REPO))
