"""docker-compose.yml is valid and every service runs a command this project has.

Nothing can run containers on the build machine, so the file is validated with Debian's
docker-compose (``config -q``) and each service's command is resolved against the real CLI."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _compose_config(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` of the project set up as the README says (``.env`` copied
    from ``.env.example``), in a copy so that the checkout's own ``.env`` plays no part."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed; `make test` installs it (apt docker-compose)")
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    return subprocess.run(
        [exe, "-f", "docker-compose.yml", "config", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )


def test_compose_config_is_valid(tmp_path: Path) -> None:
    result = _compose_config(tmp_path, "-q")
    assert result.returncode == 0, result.stderr


def test_the_settings_in_dotenv_reach_every_wastemap_container(tmp_path: Path) -> None:
    """What operations staff set in ``.env`` (the camera, the requeue timing, ...) is what the
    workers, beat and the dashboard run with; the database, broker and inbox are the
    containers' own."""
    result = _compose_config(tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    example = dict(
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    settings = {f"WASTEMAP_{name.upper()}" for name in Settings.model_fields}
    compose_only = {"WASTEMAP_INBOX_HOST_DIR"}  # where the host keeps the inbox (a mount)
    for name in example:
        if name.startswith("WASTEMAP_"):
            assert name in settings | compose_only, f".env.example sets unknown {name}"
    for name in ("migrate", "worker", "beat", "dashboard"):
        env = services[name]["environment"]
        for key, value in example.items():
            if key in settings:
                assert str(env[key]) == value, (name, key)
        assert env["WASTEMAP_DATABASE_URL"].endswith("@db:5432/wastemap")
        assert env["WASTEMAP_BROKER_URL"] == "redis://redis:6379/0"
        assert env["WASTEMAP_INBOX"] == "/data/inbox"


def test_services_and_their_commands_exist(compose: dict) -> None:
    services = compose["services"]
    assert {"db", "redis", "migrate", "worker", "beat", "dashboard"} <= set(services)
    runner = CliRunner()
    for name, service in services.items():
        assert "healthcheck" in service or name in {"migrate", "beat"}, name
        command = service.get("command")
        if not command or command[0] != "wastemap":
            continue
        words = [w for w in command[1:] if not w.startswith("-")]
        subcommand = words[:2] if words[0] == "db" else words[:1]
        result = runner.invoke(app, [*subcommand, "--help"])
        assert result.exit_code == 0, (
            f"service {name}: `wastemap {' '.join(subcommand)}` does not exist: {result.output}"
        )
        # every option the service passes is an option of that command
        for option in (w for w in command[1:] if w.startswith("--")):
            assert option in result.output, f"service {name}: unknown option {option}"
    importlib.import_module("workers.app")  # the worker healthcheck's `celery -A workers.app`


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    for package in ("pipeline", "dashboard", "db", "workers", "models", "analytics", "migrations"):
        assert f"COPY {package} {package}" in dockerfile
        assert (REPO / package / "__init__.py").exists()
    assert (REPO / ".env.example").exists()
