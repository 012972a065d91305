"""Queueing work when the broker is down, or goes away part-way, loses nothing and says what to do;
commands given nothing to do say so (each test runs on PostGIS and on SQLite, with the machine's
real Redis where a broker must answer)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from kombu.exceptions import OperationalError
from typer.testing import CliRunner

import pipeline.cli_ingest as cli_ingest
from db.schema import Batch, BatchItem
from pipeline.cli import app

runner = CliRunner()
#: The machine's Redis (CI starts it), in a database of its own.
REDIS_URL = "redis://127.0.0.1:6379/14"
#: A port nothing listens on.
DEAD_BROKER = "redis://127.0.0.1:6399/0"


def batches(db_url: str) -> list[tuple[str, int]]:
    """(batch id, number of items) of every stored batch."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [
                (row.id, row.items)
                for row in conn.execute(
                    sa.select(Batch.id, sa.func.count(BatchItem.id).label("items"))
                    .outerjoin(BatchItem, BatchItem.batch_id == Batch.id)
                    .group_by(Batch.id)
                )
            ]
    finally:
        engine.dispose()


def photos(folder: Path, count: int) -> Path:
    """``count`` files named as photos (queueing records paths; the workers read them)."""
    folder.mkdir()
    for i in range(count):
        (folder / f"frame_{i}.jpg").write_bytes(b"\xff\xd8 not read here")
    return folder


@pytest.fixture
def broker() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.fail("Redis is not running at 127.0.0.1:6379; `bash scripts/ensure-services.sh`")
    yield client
    client.flushdb()
    client.close()


def test_a_broker_that_does_not_answer_gets_nothing_recorded(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTEMAP_BROKER_URL", DEAD_BROKER)
    folder = photos(tmp_path / "drive", 3)

    result = runner.invoke(app, ["ingest", str(folder), "--queue"])

    assert result.exit_code == 2, result.output
    assert f"cannot reach the broker at {DEAD_BROKER}" in result.output
    assert "WASTEMAP_BROKER_URL" in result.output and "Traceback" not in result.output
    assert batches(cli_env) == []  # no batch waits for workers nobody could tell

    resumed = runner.invoke(app, ["batches", "resume", "any-id"])
    assert resumed.exit_code == 2
    assert f"cannot reach the broker at {DEAD_BROKER}" in resumed.output


def test_chunks_the_broker_did_not_take_are_sent_by_resume(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: redis.Redis
) -> None:
    """The broker stops answering after the first chunk: the batch stays recorded, the message
    names the command that sends the rest, and that command sends them to the real broker."""
    monkeypatch.setenv("WASTEMAP_BROKER_URL", REDIS_URL)
    folder = photos(tmp_path / "drive", 3)
    real_send = cli_ingest.send_chunk
    calls: list[int] = []

    def send_then_fail(client: object, batch_id: str, chunk: int) -> None:
        calls.append(chunk)
        if len(calls) > 1:
            raise OperationalError("Connection reset by peer")
        real_send(client, batch_id, chunk)

    monkeypatch.setattr(cli_ingest, "send_chunk", send_then_fail)
    result = runner.invoke(app, ["ingest", str(folder), "--queue", "--chunk-size", "1"])

    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    found = re.search(r"batch (\S+) is recorded", message)
    assert found, message
    batch_id = found.group(1)
    assert "after 1 of its 3 chunks were sent" in message
    assert f"wastemap batches resume {batch_id}" in message
    assert batches(cli_env) == [(batch_id, 3)]
    assert broker.llen("wastemap") == 1

    resumed = runner.invoke(app, ["batches", "resume", batch_id])
    assert resumed.exit_code == 0, resumed.output
    assert "3 pending chunks sent again" in resumed.output
    assert broker.llen("wastemap") == 4  # all three pending ones (running one twice is safe)


def test_resuming_a_batch_that_does_not_exist(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, broker: redis.Redis
) -> None:
    monkeypatch.setenv("WASTEMAP_BROKER_URL", REDIS_URL)
    result = runner.invoke(app, ["batches", "resume", "no-such-batch"])
    assert result.exit_code == 2
    assert "no batch no-such-batch" in result.output and "batches list" in result.output
    assert broker.llen("wastemap") == 0


def test_a_folder_without_images_is_refused(cli_env: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no photos here")
    for folder, found in ((empty, ""), (tmp_path / "notes", " (found 1 other files)")):
        result = runner.invoke(app, ["ingest", str(folder)])
        assert result.exit_code == 2, result.output
        message = " ".join(result.output.split())
        assert f"no images to ingest under {folder}{found}" in message
        assert ".jpg" in message and "ingest-video" in message
    assert batches(cli_env) == []


def test_exports_refuse_what_cannot_be_right(cli_env: str, tmp_path: Path) -> None:
    out = tmp_path / "detections.geojson"
    backwards = runner.invoke(
        app,
        [
            "export",
            "detections",
            "--out",
            str(out),
            "--since",
            "2026-05-01",
            "--until",
            "2026-01-01",
        ],
    )
    assert backwards.exit_code == 2
    assert "--since 2026-05-01 is after --until 2026-01-01" in " ".join(backwards.output.split())
    assert not out.exists()

    html_as_geojson = runner.invoke(app, ["export", "map", "--out", str(out)])
    assert html_as_geojson.exit_code == 2
    assert "name it .html" in html_as_geojson.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("WASTEMAP_DEVICE", "gpu", "WASTEMAP_DEVICE 'gpu' is not a device; use cpu or cuda"),
        ("WASTEMAP_MODEL_PATH", "/nowhere/model.pt", "not found: /nowhere/model.pt"),
    ],
)
def test_a_worker_with_detector_settings_that_cannot_work_does_not_start(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: str, said: str
) -> None:
    """Else it would take chunks and fail each one into the quarantine."""
    import pipeline.cli_batches as cli_batches

    started: list[list[str]] = []
    monkeypatch.setattr(cli_batches.os, "execv", lambda program, argv: started.append(argv))
    monkeypatch.setenv("WASTEMAP_BROKER_URL", REDIS_URL)
    assert runner.invoke(app, ["worker"]).exit_code == 0 and len(started) == 1  # as shipped

    monkeypatch.setenv(setting, value)
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 2
    assert said in " ".join(result.output.split())
    assert len(started) == 1  # celery was not started


def test_in_process_ingest_names_a_device_this_machine_lacks(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("WASTEMAP_DEVICE", "cuda")
    result = runner.invoke(app, ["ingest", str(photos(tmp_path / "drive", 1))])
    assert result.exit_code == 2, result.output
    assert "WASTEMAP_DEVICE cuda: CUDA is not available on this machine" in result.output
    assert "Traceback" not in result.output
