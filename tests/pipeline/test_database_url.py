"""Errors a user can make in the environment: one clear line and exit code 2, no traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [["users", "list"], ["sites", "list"], ["db", "current"], ["db", "upgrade"]]
)
def test_a_database_url_that_is_not_one_is_named(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", "notaurl")
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    said = " ".join(result.output.split())
    assert "WASTEMAP_DATABASE_URL 'notaurl' is not a database URL" in said
    assert "sqlite:////path/wastemap.db" in said


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql//maria:s3cret@db.example/wastemap", "'postgresql//***@db.example/wastemap'"),
        ("postgresql://maria:s3cret@db:abc/wastemap", "'postgresql://***@db:abc/wastemap'"),
        ("foo://maria:s3cret@db/wastemap", "'foo://maria:***@db/wastemap'"),
    ],
)
def test_a_bad_database_url_shows_no_password(
    url: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", url)
    result = runner.invoke(app, ["users", "list"])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"WASTEMAP_DATABASE_URL {shown} is not a database URL" in said
    assert "s3cret" not in said
