"""Configuration is read in one place, ``pipeline/settings.py``, and used from there."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from pipeline import cli_batches
from pipeline.cli import app
from pipeline.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "workers", "db", "dashboard", "analytics", "models", "migrations")


def test_no_wastemap_variable_is_read_outside_the_settings() -> None:
    reads = re.compile(r"(environ|getenv)\b.*WASTEMAP_")
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        if path != REPO / "pipeline" / "settings.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if reads.search(line)
    ]
    assert offenders == []


def test_beat_keeps_its_schedule_in_the_configured_file(tmp_path, monkeypatch) -> None:
    assert get_settings().beat_schedule_file == Path("/tmp/wastemap-beat-schedule")
    started: list[list[str]] = []
    monkeypatch.setattr(cli_batches.os, "execv", lambda program, argv: started.append(argv))
    monkeypatch.setenv("WASTEMAP_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("WASTEMAP_BEAT_SCHEDULE_FILE", str(tmp_path / "beat-schedule"))
    result = CliRunner().invoke(app, ["beat"])
    assert result.exit_code == 0, result.output
    (argv,) = started
    assert argv[1:4] == ["-A", "workers.app", "beat"]
    assert argv[argv.index("--schedule") + 1] == str(tmp_path / "beat-schedule")
