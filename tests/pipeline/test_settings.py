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


def test_a_dotenv_file_is_read_unless_told_otherwise(tmp_path, monkeypatch) -> None:
    """``.env`` in the current folder is read; ``WASTEMAP_ENV_FILE`` names another file, or
    none when empty (as in these tests: a developer's ``.env`` never leaks into them)."""
    assert get_settings().site_min_score == 0.2  # this folder's .env, if any, is not read
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WASTEMAP_SITE_MIN_SCORE=0.4\n")
    other = tmp_path / "fleet.env"
    other.write_text("WASTEMAP_SITE_MIN_SCORE=0.6\nWASTEMAP_CAMERA_HEIGHT_M=2.1\n")
    monkeypatch.delenv("WASTEMAP_ENV_FILE")
    assert get_settings().site_min_score == 0.4
    monkeypatch.setenv("WASTEMAP_ENV_FILE", str(other))
    settings = get_settings()
    assert (settings.site_min_score, settings.camera_height_m) == (0.6, 2.1)
    monkeypatch.setenv("WASTEMAP_SITE_MIN_SCORE", "0.3")  # the environment wins over the file
    assert get_settings().site_min_score == 0.3
    monkeypatch.setenv("WASTEMAP_ENV_FILE", "")
    monkeypatch.delenv("WASTEMAP_SITE_MIN_SCORE")
    assert get_settings().site_min_score == 0.2
    monkeypatch.setenv("WASTEMAP_ENV_FILE", str(tmp_path / "typo.env"))
    result = CliRunner().invoke(app, ["users", "list"])
    assert result.exit_code == 2
    assert f"WASTEMAP_ENV_FILE {tmp_path / 'typo.env'} does not exist" in " ".join(
        result.output.split()
    )
