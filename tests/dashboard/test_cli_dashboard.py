"""``wastemap users add | list | set-password`` and the ``wastemap dashboard`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline import cli_dashboard


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    cli_dashboard.register(app)
    return app


def test_users_add_list_and_set_password(cli: typer.Typer, cli_env: str) -> None:
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["users", "add", "ana", "--role", "reviewer", "--password-stdin"],
        input="pw-for-ana-1\n",
    )
    assert added.exit_code == 0, added.output
    twice = runner.invoke(cli, ["users", "add", "ana", "--password-stdin"], input="pw-for-ana-1\n")
    assert twice.exit_code == 2 and "exists already" in twice.output
    bad_role = runner.invoke(
        cli, ["users", "add", "bo", "--role", "root", "--password-stdin"], input="long-enough\n"
    )
    assert bad_role.exit_code == 2 and "unknown role" in bad_role.output
    short = runner.invoke(cli, ["users", "add", "bo", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "too short" in short.output
    listed = runner.invoke(cli, ["users", "list", "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["username"], r["role"]) for r in rows] == [("ana", "reviewer")]
    assert "password" not in json.dumps(rows)
    changed = runner.invoke(
        cli, ["users", "set-password", "ana", "--password-stdin"], input="a-new-password\n"
    )
    assert changed.exit_code == 0, changed.output
    missing = runner.invoke(
        cli, ["users", "set-password", "nobody", "--password-stdin"], input="a-new-password\n"
    )
    assert missing.exit_code == 2 and "no user called" in missing.output


def test_dashboard_refuses_a_database_without_schema(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASTEMAP_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(cli, ["dashboard"])
    assert result.exit_code == 2
    assert "wastemap db upgrade" in result.output


def test_streamlit_command_serves_static_files_and_sends_no_statistics() -> None:
    command = cli_dashboard.streamlit_command(port=8600, address="0.0.0.0")
    flags = dict(zip(command[5::2], command[6::2], strict=False))
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert Path(command[4]).name == "app.py" and Path(command[4]).exists()
    assert flags["--server.port"] == "8600"
    assert flags["--server.enableStaticServing"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.headless"] == "true"
